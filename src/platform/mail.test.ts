import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { SMTPServer } from 'smtp-server';
import { createTestContext, aTenant, type TestContext } from '../../test/harness.ts';
import { loadConfig } from '../config.ts';
import { createMailer, sendOnce, type Mailer, type OutgoingMail } from './mail.ts';

let t: TestContext;
before(async () => {
  t = await createTestContext();
});
after(() => t.close());

test('a job sends its mail to a recipient once, however often it runs', async () => {
  const owner = await aTenant(t.app);
  const sent: OutgoingMail[] = [];
  const counting: Mailer = { kind: 'catcher', send: async (m) => void sent.push(m), close: () => undefined };
  const job = { tenantId: owner.tenant.id, jobId: crypto.randomUUID() };
  let composed = 0;
  const compose = () => {
    composed++;
    return { subject: 'Hi', text: 'Hello' };
  };
  assert.equal(await sendOnce({ mailer: counting, tenancy: t.platform.tenancy }, job, 'Someone@Example.com', compose), 'sent');
  assert.equal(await sendOnce({ mailer: counting, tenancy: t.platform.tenancy }, job, 'someone@example.com', compose), 'already_sent');
  assert.equal(sent.length, 1);
  assert.equal(composed, 1, 'the mail (and any token in it) is made only when it will be sent');
  // Another recipient of the same job is a mail of its own.
  await sendOnce({ mailer: counting, tenancy: t.platform.tenancy }, job, 'other@example.com', compose);
  assert.equal(sent.length, 2);
});

test('the catcher keeps a resent message (same Message-ID) once', async () => {
  const mailer = createMailer(t.platform.config, t.platform.tenancy, t.platform.log);
  assert.equal(mailer.kind, 'catcher');
  const mail = { to: 'dup@example.com', subject: 'Once', text: 'once', messageId: `<${crypto.randomUUID()}@brigade.mail>` };
  await mailer.send(mail);
  await mailer.send(mail);
  const rows = await t.platform.tenancy.withSystem('test: caught', (trx) => trx.selectFrom('caught_mails').select('id').where('message_id', '=', mail.messageId).execute());
  assert.equal(rows.length, 1);
});

test('with SMTP_URL set, mail goes out over SMTP with text, HTML and its Message-ID', async () => {
  const received: string[] = [];
  const server = new SMTPServer({
    authOptional: true,
    disabledCommands: ['STARTTLS'],
    onData(stream, _session, done) {
      let data = '';
      stream.on('data', (c: Buffer) => (data += c.toString()));
      stream.on('end', () => {
        received.push(data);
        done();
      });
    },
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.server.address() as { port: number }).port;
  try {
    const config = loadConfig({ ...process.env, SMTP_URL: `smtp://127.0.0.1:${port}`, MAIL_FROM: 'Brigade <no-reply@brigade.test>' });
    const mailer = createMailer(config, t.platform.tenancy, t.platform.log);
    assert.equal(mailer.kind, 'smtp');
    await mailer.send({ to: 'chef@example.com', subject: 'Over the wire', text: 'plain words', html: '<p>html words</p>', messageId: '<fixed-id@brigade.mail>' });
    mailer.close();
    assert.equal(received.length, 1);
    assert.match(received[0]!, /Message-ID: <fixed-id@brigade.mail>/i);
    assert.match(received[0]!, /Subject: Over the wire/);
    assert.match(received[0]!, /plain words/);
    assert.match(received[0]!, /html words/);
  } finally {
    await new Promise<void>((r) => server.close(() => r()));
  }
});
