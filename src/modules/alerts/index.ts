/**
 * The alerts module's door: one alert model for every source. Other modules raise and resolve
 * alerts inside their own transactions (raiseAlert, signalNormal, resolveAlertOf); jobs deliver
 * the notifications; the ops API lists, acknowledges and resolves them.
 */
export { raiseAlert, signalNormal, resolveAlertOf, subjectOf, alertsService, type RaiseInput, type AlertsService, type AlertView, type AlertFilter } from './alerts.service.ts';
export { alertRules, ruleNames, isRuleName, runbookUrl, type RuleName, type Severity, type AlertRule } from './alerts.rules.ts';
export { notifyJob, dispatchJob, dispatchNotifications, signWebhook } from './alerts.notify.ts';
export { alertsRoutes } from './alerts.routes.ts';
export { unresolvedOf, type AlertState } from './alerts.repository.ts';
export { AlertView as AlertViewSchema } from './alerts.schemas.ts';

import { notifyJob, dispatchJob } from './alerts.notify.ts';
export const alertJobs = [notifyJob, dispatchJob];
