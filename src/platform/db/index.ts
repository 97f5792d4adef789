export { openDatabase, preparedQuery, type Db } from './database.ts';
export { createTenancy, type Tenancy, type Tx, type TenantContext, type Unit } from './tenancy.ts';
export { migrateToLatest } from './migrator.ts';
export { startEmbeddedPostgres } from './embedded.ts';
export type { Database } from './schema.ts';
export { DatabaseUnavailableError, asDatabaseError, isDatabaseUnavailable } from './unavailable.ts';
export type { Notifications } from './listen.ts';
