import { test, before, after, describe } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import path from 'node:path';
import readline from 'node:readline';
import { spawn } from 'node:child_process';
import pg from 'pg';
import { sql } from 'kysely';
import { createTestContext, aTenant, anOperator, bearer, problem, eventually, type TestContext, type Session } from '../../../test/harness.ts';
import { startPlatform, type StartedPlatform } from '../../platform/bootstrap.ts';
import { buildApp } from '../../app.ts';
import { createLogger } from '../../platform/log.ts';
import { createSignalRecorder, writeSignalBatch, emptyFigures, F, bucketOf, type SignalRecorder } from '../../platform/signals/index.ts';
import { evaluate, refreshBaselines, rollUp, settleMs, baselineFor, fallbackBaseline, errorRateVerdict, trafficDropVerdict, trafficSurgeVerdict, shareVerdict, type HourSample, type TenantWindows } from './index.ts';

/**
 * Per-tenant signals end to end on real PostgreSQL: counted in several processes, flushed,
 * rolled up, compared with each tenant's baseline, alerted on, and served to operators.
 * Time is given to the evaluator and to recorders with an injected clock; nothing sleeps.
 */
let t: TestContext;
let op: string;
before(async () => {
  t = await createTestContext({ BRIGADE_SIGNAL_FLUSH_MS: '60000' });
  op = (await anOperator(t)).token;
});
after(() => t.close());

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
/** The first moment the evaluator counts every minute up to `at` as settled (its flushes may have landed). */
const settledAfter = (at: number) => new Date(Math.floor(at / MINUTE) * MINUTE + MINUTE + settleMs(t.platform.config));
const ops = (url: string, method: 'GET' | 'POST' = 'GET', payload?: object) => t.app.inject({ method, url, headers: bearer(op), ...(payload ? { payload } : {}) });

async function sumRows(grain: 'm' | 'h' | 'd', tenantId: string) {
  const r = await sql<{ requests: string; r4xx: string; r5xx: string; job_runs: string }>`
    SELECT coalesce(sum(requests), 0) AS requests, coalesce(sum(r4xx), 0) AS r4xx, coalesce(sum(r5xx), 0) AS r5xx, coalesce(sum(job_runs), 0) AS job_runs
    FROM tenant_signals WHERE tenant_id = ${tenantId} AND grain = ${grain}`.execute(t.platform.db.system);
  const row = r.rows[0]!;
  return { requests: Number(row.requests), r4xx: Number(row.r4xx), r5xx: Number(row.r5xx), jobRuns: Number(row.job_runs) };
}

