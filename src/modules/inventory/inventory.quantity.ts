import { Type } from 'typebox';
import { AppError } from '../../platform/errors/index.ts';

/**
 * Stock quantities are decimals with at most three places (0.125 kg), stored as numeric(14,3).
 * In JavaScript they are carried as integer thousandths ("milli"), so sums and differences are
 * exact; they cross the API as JSON numbers and the database as decimal strings.
 */
export const MAX_QUANTITY = 1_000_000_000;
/** numeric(14,3) holds less than 10^11; on-hand beyond this is refused before the database would fail. */
export const MAX_ON_HAND_MILLI = 99_999_999_999_999;

export const QuantitySchema = (opts: { minimum?: number; exclusiveMinimum?: number; maximum?: number; description?: string } = {}) =>
  Type.Number({ maximum: MAX_QUANTITY, minimum: -MAX_QUANTITY, ...opts, description: opts.description ?? 'Up to three decimal places' });

/** The value in thousandths, or a 400 naming `path` when it has more than three decimals. */
export function toMilli(value: number, path: string): number {
  const milli = Math.round(value * 1000);
  if (!Number.isFinite(value) || milli / 1000 !== value) {
    throw new AppError('validation_failed', 'The request does not match the expected shape.', {
      errors: [{ path, message: 'must have at most three decimal places' }],
    });
  }
  return milli;
}

/** numeric text from PostgreSQL ("12.345", "-0.500", "7") to thousandths, exactly. */
export function parseMilli(text: string | number): number {
  const s = String(text);
  const negative = s.startsWith('-');
  const [whole = '0', frac = ''] = (negative ? s.slice(1) : s).split('.');
  const milli = Number(whole) * 1000 + Number((frac + '000').slice(0, 3));
  return negative ? -milli : milli;
}

/** Thousandths to numeric text for PostgreSQL. */
export function milliToDecimal(milli: number): string {
  const negative = milli < 0;
  const abs = Math.abs(milli);
  return `${negative ? '-' : ''}${Math.floor(abs / 1000)}.${String(abs % 1000).padStart(3, '0')}`;
}

export const milliToNumber = (milli: number): number => milli / 1000;

/** "2.5 kg" for sentences people read. */
export function describeQuantity(milli: number, unit: string): string {
  return `${milliToNumber(milli)} ${unit}`;
}
