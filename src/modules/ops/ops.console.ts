import fs from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';
import crypto from 'node:crypto';
import { fileURLToPath } from 'node:url';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { AppError } from '../../platform/errors/index.ts';

/** Where `npm install` (the root `prepare` script) leaves the built console. */
export const consoleDist = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../console/dist');

interface Asset {
  type: string;
  body: Buffer;
  gzip: Buffer | null;
  etag: string;
  immutable: boolean;
}

const types: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.json': 'application/json; charset=utf-8',
  '.woff2': 'font/woff2',
  '.txt': 'text/plain; charset=utf-8',
};

// The console needs nothing from elsewhere: its own scripts and styles, and the ops API.
const CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "font-src 'self'",
  "connect-src 'self'",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join('; ');

/** Reads the built console into memory once (it is a few hundred kB), gzipped beside. */
export function loadConsole(dir = consoleDist): Map<string, Asset> | null {
  if (!fs.existsSync(path.join(dir, 'index.html'))) return null;
  const assets = new Map<string, Asset>();
  const walk = (sub: string) => {
    for (const entry of fs.readdirSync(path.join(dir, sub), { withFileTypes: true })) {
      const rel = path.posix.join(sub, entry.name);
      if (entry.isDirectory()) walk(rel);
      else if (entry.isFile()) {
        const body = fs.readFileSync(path.join(dir, rel));
        const type = types[path.extname(entry.name)] ?? 'application/octet-stream';
        const compressible = /text|json|svg/.test(type) && body.length > 512;
        assets.set(rel, {
          type,
          body,
          gzip: compressible ? zlib.gzipSync(body, { level: 9 }) : null,
          etag: `"${crypto.createHash('sha256').update(body).digest('base64url').slice(0, 22)}"`,
          // Vite names built files by their content hash: they never change under one name.
          immutable: rel.startsWith('assets/'),
        });
      }
    }
  };
  walk('');
  return assets;
}

function send(req: FastifyRequest, reply: FastifyReply, asset: Asset) {
  reply
    .type(asset.type)
    .header('ETag', asset.etag)
    .header('Vary', 'Accept-Encoding')
    .header('X-Content-Type-Options', 'nosniff')
    .header('Cache-Control', asset.immutable ? 'public, max-age=31536000, immutable' : 'no-cache');
  if (asset.type.startsWith('text/html')) reply.header('Content-Security-Policy', CSP).header('Referrer-Policy', 'no-referrer');
  if (req.headers['if-none-match'] === asset.etag) return reply.code(304).send();
  const gzip = asset.gzip && /\bgzip\b/.test(String(req.headers['accept-encoding'] ?? ''));
  if (gzip) reply.header('Content-Encoding', 'gzip');
  return reply.send(gzip ? asset.gzip : asset.body);
}

const notBuilt = `<!doctype html><meta charset="utf-8"><title>Brigade console not built</title>
<body style="font:16px system-ui;max-width:40rem;margin:3rem auto;color:#111">
<h1>The operations console is not built</h1>
<p>Its source is in <code>console/</code>; <code>npm install</code> builds it (or run <code>npm run build:console</code>), then restart Brigade.
The ops API at <code>/ops/api</code> works without it.</p></body>`;

/**
 * Serves the console at /ops: its files, and its page for any other /ops/... path so that each
 * page has a URL of its own (deep links survive a reload). /ops/api stays the API's: an unknown
 * path there is a problem document, never the page.
 */
export async function consoleRoutes(app: FastifyInstance, opts: { assets?: Map<string, Asset> | null } = {}) {
  const assets = opts.assets === undefined ? loadConsole() : opts.assets;
  const page = async (req: FastifyRequest, reply: FastifyReply) => {
    const rel = decodeURIComponent((req.url.split('?')[0] ?? '').replace(/^\/ops\/?/, ''));
    if (rel === 'api' || rel.startsWith('api/')) throw new AppError('not_found', `No route ${req.method} ${req.url.split('?')[0]}.`);
    if (!assets) return reply.code(503).type('text/html; charset=utf-8').header('Cache-Control', 'no-store').send(notBuilt);
    const file = assets.get(rel);
    if (file && rel !== 'index.html') return send(req, reply, file);
    // A missing built file is a 404, not the page: a stale tab asking for last version's chunk must fail loudly.
    if (rel.startsWith('assets/')) throw new AppError('not_found', `No console file ${rel}.`);
    return send(req, reply, assets.get('index.html')!);
  };
  const route = { config: { access: { public: true as const } }, schema: { hide: true } };
  app.get('/ops', route, page);
  app.get('/ops/*', route, page);
}