describe('signals', () => {
  test('requests and jobs of two tenants from two API processes and a worker end in one set of rollups whose counts match exactly', async () => {
    // A second API process on the same database: its own platform, recorder and app.
    const second: StartedPlatform = await startPlatform(t.platform.config, createLogger('silent'), { migrate: false });
    const app2 = await buildApp(second);
    try {
      const a = await aTenant(t.app, 'Rollup Bistro A');
      const b = await aTenant(t.app, 'Rollup Bistro B');
      const sent = new Map<string, { requests: number; r4xx: number }>([[a.tenant.id, { requests: 0, r4xx: 0 }], [b.tenant.id, { requests: 0, r4xx: 0 }]]);
      for (let i = 0; i < 12; i++) {
        for (const [app, s] of [[t.app, a], [app2, b], [app2, a], [t.app, b]] as const) {
          const missing = i % 4 === 0;
          const res = await app.inject({ method: 'GET', url: missing ? `/v1/branches/${crypto.randomUUID()}` : '/v1/me', headers: bearer(s) });
          assert.equal(res.statusCode, missing ? 404 : 200);
          const c = sent.get(s.tenant.id)!;
          c.requests++;
          if (missing) c.r4xx++;
        }
      }
      // Jobs finished by a worker: two runs for A, one failed and one completed for B.
      t.platform.signals.jobRun(a.tenant.id, 'completed', 12, 3);
      t.platform.signals.jobRun(a.tenant.id, 'completed', 8, 1);
      second.signals.jobRun(b.tenant.id, 'failed', 30, 2);
      second.signals.jobRun(b.tenant.id, 'completed', 5, null);
      await Promise.all([t.platform.signals.flush(), second.signals.flush()]);
      // A day later: the hours and the day are complete (and the minutes not yet expired).
      await rollUp(t.platform, new Date(Date.now() + 26 * HOUR));
      for (const s of [a, b]) {
        const want = sent.get(s.tenant.id)!;
        const minutes = await sumRows('m', s.tenant.id);
        assert.deepEqual({ requests: minutes.requests, r4xx: minutes.r4xx, r5xx: minutes.r5xx }, { requests: want.requests, r4xx: want.r4xx, r5xx: 0 });
        assert.equal(minutes.jobRuns, 2);
        assert.deepEqual(await sumRows('h', s.tenant.id), minutes, 'hours add up to their minutes');
        assert.deepEqual(await sumRows('d', s.tenant.id), minutes, 'days add up to their hours');
      }
    } finally {
      await app2.close();
      await second.close();
    }
  });

  test('a batch written twice (a retry after an ambiguous commit) is counted once', async () => {
    const tenantId = crypto.randomUUID();
    const figures = emptyFigures();
    figures[F.requests] = 7;
    const minute = Math.floor(Date.now() / MINUTE);
    const batch = { id: `test:${crypto.randomUUID()}`, tenantRows: [{ tenantId, minute, figures }], platformRows: [] };
    assert.equal(await writeSignalBatch(t.platform.tenancy, batch), 'applied');
    assert.equal(await writeSignalBatch(t.platform.tenancy, batch), 'already-applied');
    assert.equal((await sumRows('m', tenantId)).requests, 7);

    // A flush whose commit succeeded but whose answer was lost is retried with the same id.
    let calls = 0;
    const flaky = createSignalRecorder(t.platform.tenancy, createLogger('silent'), {
      flushMs: 1e9,
      maxSlots: 100,
      write: async (b) => {
        const outcome = await writeSignalBatch(t.platform.tenancy, b);
        if (++calls === 1) throw new Error('connection lost after COMMIT');
        return outcome;
      },
    });
    const other = crypto.randomUUID();
    for (let i = 0; i < 5; i++) flaky.request(other, 200, 10, 1);
    await flaky.flush();
    assert.equal(flaky.stats().pendingBatches, 1, 'the batch is kept for a retry');
    await flaky.flush();
    await flaky.close();
    assert.equal(calls, 2);
    assert.equal((await sumRows('m', other)).requests, 5);
  });

  test('a clock that jumps back moves later counts to an earlier minute and loses or doubles none', async () => {
    let now = Date.UTC(2026, 10, 30, 12, 30, 10);
    const recorder = createSignalRecorder(t.platform.tenancy, createLogger('silent'), { flushMs: 1e9, maxSlots: 100, clock: () => now });
    const tenantId = crypto.randomUUID();
    for (let i = 0; i < 10; i++) recorder.request(tenantId, 200, 5, 1);
    now -= 2 * HOUR;
    for (let i = 0; i < 4; i++) recorder.request(tenantId, 500, 5, 1);
    await recorder.flush();
    now += 3 * HOUR;
    recorder.request(tenantId, 200, 5, 1);
    await recorder.close();
    const rows = await sql<{ at: Date; requests: string; r5xx: string }>`SELECT at, requests, r5xx FROM tenant_signals WHERE tenant_id = ${tenantId} AND grain = 'm' ORDER BY at`.execute(t.platform.db.system);
    assert.deepEqual(rows.rows.map((r) => [r.at.toISOString(), Number(r.requests), Number(r.r5xx)]), [
      ['2026-11-30T10:30:00.000Z', 4, 4],
      ['2026-11-30T12:30:00.000Z', 10, 0],
      ['2026-11-30T13:30:00.000Z', 1, 0],
    ]);
  });

  test('a process killed in the middle of a flush loses that interval only, and its earlier batch is not counted again', async () => {
    const tenantId = crypto.randomUUID();
    const minute = Date.UTC(2026, 10, 30, 9, 15);
    const child = spawn(process.execPath, ['--import', 'tsx', path.resolve('test/fixtures/signal-writer.ts')], {
      env: { ...process.env, DATABASE_URL: t.ownerUrl, BRIGADE_QUEUE_PREFIX: t.platform.config.BRIGADE_QUEUE_PREFIX, BRIGADE_DEMO: 'false', SIGNAL_CLOCK: String(minute + 5000), SIGNAL_TENANT: tenantId },
      stdio: ['pipe', 'pipe', 'inherit'],
    });
    const exited = new Promise((resolve) => child.once('exit', resolve));
    const lines = readline.createInterface({ input: child.stdout! })[Symbol.asyncIterator]();
    const say = async (command: string) => {
      child.stdin!.write(`${command}\n`);
      return String((await lines.next()).value);
    };
    const lock = new pg.Client({ connectionString: t.ownerUrl });
    const watch = new pg.Client({ connectionString: t.ownerUrl });
    await Promise.all([lock.connect(), watch.connect()]);
    try {
      assert.equal(await say('count 10'), 'counted');
      assert.equal(await say('flush'), 'flushed 0');
      // The next flush waits on the minute's row, held here, and the process dies while it waits.
      await lock.query('BEGIN');
      await lock.query(`SELECT requests FROM tenant_signals WHERE tenant_id = $1 AND grain = 'm' FOR UPDATE`, [tenantId]);
      assert.equal(await say('count 5'), 'counted');
      child.stdin!.write('flush\n');
      await eventually(async () => {
        // Outside the lock's transaction, which sees one snapshot of the activity.
        const r = await watch.query(`SELECT 1 FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock' AND query LIKE '%INSERT INTO tenant_signals%'`);
        return r.rows.length > 0;
      }, 'the flush to wait on the row');
      child.kill('SIGKILL');
      await exited;
      await lock.query('COMMIT');
      // Once the dead process's transaction is gone (it held the row after the lock was let go), read.
      await lock.query('BEGIN');
      const held = await lock.query<{ requests: string }>(`SELECT requests FROM tenant_signals WHERE tenant_id = $1 AND grain = 'm' FOR UPDATE`, [tenantId]);
      await lock.query('COMMIT');
      assert.equal(Number(held.rows[0]!.requests), 10, 'the first interval, and nothing of the one being written');
      const batches = await lock.query(`SELECT batch_id FROM signal_flushes WHERE batch_id LIKE $1`, [`%:${child.pid}:%`]);
      assert.equal(batches.rows.length, 1, 'only the first batch was recorded');
    } finally {
      child.kill('SIGKILL');
      await Promise.all([lock.end(), watch.end()]);
    }
    // The restarted process counts on: the same minute adds up, nothing is counted twice.
    const restarted = createSignalRecorder(t.platform.tenancy, createLogger('silent'), { flushMs: 1e9, maxSlots: 100, clock: () => minute + 30_000 });
    for (let i = 0; i < 3; i++) restarted.request(tenantId, 200, 5, 1);
    await restarted.close();
    assert.equal((await sumRows('m', tenantId)).requests, 13);
  });

  test('memory stays bounded with 20,000 active tenants: past the cap the counts are flushed early, and all arrive', async () => {
    const written: number[] = [];
    const recorder = createSignalRecorder(t.platform.tenancy, createLogger('silent'), {
      flushMs: 1e9,
      maxSlots: 2000,
      write: async (b) => {
        written.push(b.tenantRows.length);
        return writeSignalBatch(t.platform.tenancy, b);
      },
    });
    const prefix = crypto.randomBytes(4).toString('hex');
    let most = 0;
    for (let i = 0; i < 20_000; i++) {
      recorder.request(`${prefix}-0000-4000-8000-${String(i).padStart(12, '0')}`, 200, 3, 0);
      most = Math.max(most, recorder.stats().slots);
    }
    await recorder.close();
    assert.ok(most <= 2000, `held ${most} tenant-minutes`);
    assert.ok(written.length >= 10, `flushed ${written.length} times`);
    const r = await sql<{ n: string }>`SELECT sum(requests) AS n FROM tenant_signals WHERE grain = 'm' AND tenant_id::text LIKE ${`${prefix}%`}`.execute(t.platform.db.system);
    assert.equal(Number(r.rows[0]!.n), 20_000);
  });

  test('BRIGADE_SIGNALS=false: a process counts nothing, and says so once at start', async () => {
    const lines: string[] = [];
    const log = createLogger('info', { write: (line: string) => void lines.push(line) });
    const off = await startPlatform({ ...t.platform.config, BRIGADE_SIGNALS: false }, log, { migrate: false });
    const app = await buildApp(off);
    try {
      const a = await aTenant(t.app, 'Uncounted Bistro');
      for (let i = 0; i < 3; i++) assert.equal((await app.inject({ method: 'GET', url: '/v1/me', headers: bearer(a) })).statusCode, 200);
      await off.signals.flush();
      assert.deepEqual(off.signals.stats(), { slots: 0, pendingBatches: 0, droppedBatches: 0, flushedBatches: 0 });
      assert.deepEqual(await sumRows('m', a.tenant.id), { requests: 0, r4xx: 0, r5xx: 0, jobRuns: 0 });
      assert.equal(lines.filter((l) => l.includes('BRIGADE_SIGNALS=false')).length, 1);
    } finally {
      await app.close();
      await off.close();
    }
  });
});

