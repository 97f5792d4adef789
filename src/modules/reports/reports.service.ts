import { sql, type RawBuilder } from 'kysely';
import type { Platform } from '../../platform/deps.ts';
import type { Scope } from '../../platform/auth/index.ts';
import type { Tx } from '../../platform/db/index.ts';
import { AppError } from '../../platform/errors/index.ts';
import { recordAudit, auditSourceOfUser } from '../audit/index.ts';
import { requireBranch, visibleBranches } from '../branches/index.ts';
import { canSomewhere, forbidden } from '../access/index.ts';
import { salesByDay, salesByBranch, salesByItem, salesTotals, resolvePeriod, type MoneyRow, type Period } from './reports.repository.ts';
import type { SalesReport, SalesReportInput, GroupBy, ReportRow, Totals } from './reports.schemas.ts';

const MAX_DAYS = 732;
const DAY = /^\d{4}-\d{2}-\d{2}$/;

const invalid = (path: string, message: string) =>
  new AppError('validation_failed', 'The request does not match the expected shape.', { errors: [{ path: `querystring.${path}`, message }] });

function localToday(timezone: string): string {
  return new Intl.DateTimeFormat('en-CA', { timeZone: timezone, year: 'numeric', month: '2-digit', day: '2-digit' }).format(new Date());
}

function isRealDay(day: string): boolean {
  const d = new Date(`${day}T00:00:00Z`);
  return !Number.isNaN(d.getTime()) && d.toISOString().slice(0, 10) === day;
}

function addDays(day: string, n: number): string {
  const d = new Date(`${day}T00:00:00Z`);
  d.setUTCDate(d.getUTCDate() + n);
  return d.toISOString().slice(0, 10);
}

/**
 * A day is a day of the business's calendar (its time zone): `from` its first instant, `to`
 * inclusive. An instant is taken as given (`to` exclusive). PostgreSQL converts the days, so
 * daylight-saving days are 23 or 25 hours long, as they were for the tills.
 */
export function periodOf(input: SalesReportInput, timezone: string): Period {
  for (const path of ['from', 'to'] as const) {
    const value = input[path];
    if (value === undefined) continue;
    const real = DAY.test(value) ? isRealDay(value) : isRealDay(value.slice(0, 10)) && !Number.isNaN(Date.parse(value));
    if (!real) throw invalid(path, 'is not a real date');
  }
  const to = input.to ?? localToday(timezone);
  const from = input.from ?? addDays(to.slice(0, 10), -29);
  // Span in days, roughly (time zones move it by at most one): enough to refuse absurd ranges.
  const start = Date.parse(DAY.test(from) ? `${from}T00:00:00Z` : from);
  const end = DAY.test(to) ? Date.parse(`${addDays(to, 1)}T00:00:00Z`) : Date.parse(to);
  if (end <= start) throw invalid('to', 'must be after from');
  if ((end - start) / 86_400_000 > MAX_DAYS) throw invalid('to', `must be at most ${MAX_DAYS} days after from`);
  const bound = (value: string, endOfDay: boolean): RawBuilder<Date> =>
    DAY.test(value)
      ? sql<Date>`((${endOfDay ? addDays(value, 1) : value}::date)::timestamp AT TIME ZONE ${timezone})`
      : sql<Date>`(${value}::timestamptz)`;
  return { from: bound(from, false), to: bound(to, true) };
}

const money = (r: MoneyRow) => {
  const grossMinor = Number(r.gross);
  const refundsMinor = Number(r.refunds);
  return { orders: Number(r.orders), grossMinor, refundsMinor, netMinor: grossMinor - refundsMinor };
};

function sumRows(rows: Totals[]): Totals {
  return rows.reduce(
    (t, r) => ({ orders: t.orders + r.orders, grossMinor: t.grossMinor + r.grossMinor, refundsMinor: t.refundsMinor + r.refundsMinor, netMinor: t.netMinor + r.netMinor }),
    { orders: 0, grossMinor: 0, refundsMinor: 0, netMinor: 0 },
  );
}

