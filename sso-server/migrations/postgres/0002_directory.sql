-- Directory sync: domains, identities (one per directory account, several per employee when
-- merged by e-mail), sync runs with their reports, and leases (one run per domain across
-- instances).

CREATE TABLE directory_domain (
    id                    TEXT PRIMARY KEY,
    name                  TEXT NOT NULL,
    name_norm             TEXT NOT NULL UNIQUE,
    urls                  TEXT NOT NULL,          -- JSON array, tried in order
    tls_mode              TEXT NOT NULL CHECK (tls_mode IN ('ldaps', 'starttls', 'plain')),
    ca_pem                TEXT,
    bind_dn               TEXT NOT NULL,          -- password: secret "domain:<id>:bind_password"
    base_dn               TEXT NOT NULL,
    netbios_name          TEXT,
    sync_group            TEXT NOT NULL,
    rotation_group        TEXT NOT NULL,
    invite_on_import      BIGINT NOT NULL,
    max_removal_percent   BIGINT NOT NULL,
    timeout_seconds       BIGINT NOT NULL,
    enabled               BIGINT NOT NULL,
    cursor_dc             TEXT,
    cursor_invocation_id  TEXT,
    cursor_usn            BIGINT,
    last_full_sync_at     BIGINT,
    created_at            BIGINT NOT NULL,
    updated_at            BIGINT NOT NULL
);

CREATE TABLE directory_identity (
    domain_id             TEXT NOT NULL REFERENCES directory_domain (id) ON DELETE CASCADE,
    object_guid           TEXT NOT NULL,
    employee_id           TEXT NOT NULL REFERENCES employee (id),
    dn                    TEXT NOT NULL,
    sam_account_name      TEXT,
    upn                   TEXT,
    given_name            TEXT,
    family_name           TEXT,
    display_name          TEXT,
    email                 TEXT,
    email_norm            TEXT,
    phone                 TEXT,
    department            TEXT,
    title                 TEXT,
    user_account_control  BIGINT NOT NULL,
    account_expires       BIGINT,
    lockout_time          BIGINT,
    pwd_last_set          BIGINT,
    usn_changed           BIGINT,
    when_changed          TEXT,
    in_scope              BIGINT NOT NULL,        -- 1: a member of the sync group now
    created_at            BIGINT NOT NULL,
    updated_at            BIGINT NOT NULL,
    PRIMARY KEY (domain_id, object_guid)
);
CREATE INDEX directory_identity_employee ON directory_identity (employee_id);
CREATE INDEX directory_identity_email ON directory_identity (email_norm);

CREATE TABLE sync_run (
    id           TEXT PRIMARY KEY,
    domain_id    TEXT NOT NULL REFERENCES directory_domain (id) ON DELETE CASCADE,
    kind         TEXT NOT NULL,                   -- full | delta
    trigger      TEXT NOT NULL,                   -- api | schedule | cli
    dry_run      BIGINT NOT NULL,
    forced       BIGINT NOT NULL,
    state        TEXT NOT NULL,                   -- running | succeeded | failed | refused
    dc_url       TEXT,
    started_at   BIGINT NOT NULL,
    finished_at  BIGINT,
    added        BIGINT NOT NULL DEFAULT 0,
    updated      BIGINT NOT NULL DEFAULT 0,
    unchanged    BIGINT NOT NULL DEFAULT 0,
    removed      BIGINT NOT NULL DEFAULT 0,
    reactivated  BIGINT NOT NULL DEFAULT 0,
    merged       BIGINT NOT NULL DEFAULT 0,
    taken_over   BIGINT NOT NULL DEFAULT 0,
    errors       BIGINT NOT NULL DEFAULT 0,
    message      TEXT,
    report       TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX sync_run_domain ON sync_run (domain_id, started_at);

CREATE TABLE lease (
    name        TEXT PRIMARY KEY,
    holder      TEXT NOT NULL,
    expires_at  BIGINT NOT NULL
);
