import crypto from 'node:crypto';

/** Opaque bearer tokens: only their SHA-256 is stored, so a database leak reveals no token. */
export function newToken(prefix: 'brg' | 'bop' | 'inv' | 'pwr' | 'bky'): string {
  return `${prefix}_${crypto.randomBytes(32).toString('base64url')}`;
}

/** On every authenticated request: the one-shot digest, without a Hash object per call. */
export function hashToken(token: string): string {
  return crypto.hash('sha256', token, 'hex');
}
