-- A key's factory identity: the attestation key its vendor's CA certified for its serial, and
-- that certificate. Recorded at import; kept across wipes (it is the hardware's). An activation
-- needs an identity this key signed.
ALTER TABLE hardware_key ADD COLUMN attestation_key BLOB;     -- SEC1 uncompressed P-256, 65 bytes
ALTER TABLE hardware_key ADD COLUMN attestation_cert BLOB;    -- X.509 DER
