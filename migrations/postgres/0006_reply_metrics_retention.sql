-- Owners' analytics and retention (API.md, "Owners" and "Client settings", turn 2).
-- The same schema as migrations/sqlite/0007: a reply's timings and token counts in columns,
-- written with the reply, so analytics sums and bins them without parsing metadata.
ALTER TABLE messages ADD COLUMN ttft_ms BIGINT;
ALTER TABLE messages ADD COLUMN total_ms BIGINT;
ALTER TABLE messages ADD COLUMN prompt_tokens BIGINT;
ALTER TABLE messages ADD COLUMN completion_tokens BIGINT;

-- Days after its last activity that a client's session is deleted; NULL keeps it forever.
ALTER TABLE clients ADD COLUMN retention_days BIGINT;

-- Analytics and the session list read a client's sessions by creation time too.
CREATE INDEX chat_sessions_client_created ON chat_sessions(client_id, created_at);
