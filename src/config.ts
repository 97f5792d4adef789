import path from 'node:path';

/**
 * One schema for every setting Brigade reads from the environment. Each entry has a description
 * and a default; `loadConfig` parses them once and a bad value stops the process with one line
 * naming the variable (see `ConfigError`).
 */
type Parser<T> = (raw: string, name: string) => T;

interface Setting<T> {
  description: string;
  default: string | undefined;
  parse: Parser<T>;
}

export class ConfigError extends Error {
  constructor(readonly variable: string, reason: string) {
    super(`Invalid configuration: ${variable} ${reason}`);
  }
}

const text: Parser<string> = (raw) => raw;

function integer(min: number, max: number): Parser<number> {
  return (raw, name) => {
    if (!/^\d+$/.test(raw)) throw new ConfigError(name, `must be a whole number, got "${raw}"`);
    const value = Number(raw);
    if (value < min || value > max) throw new ConfigError(name, `must be between ${min} and ${max}, got ${value}`);
    return value;
  };
}

const boolean: Parser<boolean> = (raw, name) => {
  if (['true', '1', 'yes'].includes(raw)) return true;
  if (['false', '0', 'no'].includes(raw)) return false;
  throw new ConfigError(name, `must be true or false, got "${raw}"`);
};

function url(protocols: string[]): Parser<string> {
  return (raw, name) => {
    let parsed: URL;
    try {
      parsed = new URL(raw);
    } catch {
      throw new ConfigError(name, `must be a URL (${protocols.join(' or ')}), got "${redactUrl(raw)}"`);
    }
    if (!protocols.includes(parsed.protocol.replace(/:$/, ''))) {
      throw new ConfigError(name, `must use ${protocols.join(' or ')}, got "${parsed.protocol}"`);
    }
    return raw;
  };
}

function oneOf<T extends string>(values: readonly T[]): Parser<T> {
  return (raw, name) => {
    if (!values.includes(raw as T)) throw new ConfigError(name, `must be one of ${values.join(', ')}, got "${raw}"`);
    return raw as T;
  };
}

function prefixed(prefixes: string[]): Parser<string> {
  return (raw, name) => {
    if (!prefixes.some((p) => raw.startsWith(p))) throw new ConfigError(name, `must start with ${prefixes.join(' or ')}`);
    return raw;
  };
}

const queuePrefix: Parser<string> = (raw, name) => {
  if (!/^(\{[A-Za-z0-9_-]{1,38}\}|[A-Za-z0-9_-]{1,40})$/.test(raw)) throw new ConfigError(name, 'must be 1 to 40 letters, digits, _ or -, optionally in {braces} (a Redis Cluster hash tag)');
  return raw;
};

/** Fastify's trustProxy: false, a hop count, or the addresses/CIDRs of trusted proxies. */
const trustProxy: Parser<boolean | number | string[]> = (raw, name) => {
  if (raw === 'false' || raw === '0') return false;
  if (raw === 'true') return true;
  if (/^\d+$/.test(raw)) return Number(raw);
  const list = raw.split(',').map((s) => s.trim()).filter(Boolean);
  const ok = (s: string) => /^[0-9a-fA-F.:]+(\/\d{1,3})?$/.test(s) || ['loopback', 'linklocal', 'uniquelocal'].includes(s);
  if (list.length === 0 || !list.every(ok)) throw new ConfigError(name, `must be false, true, a hop count, or comma-separated IP addresses/CIDRs (or loopback, linklocal, uniquelocal), got "${raw}"`);
  return list;
};

const mailList: Parser<string[]> = (raw, name) => {
  const list = raw.split(',').map((a) => a.trim()).filter(Boolean);
  if (list.length === 0 || list.some((a) => !/^[^\s@]+@[^\s@]+$/.test(a))) throw new ConfigError(name, 'must be one or more e-mail addresses, separated by commas');
  return list;
};

function secret(minLength: number): Parser<string> {
  return (raw, name) => {
    if (raw.length < minLength) throw new ConfigError(name, `must be at least ${minLength} characters`);
    return raw;
  };
}

