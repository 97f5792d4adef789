/**
 * The README's settings table, generated from the config schema (src/config.ts) so the two
 * cannot drift: `npm run settings` rewrites the table between the markers in README.md;
 * `--check` (run by `npm run lint`) exits non-zero, naming the fix, when README.md differs.
 */
import { readFile, writeFile } from 'node:fs/promises';
import { pathToFileURL } from 'node:url';
import { describeConfig } from '../src/config.ts';

const begin = '<!-- settings:begin (generated from src/config.ts by `npm run settings`; do not edit) -->';
const end = '<!-- settings:end -->';
export const readme = 'README.md';

const cell = (s: string) => s.replace(/\|/g, '\\|').replace(/\n/g, ' ');

export function settingsTable(): string {
  const rows = describeConfig().map((s) => `| \`${s.name}\` | ${s.default === undefined ? 'unset' : s.default === '' ? '(empty)' : `\`${cell(s.default)}\``} | ${cell(s.description)} |`);
  return ['| variable | default | meaning |', '| --- | --- | --- |', ...rows].join('\n');
}

export function withTable(text: string): string {
  const from = text.indexOf(begin);
  const to = text.indexOf(end);
  if (from < 0 || to < from) throw new Error(`${readme} has no settings markers (${begin} ... ${end})`);
  return `${text.slice(0, from + begin.length)}\n${settingsTable()}\n${text.slice(to)}`;
}

async function main(): Promise<void> {
  const text = await readFile(readme, 'utf8');
  const wanted = withTable(text);
  if (process.argv.includes('--check')) {
    if (wanted !== text) {
      process.stderr.write(`${readme}: the settings table differs from src/config.ts; run \`npm run settings\` and commit README.md\n`);
      process.exit(1);
    }
    process.stdout.write('settings table: ok\n');
  } else if (wanted !== text) {
    await writeFile(readme, wanted);
    process.stdout.write(`${readme}: settings table rewritten\n`);
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) await main();
