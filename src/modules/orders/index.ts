export { ordersService, type OrdersService } from './orders.service.ts';
export { ordersRoutes } from './orders.routes.ts';
export type { Order } from './orders.schemas.ts';