/** A spreadsheet cell: quoted when needed, and never a formula (a name like "=1+1" stays text). */
function cell(value: string | number): string {
  let s = String(value);
  if (typeof value === 'string' && /^[=+\-@\t\r]/.test(s)) s = `'${s}`;
  return /[",\n\r]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

export function salesReportCsv(report: SalesReport): string {
  const columns: Record<GroupBy, string[]> = {
    day: ['date'],
    branch: ['branchId', 'branchName'],
    item: ['menuItemId', 'name', 'quantity', 'refundedQuantity'],
  };
  const head = [...columns[report.groupBy], 'orders', 'grossMinor', 'refundsMinor', 'netMinor', 'currency'];
  const lines = [head.join(',')];
  for (const row of report.rows as unknown as Record<string, string | number>[]) {
    lines.push([...head.slice(0, -1).map((c) => cell(row[c] ?? '')), report.currency].join(','));
  }
  return `${lines.join('\r\n')}\r\n`;
}

/**
 * The sales report of a period for some branches ('all', or a list, possibly empty), in the
 * caller's transaction: what the API answers and what a scheduled report mails.
 */
export async function buildSalesReport(
  trx: Tx,
  q: { tenantId: string; currency: string; timezone: string; period: Period; branchIds: 'all' | string[]; groupBy: GroupBy },
): Promise<SalesReport> {
  const { groupBy, timezone } = q;
  const filter = { tenantId: q.tenantId, timezone, period: q.period, branchIds: q.branchIds };
  const bounds = await resolvePeriod(trx, q.period);
  let rows: ReportRow[] = [];
  let totals: Totals;
  if (q.branchIds !== 'all' && q.branchIds.length === 0) {
    totals = sumRows([]);
  } else if (groupBy === 'day') {
    rows = (await salesByDay(trx, filter)).map((r) => ({ date: r.day, ...money(r) }));
    totals = sumRows(rows);
  } else if (groupBy === 'branch') {
    rows = (await salesByBranch(trx, filter)).map((r) => ({ branchId: r.branch_id, branchName: r.branch_name, ...money(r) }));
    totals = sumRows(rows);
  } else {
    rows = (await salesByItem(trx, filter)).map((r) => ({
      menuItemId: r.menu_item_id,
      name: r.name,
      quantity: Number(r.quantity),
      refundedQuantity: Number(r.refunded_quantity),
      ...money(r),
    }));
    // An order with three items is still one order: totals come from the orders themselves.
    totals = money(await salesTotals(trx, filter));
  }
  return { currency: q.currency, timezone, from: bounds.from.toISOString(), to: bounds.to.toISOString(), groupBy, rows, totals };
}

export function reportsService(platform: Platform) {
  const { tenancy } = platform;

  return {
    /**
     * Sales of the branches the caller may see (or the one asked for). An export (`export`:
     * the CSV download) needs reports.export and is written to the audit trail with the report.
     */
    async salesReport(scope: Scope, input: SalesReportInput, opts: { export: boolean }): Promise<SalesReport> {
      const permission = opts.export ? 'reports.export' : 'reports.view';
      if (!canSomewhere(scope.grants, permission)) throw forbidden(scope, permission, null);
      const branchIds = visibleBranches(scope, permission, input.branchId);
      const groupBy: GroupBy = input.groupBy ?? 'day';
      const timezone = scope.tenant.timezone;
      const period = periodOf(input, timezone);
      return tenancy.withTenant(scope, async (trx) => {
        await requireBranch(trx, scope.tenantId, input.branchId);
        const report = await buildSalesReport(trx, { tenantId: scope.tenantId, currency: scope.tenant.currency, timezone, period, branchIds, groupBy });
        const rows = report.rows;
        if (opts.export) {
          await recordAudit(trx, auditSourceOfUser(scope), {
            action: 'report.exported',
            permission: 'reports.export',
            target: { type: 'report', id: 'sales' },
            changes: { after: { report: 'sales', format: 'csv', from: report.from, to: report.to, groupBy, branchId: input.branchId ?? null, rows: rows.length } },
          });
        }
        return report;
      });
    },
  };
}

export type ReportsService = ReturnType<typeof reportsService>;
