import { sql } from 'kysely';
import type { Platform } from '../../platform/deps.ts';
import { hashPassword } from '../../platform/auth/index.ts';
import type { IdentityService } from '../identity/index.ts';
import { seedHospitality } from './demo.hospitality.ts';

export const DEMO_PASSWORD = 'brigade-demo';

export interface DemoLogin {
  tenant: string;
  role: string;
  email: string;
  password: string;
}

const businesses = [
  { name: 'Harbour Bistro', slug: 'harbour-bistro', domain: 'harbour.example', branches: ['Quayside', 'Old Town'], currency: 'EUR', timezone: 'Europe/Lisbon' },
  { name: 'Copper Kettle Cafés', slug: 'copper-kettle', domain: 'copperkettle.example', branches: ['High Street', 'Station'], currency: 'GBP', timezone: 'Europe/London' },
];

/**
 * Two living demo businesses with a member for each system role, created once: a marker in
 * brigade_settings says it was done, so a restart (or a second process) does not seed again.
 * Other modules add their part through `extend` (menus, stock, orders).
 */
export async function seedDemo(
  platform: Platform,
  identity: IdentityService,
  extend: ((tenantId: string, branchIds: string[]) => Promise<void>)[] = [],
): Promise<DemoLogin[] | null> {
  const claimed = await platform.tenancy.withSystem('demo: claim first start', async (trx) => {
    const r = await sql<{ key: string }>`
      INSERT INTO brigade_settings (key, value) VALUES ('demo_seeded', now()::text)
      ON CONFLICT (key) DO NOTHING RETURNING key`.execute(trx);
    return r.rows.length === 1;
  });
  if (!claimed) return null;

  const logins: DemoLogin[] = [];
  const passwordHash = await hashPassword(DEMO_PASSWORD, platform.config.BRIGADE_PASSWORD_COST);
  for (const b of businesses) {
    const owner = await identity.signup(
      { businessName: b.name, name: `${b.name} Owner`, email: `owner@${b.domain}`, password: DEMO_PASSWORD, currency: b.currency, timezone: b.timezone },
      { requestId: null, ip: null, userAgent: 'brigade demo seed' },
    );
    logins.push({ tenant: owner.tenant.slug, role: 'owner', email: `owner@${b.domain}`, password: DEMO_PASSWORD });
    const tenantId = owner.tenant.id;
    const branchIds = await platform.tenancy.withTenant({ tenantId }, async (trx) => {
      const ids: string[] = [];
      for (const name of b.branches) {
        const row = await trx.insertInto('branches').values({ tenant_id: tenantId, name, timezone: b.timezone, address: `${name}, demo` }).returning('id').executeTakeFirstOrThrow();
        ids.push(row.id);
      }
      const people = [
        { role: 'branch_manager', email: `manager@${b.domain}`, name: 'Morgan Manager', branchId: ids[0]! },
        { role: 'accountant', email: `accountant@${b.domain}`, name: 'Avery Accountant', branchId: null },
        { role: 'cashier', email: `cashier@${b.domain}`, name: 'Casey Cashier', branchId: ids[0]! },
        { role: 'support', email: `support@${b.domain}`, name: 'Sam Support', branchId: null },
      ];
      for (const p of people) {
        const user = await trx.insertInto('users').values({ tenant_id: tenantId, email: p.email, name: p.name, password_hash: passwordHash }).returning('id').executeTakeFirstOrThrow();
        await trx.insertInto('role_assignments').values({ tenant_id: tenantId, user_id: user.id, role_key: p.role, branch_id: p.branchId }).execute();
        logins.push({ tenant: owner.tenant.slug, role: p.role, email: p.email, password: DEMO_PASSWORD });
      }
      return ids;
    });
    await seedHospitality(platform, tenantId, branchIds);
    for (const add of extend) await add(tenantId, branchIds);
  }
  return logins;
}
