-- Definitions, instances, attempts, breakpoints and the event timeline.
-- instance_log and attempt_log are append-only snapshots: the latest row of a key wins.
CREATE TABLE workflow_versions (
    workflow VARCHAR NOT NULL,
    version INTEGER NOT NULL,
    digest VARCHAR NOT NULL,
    source VARCHAR NOT NULL,
    description VARCHAR NOT NULL,
    created_at TIMESTAMP NOT NULL,
    PRIMARY KEY (workflow, version)
);

CREATE TABLE instance_log (
    seq BIGINT NOT NULL,
    workflow VARCHAR NOT NULL,
    instance_id INTEGER NOT NULL,
    version INTEGER NOT NULL,
    run_id INTEGER NOT NULL,
    status VARCHAR NOT NULL,
    params JSON NOT NULL,
    parent VARCHAR,
    recorded_at TIMESTAMP NOT NULL
);

CREATE TABLE attempt_log (
    seq BIGINT NOT NULL,
    workflow VARCHAR NOT NULL,
    instance_id INTEGER NOT NULL,
    run_id INTEGER NOT NULL,
    step_id VARCHAR NOT NULL,
    iteration VARCHAR NOT NULL,
    loop_params JSON,
    attempt INTEGER NOT NULL,
    status VARCHAR NOT NULL,
    pause_point VARCHAR,
    paused_by INTEGER[],
    params JSON,
    output JSON,
    error VARCHAR,
    transitions VARCHAR[] NOT NULL,
    times DOUBLE[] NOT NULL
);

CREATE TABLE breakpoint_log (
    seq BIGINT NOT NULL,
    id INTEGER NOT NULL,
    name VARCHAR,
    workflow VARCHAR NOT NULL,
    step_id VARCHAR NOT NULL,
    version INTEGER,
    instance_id INTEGER,
    run_id INTEGER,
    iteration VARCHAR,
    pause_point VARCHAR NOT NULL,
    condition VARCHAR,
    active BOOLEAN NOT NULL,
    recorded_at TIMESTAMP NOT NULL
);

CREATE TABLE event_log (
    seq BIGINT NOT NULL,
    recorded_at TIMESTAMP NOT NULL,
    workflow VARCHAR,
    instance_id INTEGER,
    run_id INTEGER,
    step_id VARCHAR,
    iteration VARCHAR,
    attempt INTEGER,
    kind VARCHAR NOT NULL,
    detail JSON
);
