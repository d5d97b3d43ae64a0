-- Approval gates. A breakpoint set as a gate (`%breakpoint WF.STEP --gate`) pauses like any
-- other; its attempts wait for a person's decision, Approve (resume) or Reject (skip), recorded
-- in event_log as kind 'gate' with the decision and the comment. Rows written before this
-- migration are plain breakpoints.
ALTER TABLE breakpoint_log ADD COLUMN gate BOOLEAN DEFAULT false;

CREATE OR REPLACE VIEW breakpoints AS
SELECT * EXCLUDE (rank) FROM (
    SELECT id, name, workflow, step_id, version, instance_id, run_id, iteration, pause_point,
           condition, coalesce(gate, false) AS gate, active, recorded_at,
           row_number() OVER (PARTITION BY id ORDER BY seq DESC) AS rank
    FROM breakpoint_log
) WHERE rank = 1 AND active;
