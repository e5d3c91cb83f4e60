-- The session config keys a client's owner lets visitors (publishable keys) set besides
-- pageContext: a JSON array of strings.
ALTER TABLE clients ADD COLUMN visitor_config_keys TEXT NOT NULL DEFAULT '[]';