function redactUrl(raw: string): string {
  return raw.replace(/\/\/([^:@/]+):[^@/]*@/, '//$1:***@');
}

const schema = {
  PORT: { description: 'HTTP port of the API and the ops dashboard', default: '3000', parse: integer(0, 65535) },
  HOST: { description: 'Address the HTTP server binds to', default: '127.0.0.1', parse: text },
  DATABASE_URL: {
    description: 'PostgreSQL URL of the owner role (runs migrations; a non-superuser with CREATEROLE and CREATEDB is enough). Unset: an embedded PostgreSQL server in BRIGADE_DATA_DIR',
    default: undefined,
    parse: url(['postgres', 'postgresql']),
  },
  BRIGADE_DIRECT_DATABASE_URL: {
    description: 'The owner role\'s URL of the same PostgreSQL without a connection pooler in between (set it when DATABASE_URL goes through PgBouncer in transaction mode): LISTEN and migrations need a session of their own. Unset: DATABASE_URL',
    default: undefined,
    parse: url(['postgres', 'postgresql']),
  },
  BRIGADE_DATA_DIR: { description: 'Where the embedded PostgreSQL keeps its files (and the payment simulator its state)', default: './.data', parse: (raw: string) => path.resolve(raw) },
  BRIGADE_EMBEDDED_ROOT_DIR: {
    description: 'Run as root, the embedded PostgreSQL runs as the postgres user; where that user cannot reach the clone or BRIGADE_DATA_DIR (a private directory), its binaries and cluster live here instead',
    default: '/var/lib/brigade',
    parse: (raw: string) => path.resolve(raw),
  },
  REDIS_URL: { description: 'Redis for queues, rate limits and short caches', default: 'redis://127.0.0.1:6379', parse: url(['redis', 'rediss']) },
  BRIGADE_QUEUE_PREFIX: { description: 'Prefix of every Brigade key in Redis (queues, limits, caches); on a Redis Cluster a hash tag such as {brigade}, so all keys share one slot', default: 'brigade', parse: queuePrefix },
  BRIGADE_REDIS_CLUSTER: { description: 'REDIS_URL names one node of a Redis Cluster (the other nodes are discovered); needs BRIGADE_QUEUE_PREFIX in {braces}', default: 'false', parse: boolean },
  BRIGADE_DEMO: { description: 'Load the demo tenants on first start (false skips them)', default: 'true', parse: boolean },
  STRIPE_SECRET_KEY: { description: 'Stripe secret key. Unset: the bundled local payment-provider simulator', default: undefined, parse: prefixed(['sk_test_', 'sk_live_', 'rk_test_', 'rk_live_']) },
  STRIPE_WEBHOOK_SECRET: { description: 'Signing secret of Stripe webhooks (set together with STRIPE_SECRET_KEY). Unset: the simulator\'s', default: undefined, parse: prefixed(['whsec_']) },
  STRIPE_MAX_NETWORK_RETRIES: { description: 'Retries of a failed payment-provider request (the SDK retries 5xx and network errors)', default: '2', parse: integer(0, 10) },
  BRIGADE_SIMULATOR_PORT: { description: 'Loopback port of the bundled payment simulator (used when STRIPE_SECRET_KEY is unset); the first Brigade process to start hosts it', default: '12111', parse: integer(1, 65535) },
  BRIGADE_TRIAL_DAYS: { description: 'Length of the free trial a new business gets', default: '14', parse: integer(1, 365) },
  BRIGADE_GRACE_DAYS: { description: 'Days of full access after a trial ends unpaid, before the business becomes read-only', default: '7', parse: integer(0, 90) },
  BRIGADE_PAST_DUE_DAYS: { description: 'Days a failed payment may stay unpaid before the business becomes read-only', default: '10', parse: integer(0, 90) },
  BRIGADE_EXPORT_LINK_HOURS: { description: 'How long the download link of a business export works once the export is ready; the hourly lifecycle pass then deletes the file (its record stays, as expired)', default: '24', parse: integer(1, 24 * 30) },
  BRIGADE_RETENTION_DAYS: { description: 'Days the data of a canceled or expired business is kept', default: '90', parse: integer(1, 3650) },
  BRIGADE_RECONCILE_ALERT_THRESHOLD: { description: 'Divergences in one billing reconciliation run that raise an alert', default: '10', parse: integer(1, 1_000_000) },
  SMTP_URL: { description: 'SMTP server for mail (smtp://host:port). Unset: mails stay in the built-in catcher (ops console, Mail)', default: undefined, parse: url(['smtp', 'smtps']) },
  MAIL_FROM: { description: 'Sender address of Brigade mail', default: 'Brigade <no-reply@brigade.local>', parse: text },
  BRIGADE_JOB_ATTEMPTS: { description: 'Attempts of a failing job before it is dead', default: '5', parse: integer(1, 100) },
  BRIGADE_JOB_BACKOFF_MS: { description: 'First retry delay; doubles each attempt (with jitter)', default: '1000', parse: integer(0, 3_600_000) },
  BRIGADE_JOB_CONCURRENCY: { description: 'Jobs one worker process runs at once, per queue', default: '10', parse: integer(1, 500) },
  BRIGADE_JOB_TENANT_CAP: { description: 'Jobs of one tenant in the shared queues at once; the rest wait in the outbox', default: '50', parse: integer(1, 100_000) },
  BRIGADE_RELAY_SHARDS: { description: 'Outbox dispatch shards: tenants are split by hash, each shard dispatched by one relay at a time (each tenant\'s cap stays exact), so several worker processes relay in parallel', default: '8', parse: integer(1, 256) },
  BRIGADE_RELAY_POLL_MS: { description: 'How often the outbox relay polls when no notification arrives', default: '1000', parse: integer(10, 600_000) },
  BRIGADE_JOB_DRAIN_MS: { description: 'On shutdown, how long running jobs may finish before they go back to the queue', default: '20000', parse: integer(0, 600_000) },
  BRIGADE_JOB_RETENTION_DAYS: { description: 'Days finished job records, relayed outbox rows and caught mails are kept', default: '14', parse: integer(1, 3650) },
  BRIGADE_PUBLIC_URL: { description: 'Base URL used in links inside mails', default: 'http://localhost:3000', parse: url(['http', 'https']) },
  BRIGADE_SESSION_TTL_HOURS: { description: 'Lifetime of a login token', default: '720', parse: integer(1, 24 * 365) },
  BRIGADE_INVITATION_TTL_HOURS: { description: 'How long an e-mailed invitation to join a business stays valid', default: '168', parse: integer(1, 24 * 90) },
  BRIGADE_INVITATION_SENDS_PER_HOUR: { description: 'Invitation mails one invited member may be sent per hour, the first included (re-sends past it answer 429)', default: '3', parse: integer(1, 100) },
  BRIGADE_SUPPORT_GRANT_MAX_HOURS: { description: 'Longest support access a tenant owner can grant at once', default: '168', parse: integer(1, 24 * 90) },
  BRIGADE_API_KEY_LAST_USE_FLUSH_SECONDS: { description: 'How often each API process writes the last use of the API keys it served (one batched write, not one per request)', default: '30', parse: integer(1, 3600) },
  BRIGADE_PASSWORD_COST: { description: 'scrypt cost exponent (N = 2^value) for new password hashes', default: '15', parse: integer(10, 20) },
  BRIGADE_TENANT_RATE_LIMIT: { description: 'Ceiling of API requests per second per tenant (0: no limit at all); below it each plan sets its own rate', default: '200', parse: integer(0, 1_000_000) },
  BRIGADE_DB_CONNECT_TIMEOUT_MS: { description: 'How long getting a PostgreSQL connection may take before the request answers 503 service_unavailable with Retry-After (or the job is held without spending an attempt)', default: '10000', parse: integer(100, 600_000) },
  BRIGADE_DB_POOL_SIZE: { description: 'Most connections each process opens to PostgreSQL as the runtime role, for tenant work (requests, jobs); size the sum over all processes below the server\'s max_connections (or use PgBouncer)', default: '20', parse: integer(1, 1000) },
  BRIGADE_DB_SYSTEM_POOL_SIZE: { description: 'Most connections each process opens as the owner role, for the platform paths that cross tenants (the webhook inbox, the job relay, schedules, signals)', default: '10', parse: integer(1, 1000) },
  BRIGADE_DB_NAMED_STATEMENTS: { description: 'Send the hot statements (tenant context, reads, writes) as named statements, parsed and planned once per connection. Set false behind PgBouncer in transaction mode before 1.21 (it does not carry them between transactions)', default: 'true', parse: boolean },
  BRIGADE_DB_QUERY_TIMEOUT_MS: { description: 'How long one PostgreSQL statement may wait for its answer (0: no limit); migrations have none', default: '30000', parse: integer(0, 3_600_000) },
  BRIGADE_REDIS_TIMEOUT_MS: { description: 'How long one Redis command may take before it fails (every client but the blocking job workers)', default: '2000', parse: integer(50, 600_000) },
  BRIGADE_REQUEST_TIMEOUT_MS: { description: 'How long a client may take to send one whole request, headers and body (0: no limit); past it the connection is answered 408 and closed', default: '30000', parse: integer(0, 600_000) },
  BRIGADE_TRUST_PROXY: {
    description: 'Which proxies in front of Brigade to believe about the client address (X-Forwarded-For): false, a hop count, or comma-separated addresses/CIDRs of your load balancers. Set it behind a balancer, or every client shares the balancer\'s throttle',
    default: 'false',
    parse: trustProxy,
  },
  BRIGADE_CLIENT_RATE_LIMIT: { description: 'Requests per minute one client address may make to each anonymous endpoint (signup, login, password reset and its confirmation, invitation acceptance, operator login); 0: no limit', default: '30', parse: integer(0, 1_000_000) },
  BRIGADE_SIGNALS: { description: 'Count per-tenant signals (requests, latency, jobs) for the ops API, baselines and tenant alerts. false turns the counting off (the per-tenant figures and tenant alerts then go blind; used to measure the counting\'s cost)', default: 'true', parse: boolean },
  BRIGADE_SIGNAL_FLUSH_MS: { description: 'How often each process adds its per-tenant counts to the minute rollups in PostgreSQL (and at shutdown)', default: '5000', parse: integer(100, 60_000) },
  BRIGADE_SIGNAL_MAX_TENANTS: { description: 'Tenant-minutes one process holds in memory before it flushes early (bounds memory with many active tenants)', default: '20000', parse: integer(100, 1_000_000) },
  BRIGADE_SIGNAL_MINUTE_RETENTION_HOURS: { description: 'Hours per-minute rollups are kept (then only hours and days remain)', default: '48', parse: integer(2, 24 * 31) },
  BRIGADE_SIGNAL_HOUR_RETENTION_DAYS: { description: 'Days per-hour rollups are kept (baselines read up to 28 days of them)', default: '60', parse: integer(2, 3650) },
  BRIGADE_SIGNAL_DAY_RETENTION_DAYS: { description: 'Days per-day rollups are kept', default: '400', parse: integer(2, 3650) },
  BRIGADE_ALERT_MIN_REQUESTS: { description: 'Requests a tenant must make in an evaluation window before its error rate or latency can raise an alert', default: '50', parse: integer(1, 1_000_000) },
  BRIGADE_ALERT_SHARE_PERCENT: { description: 'Share of all API time (or job time) one tenant may take over 15 minutes before it raises a noisy-neighbour alert', default: '40', parse: integer(5, 100) },
  BRIGADE_ALERT_DEAD_JOBS: { description: 'Dead jobs of one type, or of one tenant, within 24 hours that raise an alert', default: '10', parse: integer(1, 1_000_000) },
  BRIGADE_ALERT_OUTBOX_LAG_SECONDS: { description: 'Age of a due outbox row, of a tenant with room in the queues, that raises the relay-lag alert', default: '120', parse: integer(5, 86_400) },
  BRIGADE_ALERT_MAIL_TO: { description: 'Operations address(es), comma-separated, that alert notifications are mailed to. Unset: no mail', default: undefined, parse: mailList },
  BRIGADE_ALERT_WEBHOOK_URL: { description: 'URL that alert notifications are POSTed to, signed with BRIGADE_ALERT_WEBHOOK_SECRET (header Brigade-Signature, see docs/runbooks/alerts.md). Unset: no webhook', default: undefined, parse: url(['http', 'https']) },
  BRIGADE_ALERT_WEBHOOK_SECRET: { description: 'HMAC-SHA256 key of the alert webhook signature (set with BRIGADE_ALERT_WEBHOOK_URL)', default: undefined, parse: secret(16) },
  BRIGADE_RUNBOOK_URL: { description: 'Base URL of the runbooks alerts link to. Unset: the copies Brigade serves at BRIGADE_PUBLIC_URL/ops/runbooks', default: undefined, parse: url(['http', 'https']) },
  BRIGADE_WORKER_PORT: { description: 'Port of the worker process\'s own /healthz, /readyz and /metrics (0: any free port, logged)', default: '3001', parse: integer(0, 65535) },
  LOG_LEVEL: { description: 'pino log level', default: 'info', parse: oneOf(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const) },
  // The OpenTelemetry SDK's own variables (read from the environment by src/platform/telemetry.ts); declared to be checked and listed.
  OTEL_EXPORTER_OTLP_ENDPOINT: { description: 'Export traces over OTLP/HTTP to this collector. Unset: tracing is off and costs nothing', default: undefined, parse: url(['http', 'https']) },
  OTEL_SERVICE_NAME: { description: 'service.name of the exported traces', default: 'brigade', parse: text },
} satisfies Record<string, Setting<unknown>>;

