-- Several instances on one database (issue 19). The same schema as migrations/sqlite/0010.

-- A reply being generated, as the instance generating it last published it, so that any
-- instance can resume it (the text and each delta's length in characters, in order) or ask
-- for it to stop. The row is deleted once the reply is stored in `messages`.
CREATE TABLE replies_in_flight (
    message_id TEXT PRIMARY KEY,
    session_id TEXT NOT NULL REFERENCES chat_sessions(id) ON DELETE CASCADE,
    instance_id TEXT NOT NULL,
    content TEXT NOT NULL DEFAULT '',
    -- "3,5,2," : the characters of each delta published so far.
    deltas TEXT NOT NULL DEFAULT '',
    delta_count BIGINT NOT NULL DEFAULT 0,
    cancel_requested BIGINT NOT NULL DEFAULT 0,
    updated_at BIGINT NOT NULL
);
CREATE INDEX replies_in_flight_session ON replies_in_flight(session_id);

-- Rate limits shared by the instances (GCRA): per bucket, the time (Unix ms) at which its
-- budget is full again; a bucket past it is as good as absent.
CREATE TABLE rate_counters (
    bucket TEXT PRIMARY KEY,
    full_at BIGINT NOT NULL
);

-- Stamps that count changes every instance must see before its next request (the key
-- cache checks 'keys').
CREATE TABLE change_stamps (
    name TEXT PRIMARY KEY,
    n BIGINT NOT NULL
);
INSERT INTO change_stamps (name, n) VALUES ('keys', 0);

-- When each background job last ran, whichever instance ran it.
CREATE TABLE job_runs (
    name TEXT PRIMARY KEY,
    last_run_at BIGINT NOT NULL,
    instance_id TEXT NOT NULL
);
