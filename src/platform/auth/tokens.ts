import crypto from 'node:crypto';

/** Opaque bearer tokens: only their SHA-256 is stored, so a database leak reveals no token. */
export function newToken(prefix: 'brg' | 'bop' | 'inv' | 'pwr' | 'bky'): string {
  return `${prefix}_${crypto.randomBytes(32).toString('base64url')}`;
}

export function hashToken(token: string): string {
  return crypto.createHash('sha256').update(token).digest('hex');
}
