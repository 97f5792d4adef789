import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { Type } from 'typebox';
import { createTestContext, aTenant, type TestContext } from '../../../test/harness.ts';
import { jobRegistry } from '../../jobs.ts';
import { defineJob, enqueueLater, tenantSlots } from './index.ts';
import { openQueues, producerConnection, type QueueSet } from './queues.ts';
import { createRelay, dispatchGroups, shardOf, type PassResult } from './relay.ts';
import type { TenantSlots } from './fairness.ts';

const workJob = defineJob('test.relay_work', Type.Object({ n: Type.Integer() }), async () => undefined);
const CAP = 2;

let t: TestContext;
let queues: QueueSet;
before(async () => {
  t = await createTestContext({}, { jobs: [workJob] });
  queues = openQueues(t.platform.config, jobRegistry([workJob]), producerConnection(t.platform.config.REDIS_URL, t.platform.log, 'test'));
});
after(async () => {
  await queues.close();
  queues.redis.disconnect();
  await t.close();
});

const pending = (tenantId: string) =>
  t.platform.tenancy.withTenant({ tenantId }, (trx) => trx.selectFrom('outbox').select(['id', 'relayed_at']).where('tenant_id', '=', tenantId).where('type', '=', workJob.type).execute());

test('a row committed while a relay pass is under way waits for its tenant\'s room (it is not taken for a job due later)', async () => {
  const { tenant } = await aTenant(t.app, 'Busy Bistro');
  const tenantId = tenant.id;
  const enqueue = () => t.platform.tenancy.withTenant({ tenantId }, (trx) => enqueueLater(trx, tenantId, workJob.type, { n: 1 }));
  await enqueue();
  const real = tenantSlots(queues.redis, t.platform.config.BRIGADE_QUEUE_PREFIX, t.platform.log);
  let late: string | null = null;
  // The tenant is at its cap. While the pass asks Redis for that (after its BEGIN, before it
  // picks rows), another transaction begins, writes a row for the tenant and commits: its run_at
  // (that transaction's start) is later than the pass's own transaction start.
  const slots: TenantSlots = {
    ...real,
    async inFlight(ids) {
      late ??= await enqueue();
      return new Map(ids.map((id) => [id, CAP]));
    },
  };
  const relay = createRelay({ platform: t.platform, registry: jobRegistry([workJob]), queues, slots, log: t.platform.log }, { pollMs: 60_000, tenantCap: CAP });
  const result = await relay.passOnce();
  assert.ok(late, 'the late row was written during the pass');
  assert.equal(result.moved, 0, 'a tenant at its cap gets nothing, a row that came in during the pass included');
  const rows = await pending(tenantId);
  assert.equal(rows.length, 2);
  assert.ok(rows.every((r) => r.relayed_at === null), 'both rows wait in the outbox');
});

test('two relays dispatch at once: one holding a shard does not hold up the others', async () => {
  const shards = 4;
  const tenants = await Promise.all(Array.from({ length: 8 }, (_, i) => aTenant(t.app, `Shard Café ${i}`)));
  // The relay dispatches its shards in two groups; the test needs pending rows in both (a
  // tenant's shard is its id hashed, so eight random ids all land in one group about once in 128
  // runs): more tenants until both groups hold one.
  const groups = dispatchGroups(shards);
  assert.equal(groups.length, 2);
  const groupOf = async (tenantId: string) => {
    const { rows } = await t.platform.db.ownerPool.query<{ shard: number }>(`SELECT ${shardOf('$1::uuid', shards)} AS shard`, [tenantId]);
    return groups.findIndex((g) => g.includes(rows[0]!.shard));
  };
  const groupsHeld = new Set(await Promise.all(tenants.map(({ tenant }) => groupOf(tenant.id))));
  while (groupsHeld.size < 2) {
    const more = await aTenant(t.app, `Shard Café ${tenants.length}`);
    tenants.push(more);
    groupsHeld.add(await groupOf(more.tenant.id));
  }
  for (const { tenant } of tenants) await t.platform.tenancy.withTenant({ tenantId: tenant.id }, (trx) => enqueueLater(trx, tenant.id, workJob.type, { n: 2 }));
  const registry = jobRegistry([workJob]);
  const real = tenantSlots(queues.redis, t.platform.config.BRIGADE_QUEUE_PREFIX, t.platform.log);
  const other = createRelay({ platform: t.platform, registry, queues, slots: real, log: t.platform.log }, { pollMs: 60_000, tenantCap: 10, shards });
  let during: PassResult | undefined;
  // Room for all of each tenant's rows (its signup's jobs too). While the first relay is inside its first shard (holding that shard's lock), the other passes.
  const slots: TenantSlots = {
    ...real,
    async inFlight(ids) {
      during ??= await other.passOnce();
      return real.inFlight(ids);
    },
  };
  const first = createRelay({ platform: t.platform, registry, queues, slots, log: t.platform.log }, { pollMs: 60_000, tenantCap: 10, shards });
  const unrelayed = async () => Number((await t.platform.tenancy.withSystem('test', (trx) => trx.selectFrom('outbox').select((eb) => eb.fn.countAll<string>().as('n')).where('relayed_at', 'is', null).executeTakeFirstOrThrow())).n);
  const waiting = await unrelayed();
  const own = await first.passOnce();
  const passed = during as PassResult | undefined;
  assert.ok(passed, 'the other relay passed while the first held a shard');
  assert.equal(passed.busy, true, 'it found the held shard busy');
  assert.ok(passed.moved > 0, 'and still moved the rows of the other shards');
  for (const { tenant } of tenants) for (const r of await pending(tenant.id)) assert.notEqual(r.relayed_at, null, 'every row relayed');
  assert.equal(await unrelayed(), 0);
  assert.equal(own.moved + passed.moved, waiting, 'each row relayed once, by one of the two');
});
