-- Storing a user's question marks its session active in the same statement, so a reply's
-- start writes once rather than twice (and SQLite's single writer is taken once).
CREATE TRIGGER messages_question_marks_session_active
AFTER INSERT ON messages
WHEN NEW.role = 'user'
BEGIN
    UPDATE chat_sessions SET last_activity = MAX(last_activity, NEW.created_at)
    WHERE id = NEW.session_id;
END;
