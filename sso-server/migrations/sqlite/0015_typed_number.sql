-- Number matching by typing (phone protocol v2): the sign-in page shows one two-digit number
-- and the employee types it on the phone, so the challenge no longer carries number choices.
-- Challenges live minutes; the ones pending at upgrade were signed in v1 and cannot be answered
-- by a v2 phone anyway.
DELETE FROM push_challenge WHERE state = 'pending';
ALTER TABLE push_challenge DROP COLUMN number_choices;
-- A confirmation on the phone before enrolling (purpose `enrol`) is good only for the session
-- that asked for it.
ALTER TABLE push_challenge ADD COLUMN session_id TEXT;
