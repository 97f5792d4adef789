import type { Config } from '../../config.ts';

/**
 * Every rule an alert can come from, whatever raised it: the per-tenant signal rules (see
 * modules/health), the job rules, and billing's. Each has a runbook section of the same name
 * in docs/runbooks/alerts.md, linked from every alert it raises.
 */
export type Severity = 'critical' | 'warning' | 'info';

export interface AlertRule {
  severity: Severity;
  title: string;
  /** What observed/expected measure. */
  unit: 'ratio' | 'ms' | 'requests' | 'share' | 'count' | 'seconds' | null;
  /** 'up': worse is higher (peak is the maximum); 'down': worse is lower. */
  direction: 'up' | 'down';
}

export const alertRules = {
  'tenant.error_rate': { severity: 'critical', title: "Server errors far above the tenant's own baseline", unit: 'ratio', direction: 'up' },
  'tenant.latency': { severity: 'warning', title: "Latency (p95) far above the tenant's own baseline", unit: 'ms', direction: 'up' },
  'tenant.traffic_drop': { severity: 'critical', title: "The tenant's traffic collapsed against its baseline", unit: 'requests', direction: 'down' },
  'tenant.traffic_surge': { severity: 'warning', title: "The tenant's traffic surged far above its baseline", unit: 'requests', direction: 'up' },
  'tenant.api_share': { severity: 'warning', title: 'One tenant takes a disproportionate share of API time', unit: 'share', direction: 'up' },
  'tenant.job_share': { severity: 'warning', title: 'One tenant takes a disproportionate share of job capacity', unit: 'share', direction: 'up' },
  'tenant.dead_letters': { severity: 'warning', title: "Dead jobs piling up for one tenant", unit: 'count', direction: 'up' },
  'jobs.dead_letters': { severity: 'warning', title: 'Dead jobs piling up for one job type', unit: 'count', direction: 'up' },
  'jobs.outbox_lag': { severity: 'critical', title: 'The outbox relay is lagging', unit: 'seconds', direction: 'up' },
  'billing.disallowed_transition': { severity: 'critical', title: 'A subscription transition was refused', unit: 'count', direction: 'up' },
  'billing.divergence_persistent': { severity: 'warning', title: 'A subscription keeps differing from the payment provider', unit: 'count', direction: 'up' },
  'billing.divergence_threshold': { severity: 'warning', title: 'One reconciliation found many divergences', unit: 'count', direction: 'up' },
  'billing.reconciliation_failed': { severity: 'critical', title: 'Billing reconciliation could not run', unit: null, direction: 'up' },
  'billing.retention_elapsed': { severity: 'info', title: "A business's retention period ended", unit: null, direction: 'up' },
} as const satisfies Record<string, AlertRule>;

export type RuleName = keyof typeof alertRules;
export const ruleNames = Object.keys(alertRules) as RuleName[];

export const isRuleName = (name: string): name is RuleName => Object.hasOwn(alertRules, name);

/** Where the rule's runbook section is: BRIGADE_RUNBOOK_URL, or the copy Brigade serves. */
export function runbookUrl(config: Config, rule: string): string {
  const base = (config.BRIGADE_RUNBOOK_URL ?? new URL('/ops/runbooks', config.BRIGADE_PUBLIC_URL).toString()).replace(/\/$/, '');
  return `${base}/alerts.md#${encodeURIComponent(rule)}`;
}
