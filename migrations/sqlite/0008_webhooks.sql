-- Webhooks (API.md, "Webhooks (events to other systems)", turn 2).
-- A client's subscriptions. `events` holds the subscribed types between commas
-- (",session.created,reply.completed,") so that one LIKE finds a subscriber. The secret is
-- stored as is: every delivery is signed with it, which a hash could not do. `busy_until` is
-- the lease of the instance delivering to it: one claim at a time per webhook, so a slow
-- receiver holds one of the worker's slots, and one that expires (the instance died, e.g.
-- `kill -9`) lets another instance take the webhook's due events again.
CREATE TABLE webhooks (
    id TEXT PRIMARY KEY,
    client_id TEXT NOT NULL REFERENCES clients(id) ON DELETE CASCADE,
    url TEXT NOT NULL,
    events TEXT NOT NULL,
    secret TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    busy_until BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX webhooks_client ON webhooks(client_id);

-- The outbox: one row per event and subscribed webhook, written in the same transaction as
-- the change it reports, and the record of its delivery. `next_attempt_at` is NULL once the
-- event was delivered or given up.
CREATE TABLE webhook_deliveries (
    event_id TEXT NOT NULL,
    webhook_id TEXT NOT NULL REFERENCES webhooks(id) ON DELETE CASCADE,
    event_type TEXT NOT NULL,
    body TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    attempts BIGINT NOT NULL DEFAULT 0,
    next_attempt_at BIGINT,
    last_status BIGINT,
    last_error TEXT,
    last_attempt_at BIGINT,
    delivered_at BIGINT,
    PRIMARY KEY (event_id, webhook_id)
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries(next_attempt_at) WHERE next_attempt_at IS NOT NULL;
CREATE INDEX webhook_deliveries_hook ON webhook_deliveries(webhook_id, created_at);
-- A webhook's due events, oldest first.
CREATE INDEX webhook_deliveries_hook_due ON webhook_deliveries(webhook_id, next_attempt_at) WHERE next_attempt_at IS NOT NULL;
