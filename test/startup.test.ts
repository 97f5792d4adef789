import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import net from 'node:net';
import pg from 'pg';
import { adminUrl, createTestDatabase, waitForOutput } from './harness.ts';
import { loadConfig } from '../src/config.ts';
import { createLogger } from '../src/platform/log.ts';
import { startPlatform } from '../src/platform/bootstrap.ts';
import { buildApp } from '../src/app.ts';

const cli = path.resolve('src/cli.ts');

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = net.createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address() as net.AddressInfo;
      s.close(() => resolve(port));
    });
  });
}

test('a missing or malformed setting stops the process with one line naming it', () => {
  for (const [name, value] of [['PORT', 'eighty'], ['REDIS_URL', 'http://x'], ['BRIGADE_DEMO', 'maybe'], ['DATABASE_URL', 'not a url']] as const) {
    const r = spawnSync(process.execPath, ['--import', 'tsx', cli, 'migrate'], { env: { ...process.env, [name]: value }, encoding: 'utf8' });
    assert.equal(r.status, 1, `${name}: exit ${r.status}`);
    const lines = r.stderr.trim().split('\n');
    assert.equal(lines.length, 1, `${name}: ${r.stderr}`);
    assert.match(lines[0]!, new RegExp(name));
  }
});

test('a Redis Cluster needs the key prefix as a hash tag, so that every key of a queue is in one slot', () => {
  assert.throws(() => loadConfig({ BRIGADE_REDIS_CLUSTER: 'true', BRIGADE_QUEUE_PREFIX: 'brigade' }), /BRIGADE_QUEUE_PREFIX must be a hash tag/);
  const config = loadConfig({ BRIGADE_REDIS_CLUSTER: 'true', BRIGADE_QUEUE_PREFIX: '{brigade}' });
  assert.equal(config.BRIGADE_REDIS_CLUSTER, true);
  assert.equal(loadConfig({}).BRIGADE_DB_NAMED_STATEMENTS, true);
  assert.throws(() => loadConfig({ BRIGADE_DB_NAMED_STATEMENTS: 'sometimes' }), /BRIGADE_DB_NAMED_STATEMENTS/);
});

test('a newcomer’s first start: embedded PostgreSQL, migrations, demo logins, clean stop, reuse on the next start', { timeout: 240_000 }, async () => {
  const dataDir = await fs.mkdtemp(path.join(os.tmpdir(), 'brigade-start-'));
  // A data directory every user can enter (as root, the server's postgres user keeps its cluster
  // there); a private one is test/embedded.test.ts's case.
  await fs.chmod(dataDir, 0o755);
  const port = await freePort();
  // Its own simulator port: the default one may be another suite's (CI runs two side by side).
  const env = { ...process.env, DATABASE_URL: '', BRIGADE_DATA_DIR: dataDir, PORT: String(port), BRIGADE_SIMULATOR_PORT: String(await freePort()), BRIGADE_QUEUE_PREFIX: `bs${crypto.randomBytes(3).toString('hex')}`, LOG_LEVEL: 'info' };
  const startOnce = async () => {
    const child = spawn(process.execPath, ['--import', 'tsx', cli, 'start'], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (out += d));
    // The output line comes after the listener is up: wait for it, then ask for readiness once.
    await waitForOutput(child, () => out, /Brigade is running/);
    assert.equal((await fetch(`http://127.0.0.1:${port}/readyz`)).status, 200, out.slice(-3000));
    return { child, output: () => out };
  };
  try {
    const first = await startOnce();
    assert.match(first.output(), /initialising the embedded PostgreSQL cluster/);
    const login = /(\S+@harbour\.example)/.exec(first.output());
    assert.ok(login, 'demo logins were not printed');
    const res = await fetch(`http://127.0.0.1:${port}/v1/auth/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ email: 'cashier@harbour.example', password: 'brigade-demo' }),
    });
    assert.equal(res.status, 200);
    first.child.kill('SIGTERM');
    const code = await new Promise((r) => first.child.once('exit', r));
    assert.equal(code, 0, first.output().slice(-2000));
    assert.match(first.output(), /embedded PostgreSQL stopped/);

    const second = await startOnce();
    assert.doesNotMatch(second.output(), /initialising the embedded PostgreSQL cluster/);
    assert.doesNotMatch(second.output(), /Demo logins/);
    second.child.kill('SIGINT');
    assert.equal(await new Promise((r) => second.child.once('exit', r)), 0);
  } finally {
    await fs.rm(dataDir, { recursive: true, force: true });
  }
});

test('DATABASE_URL may name a non-superuser owner with only CREATEROLE and CREATEDB', async () => {
  const owner = `brigade_owner_${crypto.randomBytes(3).toString('hex')}`;
  const admin = new pg.Client({ connectionString: adminUrl });
  await admin.connect();
  await admin.query(`CREATE ROLE ${owner} LOGIN CREATEROLE CREATEDB PASSWORD 'owner-pass'`);
  const db = await createTestDatabase();
  await admin.query(`ALTER DATABASE ${db.name} OWNER TO ${owner}`);
  const url = new URL(db.url);
  url.username = owner;
  url.password = 'owner-pass';
  const config = loadConfig({ ...process.env, DATABASE_URL: url.toString(), BRIGADE_QUEUE_PREFIX: 'bo', BRIGADE_PASSWORD_COST: '10', LOG_LEVEL: 'silent' });
  const platform = await startPlatform(config, createLogger('silent'), { migrate: true });
  try {
    const app = await buildApp(platform);
    const res = await app.inject({ method: 'POST', url: '/v1/signup', payload: { businessName: 'Managed', name: 'M', email: 'm@example.com', password: 'managed password' } });
    assert.equal(res.statusCode, 201, res.body);
    const me = await app.inject({ method: 'GET', url: '/v1/me', headers: { authorization: `Bearer ${res.json().token}` } });
    assert.equal(me.statusCode, 200);
    await app.close();
  } finally {
    await platform.close();
    await db.drop();
    await admin.query(`DROP ROLE ${owner}`);
    await admin.end();
  }
});
