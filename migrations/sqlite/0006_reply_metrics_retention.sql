-- Owners' analytics and retention (API.md, "Owners" and "Client settings", turn 2).
-- A reply's timings and token counts in columns, written with the reply, so analytics sums
-- and bins them without parsing each message's metadata.
ALTER TABLE messages ADD COLUMN ttft_ms INTEGER;
ALTER TABLE messages ADD COLUMN total_ms INTEGER;
ALTER TABLE messages ADD COLUMN prompt_tokens INTEGER;
ALTER TABLE messages ADD COLUMN completion_tokens INTEGER;

-- Days after its last activity that a client's session is deleted; NULL keeps it forever.
ALTER TABLE clients ADD COLUMN retention_days INTEGER;

-- Analytics and the session list read a client's sessions by creation time too.
CREATE INDEX chat_sessions_client_created ON chat_sessions(client_id, created_at);