/** Hour rows of a usual week, four weeks back: `rpm` requests a minute, `errorRate` 5xx, 50 ms. */
async function history(tenantId: string, rpm: number, errorRate: number, until: Date): Promise<void> {
  const perHour = rpm * 60;
  const bucket = `l${String(bucketOf(50)).padStart(2, '0')}`;
  await sql`
    INSERT INTO tenant_signals (tenant_id, grain, at, requests, r2xx, r5xx, api_us, ${sql.raw(bucket)})
    SELECT ${tenantId}, 'h', h, ${perHour}, ${perHour - Math.round(perHour * errorRate)}, ${Math.round(perHour * errorRate)}, ${perHour * 50_000}, ${perHour}
    FROM generate_series(${new Date(until.getTime() - 28 * 24 * HOUR)}::timestamptz, ${new Date(until.getTime() - HOUR)}::timestamptz, interval '1 hour') AS h`.execute(t.platform.db.system);
  await sql`UPDATE tenants SET created_at = ${new Date(until.getTime() - 29 * 24 * HOUR)} WHERE id = ${tenantId}`.execute(t.platform.db.system);
}

/** A recorder on the injected clock: `minutes` of traffic before `end` at `rpm`, `errorRate` 5xx. */
async function traffic(recorder: SignalRecorder, clock: { now: number }, tenantId: string, from: number, minutes: number, rpm: number, errorRate: number): Promise<void> {
  for (let m = 0; m < minutes; m++) {
    clock.now = from + m * MINUTE + 1000;
    const errors = Math.round(rpm * errorRate);
    for (let i = 0; i < rpm; i++) recorder.request(tenantId, i < errors ? 503 : 200, 50, 5);
  }
}

