import { Type, type Static } from 'typebox';
import { PageQuery, pageOf } from '../../platform/http/pagination.ts';
import { NullableTimestamp, Timestamp, Uuid, Reason } from '../../platform/http/schemas.ts';
import { QuantitySchema } from './inventory.quantity.ts';

const Name = Type.String({ minLength: 1, maxLength: 200, pattern: '\\S' });
const Unit = Type.String({ minLength: 1, maxLength: 20, pattern: '^\\S(.*\\S)?$', description: 'kg, l, piece, bottle, ...' });
const ReorderLevel = QuantitySchema({ minimum: 0, description: 'Below this on-hand a branch is alerted; up to three decimals' });

export const CreateInventoryItemBody = Type.Object({ name: Name, unit: Unit, reorderLevel: ReorderLevel }, { additionalProperties: false });
export type CreateInventoryItemInput = Static<typeof CreateInventoryItemBody>;

export const UpdateInventoryItemBody = Type.Object(
  { name: Type.Optional(Name), unit: Type.Optional(Unit), reorderLevel: Type.Optional(ReorderLevel) },
  { additionalProperties: false, minProperties: 1 },
);
export type UpdateInventoryItemInput = Static<typeof UpdateInventoryItemBody>;

export const MovementKind = Type.Enum(['delivery', 'waste', 'count', 'adjustment', 'sale', 'refund']);
export type MovementKind = Static<typeof MovementKind>;

export const AdjustStockBody = Type.Object(
  {
    branchId: Uuid,
    quantityDelta: Type.Optional(
      QuantitySchema({ description: 'Signed change: positive adds, negative removes. Deliveries add, waste removes.' }),
    ),
    reason: Reason,
    kind: Type.Optional(Type.Enum(['delivery', 'waste', 'count', 'adjustment'], { default: 'adjustment' })),
    countedOnHand: Type.Optional(
      QuantitySchema({ minimum: 0, description: 'For kind "count": what the stocktake found; the movement is the difference' }),
    ),
  },
  { additionalProperties: false },
);
export type AdjustStockInput = Static<typeof AdjustStockBody>;

export const ListInventoryItemsQuery = Type.Object(
  { ...PageQuery, includeArchived: Type.Optional(Type.Boolean({ default: false })) },
  { additionalProperties: false },
);
export type ListInventoryItemsInput = Static<typeof ListInventoryItemsQuery>;

export const ListMovementsQuery = Type.Object({ ...PageQuery, branchId: Type.Optional(Uuid) }, { additionalProperties: false });
export type ListMovementsInput = Static<typeof ListMovementsQuery>;

export const ListAlertsQuery = Type.Object({ ...PageQuery, branchId: Type.Optional(Uuid) }, { additionalProperties: false });
export type ListAlertsInput = Static<typeof ListAlertsQuery>;

export const InventoryItemView = Type.Object({
  id: Uuid,
  name: Type.String(),
  unit: Type.String(),
  reorderLevel: Type.Number(),
  archivedAt: NullableTimestamp,
  createdAt: Timestamp,
  updatedAt: Timestamp,
});
export type InventoryItem = Static<typeof InventoryItemView>;

export const MovementView = Type.Object({
  id: Uuid,
  inventoryItemId: Uuid,
  branchId: Uuid,
  kind: MovementKind,
  quantityDelta: Type.Number(),
  onHandAfter: Type.Number(),
  reason: Type.Union([Type.String(), Type.Null()]),
  orderId: Type.Union([Uuid, Type.Null()]),
  createdBy: Type.Union([Uuid, Type.Null()]),
  createdAt: Timestamp,
});
export type Movement = Static<typeof MovementView>;

export const StockLevelView = Type.Object({ branchId: Uuid, onHand: Type.Number(), belowReorderLevel: Type.Boolean() });
export type StockLevel = Static<typeof StockLevelView>;

export const LowStockAlertView = Type.Object({
  id: Uuid,
  inventoryItemId: Uuid,
  branchId: Uuid,
  onHand: Type.Number(),
  reorderLevel: Type.Number(),
  createdAt: Timestamp,
});
export type LowStockAlert = Static<typeof LowStockAlertView>;

export const InventoryItemResponse = Type.Object({ inventoryItem: InventoryItemView });
export const InventoryItemPage = pageOf(InventoryItemView);
export const StockResponse = Type.Object({ data: Type.Array(StockLevelView) });
export const AdjustmentResponse = Type.Object({ movement: MovementView, onHand: Type.Number() });
export const MovementPage = pageOf(MovementView);
export const LowStockAlertPage = pageOf(LowStockAlertView);
