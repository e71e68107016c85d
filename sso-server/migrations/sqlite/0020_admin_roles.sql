-- Administrators have a role (issue 26): `owner` (everything), `helpdesk` (employees,
-- invitations, keys, unlocks; no domains, clients, admins or settings), `auditor` (read-only).
-- Existing administrators keep everything. A disabled administrator cannot sign in.
ALTER TABLE admin_user ADD COLUMN role TEXT NOT NULL DEFAULT 'owner';
ALTER TABLE admin_user ADD COLUMN disabled_at BIGINT;
