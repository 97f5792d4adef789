/**
 * Migration order (issue 13, item 19): a database applies migrations in name order and refuses
 * one that sorts before a migration it has applied. So:
 *   - a new migration is named `YYYYMMDDHHMMSS_name.ts`, a real UTC time not in the future;
 *     the 4-digit names are the first few only;
 *   - no two share a timestamp;
 *   - along the branch's history (first parents: what main saw, merge by merge), every
 *     migration a commit adds, and every one not yet committed, sorts after each migration
 *     added before it. The exceptions are the few that were committed late before this check
 *     existed (`lateMigrations`, which databases migrated in between apply late).
 * Exits non-zero naming each offence and what to do.
 */
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { lateMigrations, migrationFiles, migrationsDir } from '../src/platform/db/migrator.ts';

/** The migrations named before timestamps: no other 4-digit name is accepted. */
const legacyNames = new Set(['0001_foundation', '0002_authenticate_plan_cache', '0003_auth_change_signal', '0100_rbac', '0200_hospitality', '0300_jobs', '0400_billing']);

const stamp = /^(\d{4})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})_/;

export function nameOffences(names: string[], now = new Date()): string[] {
  const out: string[] = [];
  const seen = new Map<string, string>();
  for (const name of names) {
    const m = stamp.exec(name);
    if (!m) {
      if (!legacyNames.has(name)) out.push(`${name}: name it \`$(date -u +%Y%m%d%H%M%S)_what.ts\` (4-digit names are the first migrations only)`);
      continue;
    }
    const [, y, mo, d, h, mi, s] = m.map(Number) as number[];
    const at = new Date(Date.UTC(y!, mo! - 1, d!, h!, mi!, s!));
    if (at.getUTCFullYear() !== y || at.getUTCMonth() !== mo! - 1 || at.getUTCDate() !== d || at.getUTCHours() !== h || at.getUTCMinutes() !== mi || at.getUTCSeconds() !== s) {
      out.push(`${name}: ${name.slice(0, 14)} is not a date and time (YYYYMMDDHHMMSS, UTC)`);
    } else if (at.getTime() > now.getTime() + 24 * 3600_000) {
      out.push(`${name}: its timestamp is in the future (use \`date -u +%Y%m%d%H%M%S\`)`);
    }
    const other = seen.get(name.slice(0, 14));
    if (other) out.push(`${name}: same timestamp as ${other} (order would depend on the rest of the name)`);
    seen.set(name.slice(0, 14), name);
  }
  return out;
}

/**
 * `added`: the migrations each commit added, oldest commit first (the uncommitted ones last).
 * A migration must sort after every one added by an earlier commit.
 */
export function orderOffences(added: string[][]): string[] {
  const out: string[] = [];
  let latest = '';
  for (const batch of added) {
    for (const name of batch) {
      if (name < latest && !lateMigrations.has(name)) {
        out.push(`${name}: sorts before ${latest}, committed earlier (a database that applied it could not migrate): rename it with the current UTC time`);
      }
    }
    for (const name of batch) if (name > latest) latest = name;
  }
  return out;
}

function git(args: string[]): string | null {
  const r = spawnSync('git', args, { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
  return r.status === 0 ? r.stdout : null;
}

/** Migrations added by each first-parent commit, oldest first, then the uncommitted ones; null without full history. */
function history(files: string[]): string[][] | null {
  const rel = path.relative(process.cwd(), migrationsDir);
  if (git(['rev-parse', '--is-shallow-repository'])?.trim() !== 'false') return null;
  const log = git(['log', '--first-parent', '--reverse', '--diff-merges=first-parent', '--diff-filter=A', '--name-only', '--format=tformat:commit', '--', rel]);
  if (log === null) return null;
  const batches: string[][] = [];
  for (const line of log.split('\n')) {
    if (line === 'commit') batches.push([]);
    else if (line.trim()) batches.at(-1)?.push(path.basename(line.trim()).replace(/\.ts$/, ''));
  }
  const present = new Set(files);
  const committed = new Set(batches.flat());
  return [...batches.map((b) => b.filter((n) => present.has(n))), files.filter((n) => !committed.has(n))];
}

async function main(): Promise<void> {
  const files = (await migrationFiles()).map((f) => f.replace(/\.ts$/, ''));
  const offences = nameOffences(files);
  const added = history(files);
  if (added) offences.push(...orderOffences(added));
  else process.stdout.write('migrations: no full git history here; checked names only\n');
  if (offences.length) {
    process.stderr.write(`Migration order:\n${offences.map((o) => `  migrations/${o}`).join('\n')}\n`);
    process.exit(1);
  }
  process.stdout.write(`migrations: ok (${files.length}, in order)\n`);
}

if (import.meta.url === (await import('node:url')).pathToFileURL(process.argv[1] ?? '').href) await main();
