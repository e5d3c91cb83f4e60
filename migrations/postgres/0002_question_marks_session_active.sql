-- Storing a user's question marks its session active in the same statement, so a reply's
-- start writes once rather than twice. The same trigger as migrations/sqlite/0002.
CREATE FUNCTION question_marks_session_active() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    UPDATE chat_sessions SET last_activity = GREATEST(last_activity, NEW.created_at)
    WHERE id = NEW.session_id;
    RETURN NULL;
END
$$;

CREATE TRIGGER messages_question_marks_session_active
AFTER INSERT ON messages
FOR EACH ROW
WHEN (NEW.role = 'user')
EXECUTE FUNCTION question_marks_session_active();
