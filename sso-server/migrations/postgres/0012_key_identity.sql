-- Hardware keys that prove themselves (issue 14): each key's own P-256 public key, recorded at
-- activation; the workstation that last served it; named workstations with their own key pair;
-- and the nonces of signed key-bridge requests, kept until their time window has passed.

ALTER TABLE hardware_key ADD COLUMN public_key BYTEA;         -- SEC1 uncompressed, 65 bytes
ALTER TABLE hardware_key ADD COLUMN workstation_id TEXT;

CREATE TABLE workstation (
    id             TEXT PRIMARY KEY,
    name           TEXT NOT NULL,
    state          TEXT NOT NULL CHECK (state IN ('pending', 'active', 'revoked')),
    token_hash     BYTEA,                   -- SHA-256 of the one-time enrolment token
    token_expires  BIGINT,
    public_key     BYTEA,                   -- the workstation's own P-256 key, after enrolment
    created_at     BIGINT NOT NULL,
    enrolled_at    BIGINT,
    last_seen_at   BIGINT,
    revoked_at     BIGINT
);

CREATE TABLE bridge_nonce (
    nonce       TEXT PRIMARY KEY,          -- workstation id, a space, the request's nonce
    expires_at  BIGINT NOT NULL
);
CREATE INDEX bridge_nonce_expires ON bridge_nonce (expires_at);
