-- The table PostgreSQL's triggers write a message's analytics to before a job moves them
-- into the rollups (migrations/postgres/0011). SQLite has one writer at a time: its
-- triggers write the rollups directly and this table stays empty; it is here so that the
-- analytics endpoint reads the same tables on both.

CREATE TABLE analytics_pending (
    client_id TEXT NOT NULL,
    hour BIGINT NOT NULL,
    provider TEXT NOT NULL,
    model TEXT NOT NULL,
    user_messages BIGINT NOT NULL,
    replies BIGINT NOT NULL,
    replies_failed BIGINT NOT NULL,
    replies_cancelled BIGINT NOT NULL,
    prompt_tokens BIGINT NOT NULL,
    completion_tokens BIGINT NOT NULL,
    -- +1 or -1 for a reply's timings (0 for a question), in the bins of analytics_timings.
    timings BIGINT NOT NULL,
    ttft_bin BIGINT,
    reply_bin BIGINT
);
