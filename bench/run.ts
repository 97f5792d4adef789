/**
 * `npm run bench [name ...]`: runs bench/<name>.bench.ts files one after another (each in its
 * own process, so one cannot warm or starve the next) and writes each one's markdown section
 * into docs/benchmarks.md between <!-- bench:name --> markers, leaving the other sections alone.
 * Every benchmark measures its baseline in the same run and reports ratios against it.
 */
import { readdir, readFile, writeFile, mkdir } from 'node:fs/promises';
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import os from 'node:os';

const benchDir = path.resolve('bench');
const docPath = path.resolve('docs/benchmarks.md');
// A benchmark whose output starts with `<!-- doc: docs/other.md -->` has its section written there.
const docMarker = /^<!-- doc: ([\w./-]+\.md) -->\n/;
const others = new Map<string, string>();
const wanted = process.argv.slice(2);
const names = (await readdir(benchDir))
  .filter((f) => f.endsWith('.bench.ts'))
  .map((f) => f.replace(/\.bench\.ts$/, ''))
  .filter((n) => wanted.length === 0 || wanted.includes(n))
  .sort();

let doc: string;
try {
  doc = await readFile(docPath, 'utf8');
} catch {
  doc = '# Benchmarks\n\nProduced by `npm run bench`; each section is rewritten when its benchmark runs.\n';
}

for (const name of names) {
  process.stderr.write(`bench: ${name}\n`);
  const loadBefore = os.loadavg()[0]!;
  const r = spawnSync(process.execPath, ['--import', 'tsx', path.join(benchDir, `${name}.bench.ts`)], {
    stdio: ['ignore', 'pipe', 'inherit'],
    encoding: 'utf8',
    maxBuffer: 64 * 1024 * 1024,
  });
  if (r.status !== 0) {
    process.stderr.write(`bench ${name} failed (exit ${r.status})\n`);
    process.exitCode = 1;
    continue;
  }
  // The load average says how busy the machine was with other work (a quiet 2-core machine reads about 1-2 under a benchmark).
  const load = `load average ${loadBefore.toFixed(1)} before, ${os.loadavg()[0]!.toFixed(1)} after`;
  const machine = `${os.cpus().length} cores, ${Math.round(os.totalmem() / 2 ** 30)} GiB, Node ${process.version}, ${load}`;
  const target = docMarker.exec(r.stdout)?.[1];
  const output = r.stdout.replace(docMarker, '').trim();
  // BENCH_LABEL keeps a run beside the usual one (say, the same benchmark on another Node): its own section.
  const key = process.env.BENCH_LABEL ? `${name}-${process.env.BENCH_LABEL}` : name;
  const section = `<!-- bench:${key} -->\n${output}\n\n_Run ${new Date().toISOString()} on ${machine}._\n<!-- /bench:${key} -->`;
  const re = new RegExp(`<!-- bench:${key} -->[\\s\\S]*?<!-- /bench:${key} -->`);
  const place = (text: string) => (re.test(text) ? text.replace(re, section) : `${text.trimEnd()}\n\n${section}\n`);
  if (target) {
    const file = path.resolve(target);
    others.set(file, place(others.get(file) ?? (await readFile(file, 'utf8').catch(() => `# ${target}\n`))));
  } else {
    doc = place(doc);
  }
  process.stdout.write(`${output}\n\n`);
}
await mkdir(path.dirname(docPath), { recursive: true });
await writeFile(docPath, doc);
for (const [file, text] of others) await writeFile(file, text);
