-- Administrators sign in with passkeys (issue 26): several per administrator. A session records
-- how it was opened, so a deployment that requires passkeys can confine a password-only session
-- to registering one.
CREATE TABLE admin_passkey (
    id             TEXT PRIMARY KEY,
    admin_id       TEXT NOT NULL REFERENCES admin_user (id) ON DELETE CASCADE,
    credential_id  TEXT NOT NULL UNIQUE,
    credential     TEXT NOT NULL,                 -- webauthn-rs Passkey, JSON (public key only)
    name           TEXT NOT NULL,
    created_at     BIGINT NOT NULL,
    last_used_at   BIGINT
);
CREATE INDEX admin_passkey_admin ON admin_passkey (admin_id);
ALTER TABLE admin_session ADD COLUMN method TEXT NOT NULL DEFAULT 'password';