describe('alerts against each tenant\'s own baseline', () => {
  let steady: Session;
  let big: Session;
  let fresh: Session;
  const hour = Math.floor(Date.now() / HOUR) * HOUR - 2 * HOUR;
  const clock = { now: hour };
  let recorder: SignalRecorder;
  // Evaluated a second after the minute before `windowEnd` has settled (flushes, 60 s in this
  // context, and a margin): the evaluator's window ends at `windowEnd`.
  const evalAt = (windowEnd: number) => new Date(settledAfter(windowEnd - MINUTE).getTime() + 1000);

  before(async () => {
    steady = await aTenant(t.app, 'Steady Bistro');
    big = await aTenant(t.app, 'Big Chain');
    recorder = createSignalRecorder(t.platform.tenancy, createLogger('silent'), { flushMs: 1e9, maxSlots: 10_000, clock: () => clock.now });
    await history(steady.tenant.id, 10, 0.005, new Date(hour));
    await history(big.tenant.id, 500, 0.005, new Date(hour));
    fresh = await aTenant(t.app, 'Brand New Cafe');
    await refreshBaselines(t.platform, new Date(hour + 2 * MINUTE));
    // The hour before, as usual: every window the evaluator reads has its minutes.
    await traffic(recorder, clock, steady.tenant.id, hour - HOUR, 70, 10, 0.005);
    await traffic(recorder, clock, big.tenant.id, hour - HOUR, 70, 500, 0.005);
  });
  after(() => recorder.close());

  const alertsOf = (tenantId: string) =>
    sql<{ id: string; rule: string; state: string; occurrences: number; resolution: string | null }>`SELECT id, rule, state, occurrences, resolution FROM alerts WHERE tenant_id = ${tenantId} ORDER BY started_at`
      .execute(t.platform.db.system)
      .then((r) => r.rows);

  test("a tenant whose 5xx rate jumps from its usual 0.5% to 30% raises exactly one alert that names it; a big tenant at its usual volume and a new tenant's first minutes raise none", async () => {
    const start = hour + 10 * MINUTE;
    await traffic(recorder, clock, steady.tenant.id, start, 6, 10, 0.3);
    await traffic(recorder, clock, big.tenant.id, start, 6, 500, 0.005);
    await traffic(recorder, clock, fresh.tenant.id, start, 6, 20, 0.005);
    await recorder.flush();
    await evaluate(t.platform, evalAt(start + 5 * MINUTE));
    await evaluate(t.platform, evalAt(start + 6 * MINUTE));

    const mine = await alertsOf(steady.tenant.id);
    assert.deepEqual(mine.map((a) => [a.rule, a.state]), [['tenant.error_rate', 'open']]);
    assert.equal(mine[0]!.occurrences, 2, 'the second evaluation counts on the same alert');
    assert.deepEqual(await alertsOf(big.tenant.id), []);
    assert.deepEqual(await alertsOf(fresh.tenant.id), []);

    const listed = (await ops(`/ops/api/alerts?tenantId=${steady.tenant.id}`)).json();
    const alert = listed.data[0];
    assert.equal(alert.tenantName, 'Steady Bistro');
    assert.equal(alert.tenantSlug, steady.tenant.slug);
    assert.equal(alert.severity, 'critical');
    assert.ok(alert.observed >= 0.29 && alert.observed <= 0.31, `observed ${alert.observed}`);
    assert.ok(alert.expected >= 0.004 && alert.expected <= 0.006, `expected ${alert.expected}`);
    assert.match(alert.summary, /server error/);
    assert.match(alert.runbookUrl, /\/ops\/runbooks\/alerts\.md#tenant\.error_rate$/);
    assert.equal((await t.app.inject({ method: 'GET', url: alert.runbookUrl.replace(/^https?:\/\/[^/]+/, '').replace(/#.*/, '') })).statusCode, 200);
  });

  test('the alert resolves by itself once the rate has been back to normal for the quiet period', async () => {
    const back = hour + 16 * MINUTE;
    await traffic(recorder, clock, steady.tenant.id, back, 22, 10, 0);
    await recorder.flush();
    await evaluate(t.platform, evalAt(back + 15 * MINUTE));
    assert.equal((await alertsOf(steady.tenant.id))[0]!.state, 'open', 'quiet for less than the quiet period');
    await evaluate(t.platform, evalAt(back + 21 * MINUTE));
    const [alert] = await alertsOf(steady.tenant.id);
    assert.deepEqual([alert!.state, alert!.resolution], ['resolved', 'auto']);
    const detail = (await ops(`/ops/api/alerts/${alert!.id}`)).json();
    assert.deepEqual(detail.history.map((h: { action: string }) => h.action), ['opened', 'auto_resolved']);
  });

  test('a traffic collapse of a tenant with a seasonal baseline raises a traffic_drop alert', async () => {
    const start = hour + 40 * MINUTE;
    await traffic(recorder, clock, big.tenant.id, start, 5, 20, 0);
    await recorder.flush();
    await evaluate(t.platform, evalAt(start + 5 * MINUTE));
    const rules = (await alertsOf(big.tenant.id)).map((a) => a.rule);
    assert.deepEqual(rules, ['tenant.traffic_drop']);
  });
});

describe('rules on a known history (the code the evaluator and the alert simulation run)', () => {
  // A restaurant open 11:00-23:00 at 20 requests a minute, 1 a minute at night, for four weeks.
  const DAY = 24 * HOUR;
  const day = Date.UTC(2026, 10, 30);
  const rpmAt = (hourOfDay: number) => (hourOfDay >= 11 && hourOfDay < 23 ? 20 : 1);
  const hours = new Map<number, HourSample>();
  for (let at = day - 28 * DAY; at < day + 23 * HOUR; at += HOUR) {
    const requests = rpmAt(new Date(at).getUTCHours()) * 60;
    hours.set(at, { requests, r5xx: 0, apiUs: requests * 50_000, jobUs: 0, latency: Array.from({ length: 30 }, (_, i) => (i === bucketOf(50) ? requests : 0)) });
  }
  const history = { hours, firstHour: day - 28 * DAY };
  const windows = (end: number, perMinute: (minute: number) => number): TenantWindows => {
    const win = (minutes: number) => {
      const figures = emptyFigures();
      for (let m = end - minutes * MINUTE; m < end; m += MINUTE) figures[F.requests] = figures[F.requests]! + perMinute(m);
      return { minutes, from: end - minutes * MINUTE, to: end, figures };
    };
    return { w5: win(5), w15: win(15), w60: win(60) };
  };
  const usual = (m: number) => rpmAt(new Date(m).getUTCHours());

  test('traffic that steps down at closing time is no collapse; traffic that stops while open is one', () => {
    const closing = day + 23 * HOUR;
    const baseline = baselineFor(history, closing);
    assert.equal(baseline.source, 'weekly');
    // Five minutes after closing, at the night's usual level: a ramp between the hours' middles expected ~48.
    const after = trafficDropVerdict(windows(closing + 5 * MINUTE, usual), baseline, closing);
    assert.notEqual(after.state, 'firing', after.summary);
    const open = day + 22 * HOUR;
    const stopped = trafficDropVerdict(windows(open + 35 * MINUTE, (m) => (m >= open + 30 * MINUTE ? 0 : usual(m))), baselineFor(history, open), open);
    assert.equal(stopped.state, 'firing');
    assert.match(stopped.summary, /^0 requests in 5 min/);
  });

  test("an hour whose level is not known yet is not taken for the next hour's: the evening before a new tenant's first daily hour is no surge", () => {
    const closing = day + 23 * HOUR;
    const young = { hours, firstHour: closing - 3 * DAY };
    const baseline = baselineFor(young, closing);
    assert.deepEqual([baseline.source, baseline.requestsPerMin, baseline.requestsPerMinPrev], ['daily', 1, null]);
    // 22:46 to 23:01: the evening's usual 20 a minute, then the night's 1.
    const v = trafficSurgeVerdict(windows(closing + MINUTE, usual), baseline, closing);
    assert.notEqual(v.state, 'firing', v.summary);
    // Within the hour, the level is known: thirty times the night's usual is a surge.
    assert.equal(trafficSurgeVerdict(windows(closing + 20 * MINUTE, () => 30), baseline, closing).state, 'firing');
  });

  test("a daily baseline's quiet level is the same weekday's when the week was quieter that day", () => {
    // Saturdays at twice the usual, Sundays at half: a daily median hides both.
    const weekday = new Map<number, HourSample>();
    for (const [at, sample] of hours) {
      const k = new Date(at).getUTCDay() === 6 ? 2 : new Date(at).getUTCDay() === 0 ? 0.5 : 1;
      weekday.set(at, { ...sample, requests: sample.requests * k });
    }
    const sunday = Date.UTC(2026, 10, 29, 12);
    const b = baselineFor({ hours: weekday, firstHour: sunday - 10 * DAY }, sunday);
    assert.equal(b.source, 'daily');
    assert.equal(b.quietPerMin, 10, 'last Sunday at noon');
    // Sunday lunch at its usual half: no collapse.
    assert.notEqual(trafficDropVerdict(windows(sunday + 30 * MINUTE, () => 10), b, sunday).state, 'firing');
  });

  test('a day quiet since the morning is judged by its own level: a lull in it is no collapse, a stop still is', () => {
    // Today has been at 55% of the usual since the morning (weather, a holiday).
    const at = day + 15 * HOUR;
    const quietDay = baselineFor({ ...history, recentRequests: 0.55 * 20 * 180 }, at);
    assert.ok(quietDay.recentLevel! > 0.55 && quietDay.recentLevel! < 0.57, String(quietDay.recentLevel));
    assert.equal(baselineFor({ ...history, recentRequests: 1.2 * 20 * 180 }, at).recentLevel, 1, 'a busy day expects no more than the quiet level');
    // A lull on it (4.5 a minute, 23% of the usual 20): against the usual day, a collapse.
    const lull = windows(at + 30 * MINUTE, () => 4.5);
    assert.equal(trafficDropVerdict(lull, baselineFor(history, at), at).state, 'firing');
    assert.notEqual(trafficDropVerdict(lull, quietDay, at).state, 'firing');
    // Traffic that stops on it is a collapse within five minutes.
    const stopped = trafficDropVerdict(windows(at + 30 * MINUTE, (m) => (m >= at + 25 * MINUTE ? 0 : 11)), quietDay, at);
    assert.equal(stopped.state, 'firing');
    assert.equal(stopped.details.windowMinutes, 5);
    assert.equal(stopped.details.todayLevel, 0.55);
  });

  test("a young tenant's usual error rate is an estimate: a few errors above it are no incident, a real jump is", () => {
    // Five night hours: 0.23% from 2,000 requests and the plan's prior; its true rate is higher.
    const young = { ...fallbackBaseline({ errorRate: 0.0023, p95Ms: 60 }), errorRateRequests: 2200 };
    const w = windows(day + 6 * HOUR, () => 401 / 15);
    (w.w15.figures as Float64Array)[F.r5xx] = 9;
    (w.w60.figures as Float64Array)[F.r5xx] = 9;
    const thresholds = { minRequests: 50, share: 0.4 };
    // 9 of 401 (2.2%): against a rate taken as exact, an incident.
    assert.equal(errorRateVerdict(w, { ...young, errorRateRequests: null }, thresholds).state, 'firing');
    assert.notEqual(errorRateVerdict(w, young, thresholds).state, 'firing');
    // 30% of the last five minutes' 134 requests failing is one whatever the estimate.
    (w.w5.figures as Float64Array)[F.r5xx] = 40;
    const jump = errorRateVerdict(w, young, thresholds);
    assert.equal(jump.state, 'firing');
    assert.equal(jump.details.windowMinutes, 5);
  });

  test('a tenant looping on an endpoint is a noisy neighbour within five minutes, before it holds the quarter hour', () => {
    const baseline = { ...baselineFor(history, day + 12 * HOUR), apiShare: 0.02 };
    const w = windows(day + 12 * HOUR + 30 * MINUTE, usual);
    (w.w5.figures as Float64Array)[F.apiUs] = 70e6;
    (w.w15.figures as Float64Array)[F.apiUs] = 80e6;
    const platform = { w5: { apiUs: 100e6, jobUs: 0 }, w15: { apiUs: 300e6, jobUs: 0 }, activeTenants: 10 };
    const v = shareVerdict('api', w, baseline, platform, { minRequests: 50, share: 0.4 });
    assert.equal(v.state, 'firing');
    assert.equal(v.details.windowMinutes, 5);
    assert.ok(v.observed! >= 0.69 && v.observed! <= 0.71);
    // The biggest tenant at its usual share is not one, whatever the window.
    assert.notEqual(shareVerdict('api', w, { ...baseline, apiShare: 0.6 }, platform, { minRequests: 50, share: 0.4 }).state, 'firing');
  });
});

describe('the tenant-aware operations API', () => {
  let a: Session;
  let b: Session;
  before(async () => {
    a = await aTenant(t.app, 'Aardvark Diner');
    b = await aTenant(t.app, 'Zebra Bar');
    for (let i = 0; i < 5; i++) await t.app.inject({ method: 'GET', url: '/v1/me', headers: bearer(a) });
    await t.app.inject({ method: 'GET', url: '/v1/me', headers: bearer(b) });
    await t.platform.signals.flush();
    // Not "a little later": the current minute settles a flush interval (60 s here) after it ends.
    await evaluate(t.platform, settledAfter(Date.now()));
  });

  test('tenant tokens and anonymous callers get 401', async () => {
    for (const url of ['/ops/api/tenants', `/ops/api/tenants/${a.tenant.id}`, `/ops/api/tenants/${a.tenant.id}/health`, '/ops/api/top-tenants', '/ops/api/alerts', '/ops/api/health']) {
      assert.equal((await t.app.inject({ method: 'GET', url, headers: bearer(a) })).statusCode, 401, url);
      assert.equal((await t.app.inject({ method: 'GET', url })).statusCode, 401, url);
    }
  });

  test('tenants are listed with name, slug, plan, status, usage and last-hour health; searched, filtered, sorted and paged', async () => {
    const found = (await ops('/ops/api/tenants?q=aardvark')).json();
    assert.equal(found.data.length, 1);
    const row = found.data[0];
    assert.deepEqual([row.id, row.name, row.slug, row.plan, row.status], [a.tenant.id, 'Aardvark Diner', a.tenant.slug, 'trial', 'trialing']);
    assert.ok(row.trialEndsAt);
    assert.deepEqual(row.usage, { branches: 0, members: 1, ordersThisPeriod: 0 });
    assert.ok(row.health.requests >= 5, JSON.stringify(row.health));
    assert.equal(row.health.errors5xx, 0);
    assert.ok(row.health.p95Ms > 0);

    const byRequests = (await ops('/ops/api/tenants?sort=requests&limit=1')).json();
    assert.equal(byRequests.data.length, 1);
    let cursor = byRequests.nextCursor;
    const seen = [byRequests.data[0].id];
    while (cursor) {
      const next = (await ops(`/ops/api/tenants?sort=requests&limit=1&cursor=${cursor}`)).json();
      seen.push(...next.data.map((r: { id: string }) => r.id));
      cursor = next.nextCursor;
    }
    const all = (await ops('/ops/api/tenants?limit=200')).json().data as { id: string }[];
    assert.deepEqual([...seen].sort(), all.map((r) => r.id).sort(), 'paging by requests visits every tenant once');
    assert.ok(seen.indexOf(a.tenant.id) < seen.indexOf(b.tenant.id), 'busier first');

    const trialing = (await ops('/ops/api/tenants?status=trialing&hasOpenAlert=false&limit=200')).json();
    assert.ok(trialing.data.some((r: { id: string }) => r.id === a.tenant.id));
    const alerting = (await ops('/ops/api/tenants?hasOpenAlert=true&limit=200')).json();
    assert.ok(alerting.data.every((r: { openAlerts: number }) => r.openAlerts > 0));
  });

  test('one tenant comes with its subscription history and open alerts; an unknown id is 404', async () => {
    const res = await ops(`/ops/api/tenants/${a.tenant.id}`);
    assert.equal(res.statusCode, 200);
    const body = res.json();
    assert.equal(body.name, 'Aardvark Diner');
    assert.equal(body.subscription.status, 'trialing');
    assert.deepEqual(body.subscription.transitions.map((x: { to: string }) => x.to), ['trialing']);
    assert.deepEqual(body.openAlerts, []);
    const missing = await ops(`/ops/api/tenants/${crypto.randomUUID()}`);
    assert.equal(missing.statusCode, 404);
    assert.equal(problem(missing).code, 'not_found');
  });

  test("a tenant's health is a dense series beside its baseline; the range is validated", async () => {
    const to = new Date(Date.now() + 2 * MINUTE).toISOString();
    const from = new Date(Date.now() - 30 * MINUTE).toISOString();
    const res = await ops(`/ops/api/tenants/${a.tenant.id}/health?from=${from}&to=${to}`);
    assert.equal(res.statusCode, 200);
    const body = res.json();
    assert.equal(body.step, 'minute');
    assert.equal(body.series.length, body.baseline.length);
    assert.ok(body.series.length >= 31);
    assert.ok(body.series.reduce((n: number, p: { requests: number }) => n + p.requests, 0) >= 5);
    for (const [query, path] of [
      [`from=${to}&to=${from}`, 'querystring.from'],
      [`from=2020-01-01T00:00:00Z&to=2020-03-01T00:00:00Z`, 'querystring.from'],
      [`from=${from}&to=${to}&step=fortnight`, 'querystring.step'],
      ['from=yesterday', 'querystring.from'],
    ] as const) {
      const bad = await ops(`/ops/api/tenants/${a.tenant.id}/health?${query}`);
      assert.equal(bad.statusCode, 400, query);
      assert.ok((problem(bad).errors as { path: string }[]).some((e) => e.path === path), `${query}: ${bad.body}`);
    }
    const platform = await ops(`/ops/api/health?from=${from}&to=${to}`);
    assert.equal(platform.statusCode, 200);
    assert.ok(platform.json().series.reduce((n: number, p: { requests: number }) => n + p.requests, 0) >= 6);
  });

  test('top tenants name the busiest over a window, with their share', async () => {
    const res = await ops('/ops/api/top-tenants?by=requests&window=1h');
    assert.equal(res.statusCode, 200);
    const top = res.json().data as { tenantId: string; name: string; value: number; share: number }[];
    const mine = top.find((x) => x.tenantId === a.tenant.id)!;
    assert.equal(mine.name, 'Aardvark Diner');
    assert.ok(mine.value >= 5 && mine.share > 0 && mine.share <= 1);
    const wider = await ops('/ops/api/top-tenants?by=apiTimeShare&window=6h&limit=3');
    assert.equal(wider.statusCode, 200);
    assert.ok(wider.json().data.length <= 3);
    const bad = await ops('/ops/api/top-tenants?window=1y');
    assert.equal(bad.statusCode, 400);
  });

  test('every window, range and query parameter of the health and alerts routes is bounded: a problem names the field, and nothing changes', async () => {
    const id = a.tenant.id;
    const now = Date.now();
    const iso = (ms: number) => new Date(ms).toISOString();
    const raised = await t.platform.tenancy.withSystem('test', (trx) =>
      import('../alerts/index.ts').then(({ raiseAlert }) => raiseAlert(trx, t.platform.config, { rule: 'tenant.api_share', tenantId: id, summary: 'loud', observed: 0.6, expected: 0.1 })),
    );
    const cases: [method: 'GET' | 'POST', url: string, field: string, payload?: object][] = [
      ['GET', '/ops/api/tenants?q=', 'querystring.q'],
      ['GET', `/ops/api/tenants?q=${'x'.repeat(101)}`, 'querystring.q'],
      ['GET', '/ops/api/tenants?plan=Gold!', 'querystring.plan'],
      ['GET', '/ops/api/tenants?status=sideways', 'querystring.status'],
      ['GET', '/ops/api/tenants?hasOpenAlert=maybe', 'querystring.hasOpenAlert'],
      ['GET', '/ops/api/tenants?sort=loudest', 'querystring.sort'],
      ['GET', '/ops/api/tenants?limit=0', 'querystring.limit'],
      ['GET', '/ops/api/tenants?limit=201', 'querystring.limit'],
      ['GET', '/ops/api/tenants?limit=ten', 'querystring.limit'],
      ['GET', '/ops/api/tenants?cursor=not-a-cursor', 'querystring.cursor'],
      ['GET', '/ops/api/tenants/not-a-uuid', 'params.tenantId'],
      ['GET', `/ops/api/tenants/${id}/health?to=soon`, 'querystring.to'],
      ['GET', `/ops/api/tenants/${id}/health?from=${iso(now - HOUR)}&to=${iso(now + 2 * HOUR)}`, 'querystring.to'],
      ['GET', `/ops/api/tenants/${id}/health?from=${iso(now - 32 * 24 * HOUR)}&to=${iso(now)}`, 'querystring.from'],
      ['GET', `/ops/api/tenants/${id}/health?from=${iso(now - 30 * 24 * HOUR)}&to=${iso(now)}&step=minute`, 'querystring.step'],
      ['GET', `/ops/api/health?from=${iso(now)}&to=${iso(now - HOUR)}`, 'querystring.from'],
      ['GET', '/ops/api/health?step=week', 'querystring.step'],
      ['GET', '/ops/api/top-tenants?by=loudness', 'querystring.by'],
      ['GET', '/ops/api/top-tenants?window=2h', 'querystring.window'],
      ['GET', '/ops/api/top-tenants?limit=0', 'querystring.limit'],
      ['GET', '/ops/api/top-tenants?limit=101', 'querystring.limit'],
      ['GET', '/ops/api/top-tenants?windows=1h', 'querystring.windows'],
      ['GET', '/ops/api/alerts?severity=loud', 'querystring.severity'],
      ['GET', '/ops/api/alerts?rule=tenant.everything', 'querystring.rule'],
      ['GET', '/ops/api/alerts?tenantId=42', 'querystring.tenantId'],
      ['GET', '/ops/api/alerts?limit=500', 'querystring.limit'],
      ['GET', '/ops/api/alerts/42', 'params.id'],
      ['POST', `/ops/api/alerts/${raised.id}/acknowledge`, 'note', { note: '   ' }],
      ['POST', `/ops/api/alerts/${raised.id}/acknowledge`, 'note', { note: 'x'.repeat(1001) }],
      ['POST', `/ops/api/alerts/${raised.id}/resolve`, 'note', { note: 7 }],
    ];
    for (const [method, url, field, payload] of cases) {
      const res = await ops(url, method, payload);
      assert.equal(res.statusCode, 400, `${method} ${url}: ${res.body}`);
      const errors = problem(res).errors as { path: string }[];
      assert.ok(errors.some((e) => e.path === field), `${method} ${url} names ${field}: ${res.body}`);
    }
    const after = (await ops(`/ops/api/alerts/${raised.id}`)).json();
    assert.equal(after.state, 'open');
    assert.deepEqual(after.history.map((h: { action: string }) => h.action), ['opened']);
  });

  test('an operator acknowledges and resolves an alert with a note; both are in its history; a resolved alert cannot be acted on again', async () => {
    const raised = await t.platform.tenancy.withSystem('test', (trx) =>
      import('../alerts/index.ts').then(({ raiseAlert }) => raiseAlert(trx, t.platform.config, { rule: 'tenant.latency', tenantId: b.tenant.id, summary: 'slow', observed: 900, expected: 80 })),
    );
    const noNote = await ops(`/ops/api/alerts/${raised.id}/acknowledge`, 'POST', {});
    assert.equal(noNote.statusCode, 400);
    const ack = await ops(`/ops/api/alerts/${raised.id}/acknowledge`, 'POST', { note: 'looking at the slow queries' });
    assert.equal(ack.statusCode, 200, ack.body);
    assert.equal(ack.json().state, 'acknowledged');
    assert.equal(ack.json().tenantName, 'Zebra Bar');
    const resolved = await ops(`/ops/api/alerts/${raised.id}/resolve`, 'POST', { note: 'index added' });
    assert.equal(resolved.json().state, 'resolved');
    assert.deepEqual(resolved.json().history.map((h: { action: string; note: string | null }) => [h.action, h.note]), [['opened', null], ['acknowledged', 'looking at the slow queries'], ['resolved', 'index added']]);
    assert.match(resolved.json().history[1].actor, /^operator:op\+/);
    const again = await ops(`/ops/api/alerts/${raised.id}/resolve`, 'POST', { note: 'twice' });
    assert.equal(again.statusCode, 409);
    assert.equal((await ops(`/ops/api/alerts/${crypto.randomUUID()}/resolve`, 'POST', { note: 'x' })).statusCode, 404);
    assert.equal((await ops('/ops/api/alerts?state=sideways')).statusCode, 400);
  });
});
