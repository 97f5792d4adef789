import crypto from 'node:crypto';
import type { Platform } from '../../platform/deps.ts';
import { AppError } from '../../platform/errors/index.ts';
import { hashPassword, verifyPassword, decoyHash, newToken, hashToken, type Scope } from '../../platform/auth/index.ts';
import { enqueueLater } from '../../platform/jobs/outbox.ts';
import { asDatabaseError, preparedQuery } from '../../platform/db/index.ts';
import { computeGrants, grantsToList, type Grants, type RoleAssignment } from '../access/index.ts';
import { recordAudit, GENESIS_HASH } from '../audit/index.ts';
import { loginThrottle } from './identity.throttle.ts';
import { clientCounter } from '../../platform/http/client-counter.ts';
import { passwordResetMailJob } from './identity.jobs.ts';
import type { SignupInput, LoginInput, PasswordResetInput, PasswordResetConfirmInput } from './identity.schemas.ts';
import type { SessionCache } from './session-cache.ts';
import type { ApiKeysService } from './api-keys.service.ts';
import type { Awaitable } from '../../platform/awaitable.ts';

export interface ClientMeta {
  requestId: string | null;
  ip: string | null;
  userAgent: string | null;
}

export interface AuthRow {
  session_id: string;
  tenant_id: string;
  user_id: string;
  user_name: string;
  user_email: string;
  tenant_name: string;
  tenant_slug: string;
  tenant_currency: string;
  tenant_timezone: string;
  roles: RoleAssignment[];
  custom_roles: Record<string, string[]>;
  expires_at: Date;
}

/**
 * The grants of an authentication row, computed once per row: a row served from the session
 * cache is the same object until the cache forgets it (any change to the tenant's sessions,
 * members or roles), so the grants go with it and are recomputed from the fresh row.
 */
const grantsByRow = new WeakMap<AuthRow, Grants>();
function grantsOf(row: AuthRow): Grants {
  let grants = grantsByRow.get(row);
  if (!grants) {
    grants = computeGrants(row.roles, row.custom_roles);
    grantsByRow.set(row, grants);
  }
  return grants;
}

/** The caller of a session token, from its authentication row. */
function scopeOfSession(row: AuthRow, meta: ClientMeta): Scope {
  return {
    tenantId: row.tenant_id,
    userId: row.user_id,
    sessionId: row.session_id,
    apiKey: null,
    user: { id: row.user_id, name: row.user_name, email: row.user_email },
    tenant: { id: row.tenant_id, name: row.tenant_name, slug: row.tenant_slug, currency: row.tenant_currency, timezone: row.tenant_timezone },
    roles: row.roles,
    grants: grantsOf(row),
    ...meta,
  };
}

export function isTimeZone(tz: string): boolean {
  try {
    new Intl.DateTimeFormat('en', { timeZone: tz });
    return true;
  } catch {
    return false;
  }
}

function slugify(name: string): string {
  const base = name
    .normalize('NFKD')
    .replace(/[\u0300-\u036f]/g, '')
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-+|-+$/g, '')
    .slice(0, 40);
  return base || 'business';
}

const invalidToken = () =>
  new AppError('invalid_token', 'This link is not valid any more: it was used, it expired, or it was replaced by a newer one. Ask for a new one.');

/** Reset requests per address and per client per hour; past that they are accepted and dropped. */
const RESET_LIMITS = { perAccount: 5, perAddress: 30, windowSeconds: 3600 };

const isUniqueViolation = (err: unknown, constraint: string) =>
  (err as { code?: string; constraint?: string }).code === '23505' && (err as { constraint?: string }).constraint === constraint;

/**
 * `sessions` (optional) keeps recently checked tokens in memory; the HTTP app passes one, the
 * command-line tools do not need it. `apiKeys` answers for integration keys (`bky_` tokens).
 */
