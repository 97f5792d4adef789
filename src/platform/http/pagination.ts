import { Type } from 'typebox';
import { AppError } from '../errors/index.ts';

/**
 * Cursor pagination as CONTRACT.md has it: `limit` 1 to 200 and an opaque `cursor`; answers
 * `{data, nextCursor}`. A cursor is the sort key of the last row served (keyset pagination), so
 * pages stay stable while rows are added, and it says nothing a caller could not see anyway.
 */
export const DEFAULT_LIMIT = 50;

export const PageQuery = {
  limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 200, description: 'Page size, 1 to 200 (default 50)' })),
  cursor: Type.Optional(Type.String({ minLength: 1, maxLength: 400, description: 'nextCursor of the previous page' })),
};

export const pageOf = <T extends ReturnType<typeof Type.Object>>(item: T) =>
  Type.Object({ data: Type.Array(item), nextCursor: Type.Union([Type.String(), Type.Null()]) });

export function encodeCursor(key: readonly (string | number)[]): string {
  return Buffer.from(JSON.stringify(key)).toString('base64url');
}

const badCursor = () =>
  new AppError('validation_failed', 'The cursor is not one this list handed out.', { errors: [{ path: 'querystring.cursor', message: 'is not a valid cursor' }] });

/** The sort key inside a cursor, checked to have the expected shape ('s' string, 'n' number). */
export function decodeCursor(cursor: string | undefined, shape: readonly ('s' | 'n')[]): (string | number)[] | null {
  if (cursor === undefined) return null;
  let key: unknown;
  try {
    key = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
  } catch {
    throw badCursor();
  }
  const ok =
    Array.isArray(key) &&
    key.length === shape.length &&
    key.every((v, i) => (shape[i] === 's' ? typeof v === 'string' && v.length <= 300 : Number.isSafeInteger(v)));
  if (!ok) throw badCursor();
  return key as (string | number)[];
}

/** Given up to limit+1 rows, the page and the cursor of the next one. */
export function toPage<Row, Out>(rows: Row[], limit: number, keyOf: (row: Row) => (string | number)[], view: (row: Row) => Out) {
  const more = rows.length > limit;
  const served = more ? rows.slice(0, limit) : rows;
  return { data: served.map(view), nextCursor: more ? encodeCursor(keyOf(served[served.length - 1]!)) : null };
}
