-- Authorization codes become sealed, self-contained values (no row per code): the grant an
-- exchange creates records the code's hash, unique, which makes codes single use and lets a
-- replay find and revoke what the first exchange issued.
DROP TABLE auth_code;
ALTER TABLE oidc_grant ADD COLUMN code_hash BLOB;
CREATE UNIQUE INDEX oidc_grant_code ON oidc_grant (code_hash);
