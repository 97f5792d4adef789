import path from 'node:path';
import fs from 'node:fs/promises';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { Migrator, sql, type Kysely, type Migration, type MigrationProvider } from 'kysely';
import type { Logger } from '../log.ts';

export const migrationsDir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../migrations');

/** A migration file's name: `YYYYMMDDHHMMSS_name.ts` (its UTC creation time), or one of the first, `NNNN_name.ts`. */
export const migrationFilePattern = /^(\d{4}|\d{14})_[\w-]+\.ts$/;

/**
 * Migrations committed after one that sorts after them had already been applied somewhere
 * (before names were timestamps and CI checked the order): a database migrated in between
 * lacks them and applies them late. No other migration may ever be late; `npm run lint`
 * (scripts/lint-migrations.ts) refuses a new one that sorts before any committed one.
 */
export const lateMigrations: ReadonlySet<string> = new Set(['0002_authenticate_plan_cache', '0003_auth_change_signal', '20261201160958_observability']);

/**
 * Reads `migrations/*.ts` in name order: one stream, frozen in time. The first ones are named
 * `NNNN_name.ts`; every later one `YYYYMMDDHHMMSS_name.ts` (its UTC creation time), which sorts
 * after all of them and after every migration written before it, so a database never meets a
 * new migration that sorts before one it has applied.
 */
class FolderMigrationProvider implements MigrationProvider {
  async getMigrations(): Promise<Record<string, Migration>> {
    const out: Record<string, Migration> = {};
    for (const file of await migrationFiles()) {
      out[file.replace(/\.ts$/, '')] = (await import(pathToFileURL(path.join(migrationsDir, file)).href)) as Migration;
    }
    return out;
  }
}

export async function migrationFiles(): Promise<string[]> {
  return (await fs.readdir(migrationsDir)).filter((f) => migrationFilePattern.test(f)).sort();
}

export interface MigrationStatus {
  applied: { name: string; appliedAt: string }[];
  /** In migrations/ and not applied. */
  pending: string[];
  /** Pending ones that sort before the last applied one (applied late only if in lateMigrations). */
  outOfOrder: string[];
  /** Applied to this database, unknown to this code (a newer release ran here, or a file was removed). */
  unknown: { name: string; appliedAt: string }[];
}

/** What this database has applied, against what migrations/ holds; reads only (no table is created). */
export async function migrationStatus(db: Kysely<any>): Promise<MigrationStatus> {
  const known = (await migrationFiles()).map((f) => f.replace(/\.ts$/, ''));
  const exists = await sql<{ t: string | null }>`SELECT to_regclass('kysely_migration')::text AS t`.execute(db);
  const rows = exists.rows[0]?.t
    ? (await sql<{ name: string; timestamp: string }>`SELECT name, timestamp FROM kysely_migration ORDER BY name`.execute(db)).rows
    : [];
  const applied = new Map(rows.map((r) => [r.name, r.timestamp]));
  const lastApplied = known.filter((n) => applied.has(n)).at(-1);
  const pending = known.filter((n) => !applied.has(n));
  return {
    applied: known.filter((n) => applied.has(n)).map((name) => ({ name, appliedAt: applied.get(name)! })),
    pending,
    outOfOrder: lastApplied ? pending.filter((n) => n < lastApplied) : [],
    unknown: rows.filter((r) => !known.includes(r.name)).map((r) => ({ name: r.name, appliedAt: r.timestamp })),
  };
}

export async function migrateToLatest(db: Kysely<any>, log: Logger): Promise<void> {
  const { outOfOrder } = await migrationStatus(db);
  const refused = outOfOrder.filter((n) => !lateMigrations.has(n));
  if (refused.length) {
    throw new Error(`Migrations ${refused.join(', ')} sort before one this database has applied: rename each to a timestamp after the last applied one (see \`brigade migrate status\`)`);
  }
  for (const name of outOfOrder) log.warn({ migration: name }, 'applying a migration committed late (it sorts before one this database has applied)');
  const migrator = new Migrator({ db, provider: new FolderMigrationProvider(), allowUnorderedMigrations: outOfOrder.length > 0 });
  const { error, results } = await migrator.migrateToLatest();
  for (const r of results ?? []) {
    if (r.status === 'Success') log.info({ migration: r.migrationName }, 'migration applied');
    if (r.status === 'Error') log.error({ migration: r.migrationName }, 'migration failed');
  }
  if (error) throw error;
}
