-- The documented views: workflows, instances, steps, iterations, attempts, events, breakpoints.
CREATE VIEW workflows AS
SELECT workflow, max(version) AS latest_version, count(*) AS versions,
       arg_max(description, version) AS description
FROM workflow_versions GROUP BY workflow;

CREATE VIEW instances AS
SELECT workflow, instance_id, arg_max(version, seq) AS version, arg_max(run_id, seq) AS run_id,
       arg_max(status, seq) AS status, arg_max(params, seq) AS params,
       arg_max(parent, seq) AS parent, min(recorded_at) AS created_at, max(recorded_at) AS updated_at
FROM instance_log GROUP BY workflow, instance_id;

CREATE VIEW attempts AS
SELECT * EXCLUDE (rank) FROM (
    SELECT *, row_number() OVER (
        PARTITION BY workflow, instance_id, run_id, step_id, iteration, attempt ORDER BY seq DESC
    ) AS rank
    FROM attempt_log
) WHERE rank = 1;

-- The latest attempt of every (instance, step, iteration), across runs.
CREATE VIEW iterations AS
SELECT * EXCLUDE (rank) FROM (
    SELECT *, row_number() OVER (
        PARTITION BY workflow, instance_id, step_id, iteration ORDER BY run_id DESC, attempt DESC
    ) AS rank
    FROM attempts
) WHERE rank = 1;

CREATE VIEW steps AS
SELECT workflow, instance_id, step_id, count(*) AS iterations,
       count(*) FILTER (WHERE status = 'SUCCEEDED') AS succeeded,
       count(*) FILTER (WHERE status = 'PAUSED') AS paused,
       count(*) FILTER (WHERE status IN ('USER_FAILED', 'FATALLY_FAILED', 'INTERRUPTED')) AS failed,
       max(attempt) AS max_attempt
FROM iterations GROUP BY workflow, instance_id, step_id;

CREATE VIEW breakpoints AS
SELECT * EXCLUDE (rank) FROM (
    SELECT id, name, workflow, step_id, version, instance_id, run_id, iteration, pause_point,
           condition, active, recorded_at,
           row_number() OVER (PARTITION BY id ORDER BY seq DESC) AS rank
    FROM breakpoint_log
) WHERE rank = 1 AND active;

-- The timeline: every attempt transition plus every other recorded event, in order.
CREATE VIEW events AS
SELECT to_timestamp(t.times[i]) AS recorded_at, workflow, instance_id, run_id, step_id, iteration, attempt,
       'status' AS kind, to_json({'status': t.transitions[i]}) AS detail
FROM attempts AS t, range(1, len(t.transitions) + 1) AS r(i)
UNION ALL
SELECT recorded_at, workflow, instance_id, run_id, step_id, iteration, attempt, kind, detail FROM event_log;
