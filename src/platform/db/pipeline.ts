import pg from 'pg';
import { createRequire } from 'node:module';

// pg's protocol serializer and value mapper are not exported by name from the ESM entry points.
const require = createRequire(import.meta.url);
const prepareValue = (require('pg/lib/utils.js') as { prepareValue: (v: unknown) => unknown }).prepareValue;
const serialize = (require('pg-protocol') as { serialize: Serializer }).serialize;

interface Serializer {
  parse(msg: { text: string; name?: string }): Buffer;
  bind(msg: { statement?: string; values: unknown[]; valueMapper: unknown }): Buffer;
  describe(msg: { type: 'P' | 'S'; name: string }): Buffer;
  execute(msg: { rows: number }): Buffer;
  close(msg: { type: 'S' | 'P'; name: string }): Buffer;
  sync(): Buffer;
}

/** What a result row's columns are: names and text parsers, from the server's RowDescription. */
interface Shape {
  names: string[];
  parsers: ((text: string) => unknown)[];
  fields: pg.FieldDef[];
}

interface PgConnection {
  /** pg's own record of the named statements this server session has parsed (name -> text). */
  parsedStatements: Record<string, string>;
  /** Ours: names whose Parse went out in a pipeline that failed (it may or may not exist). */
  brigadeUnsure?: Set<string>;
  /** Ours: the result shape of each named statement this session has described (name -> shape). */
  brigadeShapes?: Map<string, Shape>;
  stream: { writable: boolean; write(b: Buffer): boolean };
  sendCopyFail(msg: string): void;
}

interface FieldDescription {
  name: string;
  dataTypeID: number;
}

interface TypeParsers {
  getTypeParser(oid: number, format: 'text'): (text: string) => unknown;
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

/** A statement's result in progress; `shape` is known up front for a named statement described before. */
interface Pending {
  name: string | undefined;
  shape: Shape | undefined;
  /** Described in this pipeline: its shape is remembered once it completes. */
  describing: boolean;
  rows: Record<string, unknown>[];
}

const NO_FIELDS: Shape = { names: [], parsers: [], fields: [] };

/**
 * Several parameterised statements sent in one write and answered in one round trip: Parse,
 * Bind, Describe and Execute for each, then a single Sync. Without an explicit BEGIN the
 * statements up to the Sync run as one implicit transaction, so `set_config(..., true)` in the
 * first one holds for the rest and ends with them. If one fails, the server skips the rest.
 * Values are always bound parameters: nothing is spliced into SQL.
 *
 * pg's client runs it as a custom query (it has `submit`): the messages go out as one buffer in
 * one write, and a named statement is described once per server session, its row shape (names
 * and type parsers) kept with the connection, so later runs are only bound and executed and
 * their rows parsed without a RowDescription. PostgreSQL refuses to run a prepared statement
 * whose result shape has changed (a migration altered its table): that error drops the
 * pipeline's names from the session's record, so the next run parses and describes afresh.
 */
class PipelinedQuery {
  callback: ((err: Error | null, res?: pg.QueryResult[]) => void) | undefined;
  private readonly pending: Pending[] = [];
  private readonly results: pg.QueryResult[] = [];
  /** Names parsed by this pipeline: unsure if it fails (the server skips the rest after an error). */
  private readonly parsed: string[] = [];
  private connection: PgConnection | undefined;
  private failure: Error | undefined;

  constructor(
    private readonly statements: Statement[],
    private readonly named: boolean,
    private readonly types: TypeParsers,
  ) {}

  submit(connection: PgConnection): Error | null {
    this.connection = connection;
    const shapes = (connection.brigadeShapes ??= new Map());
    const parts: Buffer[] = [];
    for (const s of this.statements) {
      const name = this.named ? nameOf(s) : undefined;
      if (name === undefined) {
        parts.push(serialize.parse({ text: s.text }));
      } else if (connection.parsedStatements[name] !== s.text) {
        // A failed pipeline may have left it parsed: Close of a statement that does not exist is no error.
        if (connection.brigadeUnsure?.delete(name)) parts.push(serialize.close({ type: 'S', name }));
        parts.push(serialize.parse({ text: s.text, name }));
        connection.parsedStatements[name] = s.text;
        shapes.delete(name);
        this.parsed.push(name);
      }
      // Bind maps values (dates, buffers, arrays, JSON) and may throw on one it cannot send: nothing is written then.
      try {
        parts.push(serialize.bind({ statement: name, values: s.values ?? [], valueMapper: prepareValue }));
      } catch (err) {
        this.forget();
        return err as Error;
      }
      const shape = name === undefined ? undefined : shapes.get(name);
      if (shape === undefined) parts.push(serialize.describe({ type: 'P', name: '' }));
      parts.push(serialize.execute({ rows: 0 }));
      this.pending.push({ name, shape, describing: shape === undefined, rows: [] });
    }
    parts.push(serialize.sync());
    if (connection.stream.writable) connection.stream.write(parts.length === 1 ? parts[0]! : Buffer.concat(parts));
    return null;
  }

