/**
 * "The database cannot be reached" as one recognisable error, whatever the layer that met it:
 * the HTTP layer answers 503 with Retry-After instead of 500, and the job worker holds a job
 * instead of spending one of its attempts on an outage of Brigade's own database.
 *
 * Conversion happens only at the points where Brigade talks to PostgreSQL (tenancy, the relay,
 * authentication), so a handler's own ECONNREFUSED (an SMTP server, a payment provider) is
 * never mistaken for the database.
 */
export class DatabaseUnavailableError extends Error {
  constructor(cause: unknown) {
    super(`The database cannot be reached: ${(cause as Error)?.message ?? String(cause)}`, { cause });
    this.name = 'DatabaseUnavailableError';
  }
}

// SQLSTATEs that say the server cannot serve now, not that the statement was wrong:
// connection exceptions (08), shutdown and start-up (57P01-57P03), too many connections (53300).
const UNAVAILABLE_STATES = new Set(['08000', '08001', '08003', '08004', '08006', '57P01', '57P02', '57P03', '53300']);
// What node-postgres says when a connection dies, times out or cannot be made.
const PG_MESSAGES = /^(Connection terminated|Client has encountered a connection error|timeout exceeded when trying to connect|Query read timeout|Client was closed)/;

function looksUnavailable(err: unknown): boolean {
  const e = err as { code?: unknown; message?: unknown } | null;
  if (!e || typeof e !== 'object') return false;
  if (typeof e.code === 'string' && UNAVAILABLE_STATES.has(e.code)) return true;
  return typeof e.message === 'string' && PG_MESSAGES.test(e.message);
}

/**
 * At a database call site: the error as a DatabaseUnavailableError when it says the server
 * could not be reached, else as is. `connecting`: it came from getting a connection (any
 * failure there is the server's); `lost`: the client saw its connection fail meanwhile. Other
 * errors count only by PostgreSQL's own SQLSTATE or node-postgres's own words, so a network
 * error of something a callback called (SMTP, a payment provider) stays what it is.
 */
export function asDatabaseError(err: unknown, how: { connecting?: boolean; lost?: boolean } = {}): unknown {
  if (err instanceof DatabaseUnavailableError) return err;
  if ((err as { code?: unknown })?.code === '28P01' || (err as { code?: unknown })?.code === '3D000') return err;
  return how.connecting || how.lost || looksUnavailable(err) ? new DatabaseUnavailableError(err) : err;
}

/** True when `err`, or an error it wraps, says Brigade's database cannot be reached. */
export function isDatabaseUnavailable(err: unknown): boolean {
  for (let e = err, depth = 0; e && depth < 8; e = (e as { cause?: unknown }).cause, depth++) {
    if (e instanceof DatabaseUnavailableError) return true;
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string' && UNAVAILABLE_STATES.has(code)) return true;
  }
  return false;
}
