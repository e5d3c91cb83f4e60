-- Owners' analytics answered from hourly rollups (issue 14: 30 days of a client with a
-- million messages in well under 250 ms) instead of a pass over every message.
--
-- analytics_hours: per client, UTC hour (Unix ms of its start) and provider/model ('' for a
-- visitor's messages and for feedback), the counts and sums the analytics endpoint reports.
-- analytics_timings: per the same key, how many replies' time to first token ('ttft') and
-- reply time ('reply') fell in each bin; a bin is at most 10 % as wide as its start
-- (1-2-5 steps: exact below 20 ms, then 2, 5, 10, 20, 50 ... ms wide), so a percentile
-- read from the bins is within 5 % (src/db/analytics.rs mirrors the bins).
--
-- Triggers keep both exact in the statement that changes what they count, on every path
-- (a question, a reply, a direct UPDATE, a feedback given, replaced or removed) and for
-- deletions too: a message or feedback deleted, or a session deleted (its messages are
-- taken out before the cascade, whose per-message triggers then find no session and do
-- nothing). Analytics therefore count what is stored: deleted conversations, erased
-- visitors and sessions past retention no longer count. src/db/erase.rs deletes a deleted
-- client's rows.

CREATE TABLE analytics_hours (
    client_id TEXT NOT NULL,
    hour INTEGER NOT NULL,
    provider TEXT NOT NULL,
    model TEXT NOT NULL,
    user_messages INTEGER NOT NULL DEFAULT 0,
    replies INTEGER NOT NULL DEFAULT 0,
    replies_failed INTEGER NOT NULL DEFAULT 0,
    replies_cancelled INTEGER NOT NULL DEFAULT 0,
    prompt_tokens INTEGER NOT NULL DEFAULT 0,
    completion_tokens INTEGER NOT NULL DEFAULT 0,
    feedback_up INTEGER NOT NULL DEFAULT 0,
    feedback_down INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (client_id, hour, provider, model)
) WITHOUT ROWID;

CREATE TABLE analytics_timings (
    client_id TEXT NOT NULL,
    hour INTEGER NOT NULL,
    provider TEXT NOT NULL,
    model TEXT NOT NULL,
    metric TEXT NOT NULL,
    bin INTEGER NOT NULL,
    n INTEGER NOT NULL,
    PRIMARY KEY (client_id, hour, provider, model, metric, bin)
) WITHOUT ROWID;

-- Sessions and distinct visitors come from the sessions themselves, read from this index
-- alone (it replaces 0006's index on the first two columns).
CREATE INDEX chat_sessions_client_created_visitor ON chat_sessions(client_id, created_at, user_identifier);
DROP INDEX chat_sessions_client_created;

-- What is stored already.
INSERT INTO analytics_hours (client_id, hour, provider, model, user_messages, replies, replies_failed, replies_cancelled, prompt_tokens, completion_tokens)
    SELECT s.client_id, m.created_at - m.created_at % 3600000, COALESCE(m.provider, ''), COALESCE(m.model, ''), SUM(CASE WHEN m.role = 'user' THEN 1 ELSE 0 END), SUM(CASE WHEN m.role = 'assistant' THEN 1 ELSE 0 END), SUM(CASE WHEN m.role = 'assistant' AND m.status IN ('error', 'interrupted') THEN 1 ELSE 0 END), SUM(CASE WHEN m.role = 'assistant' AND m.status = 'cancelled' THEN 1 ELSE 0 END), SUM(COALESCE(m.prompt_tokens, 0)), SUM(COALESCE(m.completion_tokens, 0))
    FROM messages m JOIN chat_sessions s ON s.id = m.session_id WHERE s.client_id IS NOT NULL
    GROUP BY 1, 2, 3, 4
    ON CONFLICT (client_id, hour, provider, model) DO UPDATE SET user_messages = analytics_hours.user_messages + excluded.user_messages, replies = analytics_hours.replies + excluded.replies, replies_failed = analytics_hours.replies_failed + excluded.replies_failed, replies_cancelled = analytics_hours.replies_cancelled + excluded.replies_cancelled, prompt_tokens = analytics_hours.prompt_tokens + excluded.prompt_tokens, completion_tokens = analytics_hours.completion_tokens + excluded.completion_tokens;
INSERT INTO analytics_timings (client_id, hour, provider, model, metric, bin, n)
    SELECT s.client_id, m.created_at - m.created_at % 3600000, COALESCE(m.provider, ''), COALESCE(m.model, ''), 'ttft', CASE WHEN m.ttft_ms < 20 THEN m.ttft_ms WHEN m.ttft_ms < 50 THEN (m.ttft_ms / 2) * 2 WHEN m.ttft_ms < 100 THEN (m.ttft_ms / 5) * 5 WHEN m.ttft_ms < 200 THEN (m.ttft_ms / 10) * 10 WHEN m.ttft_ms < 500 THEN (m.ttft_ms / 20) * 20 WHEN m.ttft_ms < 1000 THEN (m.ttft_ms / 50) * 50 WHEN m.ttft_ms < 2000 THEN (m.ttft_ms / 100) * 100 WHEN m.ttft_ms < 5000 THEN (m.ttft_ms / 200) * 200 WHEN m.ttft_ms < 10000 THEN (m.ttft_ms / 500) * 500 WHEN m.ttft_ms < 20000 THEN (m.ttft_ms / 1000) * 1000 WHEN m.ttft_ms < 50000 THEN (m.ttft_ms / 2000) * 2000 WHEN m.ttft_ms < 100000 THEN (m.ttft_ms / 5000) * 5000 WHEN m.ttft_ms < 200000 THEN (m.ttft_ms / 10000) * 10000 WHEN m.ttft_ms < 500000 THEN (m.ttft_ms / 20000) * 20000 WHEN m.ttft_ms < 1000000 THEN (m.ttft_ms / 50000) * 50000 ELSE (m.ttft_ms / 100000) * 100000 END, COUNT(*)
    FROM messages m JOIN chat_sessions s ON s.id = m.session_id WHERE s.client_id IS NOT NULL AND m.role = 'assistant' AND m.ttft_ms IS NOT NULL
    GROUP BY 1, 2, 3, 4, 5, 6
    ON CONFLICT (client_id, hour, provider, model, metric, bin) DO UPDATE SET n = analytics_timings.n + excluded.n;
INSERT INTO analytics_timings (client_id, hour, provider, model, metric, bin, n)
    SELECT s.client_id, m.created_at - m.created_at % 3600000, COALESCE(m.provider, ''), COALESCE(m.model, ''), 'reply', CASE WHEN m.total_ms < 20 THEN m.total_ms WHEN m.total_ms < 50 THEN (m.total_ms / 2) * 2 WHEN m.total_ms < 100 THEN (m.total_ms / 5) * 5 WHEN m.total_ms < 200 THEN (m.total_ms / 10) * 10 WHEN m.total_ms < 500 THEN (m.total_ms / 20) * 20 WHEN m.total_ms < 1000 THEN (m.total_ms / 50) * 50 WHEN m.total_ms < 2000 THEN (m.total_ms / 100) * 100 WHEN m.total_ms < 5000 THEN (m.total_ms / 200) * 200 WHEN m.total_ms < 10000 THEN (m.total_ms / 500) * 500 WHEN m.total_ms < 20000 THEN (m.total_ms / 1000) * 1000 WHEN m.total_ms < 50000 THEN (m.total_ms / 2000) * 2000 WHEN m.total_ms < 100000 THEN (m.total_ms / 5000) * 5000 WHEN m.total_ms < 200000 THEN (m.total_ms / 10000) * 10000 WHEN m.total_ms < 500000 THEN (m.total_ms / 20000) * 20000 WHEN m.total_ms < 1000000 THEN (m.total_ms / 50000) * 50000 ELSE (m.total_ms / 100000) * 100000 END, COUNT(*)
    FROM messages m JOIN chat_sessions s ON s.id = m.session_id WHERE s.client_id IS NOT NULL AND m.role = 'assistant' AND m.total_ms IS NOT NULL
    GROUP BY 1, 2, 3, 4, 5, 6
    ON CONFLICT (client_id, hour, provider, model, metric, bin) DO UPDATE SET n = analytics_timings.n + excluded.n;
INSERT INTO analytics_hours (client_id, hour, provider, model, feedback_up, feedback_down)
    SELECT f.client_id, f.updated_at - f.updated_at % 3600000, '', '', SUM(CASE WHEN f.rating = 'up' THEN 1 ELSE 0 END), SUM(CASE WHEN f.rating = 'down' THEN 1 ELSE 0 END)
    FROM message_feedback f WHERE f.client_id IS NOT NULL
    GROUP BY 1, 2, 3, 4
    ON CONFLICT (client_id, hour, provider, model) DO UPDATE SET feedback_up = analytics_hours.feedback_up + excluded.feedback_up, feedback_down = analytics_hours.feedback_down + excluded.feedback_down;

CREATE TRIGGER messages_count_in_analytics AFTER INSERT ON messages
BEGIN
    INSERT INTO analytics_hours (client_id, hour, provider, model, user_messages, replies, replies_failed, replies_cancelled, prompt_tokens, completion_tokens)
        SELECT s.client_id, NEW.created_at - NEW.created_at % 3600000, COALESCE(NEW.provider, ''), COALESCE(NEW.model, ''),
            CASE WHEN NEW.role = 'user' THEN 1 ELSE 0 END, CASE WHEN NEW.role = 'assistant' THEN 1 ELSE 0 END, CASE WHEN NEW.role = 'assistant' AND NEW.status IN ('error', 'interrupted') THEN 1 ELSE 0 END, CASE WHEN NEW.role = 'assistant' AND NEW.status = 'cancelled' THEN 1 ELSE 0 END, COALESCE(NEW.prompt_tokens, 0), COALESCE(NEW.completion_tokens, 0)
        FROM chat_sessions s WHERE s.id = NEW.session_id AND s.client_id IS NOT NULL
        ON CONFLICT (client_id, hour, provider, model) DO UPDATE SET user_messages = analytics_hours.user_messages + excluded.user_messages, replies = analytics_hours.replies + excluded.replies, replies_failed = analytics_hours.replies_failed + excluded.replies_failed, replies_cancelled = analytics_hours.replies_cancelled + excluded.replies_cancelled, prompt_tokens = analytics_hours.prompt_tokens + excluded.prompt_tokens, completion_tokens = analytics_hours.completion_tokens + excluded.completion_tokens;
    INSERT INTO analytics_timings (client_id, hour, provider, model, metric, bin, n)
        SELECT s.client_id, NEW.created_at - NEW.created_at % 3600000, COALESCE(NEW.provider, ''), COALESCE(NEW.model, ''), t.metric, t.bin, 1
        FROM chat_sessions s, (SELECT 'ttft' AS metric, CASE WHEN NEW.ttft_ms < 20 THEN NEW.ttft_ms WHEN NEW.ttft_ms < 50 THEN (NEW.ttft_ms / 2) * 2 WHEN NEW.ttft_ms < 100 THEN (NEW.ttft_ms / 5) * 5 WHEN NEW.ttft_ms < 200 THEN (NEW.ttft_ms / 10) * 10 WHEN NEW.ttft_ms < 500 THEN (NEW.ttft_ms / 20) * 20 WHEN NEW.ttft_ms < 1000 THEN (NEW.ttft_ms / 50) * 50 WHEN NEW.ttft_ms < 2000 THEN (NEW.ttft_ms / 100) * 100 WHEN NEW.ttft_ms < 5000 THEN (NEW.ttft_ms / 200) * 200 WHEN NEW.ttft_ms < 10000 THEN (NEW.ttft_ms / 500) * 500 WHEN NEW.ttft_ms < 20000 THEN (NEW.ttft_ms / 1000) * 1000 WHEN NEW.ttft_ms < 50000 THEN (NEW.ttft_ms / 2000) * 2000 WHEN NEW.ttft_ms < 100000 THEN (NEW.ttft_ms / 5000) * 5000 WHEN NEW.ttft_ms < 200000 THEN (NEW.ttft_ms / 10000) * 10000 WHEN NEW.ttft_ms < 500000 THEN (NEW.ttft_ms / 20000) * 20000 WHEN NEW.ttft_ms < 1000000 THEN (NEW.ttft_ms / 50000) * 50000 ELSE (NEW.ttft_ms / 100000) * 100000 END AS bin WHERE NEW.ttft_ms IS NOT NULL
            UNION ALL SELECT 'reply', CASE WHEN NEW.total_ms < 20 THEN NEW.total_ms WHEN NEW.total_ms < 50 THEN (NEW.total_ms / 2) * 2 WHEN NEW.total_ms < 100 THEN (NEW.total_ms / 5) * 5 WHEN NEW.total_ms < 200 THEN (NEW.total_ms / 10) * 10 WHEN NEW.total_ms < 500 THEN (NEW.total_ms / 20) * 20 WHEN NEW.total_ms < 1000 THEN (NEW.total_ms / 50) * 50 WHEN NEW.total_ms < 2000 THEN (NEW.total_ms / 100) * 100 WHEN NEW.total_ms < 5000 THEN (NEW.total_ms / 200) * 200 WHEN NEW.total_ms < 10000 THEN (NEW.total_ms / 500) * 500 WHEN NEW.total_ms < 20000 THEN (NEW.total_ms / 1000) * 1000 WHEN NEW.total_ms < 50000 THEN (NEW.total_ms / 2000) * 2000 WHEN NEW.total_ms < 100000 THEN (NEW.total_ms / 5000) * 5000 WHEN NEW.total_ms < 200000 THEN (NEW.total_ms / 10000) * 10000 WHEN NEW.total_ms < 500000 THEN (NEW.total_ms / 20000) * 20000 WHEN NEW.total_ms < 1000000 THEN (NEW.total_ms / 50000) * 50000 ELSE (NEW.total_ms / 100000) * 100000 END WHERE NEW.total_ms IS NOT NULL) t
        WHERE s.id = NEW.session_id AND s.client_id IS NOT NULL AND NEW.role = 'assistant'
        ON CONFLICT (client_id, hour, provider, model, metric, bin) DO UPDATE SET n = analytics_timings.n + excluded.n;
END;

CREATE TRIGGER messages_recount_in_analytics AFTER UPDATE ON messages
BEGIN
    INSERT INTO analytics_hours (client_id, hour, provider, model, user_messages, replies, replies_failed, replies_cancelled, prompt_tokens, completion_tokens)
        SELECT s.client_id, OLD.created_at - OLD.created_at % 3600000, COALESCE(OLD.provider, ''), COALESCE(OLD.model, ''),
            -CASE WHEN OLD.role = 'user' THEN 1 ELSE 0 END, -CASE WHEN OLD.role = 'assistant' THEN 1 ELSE 0 END, -CASE WHEN OLD.role = 'assistant' AND OLD.status IN ('error', 'interrupted') THEN 1 ELSE 0 END, -CASE WHEN OLD.role = 'assistant' AND OLD.status = 'cancelled' THEN 1 ELSE 0 END, -COALESCE(OLD.prompt_tokens, 0), -COALESCE(OLD.completion_tokens, 0)
        FROM chat_sessions s WHERE s.id = OLD.session_id AND s.client_id IS NOT NULL
        ON CONFLICT (client_id, hour, provider, model) DO UPDATE SET user_messages = analytics_hours.user_messages + excluded.user_messages, replies = analytics_hours.replies + excluded.replies, replies_failed = analytics_hours.replies_failed + excluded.replies_failed, replies_cancelled = analytics_hours.replies_cancelled + excluded.replies_cancelled, prompt_tokens = analytics_hours.prompt_tokens + excluded.prompt_tokens, completion_tokens = analytics_hours.completion_tokens + excluded.completion_tokens;
    INSERT INTO analytics_timings (client_id, hour, provider, model, metric, bin, n)
        SELECT s.client_id, OLD.created_at - OLD.created_at % 3600000, COALESCE(OLD.provider, ''), COALESCE(OLD.model, ''), t.metric, t.bin, -1
        FROM chat_sessions s, (SELECT 'ttft' AS metric, CASE WHEN OLD.ttft_ms < 20 THEN OLD.ttft_ms WHEN OLD.ttft_ms < 50 THEN (OLD.ttft_ms / 2) * 2 WHEN OLD.ttft_ms < 100 THEN (OLD.ttft_ms / 5) * 5 WHEN OLD.ttft_ms < 200 THEN (OLD.ttft_ms / 10) * 10 WHEN OLD.ttft_ms < 500 THEN (OLD.ttft_ms / 20) * 20 WHEN OLD.ttft_ms < 1000 THEN (OLD.ttft_ms / 50) * 50 WHEN OLD.ttft_ms < 2000 THEN (OLD.ttft_ms / 100) * 100 WHEN OLD.ttft_ms < 5000 THEN (OLD.ttft_ms / 200) * 200 WHEN OLD.ttft_ms < 10000 THEN (OLD.ttft_ms / 500) * 500 WHEN OLD.ttft_ms < 20000 THEN (OLD.ttft_ms / 1000) * 1000 WHEN OLD.ttft_ms < 50000 THEN (OLD.ttft_ms / 2000) * 2000 WHEN OLD.ttft_ms < 100000 THEN (OLD.ttft_ms / 5000) * 5000 WHEN OLD.ttft_ms < 200000 THEN (OLD.ttft_ms / 10000) * 10000 WHEN OLD.ttft_ms < 500000 THEN (OLD.ttft_ms / 20000) * 20000 WHEN OLD.ttft_ms < 1000000 THEN (OLD.ttft_ms / 50000) * 50000 ELSE (OLD.ttft_ms / 100000) * 100000 END AS bin WHERE OLD.ttft_ms IS NOT NULL
            UNION ALL SELECT 'reply', CASE WHEN OLD.total_ms < 20 THEN OLD.total_ms WHEN OLD.total_ms < 50 THEN (OLD.total_ms / 2) * 2 WHEN OLD.total_ms < 100 THEN (OLD.total_ms / 5) * 5 WHEN OLD.total_ms < 200 THEN (OLD.total_ms / 10) * 10 WHEN OLD.total_ms < 500 THEN (OLD.total_ms / 20) * 20 WHEN OLD.total_ms < 1000 THEN (OLD.total_ms / 50) * 50 WHEN OLD.total_ms < 2000 THEN (OLD.total_ms / 100) * 100 WHEN OLD.total_ms < 5000 THEN (OLD.total_ms / 200) * 200 WHEN OLD.total_ms < 10000 THEN (OLD.total_ms / 500) * 500 WHEN OLD.total_ms < 20000 THEN (OLD.total_ms / 1000) * 1000 WHEN OLD.total_ms < 50000 THEN (OLD.total_ms / 2000) * 2000 WHEN OLD.total_ms < 100000 THEN (OLD.total_ms / 5000) * 5000 WHEN OLD.total_ms < 200000 THEN (OLD.total_ms / 10000) * 10000 WHEN OLD.total_ms < 500000 THEN (OLD.total_ms / 20000) * 20000 WHEN OLD.total_ms < 1000000 THEN (OLD.total_ms / 50000) * 50000 ELSE (OLD.total_ms / 100000) * 100000 END WHERE OLD.total_ms IS NOT NULL) t
        WHERE s.id = OLD.session_id AND s.client_id IS NOT NULL AND OLD.role = 'assistant'
        ON CONFLICT (client_id, hour, provider, model, metric, bin) DO UPDATE SET n = analytics_timings.n + excluded.n;
    INSERT INTO analytics_hours (client_id, hour, provider, model, user_messages, replies, replies_failed, replies_cancelled, prompt_tokens, completion_tokens)
        SELECT s.client_id, NEW.created_at - NEW.created_at % 3600000, COALESCE(NEW.provider, ''), COALESCE(NEW.model, ''),
            CASE WHEN NEW.role = 'user' THEN 1 ELSE 0 END, CASE WHEN NEW.role = 'assistant' THEN 1 ELSE 0 END, CASE WHEN NEW.role = 'assistant' AND NEW.status IN ('error', 'interrupted') THEN 1 ELSE 0 END, CASE WHEN NEW.role = 'assistant' AND NEW.status = 'cancelled' THEN 1 ELSE 0 END, COALESCE(NEW.prompt_tokens, 0), COALESCE(NEW.completion_tokens, 0)
        FROM chat_sessions s WHERE s.id = NEW.session_id AND s.client_id IS NOT NULL
        ON CONFLICT (client_id, hour, provider, model) DO UPDATE SET user_messages = analytics_hours.user_messages + excluded.user_messages, replies = analytics_hours.replies + excluded.replies, replies_failed = analytics_hours.replies_failed + excluded.replies_failed, replies_cancelled = analytics_hours.replies_cancelled + excluded.replies_cancelled, prompt_tokens = analytics_hours.prompt_tokens + excluded.prompt_tokens, completion_tokens = analytics_hours.completion_tokens + excluded.completion_tokens;
    INSERT INTO analytics_timings (client_id, hour, provider, model, metric, bin, n)
        SELECT s.client_id, NEW.created_at - NEW.created_at % 3600000, COALESCE(NEW.provider, ''), COALESCE(NEW.model, ''), t.metric, t.bin, 1
        FROM chat_sessions s, (SELECT 'ttft' AS metric, CASE WHEN NEW.ttft_ms < 20 THEN NEW.ttft_ms WHEN NEW.ttft_ms < 50 THEN (NEW.ttft_ms / 2) * 2 WHEN NEW.ttft_ms < 100 THEN (NEW.ttft_ms / 5) * 5 WHEN NEW.ttft_ms < 200 THEN (NEW.ttft_ms / 10) * 10 WHEN NEW.ttft_ms < 500 THEN (NEW.ttft_ms / 20) * 20 WHEN NEW.ttft_ms < 1000 THEN (NEW.ttft_ms / 50) * 50 WHEN NEW.ttft_ms < 2000 THEN (NEW.ttft_ms / 100) * 100 WHEN NEW.ttft_ms < 5000 THEN (NEW.ttft_ms / 200) * 200 WHEN NEW.ttft_ms < 10000 THEN (NEW.ttft_ms / 500) * 500 WHEN NEW.ttft_ms < 20000 THEN (NEW.ttft_ms / 1000) * 1000 WHEN NEW.ttft_ms < 50000 THEN (NEW.ttft_ms / 2000) * 2000 WHEN NEW.ttft_ms < 100000 THEN (NEW.ttft_ms / 5000) * 5000 WHEN NEW.ttft_ms < 200000 THEN (NEW.ttft_ms / 10000) * 10000 WHEN NEW.ttft_ms < 500000 THEN (NEW.ttft_ms / 20000) * 20000 WHEN NEW.ttft_ms < 1000000 THEN (NEW.ttft_ms / 50000) * 50000 ELSE (NEW.ttft_ms / 100000) * 100000 END AS bin WHERE NEW.ttft_ms IS NOT NULL
            UNION ALL SELECT 'reply', CASE WHEN NEW.total_ms < 20 THEN NEW.total_ms WHEN NEW.total_ms < 50 THEN (NEW.total_ms / 2) * 2 WHEN NEW.total_ms < 100 THEN (NEW.total_ms / 5) * 5 WHEN NEW.total_ms < 200 THEN (NEW.total_ms / 10) * 10 WHEN NEW.total_ms < 500 THEN (NEW.total_ms / 20) * 20 WHEN NEW.total_ms < 1000 THEN (NEW.total_ms / 50) * 50 WHEN NEW.total_ms < 2000 THEN (NEW.total_ms / 100) * 100 WHEN NEW.total_ms < 5000 THEN (NEW.total_ms / 200) * 200 WHEN NEW.total_ms < 10000 THEN (NEW.total_ms / 500) * 500 WHEN NEW.total_ms < 20000 THEN (NEW.total_ms / 1000) * 1000 WHEN NEW.total_ms < 50000 THEN (NEW.total_ms / 2000) * 2000 WHEN NEW.total_ms < 100000 THEN (NEW.total_ms / 5000) * 5000 WHEN NEW.total_ms < 200000 THEN (NEW.total_ms / 10000) * 10000 WHEN NEW.total_ms < 500000 THEN (NEW.total_ms / 20000) * 20000 WHEN NEW.total_ms < 1000000 THEN (NEW.total_ms / 50000) * 50000 ELSE (NEW.total_ms / 100000) * 100000 END WHERE NEW.total_ms IS NOT NULL) t
        WHERE s.id = NEW.session_id AND s.client_id IS NOT NULL AND NEW.role = 'assistant'
        ON CONFLICT (client_id, hour, provider, model, metric, bin) DO UPDATE SET n = analytics_timings.n + excluded.n;
END;

CREATE TRIGGER messages_leave_analytics AFTER DELETE ON messages
BEGIN
    INSERT INTO analytics_hours (client_id, hour, provider, model, user_messages, replies, replies_failed, replies_cancelled, prompt_tokens, completion_tokens)
        SELECT s.client_id, OLD.created_at - OLD.created_at % 3600000, COALESCE(OLD.provider, ''), COALESCE(OLD.model, ''),
            -CASE WHEN OLD.role = 'user' THEN 1 ELSE 0 END, -CASE WHEN OLD.role = 'assistant' THEN 1 ELSE 0 END, -CASE WHEN OLD.role = 'assistant' AND OLD.status IN ('error', 'interrupted') THEN 1 ELSE 0 END, -CASE WHEN OLD.role = 'assistant' AND OLD.status = 'cancelled' THEN 1 ELSE 0 END, -COALESCE(OLD.prompt_tokens, 0), -COALESCE(OLD.completion_tokens, 0)
        FROM chat_sessions s WHERE s.id = OLD.session_id AND s.client_id IS NOT NULL
        ON CONFLICT (client_id, hour, provider, model) DO UPDATE SET user_messages = analytics_hours.user_messages + excluded.user_messages, replies = analytics_hours.replies + excluded.replies, replies_failed = analytics_hours.replies_failed + excluded.replies_failed, replies_cancelled = analytics_hours.replies_cancelled + excluded.replies_cancelled, prompt_tokens = analytics_hours.prompt_tokens + excluded.prompt_tokens, completion_tokens = analytics_hours.completion_tokens + excluded.completion_tokens;
    INSERT INTO analytics_timings (client_id, hour, provider, model, metric, bin, n)
        SELECT s.client_id, OLD.created_at - OLD.created_at % 3600000, COALESCE(OLD.provider, ''), COALESCE(OLD.model, ''), t.metric, t.bin, -1
        FROM chat_sessions s, (SELECT 'ttft' AS metric, CASE WHEN OLD.ttft_ms < 20 THEN OLD.ttft_ms WHEN OLD.ttft_ms < 50 THEN (OLD.ttft_ms / 2) * 2 WHEN OLD.ttft_ms < 100 THEN (OLD.ttft_ms / 5) * 5 WHEN OLD.ttft_ms < 200 THEN (OLD.ttft_ms / 10) * 10 WHEN OLD.ttft_ms < 500 THEN (OLD.ttft_ms / 20) * 20 WHEN OLD.ttft_ms < 1000 THEN (OLD.ttft_ms / 50) * 50 WHEN OLD.ttft_ms < 2000 THEN (OLD.ttft_ms / 100) * 100 WHEN OLD.ttft_ms < 5000 THEN (OLD.ttft_ms / 200) * 200 WHEN OLD.ttft_ms < 10000 THEN (OLD.ttft_ms / 500) * 500 WHEN OLD.ttft_ms < 20000 THEN (OLD.ttft_ms / 1000) * 1000 WHEN OLD.ttft_ms < 50000 THEN (OLD.ttft_ms / 2000) * 2000 WHEN OLD.ttft_ms < 100000 THEN (OLD.ttft_ms / 5000) * 5000 WHEN OLD.ttft_ms < 200000 THEN (OLD.ttft_ms / 10000) * 10000 WHEN OLD.ttft_ms < 500000 THEN (OLD.ttft_ms / 20000) * 20000 WHEN OLD.ttft_ms < 1000000 THEN (OLD.ttft_ms / 50000) * 50000 ELSE (OLD.ttft_ms / 100000) * 100000 END AS bin WHERE OLD.ttft_ms IS NOT NULL
            UNION ALL SELECT 'reply', CASE WHEN OLD.total_ms < 20 THEN OLD.total_ms WHEN OLD.total_ms < 50 THEN (OLD.total_ms / 2) * 2 WHEN OLD.total_ms < 100 THEN (OLD.total_ms / 5) * 5 WHEN OLD.total_ms < 200 THEN (OLD.total_ms / 10) * 10 WHEN OLD.total_ms < 500 THEN (OLD.total_ms / 20) * 20 WHEN OLD.total_ms < 1000 THEN (OLD.total_ms / 50) * 50 WHEN OLD.total_ms < 2000 THEN (OLD.total_ms / 100) * 100 WHEN OLD.total_ms < 5000 THEN (OLD.total_ms / 200) * 200 WHEN OLD.total_ms < 10000 THEN (OLD.total_ms / 500) * 500 WHEN OLD.total_ms < 20000 THEN (OLD.total_ms / 1000) * 1000 WHEN OLD.total_ms < 50000 THEN (OLD.total_ms / 2000) * 2000 WHEN OLD.total_ms < 100000 THEN (OLD.total_ms / 5000) * 5000 WHEN OLD.total_ms < 200000 THEN (OLD.total_ms / 10000) * 10000 WHEN OLD.total_ms < 500000 THEN (OLD.total_ms / 20000) * 20000 WHEN OLD.total_ms < 1000000 THEN (OLD.total_ms / 50000) * 50000 ELSE (OLD.total_ms / 100000) * 100000 END WHERE OLD.total_ms IS NOT NULL) t
        WHERE s.id = OLD.session_id AND s.client_id IS NOT NULL AND OLD.role = 'assistant'
        ON CONFLICT (client_id, hour, provider, model, metric, bin) DO UPDATE SET n = analytics_timings.n + excluded.n;
END;

CREATE TRIGGER chat_sessions_leave_analytics BEFORE DELETE ON chat_sessions
WHEN OLD.client_id IS NOT NULL
BEGIN
    INSERT INTO analytics_hours (client_id, hour, provider, model, user_messages, replies, replies_failed, replies_cancelled, prompt_tokens, completion_tokens)
        SELECT OLD.client_id, m.created_at - m.created_at % 3600000, COALESCE(m.provider, ''), COALESCE(m.model, ''), -SUM(CASE WHEN m.role = 'user' THEN 1 ELSE 0 END), -SUM(CASE WHEN m.role = 'assistant' THEN 1 ELSE 0 END), -SUM(CASE WHEN m.role = 'assistant' AND m.status IN ('error', 'interrupted') THEN 1 ELSE 0 END), -SUM(CASE WHEN m.role = 'assistant' AND m.status = 'cancelled' THEN 1 ELSE 0 END), -SUM(COALESCE(m.prompt_tokens, 0)), -SUM(COALESCE(m.completion_tokens, 0))
        FROM messages m WHERE m.session_id = OLD.id
        GROUP BY 1, 2, 3, 4
        ON CONFLICT (client_id, hour, provider, model) DO UPDATE SET user_messages = analytics_hours.user_messages + excluded.user_messages, replies = analytics_hours.replies + excluded.replies, replies_failed = analytics_hours.replies_failed + excluded.replies_failed, replies_cancelled = analytics_hours.replies_cancelled + excluded.replies_cancelled, prompt_tokens = analytics_hours.prompt_tokens + excluded.prompt_tokens, completion_tokens = analytics_hours.completion_tokens + excluded.completion_tokens;
    INSERT INTO analytics_timings (client_id, hour, provider, model, metric, bin, n)
        SELECT OLD.client_id, m.created_at - m.created_at % 3600000, COALESCE(m.provider, ''), COALESCE(m.model, ''), 'ttft', CASE WHEN m.ttft_ms < 20 THEN m.ttft_ms WHEN m.ttft_ms < 50 THEN (m.ttft_ms / 2) * 2 WHEN m.ttft_ms < 100 THEN (m.ttft_ms / 5) * 5 WHEN m.ttft_ms < 200 THEN (m.ttft_ms / 10) * 10 WHEN m.ttft_ms < 500 THEN (m.ttft_ms / 20) * 20 WHEN m.ttft_ms < 1000 THEN (m.ttft_ms / 50) * 50 WHEN m.ttft_ms < 2000 THEN (m.ttft_ms / 100) * 100 WHEN m.ttft_ms < 5000 THEN (m.ttft_ms / 200) * 200 WHEN m.ttft_ms < 10000 THEN (m.ttft_ms / 500) * 500 WHEN m.ttft_ms < 20000 THEN (m.ttft_ms / 1000) * 1000 WHEN m.ttft_ms < 50000 THEN (m.ttft_ms / 2000) * 2000 WHEN m.ttft_ms < 100000 THEN (m.ttft_ms / 5000) * 5000 WHEN m.ttft_ms < 200000 THEN (m.ttft_ms / 10000) * 10000 WHEN m.ttft_ms < 500000 THEN (m.ttft_ms / 20000) * 20000 WHEN m.ttft_ms < 1000000 THEN (m.ttft_ms / 50000) * 50000 ELSE (m.ttft_ms / 100000) * 100000 END, -COUNT(*)
        FROM messages m WHERE m.session_id = OLD.id AND m.role = 'assistant' AND m.ttft_ms IS NOT NULL
        GROUP BY 1, 2, 3, 4, 5, 6
        ON CONFLICT (client_id, hour, provider, model, metric, bin) DO UPDATE SET n = analytics_timings.n + excluded.n;
    INSERT INTO analytics_timings (client_id, hour, provider, model, metric, bin, n)
        SELECT OLD.client_id, m.created_at - m.created_at % 3600000, COALESCE(m.provider, ''), COALESCE(m.model, ''), 'reply', CASE WHEN m.total_ms < 20 THEN m.total_ms WHEN m.total_ms < 50 THEN (m.total_ms / 2) * 2 WHEN m.total_ms < 100 THEN (m.total_ms / 5) * 5 WHEN m.total_ms < 200 THEN (m.total_ms / 10) * 10 WHEN m.total_ms < 500 THEN (m.total_ms / 20) * 20 WHEN m.total_ms < 1000 THEN (m.total_ms / 50) * 50 WHEN m.total_ms < 2000 THEN (m.total_ms / 100) * 100 WHEN m.total_ms < 5000 THEN (m.total_ms / 200) * 200 WHEN m.total_ms < 10000 THEN (m.total_ms / 500) * 500 WHEN m.total_ms < 20000 THEN (m.total_ms / 1000) * 1000 WHEN m.total_ms < 50000 THEN (m.total_ms / 2000) * 2000 WHEN m.total_ms < 100000 THEN (m.total_ms / 5000) * 5000 WHEN m.total_ms < 200000 THEN (m.total_ms / 10000) * 10000 WHEN m.total_ms < 500000 THEN (m.total_ms / 20000) * 20000 WHEN m.total_ms < 1000000 THEN (m.total_ms / 50000) * 50000 ELSE (m.total_ms / 100000) * 100000 END, -COUNT(*)
        FROM messages m WHERE m.session_id = OLD.id AND m.role = 'assistant' AND m.total_ms IS NOT NULL
        GROUP BY 1, 2, 3, 4, 5, 6
        ON CONFLICT (client_id, hour, provider, model, metric, bin) DO UPDATE SET n = analytics_timings.n + excluded.n;
END;

CREATE TRIGGER feedback_counts_in_analytics AFTER INSERT ON message_feedback
BEGIN
    INSERT INTO analytics_hours (client_id, hour, provider, model, feedback_up, feedback_down)
        SELECT NEW.client_id, NEW.updated_at - NEW.updated_at % 3600000, '', '', CASE WHEN NEW.rating = 'up' THEN 1 ELSE 0 END, CASE WHEN NEW.rating = 'down' THEN 1 ELSE 0 END
        WHERE NEW.client_id IS NOT NULL
        ON CONFLICT (client_id, hour, provider, model) DO UPDATE SET feedback_up = analytics_hours.feedback_up + excluded.feedback_up, feedback_down = analytics_hours.feedback_down + excluded.feedback_down;
END;

CREATE TRIGGER feedback_recounts_in_analytics AFTER UPDATE ON message_feedback
BEGIN
    INSERT INTO analytics_hours (client_id, hour, provider, model, feedback_up, feedback_down)
        SELECT OLD.client_id, OLD.updated_at - OLD.updated_at % 3600000, '', '', -CASE WHEN OLD.rating = 'up' THEN 1 ELSE 0 END, -CASE WHEN OLD.rating = 'down' THEN 1 ELSE 0 END
        WHERE OLD.client_id IS NOT NULL
        ON CONFLICT (client_id, hour, provider, model) DO UPDATE SET feedback_up = analytics_hours.feedback_up + excluded.feedback_up, feedback_down = analytics_hours.feedback_down + excluded.feedback_down;
    INSERT INTO analytics_hours (client_id, hour, provider, model, feedback_up, feedback_down)
        SELECT NEW.client_id, NEW.updated_at - NEW.updated_at % 3600000, '', '', CASE WHEN NEW.rating = 'up' THEN 1 ELSE 0 END, CASE WHEN NEW.rating = 'down' THEN 1 ELSE 0 END
        WHERE NEW.client_id IS NOT NULL
        ON CONFLICT (client_id, hour, provider, model) DO UPDATE SET feedback_up = analytics_hours.feedback_up + excluded.feedback_up, feedback_down = analytics_hours.feedback_down + excluded.feedback_down;
END;

CREATE TRIGGER feedback_leaves_analytics AFTER DELETE ON message_feedback
BEGIN
    INSERT INTO analytics_hours (client_id, hour, provider, model, feedback_up, feedback_down)
        SELECT OLD.client_id, OLD.updated_at - OLD.updated_at % 3600000, '', '', -CASE WHEN OLD.rating = 'up' THEN 1 ELSE 0 END, -CASE WHEN OLD.rating = 'down' THEN 1 ELSE 0 END
        WHERE OLD.client_id IS NOT NULL
        ON CONFLICT (client_id, hour, provider, model) DO UPDATE SET feedback_up = analytics_hours.feedback_up + excluded.feedback_up, feedback_down = analytics_hours.feedback_down + excluded.feedback_down;
END;
