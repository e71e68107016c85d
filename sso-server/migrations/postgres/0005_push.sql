-- Phone authenticator: enrolments (the QR code's single-use secret), devices, sign-in challenges
-- and the poll fallback's replay guard. Protocol: docs/phone-protocol.md.

CREATE TABLE enrolment (
    id           TEXT PRIMARY KEY,
    employee_id  TEXT NOT NULL REFERENCES employee (id) ON DELETE CASCADE,
    secret_hash  BYTEA NOT NULL,                        -- SHA-256 of the 32-byte secret
    created_at   BIGINT NOT NULL,
    expires_at   BIGINT NOT NULL,
    used_at      BIGINT,
    device_id    TEXT
);
CREATE INDEX enrolment_employee ON enrolment (employee_id);

CREATE TABLE authenticator_device (
    id            TEXT PRIMARY KEY,
    employee_id   TEXT NOT NULL REFERENCES employee (id) ON DELETE CASCADE,
    public_key    BYTEA NOT NULL,                       -- P-256, SEC1 uncompressed
    name          TEXT NOT NULL,
    platform      TEXT NOT NULL CHECK (platform IN ('ios', 'android', 'other')),
    push_token    TEXT,
    state         TEXT NOT NULL CHECK (state IN ('active', 'revoked')),
    created_at    BIGINT NOT NULL,
    last_used_at  BIGINT,
    revoked_at    BIGINT
);
CREATE INDEX authenticator_device_employee ON authenticator_device (employee_id);

CREATE TABLE push_challenge (
    id              TEXT PRIMARY KEY,
    employee_id     TEXT NOT NULL,
    device_id       TEXT NOT NULL,
    purpose         TEXT NOT NULL,                   -- sign-in | workstation
    nonce           TEXT NOT NULL,
    employee_name   TEXT NOT NULL,
    client_name     TEXT NOT NULL,
    ip              TEXT NOT NULL,
    place           TEXT NOT NULL,
    user_agent      TEXT NOT NULL,
    created_at      BIGINT NOT NULL,                 -- milliseconds
    expires_at      BIGINT NOT NULL,
    number_choices  TEXT NOT NULL,                   -- JSON [a, b, c]
    shown_number    BIGINT NOT NULL,
    signature       TEXT NOT NULL,
    state           TEXT NOT NULL CHECK (state IN ('pending', 'approved', 'denied', 'fraud')),
    answered_at     BIGINT,
    answer          TEXT,                            -- the answer body, for idempotent re-sends
    consumed_at     BIGINT                           -- the approval was turned into a session
);
CREATE INDEX push_challenge_device ON push_challenge (device_id, state);
CREATE INDEX push_challenge_employee ON push_challenge (employee_id, created_at);

CREATE TABLE poll_nonce (
    device_id   TEXT NOT NULL,
    nonce       TEXT NOT NULL,
    expires_at  BIGINT NOT NULL,
    PRIMARY KEY (device_id, nonce)
);

-- Push sign-in blocked for an employee after a fraud report or repeated denials.
CREATE TABLE push_block (
    employee_id  TEXT PRIMARY KEY REFERENCES employee (id) ON DELETE CASCADE,
    reason       TEXT NOT NULL,
    created_at   BIGINT NOT NULL
);
