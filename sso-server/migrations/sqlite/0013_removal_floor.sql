-- The removal guard is a share *and* a floor (issue 16): a run is refused only when the accounts
-- missing from the sync group exceed both max_removal_percent and max_removal_count (0: no
-- floor). A refused run still applies what is safe unless hold_all_when_refused is set.
ALTER TABLE directory_domain ADD COLUMN max_removal_count BIGINT NOT NULL DEFAULT 10;
ALTER TABLE directory_domain ADD COLUMN hold_all_when_refused BIGINT NOT NULL DEFAULT 0;
