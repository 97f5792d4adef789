/**
 * Bad input, driven by the served OpenAPI document: for every operation, one bad value at a time
 * in every string, number, id, cursor and body (a NUL byte, an unpaired surrogate, a number past
 * any sane bound, an id written `urn:uuid:...`, a cursor Brigade never handed out, an unknown
 * field). Each answer must be a 4xx problem document with X-Request-Id, a 400 must name the field
 * that was spoiled, and the database must be as it was. Deterministic (seeded), one process.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import pg from 'pg';
import { createTestContext, aTenant, aBranch, anOperator, bearer, eventually, type TestContext, type Session } from './harness.ts';

type Schema = {
  type?: string | string[];
  properties?: Record<string, Schema>;
  required?: string[];
  items?: Schema;
  anyOf?: Schema[];
  oneOf?: Schema[];
  enum?: unknown[];
  const?: unknown;
  format?: string;
  minimum?: number;
  maximum?: number;
  minLength?: number;
  maxLength?: number;
  minItems?: number;
  pattern?: string;
  default?: unknown;
  $ref?: string;
};
type Parameter = { in: 'path' | 'query' | 'header'; name: string; required?: boolean; schema: Schema };
type Operation = { parameters?: Parameter[]; requestBody?: { content: Record<string, { schema: Schema }> }; security?: Record<string, string[]>[] };
interface Doc {
  paths: Record<string, Record<string, Operation>>;
  components: { schemas: Record<string, Schema> };
}

let t: TestContext;
let doc: Doc;
let owner: Session;
let operator: string;
const ids: Record<string, string> = {};

/** A small seeded generator (mulberry32): the same cases in the same order on every run. */
function seeded(seed: number) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let x = Math.imul(a ^ (a >>> 15), 1 | a);
    x = (x + Math.imul(x ^ (x >>> 7), 61 | x)) ^ x;
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296;
  };
}
const random = seeded(13);
/** A v4-shaped UUID from the seeded generator. */
const aUuid = (): string => {
  const hex = Array.from({ length: 32 }, () => Math.floor(random() * 16).toString(16)).join('');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-4${hex.slice(13, 16)}-a${hex.slice(17, 20)}-${hex.slice(20)}`;
};

before(async () => {
  t = await createTestContext();
  owner = await aTenant(t.app, 'Fuzzed Bistro');
  operator = (await anOperator(t)).token;
  ids.branch = await aBranch(t, owner.tenant.id);
  const inv = await t.app.inject({ method: 'POST', url: '/v1/inventory-items', headers: bearer(owner), payload: { name: 'Flour', unit: 'g', reorderLevel: 10 } });
  ids.inventory = inv.json().inventoryItem.id;
  const menu = await t.app.inject({ method: 'POST', url: '/v1/menu-items', headers: bearer(owner), payload: { name: 'Bread', priceMinor: 300 } });
  ids.menu = menu.json().menuItem.id;
  const order = await t.app.inject({ method: 'POST', url: '/v1/orders', headers: bearer(owner), payload: { branchId: ids.branch, lines: [{ menuItemId: ids.menu, quantity: 1 }] } });
  ids.order = order.json().order.id;
  doc = (await t.app.inject({ method: 'GET', url: '/openapi.json' })).json() as Doc;
});
after(() => t?.close());

function resolve(s: Schema): Schema {
  if (s.$ref) return resolve(doc.components.schemas[s.$ref.replace(/^#\/components\/schemas\//, '')]!);
  const alt = (s.anyOf ?? s.oneOf)?.find((x) => !([] as string[]).concat(resolve(x).type ?? []).includes('null'));
  return alt ? resolve(alt) : s;
}
const typeOf = (s: Schema): string => ([] as string[]).concat(s.type ?? 'string').find((x) => x !== 'null') ?? 'string';

/** An id this business owns, for a path parameter or a field, by its name (a random one otherwise). */
function idFor(name: string): string {
  if (/branch/i.test(name)) return ids.branch!;
  if (/menu/i.test(name)) return ids.menu!;
  if (/inventory/i.test(name)) return ids.inventory!;
  if (/tenant/i.test(name)) return owner.tenant.id;
  if (/order/i.test(name)) return ids.order!;
  return aUuid();
}

/** A plausible value for a schema: every field filled, so that one spoiled value is the only fault. */
function sample(s0: Schema, name: string): unknown {
  const s = resolve(s0);
  if (s.const !== undefined) return s.const;
  if (s.enum) return s.enum[0];
  if (s.default !== undefined && typeof s.default !== 'object') return s.default;
  switch (typeOf(s)) {
    case 'object':
      return Object.fromEntries(Object.entries(s.properties ?? {}).map(([k, v]) => [k, sample(v, k)]));
    case 'array':
      return Array.from({ length: Math.max(1, s.minItems ?? 1) }, () => sample(s.items ?? {}, name));
    case 'integer':
    case 'number':
      return Math.max(s.minimum ?? 1, Math.min(1, s.maximum ?? 1));
    case 'boolean':
      return false;
    default:
      if (s.format === 'uuid') return idFor(name);
      if (s.format === 'date-time') return new Date(Date.now() + 3600_000).toISOString();
      if (s.format === 'email') return `fuzz+${Math.floor(random() * 1e9)}@example.com`;
      if (s.format === 'uri') return 'https://example.com/x';
      if (s.pattern) {
        const fits = ['xxx', 'EUR', 'abc_1', '2026-01-01', 'Europe/Paris'].find((v) => new RegExp(s.pattern!, 'u').test(v));
        if (fits) return fits;
      }
      return 'x'.repeat(Math.max(s.minLength ?? 1, 3));
  }
}

interface Leaf {
  path: string[];
  schema: Schema;
}
function leaves(s0: Schema, path: string[] = []): Leaf[] {
  const s = resolve(s0);
  const type = typeOf(s);
  if (type === 'object') return Object.entries(s.properties ?? {}).flatMap(([k, v]) => leaves(v, [...path, k]));
  if (type === 'array') return leaves(s.items ?? {}, [...path, '0']);
  return [{ path, schema: s }];
}

function setAt(value: unknown, path: string[], leaf: unknown): unknown {
  const copy = structuredClone(value) as Record<string, unknown>;
  let at: Record<string, unknown> = copy;
  for (const key of path.slice(0, -1)) at = at[key] as Record<string, unknown>;
  at[path.at(-1)!] = leaf;
  return copy;
}

const cursorOf = (key: unknown) => Buffer.from(JSON.stringify(key)).toString('base64url');
/** Cursors no list hands out, whatever its sort key (time-keyed ones have a test of their own). */
const badCursors = ['not a cursor!', cursorOf(['a\u0000b', 'c\u0000d']), cursorOf([-1]), cursorOf([null, null]), cursorOf({ toString: 1 }), 'x'.repeat(2000)];

/** Bad versions of one value: what each must be refused for. */
function spoil(s: Schema, rng: () => number): { value: unknown; why: string }[] {
  const out: { value: unknown; why: string }[] = [];
  const type = typeOf(s);
  if (type === 'string') {
    const at = Math.floor(rng() * 3);
    out.push({ value: ['\u0000name', 'na\u0000me', 'name\u0000'][at], why: 'NUL' });
    if (!s.enum) out.push({ value: ['\ud800name', 'na\udc00me', 'name\ud83d'][at], why: 'lone surrogate' });
    if (s.format === 'uuid') out.push({ value: `urn:uuid:${aUuid()}`, why: 'urn:uuid' });
    if (s.maxLength !== undefined) out.push({ value: 'x'.repeat(s.maxLength + 1), why: 'too long' });
  } else if (type === 'integer' || type === 'number') {
    out.push({ value: 1e308, why: 'huge number' });
    out.push({ value: Number.MAX_SAFE_INTEGER * 4, why: 'past safe integers' });
  }
  return out;
}

interface Case {
  name: string;
  method: string;
  url: string;
  headers: Record<string, string>;
  payload?: unknown;
  /** The field a 400 must name (as describeValidation writes it), when one does. */
  field?: string;
}

function casesOf(method: string, template: string, op: Operation): Case[] {
  const security = (op.security ?? []).flatMap((s) => Object.keys(s));
  const headers: Record<string, string> = security.includes('operatorToken') ? bearer(operator) : security.includes('tenantToken') ? bearer(owner) : {};
  const params = (op.parameters ?? []).filter((p) => p.in === 'path');
  const query = (op.parameters ?? []).filter((p) => p.in === 'query');
  const bodySchema = op.requestBody?.content['application/json']?.schema;
  const base = {
    path: Object.fromEntries(params.map((p) => [p.name, String(resolve(p.schema).format === 'uuid' ? idFor(p.name) : (sample(p.schema, p.name) as string))])),
    body: bodySchema ? sample(bodySchema, 'body') : undefined,
    // Required query parameters travel with every case, so the spoiled one is what is refused.
    query: Object.fromEntries(query.filter((p) => p.required).map((p) => [p.name, String(resolve(p.schema).format === 'uuid' ? idFor(p.name) : (sample(p.schema, p.name) as string))])),
  };
  const urlOf = (path: Record<string, string>, q: Record<string, string> = {}) => {
    const p = template.replace(/\{(\w+)\}/g, (_m, k: string) => encodeURIComponent(path[k]!));
    const qs = new URLSearchParams(q).toString();
    return qs ? `${p}?${qs}` : p;
  };
  const label = `${method.toUpperCase()} ${template}`;
  const cases: Case[] = [];
  const withBody = bodySchema ? { payload: base.body } : {};
  for (const p of params) {
    for (const bad of spoil(resolve(p.schema), random).filter((b) => b.why !== 'lone surrogate')) {
      cases.push({ name: `${label} path ${p.name}: ${bad.why}`, method, url: urlOf({ ...base.path, [p.name]: String(bad.value) }), headers, ...withBody, field: `params.${p.name}` });
    }
  }
  for (const p of query) {
    const s = resolve(p.schema);
    const spoiled = p.name === 'cursor' ? badCursors.map((c) => ({ value: c, why: `bad cursor ${c.slice(0, 12)}` })) : spoil(s, random);
    for (const bad of spoiled) {
      // A lone surrogate cannot travel in a URL (percent-decoding makes it U+FFFD).
      if (bad.why === 'lone surrogate') continue;
      cases.push({ name: `${label} query ${p.name}: ${bad.why}`, method, url: urlOf(base.path, { ...base.query, [p.name]: String(bad.value) }), headers, ...withBody, field: `querystring.${p.name}` });
    }
  }
  if (bodySchema) {
    for (const leaf of leaves(bodySchema)) {
      for (const bad of spoil(leaf.schema, random)) {
        cases.push({ name: `${label} body ${leaf.path.join('.')}: ${bad.why}`, method, url: urlOf(base.path), headers, payload: setAt(base.body, leaf.path, bad.value), field: leaf.path.join('.') });
      }
    }
    const body = resolve(bodySchema);
    if (typeOf(body) === 'object') {
      // A client-sent tenantId is the contract's example of an unknown field, where it is one.
      const unknown = body.properties?.tenantId ? 'notAField' : 'tenantId';
      cases.push({ name: `${label} body: unknown field`, method, url: urlOf(base.path), headers, payload: { ...(base.body as object), [unknown]: aUuid() }, field: unknown });
    }
  } else if (method !== 'get' && !template.includes('webhooks')) {
    cases.push({ name: `${label} (no body): unknown field`, method, url: urlOf(base.path), headers, payload: { tenantId: aUuid() }, field: 'tenantId' });
  }
  return cases;
}

/** Every table's content, hashed; what a refused request may still write is left out, with why. */
async function fingerprint(): Promise<Record<string, string>> {
  // Written for every request, refused ones included: per-tenant request signals and the operator
  // activity log (which records refusals on purpose).
  const written = (name: string) => /signal/.test(name) || ['ops_activity', 'kysely_migration', 'kysely_migration_lock'].includes(name);
  const client = new pg.Client({ connectionString: t.ownerUrl });
  await client.connect();
  try {
    const tables = (await client.query<{ table_name: string }>(`SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' AND table_type = 'BASE TABLE' ORDER BY 1`)).rows.map((r) => r.table_name);
    const out: Record<string, string> = {};
    for (const name of tables.filter((n) => !written(n))) {
      const { rows } = await client.query<{ h: string | null }>(`SELECT md5(string_agg(x::text, '|' ORDER BY x::text)) AS h FROM "${name}" x`);
      out[name] = rows[0]!.h ?? 'empty';
    }
    return out;
  } finally {
    await client.end();
  }
}

