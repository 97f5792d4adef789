export { supportService, supportGrantView, type SupportService } from './support.service.ts';
export { supportRoutes } from './support.routes.ts';
