export { identityService, isTimeZone, type IdentityService, type ClientMeta } from './identity.service.ts';
export { operatorsService, type OperatorsService } from './operators.service.ts';
export { identityRoutes, clientMeta } from './identity.routes.ts';
export { Email, Password, PersonName, SessionResponse } from './identity.schemas.ts';
