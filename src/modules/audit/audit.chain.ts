import crypto from 'node:crypto';

export const GENESIS_HASH = '0'.repeat(64);

/** JSON with object keys sorted at every depth: the same value always gives the same text. */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value ?? null);
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  const entries = Object.entries(value as Record<string, unknown>)
    .filter(([, v]) => v !== undefined)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
}

export interface ChainedFields {
  tenantId: string;
  id: string;
  seq: string;
  at: string;
  actorType: string;
  actorId: string | null;
  actorName: string | null;
  action: string;
  permission: string | null;
  targetType: string | null;
  targetId: string | null;
  changes: unknown;
  requestId: string | null;
  ip: string | null;
  userAgent: string | null;
}

/** Each event's hash covers the previous one's, so changing or deleting any row breaks the chain. */
export function chainHash(prevHash: string, fields: ChainedFields): string {
  return crypto.createHash('sha256').update(prevHash).update('\n').update(canonicalJson(fields)).digest('hex');
}
