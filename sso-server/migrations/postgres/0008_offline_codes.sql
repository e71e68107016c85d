-- Offline codes (TOTP) from the phone app: the shared secret, sealed with the data key (AAD: the
-- device id), set at registration; and the last time step used, so a code works once.
ALTER TABLE authenticator_device ADD COLUMN totp_secret BYTEA;
ALTER TABLE authenticator_device ADD COLUMN totp_last_step BIGINT;
