-- Entra ID (Azure AD) domains beside on-premises AD ones, in the same table so that runs,
-- identities, leases and the schedule stay shared. An Entra ID row keeps the LDAP columns at
-- neutral values (urls '[]', empty bind and base DN); its sync group is the group's object id,
-- its client secret is the sealed secret "domain:<id>:client_secret", and its delta cursor is the
-- stored Graph delta link (an opaque URL).
ALTER TABLE directory_domain ADD COLUMN kind TEXT NOT NULL DEFAULT 'ldap'
    CHECK (kind IN ('ldap', 'entra_id'));
ALTER TABLE directory_domain ADD COLUMN tenant_id TEXT;
ALTER TABLE directory_domain ADD COLUMN client_id TEXT;
ALTER TABLE directory_domain ADD COLUMN authority_url TEXT;
ALTER TABLE directory_domain ADD COLUMN graph_url TEXT;
ALTER TABLE directory_domain ADD COLUMN cursor_delta_link TEXT;
