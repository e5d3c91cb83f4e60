-- One trigger per stored message instead of two (PostgreSQL only; SQLite's triggers are
-- unchanged). messages_revise_session (0003) and messages_count_in_analytics (0011) each
-- ran a PL/pgSQL call for every question and reply, and each looked the session row up:
-- the first to update it, the second to read its client. The function below updates the
-- session once and takes its client from that update (RETURNING), so a stored message
-- costs one call and one lookup of its session. A reply's insert leaves last_activity as
-- it is (the statement that stores the reply moves it when it should, see
-- db::messages::TOUCH_AFTER_MS), so its revision update changes no indexed column and
-- can be a HOT update. Updates and deletes of messages do what 0003 and 0011 did. A reply
-- without a status counts as neither failed nor cancelled (0011 made its counts NULL,
-- which analytics_pending refuses, and with them the reply).

DROP TRIGGER messages_revise_session ON messages;
DROP TRIGGER messages_count_in_analytics ON messages;
DROP FUNCTION message_revises_session();
DROP FUNCTION message_counts_in_analytics();

CREATE FUNCTION message_changes_session() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    client TEXT;
BEGIN
    IF TG_OP = 'INSERT' THEN
        UPDATE chat_sessions
        SET last_activity = CASE WHEN NEW.role = 'user' THEN GREATEST(last_activity, NEW.created_at) ELSE last_activity END,
            revision = revision + 1
        WHERE id = NEW.session_id
        RETURNING client_id INTO client;
        IF client IS NOT NULL THEN
            INSERT INTO analytics_pending (client_id, hour, provider, model, user_messages, replies, replies_failed, replies_cancelled, prompt_tokens, completion_tokens, timings, ttft_bin, reply_bin)
            VALUES (client, NEW.created_at - NEW.created_at % 3600000, COALESCE(NEW.provider, ''), COALESCE(NEW.model, ''),
                (NEW.role = 'user')::int, (NEW.role = 'assistant')::int,
                COALESCE(NEW.role = 'assistant' AND NEW.status IN ('error', 'interrupted'), false)::int,
                COALESCE(NEW.role = 'assistant' AND NEW.status = 'cancelled', false)::int,
                COALESCE(NEW.prompt_tokens, 0), COALESCE(NEW.completion_tokens, 0),
                (NEW.role = 'assistant')::int, analytics_bin(NEW.ttft_ms), analytics_bin(NEW.total_ms));
        END IF;
        RETURN NULL;
    END IF;

    -- A message changed or deleted: its old values leave the analytics (while its session
    -- exists: a session deleted whole has left them already, 0009) and the new ones enter.
    INSERT INTO analytics_pending (client_id, hour, provider, model, user_messages, replies, replies_failed, replies_cancelled, prompt_tokens, completion_tokens, timings, ttft_bin, reply_bin)
        SELECT s.client_id, OLD.created_at - OLD.created_at % 3600000, COALESCE(OLD.provider, ''), COALESCE(OLD.model, ''),
            -(OLD.role = 'user')::int, -(OLD.role = 'assistant')::int,
            -COALESCE(OLD.role = 'assistant' AND OLD.status IN ('error', 'interrupted'), false)::int,
            -COALESCE(OLD.role = 'assistant' AND OLD.status = 'cancelled', false)::int,
            -COALESCE(OLD.prompt_tokens, 0), -COALESCE(OLD.completion_tokens, 0),
            -(OLD.role = 'assistant')::int, analytics_bin(OLD.ttft_ms), analytics_bin(OLD.total_ms)
        FROM chat_sessions s WHERE s.id = OLD.session_id AND s.client_id IS NOT NULL;
    IF TG_OP = 'UPDATE' THEN
        INSERT INTO analytics_pending (client_id, hour, provider, model, user_messages, replies, replies_failed, replies_cancelled, prompt_tokens, completion_tokens, timings, ttft_bin, reply_bin)
            SELECT s.client_id, NEW.created_at - NEW.created_at % 3600000, COALESCE(NEW.provider, ''), COALESCE(NEW.model, ''),
                (NEW.role = 'user')::int, (NEW.role = 'assistant')::int,
                COALESCE(NEW.role = 'assistant' AND NEW.status IN ('error', 'interrupted'), false)::int,
                COALESCE(NEW.role = 'assistant' AND NEW.status = 'cancelled', false)::int,
                COALESCE(NEW.prompt_tokens, 0), COALESCE(NEW.completion_tokens, 0),
                (NEW.role = 'assistant')::int, analytics_bin(NEW.ttft_ms), analytics_bin(NEW.total_ms)
            FROM chat_sessions s WHERE s.id = NEW.session_id AND s.client_id IS NOT NULL;
        UPDATE chat_sessions SET revision = revision + 1 WHERE id IN (OLD.session_id, NEW.session_id);
    ELSE
        UPDATE chat_sessions SET revision = revision + 1 WHERE id = OLD.session_id;
    END IF;
    RETURN NULL;
END
$$;
CREATE TRIGGER messages_change_session
AFTER INSERT OR UPDATE OR DELETE ON messages
FOR EACH ROW EXECUTE FUNCTION message_changes_session();
