import { Type, type Static } from 'typebox';
import { PageQuery, pageOf } from '../../platform/http/pagination.ts';
import { NullableTimestamp, Timestamp, Uuid } from '../../platform/http/schemas.ts';
import { QuantitySchema } from '../inventory/index.ts';

export const MAX_PRICE_MINOR = 10_000_000;

const Name = Type.String({ minLength: 1, maxLength: 200, pattern: '\\S' });
const Category = Type.String({ minLength: 1, maxLength: 100, pattern: '\\S', description: 'Drinks, Mains, ...' });
const PriceMinor = Type.Integer({ minimum: 0, maximum: MAX_PRICE_MINOR, description: 'In minor units of the business currency (1250 = 12.50)' });
const RecipeLine = Type.Object(
  {
    inventoryItemId: Uuid,
    quantity: QuantitySchema({ exclusiveMinimum: 0, maximum: 1_000_000, description: 'Used per portion, in the inventory item\'s unit; up to three decimals' }),
  },
  { additionalProperties: false },
);
const Recipe = Type.Array(RecipeLine, { maxItems: 50, description: 'What one portion takes from stock; replaces the whole recipe' });
const Availability = Type.Array(Type.Object({ branchId: Uuid, available: Type.Boolean() }, { additionalProperties: false }), {
  maxItems: 500,
  description: 'Per-branch exceptions; an item is available in every branch unless marked otherwise',
});

export const CreateMenuItemBody = Type.Object(
  {
    name: Name,
    priceMinor: PriceMinor,
    category: Type.Optional(Type.Union([Category, Type.Null()])),
    recipe: Type.Optional(Recipe),
    availability: Type.Optional(Availability),
  },
  { additionalProperties: false },
);
export type CreateMenuItemInput = Static<typeof CreateMenuItemBody>;

export const UpdateMenuItemBody = Type.Object(
  {
    name: Type.Optional(Name),
    priceMinor: Type.Optional(PriceMinor),
    category: Type.Optional(Type.Union([Category, Type.Null()])),
    recipe: Type.Optional(Recipe),
    availability: Type.Optional(Availability),
  },
  { additionalProperties: false, minProperties: 1 },
);
export type UpdateMenuItemInput = Static<typeof UpdateMenuItemBody>;

export const ListMenuItemsQuery = Type.Object(
  {
    ...PageQuery,
    category: Type.Optional(Category),
    branchId: Type.Optional(Type.String({ format: 'uuid', maxLength: 36, description: 'Only items available in this branch' })),
    includeArchived: Type.Optional(Type.Boolean({ default: false })),
  },
  { additionalProperties: false },
);
export type ListMenuItemsInput = Static<typeof ListMenuItemsQuery>;

export const MenuItemView = Type.Object({
  id: Uuid,
  name: Type.String(),
  category: Type.Union([Type.String(), Type.Null()]),
  priceMinor: Type.Integer(),
  currency: Type.String(),
  recipe: Type.Array(Type.Object({ inventoryItemId: Uuid, quantity: Type.Number() })),
  availability: Type.Array(Type.Object({ branchId: Uuid, available: Type.Boolean() })),
  archivedAt: NullableTimestamp,
  createdAt: Timestamp,
  updatedAt: Timestamp,
});
export type MenuItem = Static<typeof MenuItemView>;

export const MenuItemResponse = Type.Object({ menuItem: MenuItemView });
export const MenuItemPage = pageOf(MenuItemView);
