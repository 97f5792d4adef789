import type { RecurringInterval, Unix } from './simulator.state.ts';

/** Billing-period arithmetic in UTC, as Stripe counts it. */

export function addInterval(at: Unix, interval: RecurringInterval, count: number): Unix {
  if (interval === 'day') return at + count * 86_400;
  if (interval === 'week') return at + count * 7 * 86_400;
  const months = interval === 'month' ? count : count * 12;
  const d = new Date(at * 1000);
  const year = d.getUTCFullYear();
  const month = d.getUTCMonth() + months;
  const lastDay = new Date(Date.UTC(year, month + 1, 0)).getUTCDate();
  return Date.UTC(year, month, Math.min(d.getUTCDate(), lastDay), d.getUTCHours(), d.getUTCMinutes(), d.getUTCSeconds()) / 1000;
}

/** The first billing-cycle boundary after `after`, counted from the anchor so month ends do not drift. */
export function nextBoundary(anchor: Unix, interval: RecurringInterval, count: number, after: Unix): Unix {
  if (anchor > after) return anchor;
  for (let k = 1; k < 100_000; k++) {
    const boundary = addInterval(anchor, interval, count * k);
    if (boundary > after) return boundary;
  }
  throw new Error('billing cycle arithmetic ran away');
}
