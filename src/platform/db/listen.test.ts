import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import pg from 'pg';
import { adminUrl, eventually } from '../../../test/harness.ts';
import { startTcpProxy, throughProxy, type TcpProxy } from '../../../test/fixtures/tcp-proxy.ts';
import { createLogger } from '../log.ts';
import { createNotifications, reconnectDelay, type Notifications } from './listen.ts';

const log = createLogger('silent');
const closers: (() => Promise<void>)[] = [];
after(async () => {
  for (const c of closers.reverse()) await c();
});

async function setup(opts: Parameters<typeof createNotifications>[2] = {}) {
  const target = new URL(adminUrl);
  const proxy = await startTcpProxy(target.hostname, Number(target.port || 5432));
  const name = `brigade-listen-test-${crypto.randomBytes(4).toString('hex')}`;
  const n = createNotifications(throughProxy(adminUrl, proxy), log, { applicationName: name, ...opts });
  const admin = new pg.Client({ connectionString: adminUrl });
  await admin.connect();
  closers.push(async () => {
    await n.close();
    await admin.end();
    await proxy.close();
  });
  const backends = async () => Number((await admin.query(`SELECT count(*) AS n FROM pg_stat_activity WHERE application_name = $1`, [name])).rows[0].n);
  return { proxy, n, admin, backends };
}

function collect(n: Notifications, channel: string) {
  const got: string[] = [];
  let resets = 0;
  n.subscribe(channel, (p) => got.push(p), () => resets++);
  return { got, resets: () => resets };
}

const notify = (admin: pg.Client, channel: string, payload: string) => admin.query(`SELECT pg_notify($1, $2)`, [channel, payload]);

test('one connection carries every channel of the process', async () => {
  const { n, admin, backends, proxy } = await setup();
  const a = collect(n, 'brigade_test_a');
  const b = collect(n, 'brigade_test_b');
  await eventually(async () => n.connected, 'the listener to connect');
  // A channel subscribed once connected joins the same connection.
  const c = collect(n, 'brigade_test_c');
  await eventually(async () => {
    await notify(admin, 'brigade_test_c', 'late');
    return c.got.length > 0;
  }, 'the late channel to be heard');
  await notify(admin, 'brigade_test_a', 'one');
  await notify(admin, 'brigade_test_b', 'two');
  await eventually(async () => a.got.includes('one') && b.got.includes('two'), 'both channels');
  assert.deepEqual(a.got, ['one']);
  assert.equal(await backends(), 1);
  assert.equal(proxy.accepted, 1);
});

test('while the database is down it retries one connection at a time, backing off; afterwards exactly one connection is left', async () => {
  const { n, admin, backends, proxy } = await setup({ minDelayMs: 100, maxDelayMs: 800 });
  const sub = collect(n, 'brigade_test_outage');
  await eventually(async () => n.connected, 'the listener to connect');
  const resetsBefore = sub.resets();

  proxy.refuse();
  proxy.resetCounts();
  await eventually(async () => proxy.accepted >= 7, 'seven reconnect attempts', 30_000, 20);
  assert.equal(n.connected, false);
  assert.ok(sub.resets() > resetsBefore, 'subscribers are told the connection was lost');
  // Never two attempts at once, and the gaps grow: with equal jitter the n-th gap is at least
  // half its nominal delay (50, 100, 200, 400, 400, 400 ms here). A doubling storm fails both.
  assert.ok(proxy.peak <= 1, `at most one connection at a time (saw ${proxy.peak})`);
  const gaps = proxy.arrivals.slice(1, 7).map((t, i) => t - proxy.arrivals[i]!);
  const floor = [50, 100, 200, 400, 400, 400];
  gaps.forEach((g, i) => assert.ok(g >= floor[i]! - 15, `gap ${i + 1} was ${g} ms, expected at least ${floor[i]} ms: ${gaps.join(', ')}`));

  proxy.restore();
  await eventually(async () => n.connected, 'the listener to reconnect', 10_000);
  await eventually(async () => {
    await notify(admin, 'brigade_test_outage', 'after');
    return sub.got.includes('after');
  }, 'a notification after the outage');
  assert.equal(await backends(), 1);
  assert.equal(proxy.open, 1);
});

test('a hung server is noticed by the heartbeat and the connection is replaced', async () => {
  const { n, admin, backends, proxy } = await setup({ heartbeatMs: 100, timeoutMs: 300, minDelayMs: 50, maxDelayMs: 200 });
  const sub = collect(n, 'brigade_test_hang');
  await eventually(async () => n.connected, 'the listener to connect');
  proxy.hang();
  await eventually(async () => !n.connected, 'the heartbeat to give the hung connection up', 10_000);
  proxy.restore();
  await eventually(async () => n.connected, 'the listener to reconnect', 10_000);
  await eventually(async () => {
    await notify(admin, 'brigade_test_hang', 'awake');
    return sub.got.includes('awake');
  }, 'a notification after the hang');
  await eventually(async () => (await backends()) === 1, 'one backend left');
});

test('reconnect delays stay within half and all of their doubling nominal, capped', () => {
  for (let failures = 1; failures < 20; failures++) {
    const nominal = Math.min(5000, 100 * 2 ** (failures - 1));
    for (let i = 0; i < 50; i++) {
      const d = reconnectDelay(failures, 100, 5000);
      assert.ok(d >= nominal / 2 && d <= nominal, `${failures}: ${d}`);
    }
  }
});
