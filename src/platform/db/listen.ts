import pg from 'pg';
import type { Logger } from '../log.ts';

/**
 * The one LISTEN connection of a process, shared by every channel the process needs (the
 * outbox relay's wake-ups, the session cache's invalidations).
 *
 * Why one, and why this shape: a connection per subscriber, each reconnecting on its own, is
 * how an outage of PostgreSQL became ~100 connections per process (both the failed connect and
 * the client's end/error handler scheduled a reconnect, and the extra clients were never
 * closed), which used up max_connections and kept the service down after the database was
 * back. Here a single state machine owns the connection: at most one client exists or is being
 * connected, at most one reconnect is scheduled, every client that is given up is ended, and
 * the delay between attempts grows to `maxDelayMs` with jitter (processes that lost the
 * database together do not return in lockstep).
 *
 * A LISTEN connection is idle by nature, so a hung server (SIGSTOP, a dead network path) would
 * go unnoticed: a heartbeat query with a timeout gives it up and reconnects.
 */
export interface Notifications {
  /** True while the LISTEN connection is up: only then can notifications be trusted. */
  readonly connected: boolean;
  /**
   * Calls `onMessage` for each notification on `channel`; `onReset` whenever the connection is
   * (re)established or lost, since notifications may have been missed. Returns the unsubscribe.
   */
  subscribe(channel: string, onMessage: (payload: string) => void, onReset: () => void): () => void;
  close(): Promise<void>;
}

export interface NotificationsOptions {
  /** First reconnect delay; doubles per failed attempt up to maxDelayMs (default 100 / 5000). */
  minDelayMs?: number;
  maxDelayMs?: number;
  /** Heartbeat period and the time a heartbeat or a connect may take (default 10000 / 5000). */
  heartbeatMs?: number;
  timeoutMs?: number;
  applicationName?: string;
}

interface Subscriber {
  channel: string;
  onMessage: (payload: string) => void;
  onReset: () => void;
}

/** Equal jitter: half the nominal delay fixed, half random. */
export function reconnectDelay(failures: number, minMs: number, maxMs: number): number {
  const nominal = Math.min(maxMs, minMs * 2 ** Math.max(0, failures - 1));
  return Math.round(nominal / 2 + Math.random() * (nominal / 2));
}

export function createNotifications(url: string, log: Logger, opts: NotificationsOptions = {}): Notifications {
  const minDelay = opts.minDelayMs ?? 100;
  const maxDelay = opts.maxDelayMs ?? 5000;
  const heartbeatMs = opts.heartbeatMs ?? 10_000;
  const timeoutMs = opts.timeoutMs ?? 5000;
  const subscribers = new Set<Subscriber>();
  const listening = new Set<string>();
  let client: pg.Client | null = null;
  let connecting = false;
  let connected = false;
  let closed = false;
  let failures = 0;
  let retryTimer: NodeJS.Timeout | null = null;
  let heartbeat: NodeJS.Timeout | null = null;

  const channels = () => new Set([...subscribers].map((s) => s.channel));
  const reset = () => {
    for (const s of [...subscribers]) {
      try {
        s.onReset();
      } catch (err) {
        log.error({ err, channel: s.channel }, 'notification reset handler failed');
      }
    }
  };

  const scheduleConnect = () => {
    if (closed || retryTimer || connecting || client || subscribers.size === 0) return;
    const delay = failures === 0 ? 0 : reconnectDelay(failures, minDelay, maxDelay);
    retryTimer = setTimeout(() => {
      retryTimer = null;
      void connect();
    }, delay);
    retryTimer.unref();
  };

  async function connect(): Promise<void> {
    if (closed || connecting || client) return;
    connecting = true;
    const c = new pg.Client({ connectionString: url, application_name: opts.applicationName ?? 'brigade-listen', connectionTimeoutMillis: timeoutMs, keepAlive: true });
    let given = false;
    // The one way out for a client: ended, forgotten, and (once) a reconnect scheduled.
    const giveUp = (reason: string) => {
      if (given) return;
      given = true;
      c.end().catch(() => undefined);
      if (client === c) {
        client = null;
        connected = false;
        listening.clear();
        if (heartbeat) clearInterval(heartbeat);
        heartbeat = null;
        log.warn({ reason }, 'LISTEN connection lost; reconnecting');
        failures = 1;
        reset();
        scheduleConnect();
      }
    };
    c.on('error', (err) => giveUp(err.message));
    c.on('end', () => giveUp('connection ended'));
    c.on('notification', (msg) => {
      for (const s of subscribers) if (s.channel === msg.channel) s.onMessage(msg.payload ?? '');
    });
    try {
      await c.connect();
      // Channels subscribed while this runs are picked up by the loop (a Set iterates additions).
      const wanted = channels();
      for (const ch of wanted) {
        await c.query(`LISTEN ${pg.escapeIdentifier(ch)}`);
        listening.add(ch);
      }
      if (given) throw new Error('connection lost while subscribing');
      if (closed) {
        given = true;
        await c.end().catch(() => undefined);
        return;
      }
      client = c;
      connected = true;
      if (failures > 0) log.info({ after: failures }, 'LISTEN connection restored');
      failures = 0;
      heartbeat = setInterval(() => void beat(c), heartbeatMs);
      heartbeat.unref();
      // Anything subscribed after the LISTEN loop read the set.
      for (const ch of channels()) if (!listening.has(ch)) await listenOn(c, ch);
      reset();
    } catch (err) {
      failures++;
      listening.clear();
      if (failures === 1 || failures % 10 === 0) log.warn({ err: (err as Error).message, failures }, 'LISTEN connection failed; retrying');
      given = true;
      c.end().catch(() => undefined);
    } finally {
      connecting = false;
      if (!client) scheduleConnect();
    }
  }

  async function listenOn(c: pg.Client, channel: string): Promise<void> {
    try {
      await c.query(`LISTEN ${pg.escapeIdentifier(channel)}`);
      listening.add(channel);
    } catch (err) {
      // The connection is going away; the 'error'/'end' handler reconnects with every channel.
      log.warn({ err: (err as Error).message, channel }, 'LISTEN failed');
      c.emit('error', err as Error);
    }
  }

  let beating = false;
  async function beat(c: pg.Client): Promise<void> {
    if (beating) return;
    beating = true;
    let timer: NodeJS.Timeout | undefined;
    try {
      await Promise.race([
        c.query('SELECT 1'),
        new Promise((_, reject) => {
          timer = setTimeout(() => reject(new Error(`no answer to the heartbeat within ${timeoutMs} ms`)), timeoutMs);
        }),
      ]);
    } catch (err) {
      if (client === c) c.emit('error', err as Error);
    } finally {
      beating = false;
      clearTimeout(timer);
    }
  }

  return {
    get connected() {
      return connected;
    },
    subscribe(channel, onMessage, onReset) {
      const s: Subscriber = { channel, onMessage, onReset };
      subscribers.add(s);
      if (client && !listening.has(channel)) void listenOn(client, channel);
      scheduleConnect();
      return () => {
        subscribers.delete(s);
      };
    },
    async close() {
      closed = true;
      connected = false;
      if (retryTimer) clearTimeout(retryTimer);
      if (heartbeat) clearInterval(heartbeat);
      retryTimer = heartbeat = null;
      const c = client;
      client = null;
      await c?.end().catch(() => undefined);
    },
  };
}
