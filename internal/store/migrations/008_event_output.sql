-- A progress event may carry a line of a task's output (a running
-- migration's latest line), kept apart from its message so that callers
-- who may not read output (viewers) get the message without it.
ALTER TABLE events ADD COLUMN output TEXT NOT NULL DEFAULT '';
