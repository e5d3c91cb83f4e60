-- The events of the reply path on SQLite (a new session, a question, a reply), written in
-- the transaction of the change they report as one row each in this table: no key, no
-- index, nothing but the table's own append. A task moves them into webhook_deliveries
-- (one row per subscribed webhook, with its indexes) a batch at a time, in one transaction
-- each (db::webhooks::move_logged). Each of the old per-event rows touched five b-trees
-- (the table, its key and three indexes), each written again to the write-ahead log at
-- every commit: with a webhook on every event that cost a third of SQLite's replies a
-- second. PostgreSQL writes its outbox rows directly and leaves this table empty; it is
-- here so that both have the same tables.
CREATE TABLE webhook_outbox (
    event_id TEXT NOT NULL,
    client_id TEXT NOT NULL,
    event_type TEXT NOT NULL,
    -- The LIKE pattern of the webhooks subscribed to the type (",reply.completed,").
    pattern TEXT NOT NULL,
    body TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    -- When it was written: the webhooks subscribed then (created by then) receive it.
    logged_at BIGINT NOT NULL
);
