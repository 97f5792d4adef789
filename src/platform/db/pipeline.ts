import pg from 'pg';
import { createRequire } from 'node:module';

// pg does not export its Query class by name from the ESM entry; the CommonJS one has it.
const require = createRequire(import.meta.url);
const Query = require('pg/lib/query.js') as new (config: pg.QueryConfig) => PgQuery;
const prepareValue = (require('pg/lib/utils.js') as { prepareValue: (v: unknown) => unknown }).prepareValue;

interface PgConnection {
  /** pg's own record of the named statements this server session has parsed (name -> text). */
  parsedStatements: Record<string, string>;
  /** Ours: names whose Parse went out in a pipeline that failed (it may or may not exist). */
  brigadeUnsure?: Set<string>;
  parse(msg: { text: string; name?: string; types?: unknown }): void;
  close(msg: { type: 'S' | 'P'; name: string }): void;
  bind(msg: { portal?: string; statement?: string; values?: unknown[]; valueMapper?: unknown }): void;
  describe(msg: { type: 'P' | 'S'; name: string }): void;
  execute(msg: { portal?: string; rows?: number }): void;
  sync(): void;
  stream: { cork?: () => void; uncork?: () => void };
}

interface PgQuery {
  callback?: (err: Error | null, res?: pg.QueryResult | pg.QueryResult[]) => void;
  handleError(err: Error, connection: PgConnection): void;
}

export interface Statement {
  text: string;
  values?: unknown[];
}

/**
 * Names for statement texts, process-wide: a named statement is parsed and planned once per
 * server connection and then only bound and executed (PostgreSQL replans a generic plan only
 * when it pays). The texts are Brigade's own compiled queries, values always bound; past
 * `MAX_NAMED` distinct texts the rest go unnamed, so a query whose text varies (an IN list of
 * any length) cannot grow the server's memory without bound.
 */
const MAX_NAMED = 2000;
const names = new Map<string, string>();
/** Texts without parameters worth naming (BEGIN, COMMIT, fixed probes); others without parameters (SAVEPOINT n) are not. */
const fixed = new Set<string>();
export function nameAlways(...texts: string[]): void {
  for (const t of texts) fixed.add(t);
}
function nameOf(s: Statement): string | undefined {
  const text = s.text;
  let name = names.get(text);
  if (name === undefined && names.size < MAX_NAMED && (s.values?.length || fixed.has(text))) {
    name = `brigade_${names.size + 1}`;
    names.set(text, name);
  }
  return name;
}

/**
 * Several parameterised statements sent in one write and answered in one round trip: Parse,
 * Bind, Describe and Execute for each, then a single Sync. Without an explicit BEGIN the
 * statements up to the Sync run as one implicit transaction, so `set_config(..., true)` in the
 * first one holds for the rest and ends with them. If one fails, the server skips the rest.
 * Values are always bound parameters: nothing is spliced into SQL.
 */
class PipelinedQuery extends (Query as unknown as new (config: pg.QueryConfig) => PgQuery & object) {
  /** Names parsed by this pipeline: unsure if it fails (the server skips the rest after an error). */
  private parsed: string[] = [];
  private connection: PgConnection | undefined;

  constructor(private readonly statements: Statement[], private readonly named: boolean, callback: NonNullable<PgQuery['callback']>) {
    super({ text: statements.map((s) => s.text).join(';\n'), values: [] });
    this.callback = (err, res) => {
      if (err && this.connection && this.parsed.length) {
        const unsure = (this.connection.brigadeUnsure ??= new Set());
        for (const name of this.parsed) {
          delete this.connection.parsedStatements[name];
          unsure.add(name);
        }
      }
      callback(err, res);
    };
  }

  requiresPreparation(): boolean {
    return true;
  }

  prepare(connection: PgConnection): void {
    this.connection = connection;
    try {
      for (const s of this.statements) {
        const name = this.named ? nameOf(s) : undefined;
        if (name === undefined) {
          connection.parse({ text: s.text });
        } else if (connection.parsedStatements[name] !== s.text) {
          // A failed pipeline may have left it parsed: Close of a statement that does not exist is no error.
          if (connection.brigadeUnsure?.delete(name)) connection.close({ type: 'S', name });
          connection.parse({ text: s.text, name });
          connection.parsedStatements[name] = s.text;
          this.parsed.push(name);
        }
        connection.bind({ statement: name, values: s.values ?? [], valueMapper: prepareValue });
        connection.describe({ type: 'P', name: '' });
        connection.execute({ rows: 0 });
      }
    } finally {
      connection.sync();
    }
  }
}

/**
 * Runs the statements in one round trip; resolves with one result per statement. `named`: as
 * named statements (see `nameOf`), which a pooler in transaction mode cannot carry from one
 * transaction to the next (PgBouncer before 1.21): BRIGADE_DB_NAMED_STATEMENTS turns them off.
 */
export function pipeline(client: pg.ClientBase, statements: Statement[], named = false): Promise<pg.QueryResult[]> {
  return new Promise((resolve, reject) => {
    const q = new PipelinedQuery(statements, named, (err, res) => {
      if (err) reject(err);
      else resolve(Array.isArray(res) ? res : [res!]);
    });
    (client as unknown as { query(q: object): void }).query(q);
  });
}
