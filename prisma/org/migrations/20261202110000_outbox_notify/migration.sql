-- Events added to the outbox, by any process (a replica, the CLI), are announced on the
-- organization's NOTIFY channel when their transaction commits: its publishers send them to
-- NATS at once instead of polling the table. Postgres folds a transaction's identical
-- notifications into one.
CREATE FUNCTION "twinx_outbox_notify"() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_notify('twinx_auth', 'outbox');
  RETURN NULL;
END;
$$;

CREATE TRIGGER "OutboxEvent_notify" AFTER INSERT ON "OutboxEvent"
  FOR EACH STATEMENT EXECUTE FUNCTION "twinx_outbox_notify"();
