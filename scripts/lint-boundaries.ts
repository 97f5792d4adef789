/**
 * The module boundary rule of ARCHITECTURE.md: a module imports another module only through
 * its index.ts, and platform/ imports no module (type-only imports of the access catalogue
 * excepted). Exits non-zero, naming each offending import.
 */
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';

const root = path.resolve('src');
const offences: string[] = [];

async function walk(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(dir, { withFileTypes: true })) {
    const full = path.join(dir, e.name);
    if (e.isDirectory()) out.push(...(await walk(full)));
    else if (e.name.endsWith('.ts')) out.push(full);
  }
  return out;
}

const moduleOf = (file: string) => {
  const rel = path.relative(path.join(root, 'modules'), file);
  return rel.startsWith('..') ? null : rel.split(path.sep)[0]!;
};

for (const file of await walk(root)) {
  const text = await readFile(file, 'utf8');
  for (const m of text.matchAll(/^(import|export)\s+(type\s+)?[^;]*?from\s+'(\.[^']+)'/gms)) {
    const typeOnly = Boolean(m[2]);
    const target = path.resolve(path.dirname(file), m[3]!);
    const from = moduleOf(file);
    const to = moduleOf(target);
    if (to === null) continue;
    if (from === null && !file.startsWith(path.join(root, 'modules'))) {
      const isPlatform = file.startsWith(path.join(root, 'platform'));
      if (isPlatform && !typeOnly) offences.push(`${path.relative('.', file)}: platform code imports module ${to}`);
      continue;
    }
    if (from !== to && path.basename(target) !== 'index.ts' && !file.endsWith('.test.ts')) {
      offences.push(`${path.relative('.', file)}: imports ${m[3]} (go through modules/${to}/index.ts)`);
    }
  }
}

if (offences.length) {
  process.stderr.write(`Module boundary violations:\n${offences.map((o) => `  ${o}`).join('\n')}\n`);
  process.exit(1);
}
process.stdout.write('module boundaries: ok\n');
