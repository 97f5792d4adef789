import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { describeConfig } from '../src/config.ts';
import { readme, settingsTable, withTable } from '../scripts/settings-table.ts';

test('the README settings table is the one generated from the config schema: each setting once, with its default', async () => {
  const text = await readFile(readme, 'utf8');
  assert.equal(withTable(text), text, 'README.md differs from src/config.ts: run `npm run settings`');
  for (const s of describeConfig()) {
    const rows = text.split('\n').filter((line) => line.startsWith(`| \`${s.name}\` |`));
    assert.equal(rows.length, 1, `${s.name} has ${rows.length} rows`);
    assert.ok(rows[0]!.includes(s.default === undefined ? '| unset |' : `| \`${s.default}\` |`), rows[0]);
  }
});

test('a hand-edited settings table (a duplicate row with another default) is replaced by the generated one', () => {
  const stale = `# x\n<!-- settings:begin (generated from src/config.ts by \`npm run settings\`; do not edit) -->\n| \`BRIGADE_TENANT_RATE_LIMIT\` | \`50\` | old |\n<!-- settings:end -->\nafter\n`;
  const fixed = withTable(stale);
  assert.notEqual(fixed, stale);
  assert.ok(fixed.includes(settingsTable()));
  assert.doesNotMatch(fixed, /`50` \| old/);
  assert.ok(fixed.endsWith('<!-- settings:end -->\nafter\n'));
  assert.throws(() => withTable('no markers'), /no settings markers/);
});