test('every operation refuses every spoiled input with a 4xx problem naming the field, and nothing changes', async () => {
  const methods = ['get', 'post', 'put', 'patch', 'delete'];
  const cases = Object.entries(doc.paths)
    .flatMap(([path, item]) => Object.entries(item).filter(([m]) => methods.includes(m)).flatMap(([m, op]) => casesOf(m, path, op)))
    // Logouts last: should one wrongly succeed, the tokens die and every later case would say 401.
    .sort((a, b) => Number(a.url.endsWith('/logout')) - Number(b.url.endsWith('/logout')));
  assert.ok(cases.length > 300, `only ${cases.length} cases`);
  const before = await fingerprint();
  const failures: string[] = [];
  let named = 0;
  for (const c of cases) {
    const res = await t.app.inject({ method: c.method.toUpperCase() as 'GET', url: c.url, headers: c.headers, ...(c.payload !== undefined ? { payload: c.payload as object } : {}) });
    const where = `${c.name} -> ${res.statusCode}`;
    if (res.statusCode < 400 || res.statusCode >= 500 || (res.statusCode === 401 && c.headers.authorization)) {
      failures.push(`${where} ${res.body.slice(0, 200)}`);
      continue;
    }
    if (!String(res.headers['content-type']).startsWith('application/problem+json')) failures.push(`${where}: not a problem document`);
    if (!res.headers['x-request-id']) failures.push(`${where}: no X-Request-Id`);
    const p = res.json() as { status: unknown; errors?: { path: string }[] };
    if (p.status !== res.statusCode) failures.push(`${where}: problem status ${String(p.status)}`);
    if (res.statusCode === 400 && c.field) {
      if ((p.errors ?? []).some((e) => e.path === c.field)) named++;
      else failures.push(`${where}: does not name ${c.field}: ${JSON.stringify(p.errors)}`);
    }
  }
  assert.deepEqual(failures, []);
  // The cases reached validation: most answers are the 400 naming the spoiled field.
  assert.ok(named > cases.length * 0.8, `${named} of ${cases.length} cases named their field`);
  const afterwards = await fingerprint();
  assert.ok(Object.keys(before).length > 20, 'the fingerprint covers the tables');
  assert.deepEqual(Object.keys(afterwards).filter((name) => afterwards[name] !== before[name]), [], 'tables changed by refused requests');
});

