/**
 * What the read-path benchmarks share: Brigade's API and the bare baseline each in a process of
 * its own (inside the bench process the baseline ran 7-12% slower and flattered the ratio), the
 * production log level, a warm-up, alternating rounds and their medians with min and max, the
 * machine's load, and resident memory read from /proc.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { createTestContext, aTenant, aBranch, type TestContext } from '../test/harness.ts';
import { billingModule } from '../src/modules/billing/index.ts';
import { load, type LoadResult } from './load.ts';
import { stopProcess } from '../test/faults/brigade.ts';
import { freePort } from '../test/faults/servers.ts';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
export const seconds = Number(process.env.BENCH_SECONDS ?? 10);
export const warmupSeconds = Number(process.env.BENCH_WARMUP_SECONDS ?? 20);
export const rounds = Math.max(5, Number(process.env.BENCH_ROUNDS ?? 5));
export const connections = Number(process.env.BENCH_CONNECTIONS ?? 16);
/** Redis keys of this run's own (the shared Redis may serve other Brigades). */
const queuePrefix = `bench${process.pid}`;

export { freePort };

export interface Server {
  url: string;
  pid: number;
  stop(): Promise<void>;
}

async function started(child: ChildProcess, url: string, what: string): Promise<void> {
  const deadline = Date.now() + 120_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`${what} exited ${child.exitCode}`);
    const ok = await fetch(url).then((r) => r.status < 500, () => false);
    if (ok) return;
    if (Date.now() > deadline) throw new Error(`${what} did not start`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

const stopper = (child: ChildProcess) => () => stopProcess(child);

/** The bench's business: a tenant on a plan without a rate of its own, with one branch. */
export async function benchTenant(): Promise<{ t: TestContext; token: string; tenantId: string; branchId: string }> {
  const t = await createTestContext({ LOG_LEVEL: 'silent' });
  const owner = await aTenant(t.app, 'Bench Bistro');
  await t.platform.tenancy.withSystem('bench: plan', (trx) => trx.updateTable('subscriptions').set({ plan: 'enterprise', status: 'active' }).where('tenant_id', '=', owner.tenant.id).execute());
  billingModule(t.platform).service.invalidate(owner.tenant.id);
  const branchId = await aBranch(t, owner.tenant.id, 'Bench Branch');
  return { t, token: owner.token, tenantId: owner.tenant.id, branchId };
}

/**
 * The bundled payment simulator in a process of its own, on an empty state, shared by every API
 * of the run: a production API talks to its provider over the network and hosts no simulator
 * (hosted inside the API, one with a large state file cost it several percent of its CPU).
 */
let simulatorPort: Promise<number> | null = null;
function sharedSimulator(): Promise<number> {
  simulatorPort ??= (async () => {
    const port = await freePort();
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'brigade-bench-simulator-'));
    const child = spawn(process.execPath, ['--import', 'tsx', path.join(root, 'src/cli.ts'), 'simulator'], {
      cwd: root,
      env: { ...process.env, BRIGADE_SIMULATOR_PORT: String(port), BRIGADE_DATA_DIR: dir, LOG_LEVEL: 'warn' },
      stdio: ['ignore', 'ignore', 'inherit'],
    });
    // Not holding the benchmark open: it ends when its work does, and takes the simulator with it.
    child.unref();
    process.once('exit', () => {
      child.kill('SIGTERM');
      fs.rmSync(dir, { recursive: true, force: true });
    });
    await started(child, `http://127.0.0.1:${port}/`, 'payment simulator');
    return port;
  })();
  return simulatorPort;
}

/**
 * `brigade serve` as a production deployment runs it: LOG_LEVEL=info with every line written
 * (to /dev/null, not a terminal). The tenant rate ceiling is raised so the limiter counts but
 * does not refuse the benchmark's own load.
 */
export async function brigadeApi(databaseUrl: string, env: Record<string, string> = {}): Promise<Server> {
  const port = await freePort();
  const stdout = fs.openSync(process.env.BENCH_API_STDOUT ?? '/dev/null', 'w');
  // BENCH_API_NODE_ARGS: extra node flags for the API process, e.g. `--cpu-prof --cpu-prof-dir=/tmp/prof` to profile it
  // (or `--perf-basic-prof` for perf); BENCH_API_STDOUT: a file for its stdout (`--trace-opt` output, log lines).
  const nodeArgs = (process.env.BENCH_API_NODE_ARGS ?? '').split(' ').filter(Boolean);
  const child = spawn(process.execPath, [...nodeArgs, '--import', 'tsx', path.join(root, 'src/cli.ts'), 'serve'], {
    cwd: root,
    env: {
      ...process.env,
      NODE_ENV: 'production',
      DATABASE_URL: databaseUrl,
      PORT: String(port),
      LOG_LEVEL: 'info',
      BRIGADE_DEMO: 'false',
      BRIGADE_TENANT_RATE_LIMIT: '1000000',
      BRIGADE_SIMULATOR_PORT: env.BRIGADE_SIMULATOR_PORT ?? String(await sharedSimulator()),
      BRIGADE_QUEUE_PREFIX: queuePrefix,
      ...env,
    },
    stdio: ['ignore', stdout, 'inherit'],
  });
  const url = `http://127.0.0.1:${port}`;
  await started(child, `${url}/healthz`, 'brigade serve');
  return { url, pid: child.pid!, stop: stopper(child) };
}

