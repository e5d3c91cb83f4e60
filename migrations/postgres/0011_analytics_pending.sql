-- Analytics without a hot row on the reply path (issues 14 and 19). Every question and
-- reply of a client added one to the same rows of analytics_hours and analytics_timings
-- (its client and hour) in the statement that stored it: three upserts on rows all of the
-- client's replies update, each leaving a dead row version behind. On PostgreSQL that was
-- most of what a reply cost the database (pgbench, 16 connections storing a question and a
-- reply: about 1,370 a second with those upserts, 2,000 with the row below instead).
--
-- A message stored, changed or deleted now adds one row to analytics_pending, in the same
-- statement as before (a plain insert: no index, no conflict, no row shared with anyone);
-- a job of every instance (db::analytics::fold_pending, once a second) moves those rows
-- into the rollups in one statement each batch. The analytics endpoint reads the rollups
-- and the pending rows in one statement, so what it answers is exact at every commit, as
-- before; a session deleted or feedback given still change the rollups directly.
--
-- SQLite has one writer at a time and no such rows to contend for: its triggers still
-- write the rollups directly, and its analytics_pending (migrations/sqlite/0011) stays empty.

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

-- The 1-2-5 bins of migrations/postgres/0009 (db::analytics::STEPS), for one value; NULL
-- for NULL.
CREATE FUNCTION analytics_bin(ms BIGINT) RETURNS BIGINT
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE WHEN ms < 20 THEN ms
        WHEN ms < 50 THEN (ms / 2) * 2
        WHEN ms < 100 THEN (ms / 5) * 5
        WHEN ms < 200 THEN (ms / 10) * 10
        WHEN ms < 500 THEN (ms / 20) * 20
        WHEN ms < 1000 THEN (ms / 50) * 50
        WHEN ms < 2000 THEN (ms / 100) * 100
        WHEN ms < 5000 THEN (ms / 200) * 200
        WHEN ms < 10000 THEN (ms / 500) * 500
        WHEN ms < 20000 THEN (ms / 1000) * 1000
        WHEN ms < 50000 THEN (ms / 2000) * 2000
        WHEN ms < 100000 THEN (ms / 5000) * 5000
        WHEN ms < 200000 THEN (ms / 10000) * 10000
        WHEN ms < 500000 THEN (ms / 20000) * 20000
        WHEN ms < 1000000 THEN (ms / 50000) * 50000
        ELSE (ms / 100000) * 100000 END
$$;

CREATE OR REPLACE FUNCTION message_counts_in_analytics() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP IN ('UPDATE', 'DELETE') THEN
        INSERT INTO analytics_pending (client_id, hour, provider, model, user_messages, replies, replies_failed, replies_cancelled, prompt_tokens, completion_tokens, timings, ttft_bin, reply_bin)
            SELECT s.client_id, OLD.created_at - OLD.created_at % 3600000, COALESCE(OLD.provider, ''), COALESCE(OLD.model, ''),
                -(OLD.role = 'user')::int, -(OLD.role = 'assistant')::int,
                -(OLD.role = 'assistant' AND OLD.status IN ('error', 'interrupted'))::int,
                -(OLD.role = 'assistant' AND OLD.status = 'cancelled')::int,
                -COALESCE(OLD.prompt_tokens, 0), -COALESCE(OLD.completion_tokens, 0),
                -(OLD.role = 'assistant')::int, analytics_bin(OLD.ttft_ms), analytics_bin(OLD.total_ms)
            FROM chat_sessions s WHERE s.id = OLD.session_id AND s.client_id IS NOT NULL;
    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE') THEN
        INSERT INTO analytics_pending (client_id, hour, provider, model, user_messages, replies, replies_failed, replies_cancelled, prompt_tokens, completion_tokens, timings, ttft_bin, reply_bin)
            SELECT s.client_id, NEW.created_at - NEW.created_at % 3600000, COALESCE(NEW.provider, ''), COALESCE(NEW.model, ''),
                (NEW.role = 'user')::int, (NEW.role = 'assistant')::int,
                (NEW.role = 'assistant' AND NEW.status IN ('error', 'interrupted'))::int,
                (NEW.role = 'assistant' AND NEW.status = 'cancelled')::int,
                COALESCE(NEW.prompt_tokens, 0), COALESCE(NEW.completion_tokens, 0),
                (NEW.role = 'assistant')::int, analytics_bin(NEW.ttft_ms), analytics_bin(NEW.total_ms)
            FROM chat_sessions s WHERE s.id = NEW.session_id AND s.client_id IS NOT NULL;
    END IF;
    RETURN NULL;
END
$$;
