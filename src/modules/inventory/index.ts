export { inventoryService, moveStock, type InventoryService, type StockMove, type StockLine, type StockMoveResult } from './inventory.service.ts';
export { inventoryRoutes } from './inventory.routes.ts';
export { existingInventoryItemIds, soldByOrder } from './inventory.repository.ts';
export { QuantitySchema, toMilli, parseMilli, milliToDecimal, milliToNumber } from './inventory.quantity.ts';
export type { InventoryItem, Movement } from './inventory.schemas.ts';
export { inventoryJobs, lowStockMailJob } from './inventory.jobs.ts';
