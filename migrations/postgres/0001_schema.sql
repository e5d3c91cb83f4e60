-- The whole schema. Ids are TEXT UUIDs, times BIGINT Unix milliseconds, JSON stored as TEXT;
-- migrations/sqlite/0001_schema.sql is the same schema in SQLite.

CREATE TABLE users (
    id TEXT PRIMARY KEY,
    email TEXT NOT NULL UNIQUE,
    name TEXT,
    password_hash TEXT,
    google_sub TEXT UNIQUE,
    email_verified BIGINT NOT NULL DEFAULT 0,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);

CREATE TABLE refresh_tokens (
    id TEXT PRIMARY KEY,
    user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    family_id TEXT NOT NULL,
    token_hash TEXT NOT NULL UNIQUE,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    used_at BIGINT,
    revoked_at BIGINT
);
CREATE INDEX refresh_tokens_family ON refresh_tokens(family_id);
CREATE INDEX refresh_tokens_user ON refresh_tokens(user_id);

CREATE TABLE oauth_states (
    state_hash TEXT PRIMARY KEY,
    pkce_verifier TEXT NOT NULL,
    redirect TEXT,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);

CREATE TABLE clients (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    owner_user_id TEXT REFERENCES users(id) ON DELETE CASCADE,
    allowed_origins TEXT NOT NULL DEFAULT '[]',
    ai_provider TEXT,
    ai_model TEXT,
    system_prompt TEXT,
    temperature DOUBLE PRECISION,
    max_tokens BIGINT,
    bot_config TEXT NOT NULL DEFAULT '{}',
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX clients_owner ON clients(owner_user_id);

CREATE TABLE api_keys (
    id TEXT PRIMARY KEY,
    client_id TEXT NOT NULL REFERENCES clients(id) ON DELETE CASCADE,
    kind TEXT NOT NULL,
    key_hash TEXT NOT NULL UNIQUE,
    key_prefix TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    revoked_at BIGINT,
    last_used_at BIGINT
);
CREATE INDEX api_keys_client ON api_keys(client_id);

CREATE TABLE chat_sessions (
    id TEXT PRIMARY KEY,
    client_id TEXT REFERENCES clients(id) ON DELETE CASCADE,
    user_id TEXT REFERENCES users(id) ON DELETE CASCADE,
    user_identifier TEXT,
    config TEXT NOT NULL DEFAULT '{}',
    created_at BIGINT NOT NULL,
    last_activity BIGINT NOT NULL
);
CREATE INDEX chat_sessions_client ON chat_sessions(client_id, last_activity);
CREATE INDEX chat_sessions_user ON chat_sessions(user_id, last_activity);

CREATE TABLE messages (
    id TEXT PRIMARY KEY,
    session_id TEXT NOT NULL REFERENCES chat_sessions(id) ON DELETE CASCADE,
    role TEXT NOT NULL,
    content TEXT NOT NULL,
    provider TEXT,
    model TEXT,
    status TEXT,
    metadata TEXT,
    created_at BIGINT NOT NULL
);
CREATE INDEX messages_session ON messages(session_id, created_at);

CREATE TABLE session_files (
    session_id TEXT PRIMARY KEY REFERENCES chat_sessions(id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    kind TEXT NOT NULL,
    size BIGINT NOT NULL,
    summary TEXT NOT NULL,
    analysis TEXT NOT NULL,
    table_data TEXT NOT NULL,
    -- The file as the provider sees it (summary, statistics, first rows), rendered at upload
    -- so a message does not deserialize the whole table.
    context_text TEXT NOT NULL,
    uploaded_at BIGINT NOT NULL
);

-- Small facts the service keeps about itself, such as the demo client's publishable key
-- (publishable keys are public by design: they sit in every page that embeds the widget).
CREATE TABLE app_meta (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
