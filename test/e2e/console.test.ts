/**
 * The operations console end to end, as an operator on call uses it: the real app and job
 * runtime on real PostgreSQL and Redis, the payment simulator, a real SMTP server that comes
 * up mid-test, and Debian's Chromium driven by playwright-core (no browser download).
 * Screenshots of the main pages go to test-output/screenshots/ (ignored by git) for a person.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { SMTPServer } from 'smtp-server';
import { sql } from 'kysely';
import { aTenant, bearer, eventually } from '../harness.ts';
import { createSignalRecorder, bucketOf } from '../../src/platform/signals/index.ts';
import { evaluate, refreshBaselines } from '../../src/modules/health/index.ts';
import { createLogger } from '../../src/platform/log.ts';
import { billingTestContext, type BillingTestContext } from '../../src/modules/billing/billing.fixtures.ts';
import { operatorsService } from '../../src/modules/identity/index.ts';
import { consoleDist } from '../../src/modules/ops/index.ts';
import { startJobs, type JobsRuntime } from '../../src/platform/jobs/index.ts';
import { jobRegistry } from '../../src/jobs.ts';
import type { Session } from '../harness.ts';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const shots = path.join(root, 'test-output/screenshots');
const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const OPERATOR = { email: 'oncall@brigade.test', password: 'operator password 1' };
const WAIT = 30_000;

let t: BillingTestContext;
let runtime: JobsRuntime;
let context: BrowserContext;
let page: Page;
let base: string;
let smtpPort: number;
let smtp: SMTPServer | null = null;
const delivered: string[] = [];
let business: Session;
let profile: string;

async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

async function startSmtp(port: number): Promise<SMTPServer> {
  const server = new SMTPServer({
    authOptional: true,
    disabledCommands: ['STARTTLS'],
    onData(stream, _session, done) {
      let data = '';
      stream.on('data', (c: Buffer) => (data += c.toString()));
      stream.on('end', () => {
        delivered.push(data);
        done();
      });
    },
  });
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  return server;
}

const shot = (name: string) => page.screenshot({ path: path.join(shots, `${name}.png`), fullPage: true });
const heading = (name: string | RegExp) => page.getByRole('heading', { level: 1, name });

before(async () => {
  if (!fs.existsSync(path.join(consoleDist, 'index.html'))) throw new Error('console/dist is missing: `npm install` (or `npm run build:console`) builds the console');
  if (!fs.existsSync(CHROMIUM)) throw new Error(`no Chromium at ${CHROMIUM}: apt-get install -y chromium`);
  fs.mkdirSync(shots, { recursive: true });
  // SMTP is configured but nothing listens there yet: mail jobs fail until it comes up.
  smtpPort = await freePort();
  t = await billingTestContext({ env: { SMTP_URL: `smtp://127.0.0.1:${smtpPort}`, BRIGADE_JOB_ATTEMPTS: '2' } });
  base = `http://127.0.0.1:${(t.app.server.address() as net.AddressInfo).port}`;
  await operatorsService(t.platform).createOperator({ ...OPERATOR, name: 'Olga On-call' });
  // Provisioned at the provider before the job runtime starts, so billing's own test helpers
  // and the workers never run the same job.
  business = await t.signup('Harbour Café');
  runtime = await startJobs(t.platform, jobRegistry(), { pollMs: 200, schedulers: false });

  profile = fs.mkdtempSync(path.join(os.tmpdir(), 'brigade-e2e-'));
  context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    viewport: { width: 1280, height: 900 },
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  page = context.pages()[0] ?? (await context.newPage());
  page.setDefaultTimeout(WAIT);
});

after(async () => {
  await context?.close();
  if (profile) fs.rmSync(profile, { recursive: true, force: true });
  await runtime?.close();
  await new Promise((resolve) => (smtp ? smtp.close(() => resolve(undefined)) : resolve(undefined)));
  await t?.close();
});

async function signIn() {
  await page.goto(`${base}/ops/`);
  await page.getByLabel('E-mail').fill(OPERATOR.email);
  await page.getByLabel('Password').fill(OPERATOR.password);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await heading('Overview').waitFor();
}

test('an operator signs in and sees the queues', async () => {
  await page.goto(`${base}/ops/jobs?state=dead`);
  // A deep link before signing in shows the sign-in form, and the page itself after.
  await page.getByRole('heading', { name: 'Brigade operations' }).waitFor();
  await page.getByLabel('E-mail').fill(OPERATOR.email);
  await page.getByLabel('Password').fill('not the password');
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('alert').getByText('The e-mail address or the password is wrong.').waitFor();
  await page.getByLabel('Password').fill(OPERATOR.password);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await heading('Jobs').waitFor();
  assert.equal(new URL(page.url()).pathname, '/ops/jobs');

  await page.getByRole('navigation', { name: 'Sections' }).getByRole('link', { name: 'Overview' }).click();
  await heading('Overview').waitFor();
  const mailRow = page.getByRole('row', { name: /^mail/ });
  await mailRow.waitFor();
  assert.deepEqual(
    await page.locator('thead th').allInnerTexts().then((h) => h.slice(0, 8)),
    ['Queue', 'Backlog', 'Waiting', 'Active', 'Delayed', 'Retrying', 'Dead', 'Completed'],
  );
  await page.getByText('Outbox lag').waitFor();
  // Open alerts by severity and the platform's last hour against its usual level.
  for (const card of ['Critical', 'Warning', 'Info', 'Requests per minute', 'Error rate (5xx)', 'p95 latency (worst minute)']) await page.locator('.card-label', { hasText: card }).first().waitFor();
  await shot('overview');
});

test('a mail job that failed for lack of SMTP is found dead with its reason, replayed from its page once the server is back, and seen completed and linked to the original', async () => {
  // The welcome mail of the signup has used both attempts against a closed port.
  const dead = await eventually(async () => {
    const res = await t.app.inject({ method: 'GET', url: `/ops/api/jobs?state=dead&tenantId=${business.tenant.id}`, headers: bearer(await opToken()) });
    return (res.json().data as { id: string; type: string; failedReason: string }[]).find((j) => j.type === 'mail.welcome');
  }, 'the welcome mail to be dead', WAIT);
  assert.match(dead.failedReason, /ECONNREFUSED|connect/i);

  await page.getByRole('navigation', { name: 'Sections' }).getByRole('link', { name: 'Jobs' }).click();
  await heading('Jobs').waitFor();
  const row = page.getByRole('row').filter({ hasText: 'mail.welcome' }).filter({ hasText: 'Harbour Café' });
  await row.waitFor();
  assert.match(await row.innerText(), /dead/);
  assert.match(await row.innerText(), /ECONNREFUSED|connect/i, 'the reason is in the list');
  await shot('jobs-dead');

  // Found by id as well.
  await page.getByRole('textbox', { name: 'Find a job by id' }).fill(dead.id);
  await page.getByRole('button', { name: 'Find' }).click();
  await page.waitForURL(`**/ops/jobs/mail/${dead.id}`);
  await heading(/mail\.welcome/).waitFor();
  await page.getByText('Attempt 2').waitFor();
  assert.equal(await page.locator('.attempt').count(), 2, 'each attempt is laid out');
  await page.locator('.attempt').last().locator('.stack').waitFor();
  await shot('job-dead');

  smtp = await startSmtp(smtpPort);
  await page.getByRole('button', { name: 'Replay…' }).click();
  await page.getByLabel(/Reason/).fill('SMTP server is back');
  await page.getByRole('button', { name: 'Replay', exact: true }).click();
  const outcome = page.getByRole('status').filter({ hasText: 'Replayed as' });
  await outcome.getByText('completed').waitFor();
  await outcome.getByText('It worked.').waitFor();
  assert.equal(delivered.length, 1, 'the mail reached the SMTP server');
  assert.match(delivered[0]!, /Welcome to Brigade/);

  await outcome.getByRole('link').click();
  await heading(/mail\.welcome/).waitFor();
  assert.match(await page.locator('h1').innerText(), /completed/);
  const chain = page.locator('.chain');
  await chain.getByRole('link', { name: new RegExp(dead.id.slice(0, 8)) }).waitFor();
  assert.match(await chain.innerText(), /replayed by oncall@brigade\.test/);
  assert.match(await chain.innerText(), /SMTP server is back/);
  await shot('job-replayed');

  // The original now says where it went.
  await chain.getByRole('link', { name: new RegExp(dead.id.slice(0, 8)) }).click();
  await page.waitForURL(`**/ops/jobs/mail/${dead.id}`);
  await page.locator('.chain').getByText('replayed as').waitFor();
  assert.match(await page.locator('h1').innerText(), /replayed/);
});

test('a billing divergence is seen, reconciled and repaired', async () => {
  const { subscriptionId } = await t.providerIds(business.tenant.id);
  // A change at the provider whose webhook is lost: Brigade does not know.
  t.sim.setFaults({ dropRate: 1 });
  try {
    await t.stripe.subscriptions.update(subscriptionId, { cancel_at_period_end: true });
    await t.sim.flush();
  } finally {
    t.sim.setFaults({});
  }
  assert.equal((await t.getSubscription(business)).cancelAtPeriodEnd, false);

  await page.getByRole('navigation', { name: 'Sections' }).getByRole('link', { name: 'Billing' }).click();
  await heading('Billing').waitFor();
  await page.getByLabel(/One business/).fill(business.tenant.id);
  await page.getByRole('button', { name: 'Reconcile now' }).click();
  const result = page.getByRole('status').filter({ hasText: /Run .*checked/ });
  await result.waitFor();
  assert.match(await result.innerText(), /1 divergence,/);
  await page.getByRole('row').filter({ hasText: 'operator' }).filter({ hasText: 'Harbour Café' }).first().waitFor();
  const divergence = page.getByRole('row').filter({ hasText: 'cancelAtPeriodEnd' });
  await divergence.waitFor();
  assert.match(await divergence.innerText(), /Harbour Café/);
  assert.match(await divergence.innerText(), /repaired/);
  await shot('billing');
  assert.equal((await t.getSubscription(business)).cancelAtPeriodEnd, true, 'Brigade now agrees with the provider');

  await page.getByRole('tab', { name: 'Webhook events' }).click();
  await page.getByRole('row').filter({ hasText: 'customer.subscription' }).first().waitFor();
});

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
let surgeId = '';

/**
 * A business with four weeks of steady history (10 requests a minute, 0.5 % 5xx), then six
 * minutes at 30 % 5xx; signals counted by a recorder on an injected clock and evaluated at
 * given instants, as health.test.ts does: nothing waits for a real minute to pass.
 */
async function errorSurge(name: string) {
  const surge = await aTenant(t.app, name);
  const hour = Math.floor(Date.now() / HOUR) * HOUR - 2 * HOUR;
  const perHour = 10 * 60;
  const bucket = `l${String(bucketOf(50)).padStart(2, '0')}`;
  await sql`
    INSERT INTO tenant_signals (tenant_id, grain, at, requests, r2xx, r5xx, api_us, ${sql.raw(bucket)})
    SELECT ${surge.tenant.id}, 'h', h, ${perHour}, ${perHour - 3}, 3, ${perHour * 50_000}, ${perHour}
    FROM generate_series(${new Date(hour - 28 * 24 * HOUR)}::timestamptz, ${new Date(hour - HOUR)}::timestamptz, interval '1 hour') AS h`.execute(t.platform.db.system);
  await sql`UPDATE tenants SET created_at = ${new Date(hour - 29 * 24 * HOUR)} WHERE id = ${surge.tenant.id}`.execute(t.platform.db.system);
  await refreshBaselines(t.platform, new Date(hour + 2 * MINUTE));
  const clock = { now: hour };
  const recorder = createSignalRecorder(t.platform.tenancy, createLogger('silent'), { flushMs: 1e9, maxSlots: 1000, clock: () => clock.now });
  const traffic = (from: number, minutes: number, errorRate: number) => {
    for (let m = 0; m < minutes; m++) {
      clock.now = from + m * MINUTE + 1000;
      for (let i = 0; i < 10; i++) recorder.request(surge.tenant.id, i < Math.round(10 * errorRate) ? 503 : 200, 50, 5);
    }
  };
  traffic(hour - HOUR, 70, 0);
  const start = hour + 10 * MINUTE;
  traffic(start, 6, 0.3);
  await recorder.flush();
  await recorder.close();
  const evalAt = (windowEnd: number) => new Date(windowEnd + MINUTE + 6_000);
  await evaluate(t.platform, evalAt(start + 5 * MINUTE));
  await evaluate(t.platform, evalAt(start + 6 * MINUTE));
  return surge;
}

test('a business with a surge of errors is at the top of the tenants page and in an open alert, which the operator acknowledges and resolves with notes', async () => {
  const surge = await errorSurge('Surge Grill');
  surgeId = surge.tenant.id;
  await page.getByRole('navigation', { name: 'Sections' }).getByRole('link', { name: 'Tenants' }).click();
  await heading('Tenants').waitFor();
  await page.getByRole('row').filter({ hasText: 'Harbour Café' }).waitFor();
  // Sorted by error rate from the column's header (a button: keyboard reachable).
  await page.getByRole('columnheader', { name: /Error rate/ }).getByRole('button').click();
  await page.waitForURL('**/ops/tenants?sort=errorRate');
  assert.equal(await page.getByRole('columnheader', { name: /Error rate/ }).getAttribute('aria-sort'), 'descending');
  const first = page.locator('tbody tr').first();
  await first.filter({ hasText: 'Surge Grill' }).waitFor();
  assert.match(await first.innerText(), /Free trial|trial/);
  assert.match(await first.innerText(), /[1-9][0-9.]* %/, 'its error rate is shown');
  assert.match(await first.innerText(), /\b1\b/, 'one open alert');
  await shot('tenants');

  // Filtered to the businesses with an open alert, and searched by name.
  await page.getByLabel('Open alerts').selectOption('open');
  await page.getByLabel('Name, slug or id').fill('surge');
  await page.getByRole('button', { name: 'Show' }).click();
  await page.waitForURL(/alert=open/);
  await eventually(async () => ((await page.locator('tbody tr').count()) === 1 ? true : undefined), 'one business listed', WAIT);

  // Its page: subscription, health beside its baseline, the alert.
  await first.getByRole('link', { name: 'Surge Grill' }).click();
  await heading('Surge Grill').waitFor();
  await page.getByRole('img', { name: /Error rate \(5xx\) of Surge Grill/ }).waitFor();
  await page.getByRole('heading', { name: 'Subscription history' }).waitFor();
  const alertItem = page.locator('.alert').filter({ hasText: "Server errors far above the tenant's own baseline" });
  await alertItem.waitFor();
  await shot('tenant-surge');

  await page.getByRole('navigation', { name: 'Sections' }).getByRole('link', { name: 'Alerts' }).click();
  await heading('Alerts').waitFor();
  const item = page.locator('.alert').filter({ hasText: 'Surge Grill' }).filter({ hasText: 'Server errors' });
  await item.waitFor();
  assert.match(await item.innerText(), /critical/);
  assert.match(await item.innerText(), /open/);
  assert.ok(await item.getByRole('link', { name: 'Runbook' }).getAttribute('href').then((h) => h?.endsWith('/ops/runbooks/alerts.md#tenant.error_rate')));
  assert.equal(await item.getByRole('link', { name: 'Surge Grill' }).getAttribute('href'), `/ops/tenants/${surge.tenant.id}`);
  await shot('alerts');

  await item.getByRole('button', { name: 'Acknowledge…' }).click();
  await item.getByLabel(/Note/).fill('Looking at it: their POS integration retries on 503');
  await item.getByRole('button', { name: 'Acknowledge', exact: true }).click();
  await item.getByText(/acknowledged by oncall@brigade\.test/).waitFor();
  await item.getByRole('button', { name: 'Resolve…' }).click();
  await item.getByLabel(/Note/).fill('Their deploy was rolled back; errors back to usual');
  await item.getByRole('button', { name: 'Resolve', exact: true }).click();
  // Resolved alerts leave the open list, and are among the past ones with who resolved them.
  await eventually(async () => ((await page.locator('.alert').filter({ hasText: 'Surge Grill' }).count()) === 0 ? true : undefined), 'the alert to leave the open list', WAIT);
  await page.getByLabel('Which alerts').selectOption('resolved');
  const past = page.locator('.alert').filter({ hasText: 'Surge Grill' });
  await past.getByText(/resolved by oncall@brigade\.test/).waitFor();

  // Its page: the evidence chart and the history with both notes.
  await past.getByRole('link', { name: 'Evidence chart' }).click();
  await heading("Server errors far above the tenant's own baseline").waitFor();
  await page.getByRole('img', { name: /Error rate \(5xx\) of Surge Grill/ }).waitFor();
  const history = page.locator('.chain');
  await history.getByText('Looking at it: their POS integration retries on 503').waitFor();
  await history.getByText('Their deploy was rolled back; errors back to usual').waitFor();
  assert.match(await history.innerText(), /opened[\s\S]*acknowledged[\s\S]*resolved/);
  await shot('alert');
});

test('the tenants page pages by cursor in the URL, and a reload keeps the page', async () => {
  await sql`
    INSERT INTO tenants (name, slug) SELECT 'Quay Kitchen ' || lpad(i::text, 3, '0'), 'quay-kitchen-' || i FROM generate_series(1, 60) AS i`.execute(t.platform.db.system);
  await page.goto(`${base}/ops/tenants?q=quay`);
  await heading('Tenants').waitFor();
  const rows = page.locator('tbody tr');
  await rows.nth(49).waitFor();
  assert.equal(await rows.count(), 50);
  assert.match(await rows.first().innerText(), /Quay Kitchen 001/);
  await page.getByRole('button', { name: 'Next page →' }).click();
  await page.waitForURL(/cursor=/);
  await rows.first().filter({ hasText: 'Quay Kitchen 051' }).waitFor();
  assert.equal(await rows.count(), 10);
  assert.equal(await page.getByRole('button', { name: 'Next page →' }).isDisabled(), true, 'the last page');
  await page.reload();
  await rows.first().filter({ hasText: 'Quay Kitchen 051' }).waitFor();
  await page.getByRole('button', { name: '← First page' }).click();
  await rows.first().filter({ hasText: 'Quay Kitchen 001' }).waitFor();
  assert.doesNotMatch(page.url(), /cursor=/);
});

test('support data is refused without a grant and shown with one', async () => {
  await page.goto(`${base}/ops/tenants/${business.tenant.id}`);
  await page.getByText('has not granted support access', { exact: false }).first().waitFor();
  assert.equal(await page.getByRole('cell', { name: business.user.email }).count(), 0, 'no member is shown');
  // What needs no grant is there: its invoices, webhook events, the divergence repaired earlier, its jobs in any state.
  const section = (name: string) => page.locator('section').filter({ has: page.getByRole('heading', { level: 2, name }) });
  await section('Invoices').getByRole('row').filter({ hasText: 'paid' }).first().waitFor();
  await section('Webhook events').getByRole('row').filter({ hasText: 'customer.subscription' }).first().waitFor();
  assert.match(await section('Divergences from the payment provider').getByRole('row').filter({ hasText: 'cancelAtPeriodEnd' }).innerText(), /repaired/);
  await section('Jobs').getByLabel('Job state').selectOption('completed');
  await section('Jobs').getByRole('row').filter({ hasText: 'mail.welcome' }).first().waitFor();
  await shot('tenant-no-grant');

  const granted = await t.app.inject({ method: 'POST', url: '/v1/support-grants', headers: bearer(business), payload: { reason: 'Ticket 4711: missing receipts', durationMinutes: 60 } });
  assert.equal(granted.statusCode, 201, granted.body);
  await page.reload();
  await page.getByRole('cell', { name: business.user.email }).waitFor();
  await page.getByText('Ticket 4711: missing receipts').waitFor();
  await shot('tenant-granted');

  // The reads are in the business's own audit log and in the operators' activity.
  const audit = await t.platform.tenancy.withTenant({ tenantId: business.tenant.id }, (trx) =>
    trx.selectFrom('audit_events').select(['action', 'actor_type']).where('action', '=', 'support_access.used').execute(),
  );
  assert.ok(audit.length >= 2 && audit.every((a) => a.actor_type === 'operator'));

  await page.getByRole('navigation', { name: 'Sections' }).getByRole('link', { name: 'Activity' }).click();
  await heading('Activity').waitFor();
  for (const action of ['jobs.replay', 'billing.reconcile', 'support.read_members', 'alerts.acknowledge', 'alerts.resolve']) await page.getByRole('cell', { name: action }).first().waitFor();
  assert.match(await page.getByRole('row').filter({ hasText: 'alerts.resolve' }).first().innerText(), /Surge Grill[\s\S]*Their deploy was rolled back/);
  assert.match(await page.getByRole('row').filter({ hasText: 'jobs.replay' }).first().innerText(), /SMTP server is back/);
  assert.match(await page.getByRole('row').filter({ hasText: 'support.read_members' }).first().innerText(), /refused \(403\)|done \(200\)/);
  await shot('activity');

  await page.getByRole('navigation', { name: 'Sections' }).getByRole('link', { name: 'Mail' }).click();
  await page.getByRole('note').getByText(`127.0.0.1:${smtpPort}`).waitFor();
});

test('at a narrow laptop width every page still reads, and the keyboard reaches the actions', async () => {
  await page.setViewportSize({ width: 900, height: 800 });
  await page.goto(`${base}/ops/jobs?state=completed`);
  await heading('Jobs').waitFor();
  await page.getByRole('row').filter({ hasText: 'mail.welcome' }).first().waitFor();
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
  assert.ok(overflow <= 0, `the page does not scroll sideways (${overflow}px)`);
  await shot('jobs-narrow');
  for (const [url, name] of [['/ops/tenants', 'Tenants'], ['/ops/alerts?view=all', 'Alerts']] as const) {
    await page.goto(`${base}${url}`);
    await heading(name).waitFor();
    await page.locator('tbody tr, .alert').first().waitFor();
    const sideways = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
    assert.ok(sideways <= 0, `${url} does not scroll sideways (${sideways}px)`);
    await shot(`${name.toLowerCase()}-narrow`);
  }
  // Tab from the top: the skip link first, then the sections.
  await page.keyboard.press('Tab');
  assert.equal(await page.evaluate(() => document.activeElement?.textContent), 'Skip to content');
  await page.keyboard.press('Tab');
  await page.keyboard.press('Tab');
  assert.equal(await page.evaluate(() => document.activeElement?.textContent), 'Overview');
  // A sortable header is a button: reached and pressed from the keyboard, it sorts (in the URL).
  await page.goto(`${base}/ops/tenants`);
  await page.getByRole('columnheader', { name: /Requests/ }).getByRole('button').focus();
  await page.keyboard.press('Enter');
  await page.waitForURL('**/ops/tenants?sort=requests');
  assert.equal(await page.getByRole('columnheader', { name: /Requests/ }).getAttribute('aria-sort'), 'descending');
  assert.equal(await page.evaluate(() => document.activeElement?.closest('th')?.textContent?.includes('Requests')), true, 'focus stays on the header');
  await page.setViewportSize({ width: 1280, height: 900 });
});

/**
 * WCAG AA on what the pages show: every element with text of its own, against the first opaque
 * background behind it, has a contrast ratio of at least 4.5:1 (3:1 for large text). Plain
 * JavaScript in a string: it runs in the page as written (the test's compiler would add helpers).
 */
const lowContrast = `(() => {
  const rgb = (c) => (c.match(/[\d.]+/g) || []).map(Number);
  const f = (v) => ((v /= 255) <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4);
  const lum = (c) => 0.2126 * f(c[0]) + 0.7152 * f(c[1]) + 0.0722 * f(c[2]);
  const background = (el) => {
    for (; el; el = el.parentElement) {
      const c = rgb(getComputedStyle(el).backgroundColor);
      if (c.length === 3 || (c.length === 4 && c[3] > 0.5)) return c.slice(0, 3);
    }
    return [255, 255, 255];
  };
  const bad = [];
  for (const el of document.querySelectorAll('body *')) {
    const own = [...el.childNodes].some((n) => n.nodeType === Node.TEXT_NODE && n.textContent.trim());
    if (!own || !el.offsetParent || el.closest('.sr-only, .skip, .u-legend')) continue;
    const style = getComputedStyle(el);
    const [l1, l2] = [lum(rgb(style.color)), lum(background(el))].sort((a, b) => b - a);
    const ratio = (l1 + 0.05) / (l2 + 0.05);
    const size = parseFloat(style.fontSize);
    const large = size >= 24 || (size >= 18.66 && Number(style.fontWeight) >= 700);
    if (ratio < (large ? 3 : 4.5)) bad.push(el.tagName.toLowerCase() + '.' + el.className + ' "' + el.textContent.trim().slice(0, 30) + '": ' + ratio.toFixed(2) + ':1');
  }
  return bad;
})()`;

test('the main pages keep text at WCAG AA contrast', async () => {
  for (const [url, name] of [
    ['/ops/', 'Overview'],
    ['/ops/alerts?view=all', 'Alerts'],
    ['/ops/tenants', 'Tenants'],
    [`/ops/tenants/${surgeId}`, 'Surge Grill'],
    ['/ops/jobs?state=completed', 'Jobs'],
    ['/ops/billing', 'Billing'],
  ] as const) {
    await page.goto(`${base}${url}`);
    await heading(name).waitFor();
    await page.locator('tbody tr, .alert, .card').first().waitFor();
    await page.locator('[role=status]').filter({ hasText: 'Loading' }).first().waitFor({ state: 'detached' });
    assert.deepEqual(await page.evaluate<string[]>(lowContrast), [], url);
  }
});

test('signing out leaves nothing of the session on screen, and an expired token sends back to sign-in', async () => {
  await page.goto(`${base}/ops/jobs?state=completed&tenantId=${business.tenant.id}`);
  await page.getByRole('row').filter({ hasText: 'Harbour Café' }).first().waitFor();
  await page.getByRole('button', { name: 'Sign out' }).click();
  await page.getByRole('button', { name: 'Sign in' }).waitFor();
  const text = await page.locator('body').innerText();
  assert.doesNotMatch(text, /Harbour Café|mail\.welcome/, 'no row of the last session is left');
  assert.equal(await page.evaluate(() => sessionStorage.length), 0);
  await page.goBack();
  await page.getByRole('button', { name: 'Sign in' }).waitFor();
  assert.doesNotMatch(await page.locator('body').innerText(), /Harbour Café/);
  await shot('signed-out');

  // Sign in again; the session then expires under the operator's feet.
  await signIn();
  await t.platform.tenancy.withSystem('test: expire operator sessions', (trx) => trx.updateTable('operator_sessions').set({ expires_at: new Date(Date.now() - 1000) }).execute());
  // The next request answers 401: a refresh pressed now, or the page's own polling if it comes first.
  await page.evaluate(() => [...document.querySelectorAll<HTMLButtonElement>('button')].find((b) => b.textContent === 'Refresh')?.click());
  await page.getByText('Your session has ended. Sign in again to continue.').waitFor();
  await page.getByRole('button', { name: 'Sign in' }).waitFor();
});

let cachedToken: string | null = null;
async function opToken(): Promise<string> {
  cachedToken ??= (await t.app.inject({ method: 'POST', url: '/ops/api/login', payload: OPERATOR })).json().token as string;
  return cachedToken;
}
