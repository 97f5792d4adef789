import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createTestContext, aMember, anOperator, bearer, problem, eventually, type TestContext, type Session } from '../../../test/harness.ts';
import { aCafe, anOrder, as, expectStatus, sqlAsOwner } from '../../../test/hospitality.fixtures.ts';
import { startJobs, type JobsRuntime } from '../../platform/jobs/index.ts';
import { jobRegistry } from '../../jobs.ts';
import { startSmtpServer, type TestSmtpServer } from '../../../test/fixtures/smtp-server.ts';
import { enqueueDueReports } from './index.ts';

let t: TestContext;
let runtime: JobsRuntime;
let smtp: TestSmtpServer;
let operator: string;
let received: TestSmtpServer['received'] = [];

before(async () => {
  smtp = await startSmtpServer();
  received = smtp.received;
  t = await createTestContext({ SMTP_URL: smtp.url });
  runtime = await startJobs(t.platform, jobRegistry(), { pollMs: 200, schedulers: false });
  operator = (await anOperator(t)).token;
});
after(async () => {
  await runtime.close();
  await t.close();
  await smtp.close();
});

async function aBusinessIn(timezone: string): Promise<Session> {
  const res = await t.app.inject({
    method: 'POST',
    url: '/v1/signup',
    payload: { businessName: `Diner ${timezone}`, name: 'Olive Owner', email: `owner+${crypto.randomUUID().slice(0, 8)}@example.com`, password: 'correct horse battery', timezone, currency: 'USD' },
  });
  return expectStatus(res, 201).json() as Session;
}
const schedule = (s: Session, payload: Record<string, unknown>) => t.app.inject({ method: 'POST', url: '/v1/report-schedules', headers: bearer(s), payload });

/** An order of the café, paid at `paidAt` (the till's clock is moved in the database). */
async function aSaleAt(owner: Session, cafe: Awaited<ReturnType<typeof aCafe>>, paidAt: string) {
  const order = await anOrder(t, owner, cafe.branchId, [{ menuItemId: cafe.latte.id, quantity: 1 }]);
  expectStatus(await as(t, owner).post(`/v1/orders/${order.id}/pay`, { method: 'card', amountMinor: order.totalMinor }), 200);
  await sqlAsOwner(t, 'UPDATE orders SET paid_at = $2, created_at = $2 WHERE id = $1', [order.id, paidAt]);
  await sqlAsOwner(t, 'UPDATE order_lines SET paid_at = $2 WHERE order_id = $1', [order.id, paidAt]);
  return order;
}

/** The CSV attachment of a raw mail, decoded. */
function csvOf(raw: string): { filename: string; text: string } {
  const part = /Content-Type: text\/csv[^\r\n]*(?:\r\n[ \t][^\r\n]*)*\r\n((?:[^\r\n]+\r\n)*)\r\n([\s\S]*?)\r\n--/i.exec(raw);
  assert.ok(part, 'the mail has a CSV attachment');
  const headers = part[1]!;
  const filename = /filename="?([^";\r\n]+)"?/i.exec(raw.slice(raw.indexOf(part[0])))?.[1] ?? '';
  const body = part[2]!;
  const encoding = /Content-Transfer-Encoding: *(\S+)/i.exec(headers)?.[1]?.toLowerCase() ?? '7bit';
  const text =
    encoding === 'base64'
      ? Buffer.from(body.replace(/\s+/g, ''), 'base64').toString('utf8')
      : encoding === 'quoted-printable'
        ? body.replace(/=\r\n/g, '').replace(/=([0-9A-F]{2})/gi, (_m, h: string) => String.fromCharCode(parseInt(h, 16)))
        : body;
  return { filename, text };
}

