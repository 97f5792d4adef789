import { Type, type Static } from 'typebox';
import { PageQuery, pageOf } from '../../platform/http/pagination.ts';
import { NullableTimestamp, Timestamp, Uuid, Reason } from '../../platform/http/schemas.ts';

export const MAX_LINE_QUANTITY = 999;
export const MAX_AMOUNT_MINOR = 1_000_000_000_000;

export const OrderStatus = Type.Enum(['open', 'paid', 'refunded', 'voided']);
export type OrderStatus = Static<typeof OrderStatus>;
export const PaymentMethod = Type.Enum(['cash', 'card']);
export type PaymentMethod = Static<typeof PaymentMethod>;

export const PlaceOrderBody = Type.Object(
  {
    branchId: Uuid,
    lines: Type.Array(
      Type.Object(
        { menuItemId: Uuid, quantity: Type.Integer({ minimum: 1, maximum: MAX_LINE_QUANTITY }) },
        { additionalProperties: false },
      ),
      { minItems: 1, maxItems: 100 },
    ),
  },
  { additionalProperties: false },
);
export type PlaceOrderInput = Static<typeof PlaceOrderBody>;

export const PayOrderBody = Type.Object(
  {
    method: PaymentMethod,
    amountMinor: Type.Integer({
      minimum: 0,
      maximum: MAX_AMOUNT_MINOR,
      description: 'Cash: what the customer handed over (at least the total; change is given back). Card: exactly the total.',
    }),
  },
  { additionalProperties: false },
);
export type PayOrderInput = Static<typeof PayOrderBody>;

export const RefundOrderBody = Type.Object(
  {
    reason: Reason,
    restock: Type.Optional(Type.Boolean({ default: false, description: 'Put what the sale took back into stock (sealed goods); default false' })),
  },
  { additionalProperties: false },
);
export type RefundOrderInput = Static<typeof RefundOrderBody>;

export const VoidOrderBody = Type.Object({ reason: Reason }, { additionalProperties: false });
export type VoidOrderInput = Static<typeof VoidOrderBody>;

export const ListOrdersQuery = Type.Object(
  {
    ...PageQuery,
    branchId: Type.Optional(Uuid),
    status: Type.Optional(OrderStatus),
    from: Type.Optional(Type.String({ format: 'date-time', maxLength: 40, description: 'Created at or after (ISO 8601)' })),
    to: Type.Optional(Type.String({ format: 'date-time', maxLength: 40, description: 'Created before (ISO 8601)' })),
  },
  { additionalProperties: false },
);
export type ListOrdersInput = Static<typeof ListOrdersQuery>;

export const OrderLineView = Type.Object({
  lineNo: Type.Integer(),
  menuItemId: Uuid,
  name: Type.String(),
  quantity: Type.Integer(),
  unitPriceMinor: Type.Integer(),
  totalMinor: Type.Integer(),
});

export const PaymentView = Type.Object({
  id: Uuid,
  method: PaymentMethod,
  amountMinor: Type.Integer(),
  changeMinor: Type.Integer(),
  paidAt: Timestamp,
});

export const OrderView = Type.Object({
  id: Uuid,
  branchId: Uuid,
  status: OrderStatus,
  lines: Type.Array(OrderLineView),
  totalMinor: Type.Integer(),
  currency: Type.String(),
  payment: Type.Union([PaymentView, Type.Null()]),
  createdBy: Type.Union([Uuid, Type.Null()]),
  createdAt: Timestamp,
  paidAt: NullableTimestamp,
  refundedAt: NullableTimestamp,
  refundReason: Type.Union([Type.String(), Type.Null()]),
  voidedAt: NullableTimestamp,
  voidReason: Type.Union([Type.String(), Type.Null()]),
});
export type Order = Static<typeof OrderView>;

export const OrderResponse = Type.Object({ order: OrderView });
export const OrderPage = pageOf(OrderView);
