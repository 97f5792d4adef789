import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';

/**
 * The fault suite's own PostgreSQL and Redis servers, on ports from the OS, in a private
 * temporary directory: killed, hung and restarted at will, never the developer's or CI's.
 */
const PG_BIN = process.env.BRIGADE_PG_BIN ?? '/usr/lib/postgresql/15/bin';
const asRoot = process.getuid?.() === 0;

export async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** Runs a PostgreSQL binary, as the `postgres` user when we are root (PostgreSQL refuses root). */
function pgRun(bin: string, args: string[]): void {
  const cmd = asRoot ? 'runuser' : path.join(PG_BIN, bin);
  const full = asRoot ? ['-u', 'postgres', '--', path.join(PG_BIN, bin), ...args] : args;
  const r = spawnSync(cmd, full, { encoding: 'utf8', timeout: 60_000 });
  if (r.status !== 0) throw new Error(`${bin} ${args.join(' ')} failed: ${r.stderr || r.stdout}`);
}

export interface PgServer {
  port: number;
  url(db?: string): string;
  /** Crash: stop at once without a checkpoint (as a killed server would). */
  kill(): void;
  start(): void;
  /** SIGSTOP / SIGCONT every process of the cluster: a server that hangs. */
  hang(): void;
  resume(): void;
  destroy(): void;
}

export async function startPostgres(): Promise<PgServer> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'brigade-faults-pg-'));
  if (asRoot) spawnSync('chown', ['postgres:postgres', dir]);
  const data = path.join(dir, 'data');
  const port = await freePort();
  pgRun('initdb', ['-D', data, '-A', 'trust', '-U', 'postgres', '--no-sync']);
  const options = `-p ${port} -c listen_addresses=127.0.0.1 -k ${dir} -c max_connections=100 -c fsync=off`;
  const start = () => pgRun('pg_ctl', ['-D', data, '-o', options, '-l', path.join(dir, 'server.log'), '-w', 'start']);
  const pids = () => {
    const main = Number(fs.readFileSync(path.join(data, 'postmaster.pid'), 'utf8').split('\n')[0]);
    const children = spawnSync('pgrep', ['-P', String(main)], { encoding: 'utf8' }).stdout.split('\n').filter(Boolean).map(Number);
    return [main, ...children];
  };
  start();
  const hang = () => pids().forEach((p) => process.kill(p, 'SIGSTOP'));
  const resume = () => pids().forEach((p) => process.kill(p, 'SIGCONT'));
  return {
    port,
    url: (db = 'postgres') => `postgres://postgres@127.0.0.1:${port}/${db}`,
    kill: () => pgRun('pg_ctl', ['-D', data, '-m', 'immediate', '-w', 'stop']),
    start,
    hang,
    resume,
    destroy() {
      try {
        resume();
      } catch {
        /* not running */
      }
      try {
        pgRun('pg_ctl', ['-D', data, '-m', 'immediate', 'stop']);
      } catch {
        /* already stopped */
      }
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

export interface RedisServer {
  port: number;
  url: string;
  /** SIGKILL; `start` then brings up an empty server (no persistence), as a restart without data. */
  kill(): Promise<void>;
  start(): Promise<void>;
  hang(): void;
  resume(): void;
  destroy(): Promise<void>;
}

export async function startRedis(): Promise<RedisServer> {
  const port = await freePort();
  let child: ChildProcess | null = null;
  const start = async () => {
    child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: 'ignore' });
    for (let i = 0; i < 100; i++) {
      const ok = await new Promise<boolean>((resolve) => {
        const s = net.connect(port, '127.0.0.1', () => {
          s.destroy();
          resolve(true);
        });
        s.on('error', () => resolve(false));
      });
      if (ok) return;
      await new Promise((r) => setTimeout(r, 50));
    }
    throw new Error('redis-server did not start');
  };
  const kill = async () => {
    const c = child;
    if (!c || c.exitCode !== null) return;
    const exited = new Promise((r) => c.once('exit', r));
    c.kill('SIGKILL');
    await exited;
  };
  await start();
  return {
    port,
    url: `redis://127.0.0.1:${port}`,
    kill,
    start,
    hang: () => child?.kill('SIGSTOP'),
    resume: () => child?.kill('SIGCONT'),
    async destroy() {
      child?.kill('SIGCONT');
      await kill();
    },
  };
}