test('a daily 07:00 report arrives once per local day across a daylight-saving change, built from that local day\'s sales', async () => {
  const owner = await aBusinessIn('America/New_York');
  const cafe = await aCafe(t, owner);
  const accountant = await aMember(t, owner, 'accountant');
  // New York moves its clocks from 02:00 EST to 03:00 EDT on Sunday 14 March 2027.
  await aSaleAt(owner, cafe, '2027-03-13T04:30:00Z'); // Fri 12 Mar, 23:30 EST
  await aSaleAt(owner, cafe, '2027-03-13T05:30:00Z'); // Sat 13 Mar, 00:30 EST
  await aSaleAt(owner, cafe, '2027-03-14T06:30:00Z'); // Sun 14 Mar, 01:30 EST
  await aSaleAt(owner, cafe, '2027-03-15T03:30:00Z'); // Sun 14 Mar, 23:30 EDT
  const made = await schedule(owner, { name: 'Morning figures', frequency: 'daily', hour: 7, groupBy: 'day', recipients: [owner.user.id, accountant.user.id] });
  assert.equal(made.statusCode, 201, made.body);
  const { reportSchedule } = made.json();
  assert.equal(reportSchedule.timezone, 'America/New_York');
  assert.equal(reportSchedule.lastRun, null);

  // The runner passes every 15 minutes from just after local midnight of the 13th for three days
  // (time injected: the schedule exists long before); after the first report
  // the accountant becomes a cashier (no reports.view) and stops receiving it.
  let enqueued = 0;
  for (let at = Date.parse('2027-03-13T05:15:00Z'); at <= Date.parse('2027-03-16T00:00:00Z'); at += 15 * 60_000) {
    enqueued += await enqueueDueReports(t.platform, new Date(at));
    if (at === Date.parse('2027-03-13T12:00:00Z')) {
      await eventually(async () => received.some((m) => m.to.includes(accountant.user.email) && /^Subject: Morning figures/m.test(m.raw)), 'the first report');
      await sqlAsOwner(t, `UPDATE role_assignments SET role_key = 'cashier' WHERE user_id = $1`, [accountant.user.id]);
    }
  }
  assert.equal(enqueued, 3);
  const runs = await sqlAsOwner<{ local_date: string; due_at: Date }>(
    t,
    `SELECT to_char(local_date, 'YYYY-MM-DD') AS local_date, due_at FROM report_schedule_runs WHERE schedule_id = $1 ORDER BY local_date`,
    [reportSchedule.id],
  );
  assert.deepEqual(
    runs.map((r) => [r.local_date, r.due_at.toISOString()]),
    [
      ['2027-03-13', '2027-03-13T12:00:00.000Z'], // 07:00 EST
      ['2027-03-14', '2027-03-14T11:00:00.000Z'], // 07:00 EDT, the morning of the change
      ['2027-03-15', '2027-03-15T11:00:00.000Z'],
    ],
  );

  const reportsTo = (email: string) => received.filter((m) => m.to.includes(email) && /^Subject: Morning figures/m.test(m.raw));
  const mine = () => reportsTo(owner.user.email);
  await eventually(async () => mine().length >= 3, 'three reports to the owner');
  const toOwner = mine();
  assert.equal(toOwner.length, 3);
  assert.equal(reportsTo(accountant.user.email).length, 1);

  // Each report is one local day: 1, 1 and 2 sales of $3.50 (the 23-hour day holds both of its own).
  const byDay = new Map(toOwner.map((m) => [csvOf(m.raw).filename, m]));
  const expected: [string, number][] = [
    ['sales-day-2027-03-12-2027-03-12.csv', 1],
    ['sales-day-2027-03-13-2027-03-13.csv', 1],
    ['sales-day-2027-03-14-2027-03-14.csv', 2],
  ];
  for (const [file, orders] of expected) {
    const mail = byDay.get(file);
    assert.ok(mail, `a mail with ${file}; got ${[...byDay.keys()].join(', ')}`);
    const { text } = csvOf(mail.raw);
    const [head, row, ...rest] = text.trim().split('\r\n');
    assert.equal(head, 'date,orders,grossMinor,refundsMinor,netMinor,currency');
    assert.equal(row, `${file.slice(-14, -4)},${orders},${orders * 350},0,${orders * 350},USD`);
    assert.equal(rest.length, 0);
    const flat = mail.raw.replace(/=\r\n/g, '');
    assert.match(flat, new RegExp(`${orders} orders, gross \\$${(orders * 3.5).toFixed(2)}`));
  }

  // Each run is a job of the tenant, visible to operators.
  // (Finished attempts are recorded in batches.)
  await eventually(async () => {
    const jobs = await t.app.inject({ method: 'GET', url: `/ops/api/jobs?state=completed&tenantId=${owner.tenant.id}&type=reports.scheduled`, headers: bearer(operator) });
    return expectStatus(jobs, 200).json().data.length === 3;
  }, 'three completed report jobs in the ops API');
  const listed = expectStatus(await as(t, owner).get('/v1/report-schedules'), 200).json().data[0];
  assert.equal(listed.lastRun.localDate, '2027-03-15');
});

