import pg from 'pg';
import { createRequire } from 'node:module';

// pg does not export its Query class by name from the ESM entry; the CommonJS one has it.
const require = createRequire(import.meta.url);
const Query = require('pg/lib/query.js') as new (config: pg.QueryConfig) => PgQuery;
const prepareValue = (require('pg/lib/utils.js') as { prepareValue: (v: unknown) => unknown }).prepareValue;

interface PgConnection {
  parse(msg: { text: string; name?: string; types?: unknown }): void;
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
 * Several parameterised statements sent in one write and answered in one round trip: Parse,
 * Bind, Describe and Execute for each, then a single Sync. Without an explicit BEGIN the
 * statements up to the Sync run as one implicit transaction, so `set_config(..., true)` in the
 * first one holds for the rest and ends with them. If one fails, the server skips the rest.
 * Values are always bound parameters: nothing is spliced into SQL.
 */
class PipelinedQuery extends (Query as unknown as new (config: pg.QueryConfig) => PgQuery & object) {
  constructor(private readonly statements: Statement[], callback: NonNullable<PgQuery['callback']>) {
    super({ text: statements.map((s) => s.text).join(';\n'), values: [] });
    this.callback = callback;
  }

  requiresPreparation(): boolean {
    return true;
  }

  prepare(connection: PgConnection): void {
    try {
      for (const s of this.statements) {
        connection.parse({ text: s.text });
        connection.bind({ values: s.values ?? [], valueMapper: prepareValue });
        connection.describe({ type: 'P', name: '' });
        connection.execute({ rows: 0 });
      }
    } finally {
      connection.sync();
    }
  }
}

/** Runs the statements in one round trip; resolves with one result per statement. */
export function pipeline(client: pg.ClientBase, statements: Statement[]): Promise<pg.QueryResult[]> {
  return new Promise((resolve, reject) => {
    const q = new PipelinedQuery(statements, (err, res) => {
      if (err) reject(err);
      else resolve(Array.isArray(res) ? res : [res!]);
    });
    (client as unknown as { query(q: object): void }).query(q);
  });
}
