-- PKCE required per client (RFC 9700), and which clients may introspect others' tokens (issue
-- 26). Clients registered before keep what they did (no PKCE demanded of a confidential client);
-- new ones require PKCE unless an admin opts out. Only resource servers introspect tokens of
-- other clients.
ALTER TABLE oidc_client ADD COLUMN pkce_required INTEGER NOT NULL DEFAULT 0;
ALTER TABLE oidc_client ADD COLUMN resource_server INTEGER NOT NULL DEFAULT 0;
