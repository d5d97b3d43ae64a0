-- A step's failed iterations count PLATFORM_FAILED (its Dask worker died, or the cluster went
-- away, and its platform retries were spent) along with the other failures.
CREATE OR REPLACE VIEW steps AS
WITH counts AS (
    SELECT workflow, instance_id, step_id, count(*) AS iterations,
           count(*) FILTER (WHERE status = 'SUCCEEDED') AS succeeded,
           count(*) FILTER (WHERE status = 'PAUSED') AS paused,
           count(*) FILTER (WHERE status IN ('USER_FAILED', 'PLATFORM_FAILED', 'FATALLY_FAILED', 'INTERRUPTED')) AS failed,
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
       CASE WHEN c.paused > 0 THEN 'PAUSED' ELSE coalesce(ended.status, 'RUNNING') END AS status,
       c.iterations, c.succeeded, c.paused, c.failed, c.max_attempt
FROM counts AS c
LEFT JOIN ended USING (workflow, instance_id, step_id);