test('the plan\'s scheduledReports limit counts schedules and refuses past it with 402', async () => {
  const owner = await aBusinessIn('Europe/Lisbon');
  const body = { name: 'Weekly', frequency: 'weekly', hour: 8, recipients: [owner.user.id] };
  // The trial allows two.
  expectStatus(await schedule(owner, body), 201);
  expectStatus(await schedule(owner, { ...body, frequency: 'monthly' }), 201);
  const third = await schedule(owner, body);
  assert.equal(third.statusCode, 402);
  const p = problem(third);
  assert.equal(p.code, 'plan_limit_reached');
  assert.equal(p.limit, 'scheduledReports');
  assert.equal(p.current, 2);
  const usage = expectStatus(await as(t, owner).get('/v1/billing/subscription'), 200).json();
  assert.equal(JSON.stringify(usage).includes('"scheduledReports":2'), true);
  const { data } = expectStatus(await as(t, owner).get('/v1/report-schedules'), 200).json();
  expectStatus(await as(t, owner).delete(`/v1/report-schedules/${data[0].id}`), 204);
  expectStatus(await schedule(owner, body), 201);
});

test('bad schedules are 400 naming the field, and nothing is created', async () => {
  const owner = await aBusinessIn('Europe/Berlin');
  const stranger = await aBusinessIn('Europe/Paris');
  const cashier = await aMember(t, owner, 'cashier');
  const base = { name: 'Daily', frequency: 'daily', hour: 7, recipients: [owner.user.id] };
  const cases: [Record<string, unknown>, string][] = [
    [{ ...base, timezone: 'Mars/Olympus_Mons' }, 'timezone'],
    [{ ...base, hour: 24 }, 'hour'],
    [{ ...base, hour: -1 }, 'hour'],
    [{ ...base, frequency: 'hourly' }, 'frequency'],
    [{ ...base, recipients: [owner.user.id, stranger.user.id] }, 'recipients.1'],
    [{ ...base, recipients: [cashier.user.id] }, 'recipients.0'],
    [{ ...base, recipients: [] }, 'recipients'],
  ];
  for (const [payload, path] of cases) {
    const res = await schedule(owner, payload);
    assert.equal(res.statusCode, 400, `${JSON.stringify(payload)}: ${res.body}`);
    const p = problem(res);
    assert.equal(p.code, 'validation_failed');
    assert.ok((p.errors as { path: string }[]).some((e) => e.path === path), `${JSON.stringify(payload)}: ${JSON.stringify(p.errors)}`);
  }
  assert.equal(expectStatus(await as(t, owner).get('/v1/report-schedules'), 200).json().data.length, 0);
  // A cashier may not schedule reports at all; another business cannot delete one.
  assert.equal((await schedule(cashier, base)).statusCode, 403);
  const made = expectStatus(await schedule(owner, base), 201).json().reportSchedule;
  assert.equal((await as(t, stranger).delete(`/v1/report-schedules/${made.id}`)).statusCode, 404);
});
