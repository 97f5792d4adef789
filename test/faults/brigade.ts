import { spawn, type ChildProcess } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort } from './servers.ts';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

export interface BrigadeProcess {
  child: ChildProcess;
  log: string;
  stop(): Promise<void>;
}

/** `brigade <command>` as its own process, on the suite's servers; its log goes to a file. */
export function brigade(command: string, env: Record<string, string>, opts: { logDir?: string } = {}): BrigadeProcess {
  const log = path.join(opts.logDir ?? os.tmpdir(), `brigade-faults-${command}-${crypto.randomBytes(3).toString('hex')}.log`);
  const out = fs.openSync(log, 'w');
  const child = spawn(process.execPath, ['--import', 'tsx', path.join(root, 'src/cli.ts'), command], {
    cwd: root,
    env: { ...process.env, LOG_LEVEL: 'warn', BRIGADE_DEMO: 'false', BRIGADE_PASSWORD_COST: '10', ...env },
    stdio: ['ignore', out, out],
  });
  return {
    child,
    log,
    stop: () => stopProcess(child),
  };
}

/** SIGTERM, then SIGKILL if the process has not exited within 15 s; resolves once it has. */
export async function stopProcess(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((r) => child.once('exit', r));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
  await exited;
  clearTimeout(timer);
}

export async function run(command: string, env: Record<string, string>): Promise<void> {
  const p = brigade(command, env);
  const code = await new Promise<number | null>((r) => p.child.once('exit', r));
  if (code !== 0) throw new Error(`brigade ${command} exited ${code}: ${fs.readFileSync(p.log, 'utf8').slice(-2000)}`);
}

export { freePort };
