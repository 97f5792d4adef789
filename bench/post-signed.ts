/**
 * Load generator for signed webhooks, run in its own process by billing.bench.ts:
 *   node --import tsx bench/post-signed.ts <url> <requests.jsonl> <connections>
 * Each line is {"body": string, "signature": string}; every line is posted once, `connections`
 * at a time over keep-alive sockets. Prints {count, seconds, perSecond, p50, p99, non2xx}.
 */
import http from 'node:http';
import { readFileSync } from 'node:fs';

const [url, file, connectionsArg] = process.argv.slice(2) as [string, string, string];
const lines = readFileSync(file, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { body: string; signature: string });
const target = new URL(url);
const agent = new http.Agent({ keepAlive: true, maxSockets: Number(connectionsArg) });
const latencies: number[] = [];
let non2xx = 0;
let next = 0;

function post(line: { body: string; signature: string }): Promise<void> {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const req = http.request(
      { host: target.hostname, port: target.port, path: target.pathname, method: 'POST', agent, headers: { 'content-type': 'application/json', 'stripe-signature': line.signature, 'content-length': Buffer.byteLength(line.body) } },
      (res) => {
        res.resume();
        res.on('end', () => {
          latencies.push(performance.now() - started);
          if ((res.statusCode ?? 0) >= 300) non2xx++;
          resolve();
        });
      },
    );
    req.on('error', reject);
    req.end(line.body);
  });
}

async function worker(): Promise<void> {
  while (next < lines.length) await post(lines[next++]!);
}

const started = performance.now();
await Promise.all(Array.from({ length: Number(connectionsArg) }, worker));
const seconds = (performance.now() - started) / 1000;
latencies.sort((a, b) => a - b);
const at = (q: number) => Math.round(latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))]! * 10) / 10;
process.stdout.write(JSON.stringify({ count: lines.length, seconds, perSecond: lines.length / seconds, p50: at(0.5), p99: at(0.99), non2xx }));
agent.destroy();
