-- Signed visitor identity and feedback on replies (API.md, "Additions, turn 2").
-- The same schema as migrations/sqlite/0004. A client's identity secret signs its visitors'
-- ids (HMAC-SHA256); it must be kept in plaintext, since the server computes the same HMAC
-- to check a presented hash.
ALTER TABLE clients ADD COLUMN identity_secret TEXT;
ALTER TABLE clients ADD COLUMN identity_secret_created_at BIGINT;
ALTER TABLE clients ADD COLUMN require_verified_visitors BIGINT NOT NULL DEFAULT 0;

-- A session whose user_identifier came with a valid hash.
ALTER TABLE chat_sessions ADD COLUMN verified BIGINT NOT NULL DEFAULT 0;
CREATE INDEX chat_sessions_verified_visitor ON chat_sessions(client_id, user_identifier, last_activity);

-- One rating per assistant message; sending again replaces it.
CREATE TABLE message_feedback (
    message_id TEXT PRIMARY KEY REFERENCES messages(id) ON DELETE CASCADE,
    session_id TEXT NOT NULL REFERENCES chat_sessions(id) ON DELETE CASCADE,
    client_id TEXT REFERENCES clients(id) ON DELETE CASCADE,
    rating TEXT NOT NULL,
    comment TEXT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX message_feedback_session ON message_feedback(session_id);
CREATE INDEX message_feedback_client ON message_feedback(client_id, updated_at);