  handleRowDescription(msg: { fields: FieldDescription[] }): void {
    const p = this.pending[this.results.length];
    if (!p) return;
    p.shape = {
      names: msg.fields.map((f) => f.name),
      parsers: msg.fields.map((f) => this.types.getTypeParser(f.dataTypeID, 'text')),
      fields: msg.fields as unknown as pg.FieldDef[],
    };
  }

  handleDataRow(msg: { fields: (string | null)[] }): void {
    const p = this.pending[this.results.length];
    if (!p || this.failure) return;
    const { names: columns, parsers } = p.shape ?? NO_FIELDS;
    const row: Record<string, unknown> = {};
    const values = msg.fields;
    try {
      for (let i = 0; i < values.length; i++) {
        const v = values[i];
        row[columns[i]!] = v === null ? null : parsers[i]!(v!);
      }
    } catch (err) {
      this.failure = err as Error;
      return;
    }
    p.rows.push(row);
  }

  handleCommandComplete(msg: { text: string }): void {
    this.complete(msg.text);
  }

  handleEmptyQuery(): void {
    this.complete('');
  }

  private complete(tag: string): void {
    const p = this.pending[this.results.length];
    if (!p) return;
    const words = tag.split(' ');
    const command = words[0] ?? '';
    const count = Number(words[words.length - 1]);
    const shape = p.shape ?? NO_FIELDS;
    this.results.push({
      command,
      rowCount: Number.isInteger(count) && words.length > 1 ? count : null,
      oid: command === 'INSERT' ? Number(words[1]) : (null as unknown as number),
      rows: p.rows,
      fields: shape.fields,
    });
  }

  handleReadyForQuery(): void {
    if (this.failure) return this.fail(this.failure);
    const shapes = this.connection?.brigadeShapes;
    if (shapes) for (const p of this.pending) if (p.name !== undefined && p.describing) shapes.set(p.name, p.shape ?? NO_FIELDS);
    try {
      this.callback?.(null, this.results);
    } catch (err) {
      process.nextTick(() => {
        throw err;
      });
    }
  }

  handleError(err: Error): void {
    this.fail(this.failure ?? err);
  }

  private fail(err: Error): void {
    this.failure = undefined;
    // A statement whose result shape changed under it stays unusable in this session: parse it again.
    const reshaped = (err as { code?: string }).code === '0A000' && /result type/.test(err.message);
    this.forget(reshaped ? this.pending.flatMap((p) => (p.name === undefined ? [] : [p.name])) : []);
    this.callback?.(err);
  }

  /** After a failure: what this pipeline parsed may or may not exist on the server. */
  private forget(also: string[] = []): void {
    const connection = this.connection;
    if (!connection) return;
    const unsure = (connection.brigadeUnsure ??= new Set());
    for (const name of [...this.parsed, ...also]) {
      delete connection.parsedStatements[name];
      connection.brigadeShapes?.delete(name);
      unsure.add(name);
    }
  }

  handlePortalSuspended(): void {}

  handleCopyInResponse(connection: PgConnection): void {
    connection.sendCopyFail('COPY is not supported in a pipeline');
  }

  handleCopyData(): void {}
}

/**
 * Runs the statements in one round trip; resolves with one result per statement. `named`: as
 * named statements (see `nameOf`), which a pooler in transaction mode cannot carry from one
 * transaction to the next (PgBouncer before 1.21): BRIGADE_DB_NAMED_STATEMENTS turns them off.
 */
export function pipeline(client: pg.ClientBase, statements: Statement[], named = false): Promise<pg.QueryResult[]> {
  return new Promise((resolve, reject) => {
    const types = ((client as unknown as { _types?: TypeParsers })._types ?? pg.types) as TypeParsers;
    const q = new PipelinedQuery(statements, named, types);
    q.callback = (err, res) => (err ? reject(err) : resolve(res!));
    (client as unknown as { query(q: object): void }).query(q);
  });
}
