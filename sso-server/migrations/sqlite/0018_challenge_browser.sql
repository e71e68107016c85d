-- What the phone shows of a sign-in's browser is the server's word for it (issue 26): the
-- browser and operating system families from fixed vocabularies. The requester's User-Agent text
-- is no longer kept.
ALTER TABLE push_challenge ADD COLUMN browser TEXT NOT NULL DEFAULT 'unknown';
ALTER TABLE push_challenge ADD COLUMN os TEXT NOT NULL DEFAULT 'unknown';
ALTER TABLE push_challenge DROP COLUMN user_agent;
