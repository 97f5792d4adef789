export { openDatabase, preparedQuery, type Db } from './database.ts';
export { atCommit, createTenancy, deferStatement, inParallel, sendTogether, type Tenancy, type Tx, type TenantContext, type Unit } from './tenancy.ts';
export { compiled } from './compiled.ts';
export { migrateToLatest, migrationStatus, type MigrationStatus } from './migrator.ts';
export { startEmbeddedPostgres, EmbeddedPostgresError } from './embedded.ts';
export type { Database } from './schema.ts';
export { DatabaseUnavailableError, asDatabaseError, isDatabaseUnavailable } from './unavailable.ts';
export type { Notifications } from './listen.ts';
