export { recordAudit, auditSourceOfUser, auditSourceOfOperator, auditSourceOfSystem, type AuditSource, type AuditEventInput } from './audit.service.ts';
export { chainHash, canonicalJson, GENESIS_HASH } from './audit.chain.ts';
