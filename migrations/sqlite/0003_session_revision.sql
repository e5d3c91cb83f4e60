-- Every change to what a reply reads of its session (its messages, config and file) counts
-- up the session's revision, in the statement that makes it. A process that remembers what
-- it read at revision N stores the next question only `WHERE revision = N`, so it never
-- builds a reply from a copy that another statement (or another instance) has changed.
ALTER TABLE chat_sessions ADD COLUMN revision INTEGER NOT NULL DEFAULT 0;

-- Replaces 0002's trigger: a question marks its session active and revises it at once.
DROP TRIGGER messages_question_marks_session_active;
CREATE TRIGGER messages_question_revises_session
AFTER INSERT ON messages
WHEN NEW.role = 'user'
BEGIN
    UPDATE chat_sessions
    SET last_activity = MAX(last_activity, NEW.created_at), revision = revision + 1
    WHERE id = NEW.session_id;
END;
CREATE TRIGGER messages_reply_revises_session
AFTER INSERT ON messages
WHEN NEW.role <> 'user'
BEGIN
    UPDATE chat_sessions SET revision = revision + 1 WHERE id = NEW.session_id;
END;
CREATE TRIGGER messages_update_revises_session
AFTER UPDATE ON messages
BEGIN
    UPDATE chat_sessions SET revision = revision + 1 WHERE id IN (OLD.session_id, NEW.session_id);
END;
CREATE TRIGGER messages_delete_revises_session
AFTER DELETE ON messages
BEGIN
    UPDATE chat_sessions SET revision = revision + 1 WHERE id = OLD.session_id;
END;
CREATE TRIGGER config_revises_session
AFTER UPDATE OF config ON chat_sessions
BEGIN
    UPDATE chat_sessions SET revision = revision + 1 WHERE id = NEW.id;
END;
CREATE TRIGGER file_insert_revises_session
AFTER INSERT ON session_files
BEGIN
    UPDATE chat_sessions SET revision = revision + 1 WHERE id = NEW.session_id;
END;
CREATE TRIGGER file_update_revises_session
AFTER UPDATE ON session_files
BEGIN
    UPDATE chat_sessions SET revision = revision + 1 WHERE id IN (OLD.session_id, NEW.session_id);
END;
CREATE TRIGGER file_delete_revises_session
AFTER DELETE ON session_files
BEGIN
    UPDATE chat_sessions SET revision = revision + 1 WHERE id = OLD.session_id;
END;
