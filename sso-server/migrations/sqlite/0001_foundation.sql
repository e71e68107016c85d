-- Foundation: meta, secrets, employees, administrators, admin sessions, audit log.
-- Timestamps are milliseconds since the Unix epoch (BIGINT) in both backends; ids are UUID text.

CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value BLOB NOT NULL
);

-- Secrets sealed with the data-encryption key (XChaCha20-Poly1305, aad = name).
CREATE TABLE secret (
    name       TEXT PRIMARY KEY,
    ciphertext BLOB NOT NULL,
    updated_at BIGINT NOT NULL
);

CREATE TABLE employee (
    id           TEXT PRIMARY KEY,
    given_name   TEXT,
    family_name  TEXT,
    display_name TEXT NOT NULL,
    email        TEXT,
    email_norm   TEXT UNIQUE,
    phone        TEXT,
    department   TEXT,
    title        TEXT,
    source       TEXT NOT NULL CHECK (source IN ('manual', 'directory')),
    state        TEXT NOT NULL CHECK (state IN ('active', 'removed-from-sync', 'disabled')),
    sort_key     TEXT NOT NULL,
    search_text  TEXT NOT NULL,
    created_at   BIGINT NOT NULL,
    updated_at   BIGINT NOT NULL
);
CREATE INDEX employee_sort ON employee (sort_key, id);

CREATE TABLE admin_user (
    id             TEXT PRIMARY KEY,
    username       TEXT NOT NULL,
    username_norm  TEXT NOT NULL UNIQUE,
    password_hash  TEXT NOT NULL,
    failed_logins  BIGINT NOT NULL DEFAULT 0,
    locked_until   BIGINT,
    created_at     BIGINT NOT NULL,
    last_login_at  BIGINT
);

CREATE TABLE admin_session (
    token_hash   BLOB PRIMARY KEY,
    admin_id     TEXT NOT NULL REFERENCES admin_user (id) ON DELETE CASCADE,
    csrf_token   TEXT NOT NULL,
    created_at   BIGINT NOT NULL,
    expires_at   BIGINT NOT NULL,
    last_seen_at BIGINT NOT NULL
);
CREATE INDEX admin_session_admin ON admin_session (admin_id);

CREATE TABLE audit_event (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    at          BIGINT NOT NULL,
    actor_kind  TEXT NOT NULL,
    actor_id    TEXT,
    actor_name  TEXT NOT NULL,
    action      TEXT NOT NULL,
    target_kind TEXT,
    target_id   TEXT,
    detail      TEXT NOT NULL,
    ip          TEXT
);
CREATE INDEX audit_event_target ON audit_event (target_id, id);
CREATE INDEX audit_event_action ON audit_event (action, id);
