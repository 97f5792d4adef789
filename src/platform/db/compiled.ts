import type { CompiledQuery, Compilable, RawBuilder } from 'kysely';
import { runCompiledRows, type Tx } from './tenancy.ts';

const SLOT = Symbol('brigade.compiled.argument');
type Slot = { readonly [SLOT]: string };
const isSlot = (v: unknown): v is Slot => typeof v === 'object' && v !== null && SLOT in v;

/**
 * A hot query built and compiled by Kysely once per process instead of on every call: the SQL
 * text and the places of its arguments among the parameters are kept, and each call only binds
 * its arguments and executes, on the handle it is given (so tenancy, row-level security and
 * the transaction are those of the caller, exactly as for a query built in place).
 *
 * `build` is called once, with stand-ins for the arguments: it may only use them as values
 * (compared, inserted, set). It must not branch on them or shape the SQL with them (an `IN`
 * list, an optional clause): such a query needs one compiled variant per shape. Every stand-in
 * must end up a parameter, and nothing else may: both are checked when the query is compiled.
 */
export function compiled<A extends Record<string, unknown>, R>(build: (db: Tx, args: A) => Compilable<R> | RawBuilder<R>): (db: Tx, args: A) => Promise<R[]> {
  let kept: { query: CompiledQuery<R>; slots: (string | { value: unknown })[] } | undefined;
  const compile = (db: Tx, keys: string[]) => {
    const stand = Object.fromEntries(keys.map((k) => [k, Object.freeze({ [SLOT]: k })])) as unknown as A;
    // A `sql` template compiles against a handle; a query builder already holds its own.
    const query = build(db, stand).compile(db);
    const slots = query.parameters.map((p) => (isSlot(p) ? p[SLOT] : { value: p }));
    const used = new Set(slots.filter((s): s is string => typeof s === 'string'));
    const unused = keys.filter((k) => !used.has(k));
    if (unused.length) throw new Error(`compiled query: argument ${unused.join(', ')} is not a parameter of ${query.sql}`);
    return { query, slots };
  };
  return (db, args) => {
    try {
      kept ??= compile(db, Object.keys(args));
    } catch (err) {
      return Promise.reject(err);
    }
    const { query, slots } = kept;
    const parameters = slots.map((s) => (typeof s === 'string' ? args[s] : s.value));
    return runCompiledRows<R>(db, { query: query.query, queryId: query.queryId, sql: query.sql, parameters });
  };
}