export function identityService(platform: Platform, opts: { sessions?: SessionCache<AuthRow>; apiKeys?: ApiKeysService } = {}) {
  const { tenancy, config, db, redis } = platform;
  const throttle = loginThrottle(redis, config.BRIGADE_QUEUE_PREFIX, platform.log);
  const resetCounter = clientCounter(redis, platform.log, { windowSeconds: RESET_LIMITS.windowSeconds });
  const sessionExpiry = () => new Date(Date.now() + config.BRIGADE_SESSION_TTL_HOURS * 3600_000);

  async function openSession(tenantId: string, userId: string, meta: ClientMeta): Promise<string> {
    const token = newToken('brg');
    await tenancy.withTenant({ tenantId, userId }, (trx) =>
      trx
        .insertInto('sessions')
        .values({ tenant_id: tenantId, user_id: userId, token_hash: hashToken(token), expires_at: sessionExpiry(), ip: meta.ip, user_agent: meta.userAgent })
        .execute(),
    );
    return token;
  }

  return {
    /** A new login token for an active member (after an accepted invitation, for example). */
    openSession,

    /** Creates a business, its owner and the owner's first session; billing starts the trial. */
    async signup(input: SignupInput, meta: ClientMeta) {
      const timezone = input.timezone ?? 'UTC';
      if (!isTimeZone(timezone)) {
        throw new AppError('validation_failed', 'The request does not match the expected shape.', {
          errors: [{ path: 'timezone', message: 'is not an IANA time zone' }],
        });
      }
      const email = input.email.toLowerCase();
      const passwordHash = await hashPassword(input.password, config.BRIGADE_PASSWORD_COST);
      const tenant = {
        id: crypto.randomUUID(),
        name: input.businessName.trim(),
        slug: slugify(input.businessName),
        currency: input.currency ?? 'EUR',
        timezone,
      };
      const user = { id: crypto.randomUUID(), email, name: input.name.trim() };
      const token = newToken('brg');
      for (let attempt = 0; ; attempt++) {
        try {
          // RLS lets the runtime role create exactly the tenant its context names.
          await tenancy.withTenant({ tenantId: tenant.id, userId: user.id }, async (trx) => {
            await trx.insertInto('tenants').values({ ...tenant }).execute();
            await trx.insertInto('audit_heads').values({ tenant_id: tenant.id, seq: '0', hash: GENESIS_HASH }).execute();
            await trx.insertInto('users').values({ tenant_id: tenant.id, id: user.id, email, name: user.name, password_hash: passwordHash }).execute();
            await trx.insertInto('role_assignments').values({ tenant_id: tenant.id, user_id: user.id, role_key: 'owner', branch_id: null }).execute();
            await trx
              .insertInto('sessions')
              .values({ tenant_id: tenant.id, user_id: user.id, token_hash: hashToken(token), expires_at: sessionExpiry(), ip: meta.ip, user_agent: meta.userAgent })
              .execute();
            for (const hook of platform.hooks.tenantCreated) await hook(trx, { ...tenant, ownerUserId: user.id });
            await recordAudit(
              trx,
              { tenantId: tenant.id, actor: { type: 'user', id: user.id, name: user.name }, ...meta },
              { action: 'tenant.created', permission: null, target: { type: 'tenant', id: tenant.id }, changes: { after: { ...tenant, owner: email } } },
            );
            await enqueueLater(trx, tenant.id, 'mail.welcome', { userId: user.id });
          });
          break;
        } catch (err) {
          if (attempt < 5 && isUniqueViolation(err, 'tenants_slug_key')) {
            tenant.slug = `${slugify(input.businessName).slice(0, 33)}-${crypto.randomBytes(3).toString('hex')}`;
            continue;
          }
          throw err;
        }
      }
      return { tenant, user, token };
    },

    async login(input: LoginInput, meta: ClientMeta) {
      const email = input.email.toLowerCase();
      const ip = meta.ip ?? 'unknown';
      await throttle.check('user', email, ip);
      const candidates = await tenancy.withSystem('login: find accounts by e-mail', (trx) => {
        let q = trx
          .selectFrom('users as u')
          .innerJoin('tenants as t', 't.id', 'u.tenant_id')
          .select(['u.id', 'u.tenant_id', 'u.name', 'u.email', 'u.password_hash', 't.name as tenant_name', 't.slug', 't.currency', 't.timezone'])
          .where('u.email', '=', email)
          .where('u.status', '=', 'active')
          .where('u.password_hash', 'is not', null)
          .orderBy('u.created_at')
          .limit(20);
        if (input.tenant) {
          const t = input.tenant.toLowerCase();
          q = /^[0-9a-f-]{36}$/.test(t) ? q.where((eb) => eb.or([eb('t.id', '=', t), eb('t.slug', '=', t)])) : q.where('t.slug', '=', t);
        }
        return q.execute();
      });
      const matches = [];
      for (const c of candidates) if (await verifyPassword(input.password, c.password_hash!)) matches.push(c);
      if (candidates.length === 0) await verifyPassword(input.password, await decoyHash(config.BRIGADE_PASSWORD_COST));
      if (matches.length === 0) {
        await throttle.fail('user', email, ip);
        throw new AppError('invalid_credentials', 'The e-mail address or the password is wrong.');
      }
      if (matches.length > 1) {
        // Only tenants whose password matched are named: nothing is revealed to a stranger.
        throw new AppError('tenant_required', 'This address belongs to several businesses: say which one with "tenant".', {
          tenants: matches.map((m) => ({ id: m.tenant_id, slug: m.slug, name: m.tenant_name })),
        });
      }
      await throttle.succeed('user', email, ip);
      const m = matches[0]!;
      const token = await openSession(m.tenant_id, m.id, meta);
      return {
        token,
        tenant: { id: m.tenant_id, name: m.tenant_name, slug: m.slug, currency: m.currency, timezone: m.timezone },
        user: { id: m.id, email: m.email, name: m.name },
      };
    },

    async logout(scope: Scope): Promise<void> {
      if (scope.apiKey) throw new AppError('forbidden', 'An API key has no session to end: revoke the key instead (DELETE /v1/api-keys/{id}).');
      await tenancy.withTenant(scope, (trx) =>
        trx.updateTable('sessions').set({ revoked_at: new Date() }).where('tenant_id', '=', scope.tenantId).where('id', '=', scope.sessionId).execute(),
      );
    },

    /**
     * Token → scope, against the current session, membership and roles: from the database, or
     * from the session cache, which forgets a tenant's sessions as soon as any of that changes.
     */
    authenticate(token: string, meta: ClientMeta): Awaitable<Scope | null> {
      if (token.length > 200) return null;
      if (token.startsWith('bky_')) return opts.apiKeys ? opts.apiKeys.authenticate(token, meta) : null;
      const tokenHash = hashToken(token);
      // A cached session answers at once, without a promise (see Awaitable).
      const cached = opts.sessions?.get(tokenHash);
      if (cached) return scopeOfSession(cached, meta);
      return db.runtimePool
        .query<AuthRow>(preparedQuery(db, 'brigade_authenticate', 'SELECT * FROM brigade_authenticate($1)', [tokenHash]))
        .then(
          ({ rows: [row] }) => {
            if (!row) return null;
            opts.sessions?.set(tokenHash, row.tenant_id, row, row.expires_at);
            return scopeOfSession(row, meta);
          },
          (err: unknown) => Promise.reject(asDatabaseError(err)),
        );
    },

    /**
     * Sends a password link to every account of the address (or the one of `tenant`). Always
     * the same answer, whether or not an account exists; the lookup runs after the answer is
     * decided so timing tells nothing either. Each mail's token sets that tenant's account only.
     */
    async requestPasswordReset(input: PasswordResetInput, meta: ClientMeta): Promise<void> {
      const email = input.email.toLowerCase();
      const hashedEmail = crypto.createHash('sha256').update(email).digest('hex');
      const keys = [`${config.BRIGADE_QUEUE_PREFIX}:pwreset:acct:${hashedEmail}`, `${config.BRIGADE_QUEUE_PREFIX}:pwreset:ip:${meta.ip ?? 'unknown'}`];
      const [perAccount, perAddress] = await Promise.all([resetCounter.hit(keys[0]!), resetCounter.hit(keys[1]!)]);
      if (perAccount.count > RESET_LIMITS.perAccount || perAddress.count > RESET_LIMITS.perAddress) {
        platform.log.warn({ ip: meta.ip }, 'password reset requests over the limit; dropped');
        return;
      }
      const accounts = await tenancy.withSystem('password reset: find accounts by e-mail', (trx) => {
        let q = trx
          .selectFrom('users as u')
          .innerJoin('tenants as t', 't.id', 'u.tenant_id')
          .select(['u.id', 'u.tenant_id'])
          .where('u.email', '=', email)
          .where('u.status', 'in', ['active', 'invited'])
          .limit(20);
        if (input.tenant) {
          const t = input.tenant.toLowerCase();
          q = /^[0-9a-f-]{36}$/.test(t) ? q.where((eb) => eb.or([eb('t.id', '=', t), eb('t.slug', '=', t)])) : q.where('t.slug', '=', t);
        }
        return q.execute();
      });
      for (const a of accounts) {
        await tenancy.withTenant({ tenantId: a.tenant_id }, (trx) => passwordResetMailJob.later(trx, a.tenant_id, { userId: a.id }));
      }
    },

    /**
     * Redeems a password token: sets the password, activates an invited account, signs the user
     * out everywhere and opens a fresh session. The token works once.
     */
    async confirmPasswordReset(input: PasswordResetConfirmInput, meta: ClientMeta) {
      const tokenHash = hashToken(input.token);
      const found = await tenancy.withSystem('password reset: find token', (trx) =>
        trx.selectFrom('password_tokens').select(['tenant_id', 'user_id']).where('token_hash', '=', tokenHash).executeTakeFirst(),
      );
      if (!found) throw invalidToken();
      const passwordHash = await hashPassword(input.password, config.BRIGADE_PASSWORD_COST);
      const token = newToken('brg');
      const done = await tenancy.withTenant({ tenantId: found.tenant_id, userId: found.user_id }, async (trx) => {
        const now = new Date();
        const t = await trx
          .selectFrom('password_tokens')
          .select(['purpose', 'expires_at', 'used_at', 'user_id'])
          .where('tenant_id', '=', found.tenant_id)
          .where('token_hash', '=', tokenHash)
          .forUpdate()
          .executeTakeFirst();
        if (!t || t.used_at || t.expires_at <= now) return null;
        const user = await trx
          .updateTable('users')
          .set({ password_hash: passwordHash, status: 'active', updated_at: now })
          .where('tenant_id', '=', found.tenant_id)
          .where('id', '=', t.user_id)
          .where('status', 'in', ['active', 'invited'])
          .returning(['id', 'email', 'name'])
          .executeTakeFirst();
        if (!user) return null;
        await trx.updateTable('password_tokens').set({ used_at: now }).where('tenant_id', '=', found.tenant_id).where('user_id', '=', user.id).where('used_at', 'is', null).execute();
        const revoked = await trx
          .updateTable('sessions')
          .set({ revoked_at: now })
          .where('tenant_id', '=', found.tenant_id)
          .where('user_id', '=', user.id)
          .where('revoked_at', 'is', null)
          .executeTakeFirst();
        await trx
          .insertInto('sessions')
          .values({ tenant_id: found.tenant_id, user_id: user.id, token_hash: hashToken(token), expires_at: sessionExpiry(), ip: meta.ip, user_agent: meta.userAgent })
          .execute();
        const tenant = await trx.selectFrom('tenants').select(['id', 'name', 'slug', 'currency', 'timezone']).where('id', '=', found.tenant_id).executeTakeFirstOrThrow();
        await recordAudit(
          trx,
          { tenantId: found.tenant_id, actor: { type: 'user', id: user.id, name: user.name }, ...meta },
          {
            action: t.purpose === 'reset' ? 'user.password_reset' : 'user.invitation_accepted',
            permission: null,
            target: { type: 'user', id: user.id },
            changes: { after: { sessionsRevoked: Number(revoked.numUpdatedRows) } },
          },
        );
        return { tenant, user };
      });
      if (!done) throw invalidToken();
      return { token, tenant: done.tenant, user: done.user };
    },

    me(scope: Scope) {
      return {
        user: scope.user,
        tenant: scope.tenant,
        roles: scope.roles,
        permissions: grantsToList(scope.grants),
      };
    },

  };
}

export type IdentityService = ReturnType<typeof identityService>;