/** The bare baseline (bench/bare-server.ts) in its own process. */
export function bareServer(databaseUrl: string, tenantId: string): Promise<Server> {
  return baselineProcess('bench/bare-server.ts', { BARE_DATABASE_URL: databaseUrl, BARE_TENANT_ID: tenantId });
}

/** A baseline server script (answering GET /healthz once up) in its own process, on a free PORT. */
export async function baselineProcess(script: string, env: Record<string, string>): Promise<Server> {
  const port = await freePort();
  const child = spawn(process.execPath, ['--import', 'tsx', path.join(root, script)], {
    cwd: root,
    env: { ...process.env, ...env, PORT: String(port) },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  const url = `http://127.0.0.1:${port}`;
  await started(child, `${url}/healthz`, script);
  return { url, pid: child.pid!, stop: stopper(child) };
}

/** Resident memory of a process, in MB (Linux /proc). */
export function rssMb(pid: number): number {
  const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? NaN);
  return Math.round(kb / 1024);
}

/**
 * Where a process's resident memory lies, in MB, from /proc/<pid>/smaps: `v8Pages`, the
 * anonymous mappings of exactly 256 KiB (V8 maps its heap pages one by one, at that size);
 * `otherAnon`, every other anonymous mapping and the brk heap (malloc's arenas, thread stacks,
 * the pools of native modules); `files`, mapped files (the node binary, shared libraries). A
 * page V8 gives back to its pool stays resident until it is reused, so `v8Pages` follows the
 * highest heap V8 has had, not the heap in use.
 */
export function rssByKind(pid: number): { v8Pages: number; otherAnon: number; files: number } {
  const kb = { v8Pages: 0, otherAnon: 0, files: 0 };
  let kind: keyof typeof kb = 'otherAnon';
  for (const line of fs.readFileSync(`/proc/${pid}/smaps`, 'utf8').split('\n')) {
    const m = /^([0-9a-f]+)-([0-9a-f]+) \S+ \S+ \S+ \S+\s*(.*)$/.exec(line);
    if (m) {
      const size = parseInt(m[2]!, 16) - parseInt(m[1]!, 16);
      kind = m[3]!.startsWith('/') ? 'files' : m[3] === '' && size === 256 * 1024 ? 'v8Pages' : 'otherAnon';
      continue;
    }
    const rss = /^Rss:\s+(\d+) kB/.exec(line);
    if (rss) kb[kind] += Number(rss[1]);
  }
  return { v8Pages: Math.round(kb.v8Pages / 1024), otherAnon: Math.round(kb.otherAnon / 1024), files: Math.round(kb.files / 1024) };
}

/** Drives several URLs at once (one autocannon process each, connections split between them). */
export async function loadAll(urls: string[], headers: Record<string, string>, secs: number): Promise<LoadResult> {
  const per = Math.max(1, Math.round(connections / urls.length));
  const results = await Promise.all(urls.map((u) => load(u, { seconds: secs, headers, connections: per })));
  return {
    requestsPerSecond: results.reduce((s, r) => s + r.requestsPerSecond, 0),
    p50: Math.max(...results.map((r) => r.p50)),
    p99: Math.max(...results.map((r) => r.p99)),
    errors: results.reduce((s, r) => s + r.errors, 0),
    non2xx: results.reduce((s, r) => s + r.non2xx, 0),
  };
}

export interface Spread {
  median: number;
  min: number;
  max: number;
}

export function spread(values: number[]): Spread {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  const median = sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
  return { median, min: sorted[0]!, max: sorted[sorted.length - 1]! };
}

/**
 * Warm-up for each side, then `rounds` rounds that alternate which side goes first, so that a
 * drift in the machine's load falls on both sides alike. Returns requests/s per round and side.
 */
export async function alternate(sides: { name: string; run: (secs: number) => Promise<LoadResult> }[]): Promise<Map<string, LoadResult[]>> {
  for (const s of sides) await s.run(warmupSeconds);
  const out = new Map<string, LoadResult[]>(sides.map((s) => [s.name, []]));
  for (let r = 0; r < rounds; r++) {
    const order = r % 2 === 0 ? sides : [...sides].reverse();
    for (const s of order) {
      const result = await s.run(seconds);
      if (result.errors || result.non2xx) throw new Error(`${s.name}: ${result.non2xx} non-2xx and ${result.errors} errors in round ${r + 1}`);
      out.get(s.name)!.push(result);
    }
  }
  return out;
}

export const loadNote = () => `load average ${os.loadavg().map((l) => l.toFixed(2)).join(' / ')} (1/5/15 min) on ${os.cpus().length} cores`;
