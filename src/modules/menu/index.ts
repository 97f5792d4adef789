export { menuService, type MenuService } from './menu.service.ts';
export { menuRoutes } from './menu.routes.ts';
export { itemsForSale, recipesOf, type PricedItem, type RecipeLineMilli } from './menu.repository.ts';
export { MAX_PRICE_MINOR } from './menu.schemas.ts';
export type { MenuItem } from './menu.schemas.ts';
