/**
 * The OpenAPI document is the console's contract (its client is generated from it) and the
 * reference at /docs: it must be valid OpenAPI 3.1, and every operation must say how it
 * succeeds and how it fails. Read the way the build reads it: `brigade openapi`, no database.
 */
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { fileURLToPath } from 'node:url';
import { Validator } from '@seriousme/openapi-schema-validator';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
type Operation = { security?: Record<string, string[]>[]; responses?: Record<string, { content?: Record<string, { schema?: unknown }> }> };
let doc: { openapi: string; paths: Record<string, Record<string, Operation>>; components: { securitySchemes: Record<string, unknown>; schemas: Record<string, unknown> } };
const methods = ['get', 'post', 'put', 'patch', 'delete'];

function operations(): [string, Operation][] {
  return Object.entries(doc.paths).flatMap(([p, item]) => Object.entries(item).filter(([m]) => methods.includes(m)).map(([m, op]) => [`${m.toUpperCase()} ${p}`, op] as [string, Operation]));
}

before(async () => {
  // With no database and no Redis reachable: the document comes from the routes alone.
  const { stdout } = await promisify(execFile)(process.execPath, ['--import', 'tsx', 'src/cli.ts', 'openapi'], {
    cwd: root,
    env: { ...process.env, DATABASE_URL: 'postgres://nobody@127.0.0.1:9/none', REDIS_URL: 'redis://127.0.0.1:9', LOG_LEVEL: 'silent' },
    maxBuffer: 20 * 1024 * 1024,
    timeout: 240_000,
  });
  doc = JSON.parse(stdout);
});

test('the document validates as OpenAPI 3.1', async () => {
  assert.equal(doc.openapi, '3.1.0');
  const result = await new Validator().validate(structuredClone(doc) as never);
  assert.equal(result.valid, true, JSON.stringify(result.errors, null, 2)?.slice(0, 3000));
});

test('every operation declares a success response with a schema and problem-details errors', () => {
  const missing: string[] = [];
  for (const [name, op] of operations()) {
    const codes = Object.keys(op.responses ?? {});
    const success = codes.filter((c) => /^[23]/.test(c));
    if (success.length === 0) missing.push(`${name}: no success response`);
    for (const c of success) {
      const r = op.responses![c]!;
      if (c !== '204' && c !== '302' && !Object.values(r.content ?? {}).some((m) => m.schema)) missing.push(`${name}: ${c} has no schema`);
    }
    if (!op.responses?.default) missing.push(`${name}: no default (problem) response`);
    for (const c of codes.filter((x) => /^[45]/.test(x) || x === 'default')) {
      const content = op.responses![c]!.content ?? {};
      if (!content['application/problem+json'] && !content['application/json']) missing.push(`${name}: ${c} is not a problem document`);
    }
  }
  const opsOps = operations().filter(([n]) => n.includes(' /ops/api/'));
  assert.ok(opsOps.length >= 20, `ops operations in the document: ${opsOps.length}`);
  assert.deepEqual(missing, []);
});

test('the two token kinds are separate security schemes and public routes carry no lock', () => {
  assert.deepEqual(Object.keys(doc.components.securitySchemes).sort(), ['operatorToken', 'tenantToken']);
  assert.ok(doc.components.schemas.Problem, 'problem details are one shared schema');
  const byName = new Map(operations());
  for (const [name, op] of byName) {
    const schemes = (op.security ?? [{ none: [] }]).flatMap((s) => Object.keys(s));
    if (name.startsWith('POST /ops/api/login') || name === 'POST /v1/signup' || name === 'POST /v1/auth/login' || name.startsWith('GET /healthz') || name === 'POST /v1/billing/webhooks/stripe') {
      assert.deepEqual(op.security, [], `${name} is public`);
    } else if (name.includes(' /ops/api/')) {
      assert.deepEqual(schemes, ['operatorToken'], name);
      assert.ok(op.responses?.['401'], `${name} says it answers 401`);
    } else if (name.includes(' /v1/') && !(op.security ?? []).length) {
      assert.ok(name.includes('password-reset') || name.includes('/accept') || name.includes('invitation'), `${name} is public: is that meant?`);
    } else if (name.includes(' /v1/')) {
      assert.deepEqual(schemes, ['tenantToken'], name);
    }
  }
  for (const p of ['/healthz', '/readyz', '/metrics']) assert.ok(doc.paths[p]?.get, `${p} is documented`);
});

type Schema = Record<string, any>;
/** Every request field (path, query, body) that has no bound, and every body object open to unknown fields. */
function unbounded(): string[] {
  const out: string[] = [];
  const walk = (s0: Schema | undefined, where: string, inBody: boolean): void => {
    if (!s0 || typeof s0 !== 'object') return;
    const s = s0.$ref ? doc.components.schemas[String(s0.$ref).replace(/^#\/components\/schemas\//, '')] as Schema : s0;
    for (const k of ['anyOf', 'oneOf', 'allOf']) for (const alt of (s[k] ?? []) as Schema[]) walk(alt, where, inBody);
    const types = ([] as string[]).concat(s.type ?? []);
    const fixed = s.enum !== undefined || s.const !== undefined;
    if ((types.includes('number') || types.includes('integer')) && !fixed && s.maximum === undefined && s.exclusiveMaximum === undefined) out.push(`${where}: number without maximum`);
    if (types.includes('string') && !fixed && s.maxLength === undefined) out.push(`${where}: string without maxLength`);
    if (types.includes('array') && s.maxItems === undefined) out.push(`${where}: array without maxItems`);
    if (types.includes('object') && inBody && s.additionalProperties !== false) out.push(`${where}: object open to unknown fields`);
    for (const [k, v] of Object.entries((s.properties ?? {}) as Record<string, Schema>)) walk(v, `${where}.${k}`, inBody);
    walk(s.items, `${where}[]`, inBody);
  };
  for (const [name, op] of operations() as [string, Operation & { parameters?: { in: string; name: string; schema: Schema }[]; requestBody?: { content: Record<string, { schema: Schema }> } }][]) {
    for (const p of op.parameters ?? []) walk(p.schema, `${name} ${p.in} ${p.name}`, false);
    for (const media of Object.values(op.requestBody?.content ?? {})) walk(media.schema, `${name} body`, true);
  }
  return out;
}

test('every number in a request has a maximum, every string a maxLength, every array maxItems, and every body object is closed', () => {
  assert.deepEqual(unbounded(), []);
});

test('every path parameter is shorter than the router accepts, so the validator names it', async () => {
  const { MAX_PARAM_LENGTH } = await import('../src/platform/http/problems.ts');
  const long: string[] = [];
  for (const [name, op] of operations() as [string, Operation & { parameters?: { in: string; name: string; schema: Schema }[] }][]) {
    for (const p of (op.parameters ?? []).filter((x) => x.in === 'path')) if (!(p.schema.maxLength < MAX_PARAM_LENGTH)) long.push(`${name} ${p.name}: maxLength ${p.schema.maxLength}`);
  }
  assert.deepEqual(long, []);
});
