-- Every change to what a reply reads of its session (its messages, config and file) counts
-- up the session's revision, in the statement that makes it. The same triggers as
-- migrations/sqlite/0003: a process that remembers what it read at revision N stores the
-- next question only `WHERE revision = N`.
ALTER TABLE chat_sessions ADD COLUMN revision BIGINT NOT NULL DEFAULT 0;

-- Replaces 0002's trigger: a question marks its session active and revises it at once.
DROP TRIGGER messages_question_marks_session_active ON messages;
DROP FUNCTION question_marks_session_active();

CREATE FUNCTION message_revises_session() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' AND NEW.role = 'user' THEN
        UPDATE chat_sessions
        SET last_activity = GREATEST(last_activity, NEW.created_at), revision = revision + 1
        WHERE id = NEW.session_id;
    ELSIF TG_OP = 'INSERT' THEN
        UPDATE chat_sessions SET revision = revision + 1 WHERE id = NEW.session_id;
    ELSIF TG_OP = 'UPDATE' THEN
        UPDATE chat_sessions SET revision = revision + 1 WHERE id IN (OLD.session_id, NEW.session_id);
    ELSE
        UPDATE chat_sessions SET revision = revision + 1 WHERE id = OLD.session_id;
    END IF;
    RETURN NULL;
END
$$;
CREATE TRIGGER messages_revise_session
AFTER INSERT OR UPDATE OR DELETE ON messages
FOR EACH ROW EXECUTE FUNCTION message_revises_session();

CREATE FUNCTION file_revises_session() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        UPDATE chat_sessions SET revision = revision + 1 WHERE id = OLD.session_id;
    ELSIF TG_OP = 'UPDATE' THEN
        UPDATE chat_sessions SET revision = revision + 1 WHERE id IN (OLD.session_id, NEW.session_id);
    ELSE
        UPDATE chat_sessions SET revision = revision + 1 WHERE id = NEW.session_id;
    END IF;
    RETURN NULL;
END
$$;
CREATE TRIGGER session_files_revise_session
AFTER INSERT OR UPDATE OR DELETE ON session_files
FOR EACH ROW EXECUTE FUNCTION file_revises_session();

-- A config change counts up the revision of the row it changes, before it is written.
CREATE FUNCTION config_revises_session() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    NEW.revision := OLD.revision + 1;
    RETURN NEW;
END
$$;
CREATE TRIGGER config_revises_session
BEFORE UPDATE OF config ON chat_sessions
FOR EACH ROW EXECUTE FUNCTION config_revises_session();
