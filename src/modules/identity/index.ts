export { identityService, isTimeZone, type IdentityService, type ClientMeta } from './identity.service.ts';
export { operatorsService, type OperatorsService } from './operators.service.ts';
export { identityRoutes, clientMeta } from './identity.routes.ts';
export { Email, Password, PersonName, SessionResponse } from './identity.schemas.ts';
export { sessionCache, type SessionCache } from './session-cache.ts';
export type { AuthRow } from './identity.service.ts';
export { identityJobs, welcomeMailJob, passwordResetMailJob } from './identity.jobs.ts';
