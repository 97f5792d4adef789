import crypto from 'node:crypto';
import pg from 'pg';
import type { ChildProcess } from 'node:child_process';
import type { FastifyInstance, LightMyRequestResponse } from 'fastify';
import { loadConfig } from '../src/config.ts';
import { createLogger, type Logger } from '../src/platform/log.ts';
import { startPlatform, type StartedPlatform } from '../src/platform/bootstrap.ts';
import { buildApp } from '../src/app.ts';
import type { Tracing } from '../src/platform/telemetry.ts';
import { jobRegistry } from '../src/jobs.ts';
import type { AnyJobDefinition } from '../src/platform/jobs/index.ts';

/** The server tests create their databases on (trust auth here; any superuser URL works). */
export const adminUrl = process.env.TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';

export interface TestContext {
  app: FastifyInstance;
  platform: StartedPlatform;
  dbName: string;
  /** Connects straight to the test database as its owner, outside the application. */
  ownerUrl: string;
  close(): Promise<void>;
}

export async function createTestDatabase(): Promise<{ name: string; url: string; drop(): Promise<void> }> {
  const name = `brigade_t_${process.pid}_${crypto.randomBytes(4).toString('hex')}`;
  const admin = new pg.Client({ connectionString: adminUrl });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${name}`);
  await admin.end();
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  return {
    name,
    url: url.toString(),
    async drop() {
      const c = new pg.Client({ connectionString: adminUrl });
      await c.connect();
      try {
        await c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
        const roles = await c.query<{ rolname: string }>(`SELECT rolname FROM pg_roles WHERE rolname LIKE $1`, [`brigade_rt_${name.slice(0, 32)}%`]);
        for (const r of roles.rows) await c.query(`DROP ROLE IF EXISTS "${r.rolname}"`);
      } finally {
        await c.end();
      }
    },
  };
}

/**
 * A fresh, migrated database and Redis prefix, a platform on them and the app (not listening).
 * `jobs`: extra job definitions (test-only types) the app's ops API should know.
 */
export async function createTestContext(
  env: Record<string, string> = {},
  opts: {
    tracing?: Tracing | null;
    log?: Logger;
    routes?: (app: FastifyInstance, platform: StartedPlatform) => Promise<void> | void;
    jobs?: AnyJobDefinition[];
    /** Rewrites the database URL the platform uses (to go through a fault proxy, say). */
    databaseUrl?: (url: string) => string;
  } = {},
): Promise<TestContext> {
  const db = await createTestDatabase();
  const prefix = `bt${crypto.randomBytes(4).toString('hex')}`;
  const config = loadConfig({
    ...process.env,
    DATABASE_URL: opts.databaseUrl ? opts.databaseUrl(db.url) : db.url,
    BRIGADE_QUEUE_PREFIX: prefix,
    BRIGADE_DEMO: 'false',
    BRIGADE_PASSWORD_COST: '10',
    LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? 'silent',
    BRIGADE_JOB_BACKOFF_MS: '50',
    BRIGADE_TENANT_RATE_LIMIT: '0',
    // Every test client is 127.0.0.1: the per-client limits have tests of their own.
    BRIGADE_CLIENT_RATE_LIMIT: '0',
    // No payment provider unless a test starts one (billing.fixtures.ts): never a developer's running simulator.
    BRIGADE_SIMULATOR_PORT: '1',
    ...env,
  });
  const platform = await startPlatform(config, opts.log ?? createLogger(config.LOG_LEVEL), { migrate: true, tracing: opts.tracing ?? null });
  const app = await buildApp(platform, { jobs: jobRegistry(opts.jobs) });
  // Extra routes (benchmarks, probes) join before the app is sealed.
  await opts.routes?.(app, platform);
  await app.ready();
  return {
    app,
    platform,
    dbName: db.name,
    ownerUrl: db.url,
    async close() {
      try {
        await app.close();
        const keys = await platform.redis.keys(`${prefix}:*`);
        if (keys.length) await platform.redis.del(...keys);
      } finally {
        await platform.close();
        await db.drop();
      }
    },
  };
}

export interface Session {
  token: string;
  tenant: { id: string; name: string; slug: string; currency: string; timezone: string };
  user: { id: string; email: string; name: string };
}

let seq = 0;
/** Signs up a new business; returns the owner's session. */
export async function aTenant(app: FastifyInstance, name = `Test Bistro ${++seq}`): Promise<Session> {
  const email = `owner+${crypto.randomBytes(4).toString('hex')}@example.com`;
  const res = await app.inject({ method: 'POST', url: '/v1/signup', payload: { businessName: name, name: 'Olive Owner', email, password: 'correct horse battery' } });
  if (res.statusCode !== 201) throw new Error(`signup failed: ${res.statusCode} ${res.body}`);
  return res.json() as Session;
}

/** Adds a branch straight through the tenant's RLS context (the branches API may not be the subject). */
export async function aBranch(t: TestContext, tenantId: string, name = 'Main'): Promise<string> {
  const row = await t.platform.tenancy.withTenant({ tenantId }, (trx) =>
    trx.insertInto('branches').values({ tenant_id: tenantId, name, timezone: 'UTC' }).returning('id').executeTakeFirstOrThrow(),
  );
  return row.id;
}

/** Adds a member with one role (optionally for one branch) and logs them in. */
export async function aMember(t: TestContext, owner: Session, role: string, branchId: string | null = null): Promise<Session> {
  const email = `${role}+${crypto.randomBytes(4).toString('hex')}@example.com`;
  const { hashPassword } = await import('../src/platform/auth/index.ts');
  const hash = await hashPassword('correct horse battery', 10);
  await t.platform.tenancy.withTenant({ tenantId: owner.tenant.id }, async (trx) => {
    const u = await trx.insertInto('users').values({ tenant_id: owner.tenant.id, email, name: `A ${role}`, password_hash: hash }).returning('id').executeTakeFirstOrThrow();
    await trx.insertInto('role_assignments').values({ tenant_id: owner.tenant.id, user_id: u.id, role_key: role, branch_id: branchId }).execute();
  });
  const res = await t.app.inject({ method: 'POST', url: '/v1/auth/login', payload: { email, password: 'correct horse battery' } });
  if (res.statusCode !== 200) throw new Error(`login failed: ${res.statusCode} ${res.body}`);
  return res.json() as Session;
}

export const bearer = (s: Session | string) => ({ authorization: `Bearer ${typeof s === 'string' ? s : s.token}` });

export function problem(res: LightMyRequestResponse): Record<string, unknown> {
  if (!String(res.headers['content-type']).startsWith('application/problem+json')) {
    throw new Error(`expected a problem document, got ${res.headers['content-type']}: ${res.body}`);
  }
  return res.json() as Record<string, unknown>;
}

/** A platform operator, logged in at /ops/api/login; returns the operator token. */
export async function anOperator(t: TestContext): Promise<{ token: string; email: string }> {
  const { operatorsService } = await import('../src/modules/identity/index.ts');
  const email = `op+${crypto.randomBytes(4).toString('hex')}@brigade.example`;
  await operatorsService(t.platform).createOperator({ email, password: 'operator password 1', name: 'Oscar Operator' });
  const res = await t.app.inject({ method: 'POST', url: '/ops/api/login', payload: { email, password: 'operator password 1' } });
  if (res.statusCode !== 200) throw new Error(`operator login failed: ${res.statusCode} ${res.body}`);
  return { token: (res.json() as { token: string }).token, email };
}

/**
 * Resolves once `pattern` appears in a child process's output (`output()`, collected by the
 * caller from its stdout and stderr); rejects with the output's tail if the child exits first.
 * An event, not a poll: the check runs on every chunk the child writes.
 */
export function waitForOutput(child: ChildProcess, output: () => string, pattern: RegExp): Promise<void> {
  return new Promise((resolve, reject) => {
    const check = () => {
      if (!pattern.test(output())) return;
      child.stdout?.off('data', check);
      child.stderr?.off('data', check);
      child.off('exit', exited);
      resolve();
    };
    const exited = (code: number | null, signal: string | null) => reject(new Error(`exited (${signal ?? code}) before ${pattern}:\n${output().slice(-3000)}`));
    child.stdout?.on('data', check);
    child.stderr?.on('data', check);
    child.once('exit', exited);
    check();
  });
}

/** Polls `probe` until it returns something other than undefined/null/false; fails after `timeoutMs`. */
export async function eventually<T>(probe: () => Promise<T | undefined | null | false>, what = 'condition', timeoutMs = 20_000, intervalMs = 50): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined && value !== null && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

/**
 * A test context with the real job runtime running beside the app (relay and workers, no
 * schedulers) and an operator token for the ops API; `close` stops both.
 */
export async function createJobsTestContext(): Promise<TestContext & { operatorToken: string }> {
  const { jobRegistry } = await import('../src/jobs.ts');
  const { startJobs } = await import('../src/platform/jobs/index.ts');
  const t = await createTestContext();
  const runtime = await startJobs(t.platform, jobRegistry(), { pollMs: 200, schedulers: false });
  const operatorToken = (await anOperator(t)).token;
  return {
    ...t,
    operatorToken,
    async close() {
      await runtime.close();
      await t.close();
    },
  };
}
