-- OpenID Connect provider: clients, signing keys, employee sign-in sessions, authorization codes,
-- grants (one per authorization: the refresh-token family), passkeys and WebAuthn ceremonies.

CREATE TABLE oidc_client (
    id                         TEXT PRIMARY KEY,       -- client_id
    name                       TEXT NOT NULL,
    kind                       TEXT NOT NULL CHECK (kind IN ('confidential', 'public')),
    secret_hash                BLOB,                   -- SHA-256 of a 256-bit random secret
    redirect_uris              TEXT NOT NULL,          -- JSON array
    post_logout_redirect_uris  TEXT NOT NULL,          -- JSON array
    allowed_scopes             TEXT NOT NULL,          -- space separated
    grant_types                TEXT NOT NULL,          -- space separated
    id_token_alg               TEXT NOT NULL CHECK (id_token_alg IN ('RS256', 'ES256')),
    created_at                 BIGINT NOT NULL,
    updated_at                 BIGINT NOT NULL
);

-- Private keys are sealed in `secret` under "signing_key:<kid>".
CREATE TABLE signing_key (
    kid          TEXT PRIMARY KEY,
    alg          TEXT NOT NULL CHECK (alg IN ('RS256', 'ES256')),
    public_jwk   TEXT NOT NULL,
    active       BIGINT NOT NULL,                      -- 1: signs new tokens
    created_at   BIGINT NOT NULL,
    retired_at   BIGINT,
    publish_until BIGINT                               -- retired keys stay in the JWKS until then
);

CREATE TABLE sso_session (
    token_hash   BLOB PRIMARY KEY,
    id           TEXT NOT NULL UNIQUE,
    employee_id  TEXT NOT NULL REFERENCES employee (id) ON DELETE CASCADE,
    auth_time    BIGINT NOT NULL,
    amr          TEXT NOT NULL,                        -- space separated
    created_at   BIGINT NOT NULL,
    expires_at   BIGINT NOT NULL,
    last_seen_at BIGINT NOT NULL
);
CREATE INDEX sso_session_employee ON sso_session (employee_id);

CREATE TABLE auth_code (
    code_hash             BLOB PRIMARY KEY,
    client_id             TEXT NOT NULL,
    employee_id           TEXT NOT NULL,
    session_id            TEXT NOT NULL,
    redirect_uri          TEXT NOT NULL,
    scope                 TEXT NOT NULL,
    nonce                 TEXT,
    code_challenge        TEXT,
    auth_time             BIGINT NOT NULL,
    amr                   TEXT NOT NULL,
    created_at            BIGINT NOT NULL,
    expires_at            BIGINT NOT NULL,
    used_at               BIGINT,
    grant_id              TEXT                         -- what the first exchange issued
);

CREATE TABLE oidc_grant (
    id            TEXT PRIMARY KEY,
    client_id     TEXT NOT NULL,
    employee_id   TEXT,                                -- none for client credentials
    session_id    TEXT,
    scope         TEXT NOT NULL,
    auth_time     BIGINT,
    amr           TEXT,
    refresh_hash  BLOB,                                -- SHA-256 of the current refresh token
    refresh_gen   BIGINT NOT NULL,
    created_at    BIGINT NOT NULL,
    expires_at    BIGINT NOT NULL,
    revoked_at    BIGINT
);
CREATE INDEX oidc_grant_employee ON oidc_grant (employee_id);
CREATE INDEX oidc_grant_session ON oidc_grant (session_id);

CREATE TABLE passkey (
    id             TEXT PRIMARY KEY,
    employee_id    TEXT NOT NULL REFERENCES employee (id) ON DELETE CASCADE,
    credential_id  TEXT NOT NULL UNIQUE,               -- base64url
    credential     TEXT NOT NULL,                      -- webauthn-rs Passkey, JSON
    name           TEXT NOT NULL,
    created_at     BIGINT NOT NULL,
    last_used_at   BIGINT
);
CREATE INDEX passkey_employee ON passkey (employee_id);

-- WebAuthn ceremony states: single use, short lived, keyed by a random id held in a cookie.
CREATE TABLE webauthn_state (
    id           TEXT PRIMARY KEY,
    kind         TEXT NOT NULL,
    employee_id  TEXT,
    state        TEXT NOT NULL,
    expires_at   BIGINT NOT NULL
);

-- Authorization requests waiting for the employee to sign in (validated parameters, JSON).
CREATE TABLE auth_request (
    id          TEXT PRIMARY KEY,
    params      TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    expires_at  BIGINT NOT NULL
);
