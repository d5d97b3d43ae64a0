-- Break on failure. An attempt's error becomes structured: `error` keeps the message,
-- `error_type` the exception's type and `traceback` the formatted traceback (NULL in rows
-- written before this migration, whose `error` held the type, message and traceback in one
-- text). `changed` names the params a user changed on a paused attempt. A breakpoint on
-- every step of a workflow (pause point `error`) is stored with no step_id. A restart records
-- each iteration its new run will redo as attempt 0, NOT_CREATED, in that run: the steps view
-- shows such a step NOT_CREATED until it starts, instead of the old run's result.
ALTER TABLE attempt_log ADD COLUMN error_type VARCHAR;
ALTER TABLE attempt_log ADD COLUMN traceback VARCHAR;
ALTER TABLE attempt_log ADD COLUMN changed VARCHAR[];
ALTER TABLE breakpoint_log ALTER COLUMN step_id DROP NOT NULL;

CREATE OR REPLACE VIEW steps AS
WITH counts AS (
    SELECT workflow, instance_id, step_id, count(*) AS iterations,
           count(*) FILTER (WHERE status = 'SUCCEEDED') AS succeeded,
           count(*) FILTER (WHERE status = 'PAUSED') AS paused,
           count(*) FILTER (WHERE status IN ('USER_FAILED', 'PLATFORM_FAILED', 'FATALLY_FAILED', 'INTERRUPTED')) AS failed,
           count(*) FILTER (WHERE status = 'NOT_CREATED') AS not_created,
           max(attempt) AS max_attempt
    FROM iterations GROUP BY workflow, instance_id, step_id
), ended AS (
    SELECT e.workflow, e.instance_id, e.step_id, arg_max(e.detail->>'status', e.seq) AS status
    FROM event_log AS e
    JOIN instances AS i ON i.workflow = e.workflow AND i.instance_id = e.instance_id AND i.run_id = e.run_id
    WHERE e.kind = 'step'
    GROUP BY e.workflow, e.instance_id, e.step_id
)
SELECT c.workflow, c.instance_id, c.step_id,
       CASE WHEN c.paused > 0 THEN 'PAUSED'
            WHEN ended.status IS NOT NULL THEN ended.status
            WHEN c.not_created = c.iterations THEN 'NOT_CREATED'
            ELSE 'RUNNING' END AS status,
       c.iterations, c.succeeded, c.paused, c.failed, c.max_attempt
FROM counts AS c
LEFT JOIN ended USING (workflow, instance_id, step_id);
