export { opsRoutes } from './ops.routes.ts';
export { opsActivityPlugin, actionOfRoute } from './ops.activity.ts';
export { consoleRoutes, loadConsole, consoleDist } from './ops.console.ts';
export { tenantNames, withTenantNames } from './ops.tenants.ts';
