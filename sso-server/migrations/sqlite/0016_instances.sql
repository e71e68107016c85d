-- Instances sharing the database: each has a name that survives restarts and a life (`boot`)
-- per process, kept alive by a heartbeat (wall-clock milliseconds). A lease records the life that
-- took it: a lease whose life stopped (restart, crash, SIGKILL) is free at once when the same
-- instance restarts and once the heartbeat is stale for the others. Leases with no life (taken
-- by a command-line run) expire by time only, as before.
CREATE TABLE server_instance (
    id            TEXT PRIMARY KEY,
    boot          TEXT NOT NULL,
    started_at    BIGINT NOT NULL,
    heartbeat_at  BIGINT NOT NULL
);
ALTER TABLE lease ADD COLUMN instance TEXT;
ALTER TABLE lease ADD COLUMN boot TEXT;
-- A run's progress (JSON, written a few times a second while it runs), so that the instance
-- that did not start it can show it too.
ALTER TABLE sync_run ADD COLUMN progress TEXT;
