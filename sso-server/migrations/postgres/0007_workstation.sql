-- The client (a workstation agent's OIDC client) that asked for a workstation unlock challenge:
-- only it may read the answer.
ALTER TABLE push_challenge ADD COLUMN requester TEXT;
