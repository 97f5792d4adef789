import { sql, type Kysely } from 'kysely';

/*
 * Frozen in time: never import application code here.
 *
 * A NOTIFY makes its transaction take a cluster-wide lock at commit and hold it through the
 * commit's WAL flush, so every committing transaction that notifies waits for the one before it:
 * no group commit. The webhook inbox commits one event per request and was bound by it. A
 * transaction that sets `brigade.outbox_wakeup` to 'later' (locally) skips the outbox's NOTIFY;
 * its writer wakes the relay itself afterwards, once for many commits (the relay's poll covers a
 * writer that dies first). Everything else notifies as before.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await sql`
    CREATE OR REPLACE FUNCTION brigade_outbox_notify() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      IF coalesce(current_setting('brigade.outbox_wakeup', true), '') <> 'later' THEN
        PERFORM pg_notify('brigade_outbox', '');
      END IF;
      RETURN NULL;
    END $$;
  `.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`
    CREATE OR REPLACE FUNCTION brigade_outbox_notify() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      PERFORM pg_notify('brigade_outbox', '');
      RETURN NULL;
    END $$;
  `.execute(db);
}
