-- Hardware keys, the tasks the key-bridge applies to them, the domain accounts whose passwords
-- live on them, and password rotations (design: DESIGN.md, Hardware keys and domain passwords).

CREATE TABLE hardware_key (
    id                   TEXT PRIMARY KEY,
    serial               TEXT NOT NULL UNIQUE,
    model                TEXT NOT NULL,
    state                TEXT NOT NULL CHECK (state IN ('ready', 'reserved', 'active', 'locked',
                              'suspended', 'deactivated', 'compromised')),
    reason               TEXT,
    employee_id          TEXT REFERENCES employee (id) ON DELETE SET NULL,
    activation_hash      BYTEA,                  -- SHA-256 of key id and the 6-digit code
    activation_expires   BIGINT,
    activation_attempts  BIGINT,                -- attempts left
    activated_at         BIGINT,
    created_at           BIGINT NOT NULL,
    updated_at           BIGINT NOT NULL
);
CREATE INDEX hardware_key_employee ON hardware_key (employee_id);
CREATE INDEX hardware_key_state ON hardware_key (state);

CREATE TABLE key_task (
    id           TEXT PRIMARY KEY,
    key_id       TEXT NOT NULL REFERENCES hardware_key (id) ON DELETE CASCADE,
    seq          BIGINT NOT NULL,               -- applied in this order per key
    operation    TEXT NOT NULL CHECK (operation IN ('write_password', 'promote_password',
                      'discard_password', 'wipe')),
    rotation_id  TEXT,
    payload      BYTEA,                          -- sealed JSON (AAD: task id); cleared when done
    state        TEXT NOT NULL CHECK (state IN ('pending', 'applied', 'failed', 'cancelled')),
    error        TEXT,
    created_at   BIGINT NOT NULL,
    finished_at  BIGINT
);
CREATE INDEX key_task_pending ON key_task (key_id, state, seq);

CREATE TABLE domain_account (
    id                TEXT PRIMARY KEY,
    employee_id       TEXT NOT NULL REFERENCES employee (id) ON DELETE CASCADE,
    domain_id         TEXT NOT NULL,
    object_guid       TEXT NOT NULL,
    password_version  BIGINT NOT NULL DEFAULT 0,
    last_rotated_at   BIGINT,
    created_at        BIGINT NOT NULL,
    UNIQUE (domain_id, object_guid)
);
CREATE INDEX domain_account_employee ON domain_account (employee_id);

CREATE TABLE password_rotation (
    id           TEXT PRIMARY KEY,
    account_id   TEXT NOT NULL REFERENCES domain_account (id) ON DELETE CASCADE,
    key_id       TEXT NOT NULL,
    reason       TEXT NOT NULL,                 -- scheduled | admin | activation | employee
    scope        TEXT NOT NULL CHECK (scope IN ('key_and_directory', 'key_only')),
    state        TEXT NOT NULL CHECK (state IN ('awaiting_key', 'setting_directory', 'committing',
                      'done', 'failed')),
    password     BYTEA,                          -- sealed (AAD: rotation id); cleared at the end
    error        TEXT,
    created_at   BIGINT NOT NULL,
    updated_at   BIGINT NOT NULL
);
-- One open rotation per account: concurrent requests cannot interleave.
CREATE UNIQUE INDEX password_rotation_open ON password_rotation (account_id)
    WHERE state IN ('awaiting_key', 'setting_directory', 'committing');
