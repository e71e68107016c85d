-- Failed sign-ins counted in the database (issue 15), so that every instance sees them: one row
-- per employee (whatever spelling of their name was typed), per unknown typed name, per admin
-- user name and per client address. An attempt is taken in one conditional statement before
-- the credentials are checked; a success deletes the row.
CREATE TABLE sign_in_throttle (
    key           TEXT PRIMARY KEY,
    failures      BIGINT NOT NULL,
    locked_until  BIGINT,
    updated_at    BIGINT NOT NULL
);
