import type { Platform } from '../../platform/deps.ts';

/**
 * Recently authenticated sessions, kept in memory so a request costs no round trip to check
 * its token. Never stale about what matters: every change to sessions, users, role
 * assignments, custom roles or the tenant fires a trigger (migration 0003) that
 *  - tells the committing process in the COMMIT's own round trip (tenancy.onAuthChange), so it
 *    forgets the tenant's sessions before it answers the request that made the change;
 *  - NOTIFYs `brigade_auth`, so every other process forgets them within milliseconds.
 * While the LISTEN connection is down nothing is served from memory. Entries also die after
 * `ttlMs` and never outlive the session's own expiry.
 */
export interface CachedSession<Row> {
  row: Row;
  tenantId: string;
  until: number;
}

export function sessionCache<Row>(platform: Platform, opts: { ttlMs?: number; maxEntries?: number } = {}) {
  const ttlMs = opts.ttlMs ?? 60_000;
  const maxEntries = opts.maxEntries ?? 50_000;
  const entries = new Map<string, CachedSession<Row>>();
  const byTenant = new Map<string, Set<string>>();

  const forgetTenant = (tenantId: string) => {
    for (const key of byTenant.get(tenantId) ?? []) entries.delete(key);
    byTenant.delete(tenantId);
  };
  const clear = () => {
    entries.clear();
    byTenant.clear();
  };

  const unsubscribe = platform.tenancy.onAuthChange((tenantIds) => tenantIds.forEach(forgetTenant));
  const listener = platform.db.notifications;
  const unlisten = listener.subscribe('brigade_auth', forgetTenant, clear);

  return {
    get(key: string): Row | undefined {
      if (!listener.connected) return undefined;
      const hit = entries.get(key);
      if (!hit) return undefined;
      if (hit.until <= Date.now()) {
        entries.delete(key);
        return undefined;
      }
      return hit.row;
    },
    set(key: string, tenantId: string, row: Row, expiresAt: Date): void {
      if (!listener.connected) return;
      if (entries.size >= maxEntries) {
        const oldest = entries.keys().next().value;
        if (oldest !== undefined) entries.delete(oldest);
      }
      entries.set(key, { row, tenantId, until: Math.min(Date.now() + ttlMs, expiresAt.getTime()) });
      let keys = byTenant.get(tenantId);
      if (!keys) byTenant.set(tenantId, (keys = new Set()));
      keys.add(key);
    },
    async close(): Promise<void> {
      unsubscribe();
      unlisten();
      clear();
    },
  };
}

export type SessionCache<Row> = ReturnType<typeof sessionCache<Row>>;
