import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { waitForOutput } from './harness.ts';
import crypto from 'node:crypto';
import fs from 'node:fs/promises';
import { existsSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import net from 'node:net';

/**
 * A newcomer's first start, in the places where it used to break: a clone in a directory only
 * its owner can enter (as root, the embedded PostgreSQL runs as a `postgres` user locked out of
 * it), and a second command run while `npm start` holds the embedded database.
 */

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = net.createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address() as net.AddressInfo;
      s.close(() => resolve(port));
    });
  });
}

/** A copy of this checkout in a fresh mode-700 directory (node_modules hard-linked: same files, no install). */
async function privateClone(): Promise<{ home: string; clone: string }> {
  const home = await fs.mkdtemp(path.join(os.tmpdir(), 'brigade-private-'));
  assert.equal((await fs.stat(home)).mode & 0o777, 0o700);
  const clone = path.join(home, 'brigade');
  await fs.mkdir(clone);
  const cp = (args: string[]) => {
    const r = spawnSync('cp', args, { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
  };
  cp(['-a', 'src', 'migrations', 'bin', 'package.json', 'tsconfig.json', clone]);
  await fs.mkdir(path.join(clone, 'console'));
  cp(['-a', 'console/dist', path.join(clone, 'console')]);
  cp(['-al', 'node_modules', clone]);
  return { home, clone };
}

test('npm start in a private clone runs on the embedded PostgreSQL; a command run meanwhile uses that server and rewrites nothing', { timeout: 240_000 }, async () => {
  const root = process.getuid?.() === 0;
  const { home, clone } = await privateClone();
  // Where root's postgres user gets the binaries and the cluster (a private default would be /var/lib/brigade).
  const embeddedRoot = await fs.mkdtemp(path.join(os.tmpdir(), 'brigade-embedded-root-'));
  await fs.chmod(embeddedRoot, 0o755);
  const port = await freePort();
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    DATABASE_URL: '',
    BRIGADE_DATA_DIR: '',
    BRIGADE_EMBEDDED_ROOT_DIR: embeddedRoot,
    PORT: String(port),
    BRIGADE_SIMULATOR_PORT: String(await freePort()),
    BRIGADE_QUEUE_PREFIX: `be${crypto.randomBytes(3).toString('hex')}`,
    BRIGADE_DEMO: 'false',
    BRIGADE_PASSWORD_COST: '10',
    LOG_LEVEL: 'info',
  };
  const cli = (args: string[]) => spawnSync(process.execPath, ['--import', 'tsx', 'src/cli.ts', ...args], { cwd: clone, env, encoding: 'utf8', timeout: 120_000 });
  const server = spawn(process.execPath, ['--import', 'tsx', 'src/cli.ts', 'start'], { cwd: clone, env, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  server.stdout!.on('data', (d) => (out += d));
  server.stderr!.on('data', (d) => (out += d));
  try {
    await waitForOutput(server, () => out, /Brigade is running/);
    assert.doesNotMatch(out, /EACCES|TypeError/);
    const stateFile = path.join(clone, '.data', 'brigade.json');
    const state = JSON.parse(await fs.readFile(stateFile, 'utf8')) as { port: number; clusterDir?: string };
    if (root) {
      // The postgres user cannot enter the clone: the binaries were copied and the cluster lives outside it.
      assert.ok(state.clusterDir?.startsWith(embeddedRoot + path.sep), JSON.stringify(state));
      assert.ok(existsSync(path.join(state.clusterDir!, 'PG_VERSION')));
      assert.ok((await fs.readdir(embeddedRoot)).some((f) => f.startsWith('postgres-')));
    }
    const stateBefore = await fs.readFile(stateFile, 'utf8');

    // A command while the server runs: it finds the running cluster, and leaves it running.
    const email = `op+${crypto.randomBytes(3).toString('hex')}@brigade.example`;
    const created = cli(['operators', 'create', '--email', email, '--password', 'operator password 1']);
    assert.equal(created.status, 0, created.stderr + created.stdout);
    assert.match(created.stdout, new RegExp(`operator ${email.replace(/[.+]/g, '\\$&')} .* can now log in`));
    assert.match(created.stdout + created.stderr, /using the embedded PostgreSQL another Brigade process runs/);
    const migrated = cli(['migrate']);
    assert.equal(migrated.status, 0, migrated.stderr + migrated.stdout);
    assert.equal(await fs.readFile(stateFile, 'utf8'), stateBefore, 'brigade.json was rewritten');

    // The operator is in the database the running API uses, which is still up.
    const login = await fetch(`http://127.0.0.1:${port}/ops/api/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ email, password: 'operator password 1' }),
    });
    assert.equal(login.status, 200, await login.clone().text());
    assert.equal(typeof ((await login.json()) as { token?: unknown }).token, 'string');
    assert.equal((await fetch(`http://127.0.0.1:${port}/readyz`)).status, 200);

    const exited = new Promise((resolve) => server.once('exit', resolve));
    server.kill('SIGTERM');
    assert.equal(await exited, 0, out.slice(-2000));
    assert.match(out, /embedded PostgreSQL stopped/);
  } finally {
    if (server.exitCode === null && server.signalCode === null) server.kill('SIGKILL');
    await fs.rm(home, { recursive: true, force: true });
    await fs.rm(embeddedRoot, { recursive: true, force: true });
  }
});

test('as root, a data directory and fallback that the postgres user cannot reach stop the start with one sentence saying what to do', { timeout: 60_000 }, async (t) => {
  const home = await fs.mkdtemp(path.join(os.tmpdir(), 'brigade-locked-'));
  try {
    const r = spawnSync(process.execPath, ['--import', 'tsx', path.resolve('src/cli.ts'), 'migrate'], {
      env: { ...process.env, DATABASE_URL: '', BRIGADE_DATA_DIR: path.join(home, 'data'), BRIGADE_EMBEDDED_ROOT_DIR: path.join(home, 'fallback'), LOG_LEVEL: 'silent' },
      encoding: 'utf8',
      timeout: 50_000,
    });
    if (process.getuid?.() !== 0) {
      // Not root: the server runs as this user, who owns the directory; nothing to refuse.
      t.diagnostic('not root: the migrate ran on the embedded database in the private directory');
      assert.equal(r.status, 0, r.stderr);
      return;
    }
    assert.equal(r.status, 1, r.stdout + r.stderr);
    const lines = r.stderr.trim().split('\n');
    assert.equal(lines.length, 1, r.stderr);
    // What it cannot reach depends on where the clone is: BRIGADE_DATA_DIR, or (a clone in a
    // private directory, as in CI) the binaries in node_modules too.
    assert.match(lines[0]!, /postgres user, which cannot reach (BRIGADE_DATA_DIR|the PostgreSQL binaries) .* set BRIGADE_EMBEDDED_ROOT_DIR .* or set DATABASE_URL/);
  } finally {
    await fs.rm(home, { recursive: true, force: true });
  }
});

test('a cluster held by a live process that does not answer: one sentence naming the process, and brigade.json untouched', { timeout: 60_000 }, async () => {
  const dataDir = await fs.mkdtemp(path.join(os.tmpdir(), 'brigade-held-'));
  try {
    const port = await freePort();
    const state = JSON.stringify({ password: 'not-used', port });
    await fs.writeFile(path.join(dataDir, 'brigade.json'), state, { mode: 0o600 });
    await fs.mkdir(path.join(dataDir, 'postgres'));
    // This test's own process is alive and is not PostgreSQL: the lock file names it.
    await fs.writeFile(path.join(dataDir, 'postgres', 'postmaster.pid'), `${process.pid}\n${dataDir}/postgres\n0\n${port}\n\n127.0.0.1\n`);
    const r = spawnSync(process.execPath, ['--import', 'tsx', path.resolve('src/cli.ts'), 'operators', 'create', '--email', 'o@brigade.example', '--password', 'operator password 1'], {
      env: { ...process.env, DATABASE_URL: '', BRIGADE_DATA_DIR: dataDir, LOG_LEVEL: 'silent' },
      encoding: 'utf8',
      timeout: 50_000,
    });
    assert.equal(r.status, 1, r.stdout + r.stderr);
    const lines = r.stderr.trim().split('\n');
    assert.equal(lines.length, 1, r.stderr);
    assert.match(lines[0]!, new RegExp(`held by process ${process.pid} .* does not answer on port ${port} .*: stop that process, or delete postmaster.pid`));
    assert.doesNotMatch(r.stderr, /TypeError/);
    assert.equal(await fs.readFile(path.join(dataDir, 'brigade.json'), 'utf8'), state);
  } finally {
    await fs.rm(dataDir, { recursive: true, force: true });
  }
});
