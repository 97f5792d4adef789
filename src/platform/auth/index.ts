export { hashPassword, verifyPassword, decoyHash } from './passwords.ts';
export { newToken, hashToken } from './tokens.ts';
export type { Scope, OperatorScope } from './scope.ts';
