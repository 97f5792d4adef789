import pg from 'pg';
import type { Logger } from '../log.ts';

export interface Listener {
  /** True while the LISTEN connection is up: only then can notifications be trusted. */
  readonly connected: boolean;
  close(): Promise<void>;
}

/**
 * A dedicated connection that LISTENs on `channel` and reconnects with backoff. `onReset` runs
 * whenever the connection is (re)established or lost: notifications may have been missed.
 */
export function listen(
  url: string,
  channel: string,
  onMessage: (payload: string) => void,
  onReset: () => void,
  log: Logger,
): Listener {
  let client: pg.Client | null = null;
  let connected = false;
  let closed = false;
  let delay = 100;

  const connect = async () => {
    if (closed) return;
    const c = new pg.Client({ connectionString: url, application_name: `brigade-listen-${channel}` });
    c.on('notification', (msg) => {
      if (msg.channel === channel) onMessage(msg.payload ?? '');
    });
    c.on('error', (err) => {
      log.warn({ err: err.message, channel }, 'LISTEN connection lost');
      lost(c);
    });
    c.on('end', () => lost(c));
    try {
      await c.connect();
      await c.query(`LISTEN ${pg.escapeIdentifier(channel)}`);
      if (closed) return void (await c.end());
      client = c;
      connected = true;
      delay = 100;
      onReset();
    } catch (err) {
      log.warn({ err: (err as Error).message, channel }, 'LISTEN connection failed; retrying');
      lost(c);
    }
  };

  const lost = (c: pg.Client) => {
    if (client !== null && client !== c) return;
    const wasConnected = connected;
    connected = false;
    client = null;
    if (wasConnected) onReset();
    c.end().catch(() => undefined);
    if (closed) return;
    setTimeout(() => void connect(), delay).unref();
    delay = Math.min(delay * 2, 5000);
  };

  void connect();
  return {
    get connected() {
      return connected;
    },
    async close() {
      closed = true;
      connected = false;
      await client?.end().catch(() => undefined);
    },
  };
}