test('a cursor whose time or id is not real is refused on every list keyed by time', async () => {
  const cursors = [
    cursorOf(['2026-13-45T25:61:61.000000Z', aUuid()]),
    cursorOf(['2026-02-30T00:00:00.000000Z', aUuid()]),
    cursorOf(['2026-01-01T00:00:00.000Z', aUuid()]),
    cursorOf(['2026-01-01T00:00:00.000000Z', 'urn:uuid:00000000-0000-0000-0000-000000000000']),
    cursorOf(['2026-01-01T00:00:00.000000Z', 12]),
  ];
  const tenantLists = ['/v1/branches', '/v1/menu-items', '/v1/inventory-items', '/v1/orders', '/v1/support-grants', '/v1/billing/invoices', `/v1/inventory-items/${ids.inventory}/movements`];
  const opsLists = ['/ops/api/mails', '/ops/api/alerts', '/ops/api/billing/divergences', '/ops/api/billing/reconciliations', '/ops/api/tenants?sort=created'];
  const jobLists = ['/ops/api/jobs?state=dead', '/ops/api/jobs?state=failed', '/ops/api/jobs?state=completed', '/ops/api/billing/events'];
  const failures: string[] = [];
  const check = async (url: string, token: string, cursor: string) => {
    const res = await t.app.inject({ method: 'GET', url: `${url}${url.includes('?') ? '&' : '?'}cursor=${cursor}`, headers: bearer(token) });
    const errors = res.statusCode === 400 ? ((res.json() as { errors?: { path: string }[] }).errors ?? []) : [];
    if (!errors.some((e) => e.path === 'querystring.cursor')) failures.push(`${url} ${Buffer.from(cursor, 'base64url').toString()} -> ${res.statusCode} ${res.body.slice(0, 120)}`);
  };
  for (const cursor of cursors) {
    for (const url of tenantLists) await check(url, owner.token, cursor);
    for (const url of opsLists) await check(url, operator, cursor);
  }
  // Job runs and provider events have text or bigint ids: only the time can be wrong there.
  for (const cursor of cursors.slice(0, 3)) for (const url of jobLists) await check(url, operator, cursor);
  assert.deepEqual(failures, []);
});

test("an operator's refused request is still in the activity log, whatever its text held", async () => {
  const res = await t.app.inject({ method: 'POST', url: `/ops/api/alerts/${aUuid()}/acknowledge`, headers: bearer(operator), payload: { note: 'looked\u0000at' } });
  assert.equal(res.statusCode, 400);
  // Written once the answer has left (onResponse).
  const row = await eventually(() =>
    t.platform.tenancy.withSystem('test', (trx) =>
      trx.selectFrom('ops_activity').select(['status', 'reason']).where('request_id', '=', String(res.headers['x-request-id'])).executeTakeFirst(),
    ),
  'the activity row');
  assert.deepEqual(row, { status: 400, reason: 'looked\ufffdat' });
});
