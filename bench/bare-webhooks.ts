/**
 * The bare baseline of the webhook benchmark, in a process of its own: node:http, the same
 * signature check (the Stripe SDK's) and one INSERT of the event under its id, as the owner
 * role; no framework, no tenant lookup, no job, no logging. Environment: BARE_DATABASE_URL,
 * BARE_TABLE, PORT.
 */
import http from 'node:http';
import pg from 'pg';
import Stripe from 'stripe';
import { simulatorWebhookSecret } from '../src/modules/billing/index.ts';

const signer = new Stripe('sk_test_unused');
const pool = new pg.Pool({ connectionString: process.env.BARE_DATABASE_URL, max: 10 });
const insert = `INSERT INTO ${process.env.BARE_TABLE} (id, payload) VALUES ($1, $2) ON CONFLICT DO NOTHING`;
const server = http.createServer((req, res) => {
  if (req.url === '/healthz') {
    res.writeHead(200).end('ok');
    return;
  }
  const chunks: Buffer[] = [];
  req.on('data', (c: Buffer) => chunks.push(c));
  req.on('end', async () => {
    const body = Buffer.concat(chunks);
    try {
      const event = signer.webhooks.constructEvent(body, String(req.headers['stripe-signature']), simulatorWebhookSecret);
      await pool.query(insert, [event.id, body.toString('utf8')]);
      res.writeHead(200, { 'content-type': 'application/json' }).end('{"received":true}');
    } catch {
      res.writeHead(400).end();
    }
  });
});
server.listen(Number(process.env.PORT), '127.0.0.1');
process.once('SIGTERM', () => {
  server.close();
  void pool.end().then(() => process.exit(0));
});
