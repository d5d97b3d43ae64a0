-- Break on failure. An attempt's error becomes structured: `error` keeps the message,
-- `error_type` the exception's type and `traceback` the formatted traceback (NULL in rows
-- written before this migration, whose `error` held the type, message and traceback in one
-- text). `changed` names the params a user changed on a paused attempt. A breakpoint on
-- every step of a workflow (pause point `error`) is stored with no step_id.
ALTER TABLE attempt_log ADD COLUMN error_type VARCHAR;
ALTER TABLE attempt_log ADD COLUMN traceback VARCHAR;
ALTER TABLE attempt_log ADD COLUMN changed VARCHAR[];
ALTER TABLE breakpoint_log ALTER COLUMN step_id DROP NOT NULL;
