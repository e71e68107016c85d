-- Invitations: a single-use link e-mailed to an employee (or kept in the outbox when no SMTP
-- server is configured) to choose a passkey or the phone authenticator.
CREATE TABLE invitation (
    id               TEXT PRIMARY KEY,
    employee_id      TEXT NOT NULL REFERENCES employee (id) ON DELETE CASCADE,
    token_hash       BLOB NOT NULL UNIQUE,               -- SHA-256 of the link's token
    sealed_token     BLOB NOT NULL,                      -- the token, sealed, for the outbox
    email            TEXT NOT NULL,
    state            TEXT NOT NULL CHECK (state IN ('pending', 'accepted', 'revoked')),
    created_at       BIGINT NOT NULL,
    expires_at       BIGINT NOT NULL,
    sent_at          BIGINT,
    attempts         BIGINT NOT NULL,
    next_attempt_at  BIGINT,                           -- null: not to be e-mailed (outbox)
    last_error       TEXT,
    accepted_at      BIGINT
);
CREATE INDEX invitation_employee ON invitation (employee_id);
CREATE INDEX invitation_due ON invitation (state, next_attempt_at);

ALTER TABLE enrolment ADD COLUMN invitation_id TEXT;
