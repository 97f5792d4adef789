import { Type } from 'typebox';
import { sql, type Expression, type SqlBool, type RawBuilder } from 'kysely';
import { AppError } from '../errors/index.ts';
import { UUID, isStorable } from './validation.ts';

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

/**
 * What each part of a sort key is, checked before it reaches SQL (a cast that fails there is a
 * 500): 's' text, 'n' a non-negative integer, 'uuid', 'time' a microsecond UTC timestamp (see
 * cursorAt), 'int' a bigint as decimal text, 'num' a decimal number as text.
 */
export type KeyPart = 's' | 'n' | 'uuid' | 'time' | 'int' | 'num';

const PG_UTC = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})\.\d{6}Z$/;

function isTime(v: string): boolean {
  const m = PG_UTC.exec(v);
  if (!m) return false;
  const [year, month, day, hour, minute, second] = m.slice(1).map(Number) as [number, number, number, number, number, number];
  const d = new Date(Date.UTC(year, month - 1, day, hour, minute, second));
  return year >= 1970 && d.getUTCFullYear() === year && d.getUTCMonth() === month - 1 && d.getUTCDate() === day && d.getUTCHours() === hour && d.getUTCMinutes() === minute && d.getUTCSeconds() === second;
}

const partOk: Record<KeyPart, (v: unknown) => boolean> = {
  s: (v) => typeof v === 'string' && v.length <= 300 && isStorable(v),
  n: (v) => Number.isSafeInteger(v) && (v as number) >= 0,
  uuid: (v) => typeof v === 'string' && UUID.test(v),
  time: (v) => typeof v === 'string' && isTime(v),
  int: (v) => typeof v === 'string' && /^-?\d{1,19}$/.test(v),
  num: (v) => typeof v === 'string' && /^-?\d{1,18}(\.\d{1,17})?(e[-+]?\d{1,3})?$/i.test(v),
};

/** The sort key inside a cursor, checked part by part against the list's shape. */
export function decodeCursor(cursor: string | undefined, shape: readonly KeyPart[]): (string | number)[] | null {
  if (cursor === undefined) return null;
  let key: unknown;
  try {
    key = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
  } catch {
    throw badCursor();
  }
  const ok = Array.isArray(key) && key.length === shape.length && key.every((v, i) => partOk[shape[i]!](v));
  if (!ok) throw badCursor();
  return key as (string | number)[];
}

/** Given up to limit+1 rows, the page and the cursor of the next one. */
export function toPage<Row, Out>(rows: Row[], limit: number, keyOf: (row: Row) => (string | number)[], view: (row: Row) => Out) {
  const more = rows.length > limit;
  const served = more ? rows.slice(0, limit) : rows;
  return { data: served.map(view), nextCursor: more ? encodeCursor(keyOf(served[served.length - 1]!)) : null };
}

export interface Page<T> {
  data: T[];
  nextCursor: string | null;
}

/*
 * Lists in creation order (branches, menu, stock, orders) keyset on (created_at, id). created_at
 * travels as text with microseconds: PostgreSQL keeps them and a JavaScript Date would round them
 * away, so two rows of the same millisecond would be skipped or repeated across pages.
 */
export interface PageKey {
  at: string;
  id: string;
}

/** How a list's row id is written in SQL: a uuid, text (a provider's event id) or a bigint. */
export type IdKind = 'uuid' | 'text' | 'bigint';
const idPart: Record<IdKind, KeyPart> = { uuid: 'uuid', text: 's', bigint: 'int' };

/** A (created_at, id) cursor, checked before it reaches SQL. */
export function decodeTimeCursor(cursor: string | undefined, id: IdKind = 'uuid'): PageKey | null {
  const key = decodeCursor(cursor, ['time', idPart[id]]);
  return key === null ? null : { at: key[0] as string, id: key[1] as string };
}

/** The select expression giving a row's cursor timestamp: created_at in UTC, to the microsecond. */
export function cursorAt(column: string): RawBuilder<string> {
  return sql<string>`to_char(${sql.ref(column)} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')`;
}

/** The keyset condition: rows after `key` in the list's order. */
export function afterCursor(createdAt: string, id: string, key: PageKey, order: 'asc' | 'desc', idKind: IdKind = 'uuid'): Expression<SqlBool> {
  const op = order === 'desc' ? sql.raw('<') : sql.raw('>');
  return sql<SqlBool>`(${sql.ref(createdAt)}, ${sql.ref(id)}) ${op} (${key.at}::timestamptz, ${key.id}::${sql.raw(idKind)})`;
}

export const timeKeyOf = (row: { cursor_at: string; id: string | number | bigint }): string[] => [row.cursor_at, String(row.id)];
