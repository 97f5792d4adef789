/**
 * The bare baseline of the read-path benchmarks, in a process of its own: node:http and pg
 * serving the same row with the same SELECT as the owner role, with no auth, no row-level
 * security, no logging. Environment: BARE_DATABASE_URL, BARE_TENANT_ID, PORT.
 */
import http from 'node:http';
import pg from 'pg';

const pool = new pg.Pool({ connectionString: process.env.BARE_DATABASE_URL, max: 20 });
const tenantId = process.env.BARE_TENANT_ID;
const server = http.createServer((req, res) => {
  if (req.url === '/healthz') {
    res.writeHead(200).end('ok');
    return;
  }
  const id = req.url!.split('/').pop();
  pool.query('SELECT id, name, address, timezone, archived_at, created_at FROM branches WHERE tenant_id = $1 AND id = $2', [tenantId, id]).then(
    (r) => res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ branch: r.rows[0] })),
    (err: Error) => res.writeHead(500).end(err.message),
  );
});
server.listen(Number(process.env.PORT), '127.0.0.1');
process.once('SIGTERM', () => {
  server.close();
  void pool.end().then(() => process.exit(0));
});
