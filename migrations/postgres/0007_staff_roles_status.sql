-- Staff and sign-up policy (API.md, "Staff", turn 2): a user's role and status.
-- role: 'user' or 'staff'; status: 'active', 'pending' (SIGNUP_MODE=approval, until a staff
-- user approves) or 'disabled' (signed out, their clients' keys answer 403 until enabled).
ALTER TABLE users ADD COLUMN role TEXT NOT NULL DEFAULT 'user';
ALTER TABLE users ADD COLUMN status TEXT NOT NULL DEFAULT 'active';

-- The admin list filters by status and pages by creation time.
CREATE INDEX users_status_created ON users(status, created_at);
CREATE INDEX users_created ON users(created_at, id);