type Schema = typeof schema;
type Parsed<K extends keyof Schema> = ReturnType<Schema[K]['parse']>;

export type Config = {
  [K in keyof Schema]: Schema[K]['default'] extends string ? Parsed<K> : Parsed<K> | undefined;
};

export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const out: Record<string, unknown> = {};
  for (const [name, setting] of Object.entries(schema) as [string, Setting<unknown>][]) {
    const given = env[name];
    const raw = given === undefined || given === '' ? setting.default : given;
    if (raw === undefined) {
      out[name] = undefined;
      continue;
    }
    if (raw.trim() !== raw) throw new ConfigError(name, 'has leading or trailing spaces');
    out[name] = setting.parse(raw, name);
  }
  // Half a Stripe configuration would send webhooks nobody can verify, or verify ones nobody sent.
  if (Boolean(out.STRIPE_SECRET_KEY) !== Boolean(out.STRIPE_WEBHOOK_SECRET)) {
    const missing = out.STRIPE_SECRET_KEY ? 'STRIPE_WEBHOOK_SECRET' : 'STRIPE_SECRET_KEY';
    throw new ConfigError(missing, 'must be set when the other Stripe setting is (or leave both unset for the bundled simulator)');
  }
  if (out.BRIGADE_REDIS_CLUSTER && !/^\{.+\}$/.test(out.BRIGADE_QUEUE_PREFIX as string)) {
    throw new ConfigError('BRIGADE_QUEUE_PREFIX', 'must be a hash tag in {braces} (such as {brigade}) on a Redis Cluster, so that every key of a queue is in one slot');
  }
  if (Boolean(out.BRIGADE_ALERT_WEBHOOK_URL) !== Boolean(out.BRIGADE_ALERT_WEBHOOK_SECRET)) {
    const missing = out.BRIGADE_ALERT_WEBHOOK_URL ? 'BRIGADE_ALERT_WEBHOOK_SECRET' : 'BRIGADE_ALERT_WEBHOOK_URL';
    throw new ConfigError(missing, 'must be set when the other alert webhook setting is (an unsigned webhook could be forged)');
  }
  return out as Config;
}

export function describeConfig(): { name: string; description: string; default: string | undefined }[] {
  return Object.entries(schema).map(([name, s]) => ({ name, description: s.description, default: s.default }));
}
