export { recordAudit, auditSourceOfUser, auditSourceOfOperator, auditSourceOfSystem, type AuditSource, type AuditEventInput } from './audit.service.ts';
export { chainHash, canonicalJson, GENESIS_HASH } from './audit.chain.ts';
export { verifyAuditChain, verifyChainRows, type ChainVerdict, type ChainProblem } from './audit.verify.ts';
export type { AuditRow } from './audit.repository.ts';
export { auditQueries, auditPageIn, auditEventView } from './audit.query.ts';
export { auditRoutes } from './audit.routes.ts';
export { AuditQuery, AuditExportQuery, AuditEventView } from './audit.schemas.ts';
export { eraseFromAudit } from './audit.erasure.ts';
