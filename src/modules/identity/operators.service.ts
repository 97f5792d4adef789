import type { Platform } from '../../platform/deps.ts';
import { AppError } from '../../platform/errors/index.ts';
import { hashPassword, verifyPassword, decoyHash, newToken, hashToken, type OperatorScope } from '../../platform/auth/index.ts';
import { loginThrottle } from './identity.throttle.ts';
import type { ClientMeta } from './identity.service.ts';

/**
 * Platform operators: Brigade's own staff, with accounts and tokens of their own. Their tables
 * are invisible to the runtime role, so every access goes through withSystem.
 */
export function operatorsService(platform: Platform) {
  const { tenancy, config, redis } = platform;
  const throttle = loginThrottle(redis, config.BRIGADE_QUEUE_PREFIX, platform.log);

  return {
    async createOperator(input: { email: string; password: string; name?: string }) {
      const email = input.email.toLowerCase();
      if (!/^[^@\s]+@[^@\s]+$/.test(email)) throw new AppError('validation_failed', 'The e-mail address is not valid.', { errors: [{ path: 'email', message: 'is not an e-mail address' }] });
      if (input.password.length < 10) throw new AppError('validation_failed', 'Operator passwords need at least 10 characters.', { errors: [{ path: 'password', message: 'is shorter than 10 characters' }] });
      const passwordHash = await hashPassword(input.password, config.BRIGADE_PASSWORD_COST);
      return tenancy.withSystem('operators: create', (trx) =>
        trx
          .insertInto('operators')
          .values({ email, name: input.name ?? email, password_hash: passwordHash })
          .onConflict((oc) => oc.column('email').doUpdateSet({ password_hash: passwordHash, disabled_at: null }))
          .returning(['id', 'email', 'name'])
          .executeTakeFirstOrThrow(),
      );
    },

    async login(input: { email: string; password: string }, meta: ClientMeta): Promise<{ token: string }> {
      const email = input.email.toLowerCase();
      const ip = meta.ip ?? 'unknown';
      await throttle.check('operator', email, ip);
      const op = await tenancy.withSystem('operators: login', (trx) =>
        trx.selectFrom('operators').select(['id', 'password_hash']).where('email', '=', email).where('disabled_at', 'is', null).executeTakeFirst(),
      );
      const ok = await verifyPassword(input.password, op?.password_hash ?? (await decoyHash(config.BRIGADE_PASSWORD_COST)));
      if (!op || !ok) {
        await throttle.fail('operator', email, ip);
        throw new AppError('invalid_credentials', 'The e-mail address or the password is wrong.');
      }
      await throttle.succeed('operator', email, ip);
      const token = newToken('bop');
      await tenancy.withSystem('operators: open session', (trx) =>
        trx
          .insertInto('operator_sessions')
          .values({ operator_id: op.id, token_hash: hashToken(token), expires_at: new Date(Date.now() + 12 * 3600_000) })
          .execute(),
      );
      return { token };
    },

    /** Ends an operator's session: its token is refused from the next request on. */
    async logout(op: OperatorScope): Promise<void> {
      await tenancy.withSystem('operators: close session', (trx) =>
        trx.updateTable('operator_sessions').set({ revoked_at: new Date() }).where('id', '=', op.sessionId).where('revoked_at', 'is', null).execute(),
      );
    },

    async sessionExpiry(op: OperatorScope): Promise<Date | null> {
      const row = await tenancy.withSystem('operators: session expiry', (trx) =>
        trx.selectFrom('operator_sessions').select('expires_at').where('id', '=', op.sessionId).executeTakeFirst(),
      );
      return row?.expires_at ?? null;
    },

    async authenticate(token: string, meta: ClientMeta): Promise<OperatorScope | null> {
      if (token.length > 200) return null;
      const row = await tenancy.withSystem('operators: authenticate', (trx) =>
        trx
          .selectFrom('operator_sessions as s')
          .innerJoin('operators as o', 'o.id', 's.operator_id')
          .select(['s.id as session_id', 'o.id', 'o.email', 'o.name'])
          .where('s.token_hash', '=', hashToken(token))
          .where('s.revoked_at', 'is', null)
          .where('s.expires_at', '>', new Date())
          .where('o.disabled_at', 'is', null)
          .executeTakeFirst(),
      );
      if (!row) return null;
      return { operatorId: row.id, email: row.email, name: row.name, sessionId: row.session_id, ...meta };
    },
  };
}

export type OperatorsService = ReturnType<typeof operatorsService>;
