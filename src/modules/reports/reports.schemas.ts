import { Type, type Static } from 'typebox';
import { Uuid } from '../../platform/http/schemas.ts';

const DateOrInstant = Type.String({
  maxLength: 40,
  pattern: '^\\d{4}-\\d{2}-\\d{2}(T\\d{2}:\\d{2}(:\\d{2}(\\.\\d{1,6})?)?(Z|[+-]\\d{2}:\\d{2}))?$',
  description: 'A day (YYYY-MM-DD) in the business\'s time zone, or an instant (ISO 8601 with offset)',
});

export const SalesReportQuery = Type.Object(
  {
    from: Type.Optional({ ...DateOrInstant, description: 'First day (inclusive) or instant; default 29 days before `to`' }),
    to: Type.Optional({ ...DateOrInstant, description: 'Last day (inclusive) or instant (exclusive); default today' }),
    branchId: Type.Optional(Uuid),
    groupBy: Type.Optional(Type.Enum(['day', 'branch', 'item'], { default: 'day' })),
  },
  { additionalProperties: false },
);
export type SalesReportInput = Static<typeof SalesReportQuery>;
export type GroupBy = 'day' | 'branch' | 'item';

const Money = {
  orders: Type.Integer({ description: 'Orders paid in the period' }),
  grossMinor: Type.Integer({ description: 'Totals of orders paid in the period' }),
  refundsMinor: Type.Integer({ description: 'Totals of orders refunded in the period' }),
  netMinor: Type.Integer({ description: 'gross - refunds' }),
};

export const DayRow = Type.Object({ date: Type.String({ format: 'date' }), ...Money });
export const BranchRow = Type.Object({ branchId: Uuid, branchName: Type.String(), ...Money });
export const ItemRow = Type.Object({
  menuItemId: Uuid,
  name: Type.String(),
  quantity: Type.Integer({ description: 'Portions sold in the period' }),
  refundedQuantity: Type.Integer({ description: 'Portions refunded in the period' }),
  ...Money,
});
export type DayRow = Static<typeof DayRow>;
export type BranchRow = Static<typeof BranchRow>;
export type ItemRow = Static<typeof ItemRow>;
export type ReportRow = DayRow | BranchRow | ItemRow;

export const Totals = Type.Object({ orders: Type.Integer(), grossMinor: Type.Integer(), refundsMinor: Type.Integer(), netMinor: Type.Integer() });
export type Totals = Static<typeof Totals>;

export const SalesReportResponse = Type.Object({
  currency: Type.String(),
  timezone: Type.String(),
  from: Type.String({ description: 'Start of the period (inclusive), ISO 8601' }),
  to: Type.String({ description: 'End of the period (exclusive), ISO 8601' }),
  groupBy: Type.Enum(['day', 'branch', 'item']),
  rows: Type.Array(Type.Union([DayRow, BranchRow, ItemRow])),
  totals: Totals,
});
export type SalesReport = Static<typeof SalesReportResponse>;

const Nullable = <T extends ReturnType<typeof Type.String>>(t: T) => Type.Union([t, Type.Null()]);

export const CreateReportScheduleBody = Type.Object(
  {
    name: Type.String({ minLength: 1, maxLength: 100 }),
    frequency: Type.Enum(['daily', 'weekly', 'monthly'], {
      description: 'daily: the previous day; weekly (Mondays): the previous Monday to Sunday; monthly (the 1st): the previous month',
    }),
    hour: Type.Integer({ minimum: 0, maximum: 23, description: 'Local hour (0-23) the mail goes out, in `timezone`' }),
    timezone: Type.Optional(Type.String({ minLength: 1, maxLength: 64, description: 'IANA time zone; default the business\'s' })),
    branchId: Type.Optional({ ...Uuid, description: 'One branch; default all branches' }),
    groupBy: Type.Optional(Type.Enum(['day', 'branch', 'item'], { default: 'day' })),
    recipients: Type.Array(Uuid, { minItems: 1, maxItems: 50, uniqueItems: true, description: 'Members of the business who hold reports.view where the report reaches' }),
  },
  { additionalProperties: false },
);
export type CreateReportScheduleInput = Static<typeof CreateReportScheduleBody>;

export const ReportScheduleView = Type.Object({
  id: Uuid,
  name: Type.String(),
  frequency: Type.Enum(['daily', 'weekly', 'monthly']),
  hour: Type.Integer(),
  timezone: Type.String(),
  branchId: Nullable(Uuid),
  groupBy: Type.Enum(['day', 'branch', 'item']),
  recipients: Type.Array(Type.Object({ userId: Uuid, name: Type.String() })),
  createdBy: Uuid,
  createdAt: Type.String({ format: 'date-time' }),
  lastRun: Type.Union([Type.Object({ localDate: Type.String({ format: 'date' }), dueAt: Type.String({ format: 'date-time' }), jobId: Uuid }), Type.Null()]),
});
export type ReportScheduleView = Static<typeof ReportScheduleView>;
export const ReportScheduleResponse = Type.Object({ reportSchedule: ReportScheduleView });
