-- Small table values stored compactly. A DataFrame or Arrow table of at most a few hundred
-- rows no longer gets a DuckDB table of its own (a 256 KiB block each): its rows go into a
-- table shared by every small value of the same columns and types (`value_rows_N`, with a
-- `__value_id` column), written in bulk with the journal's flush. `value_shapes` names those
-- tables by their Arrow schema; `value_index` says where each value's rows are. A value is
-- named `small_ID` in the output JSON; big tables stay tables of their own (`value_N`).
CREATE TABLE IF NOT EXISTS value_shapes (
    shape_id INTEGER NOT NULL,
    table_name VARCHAR NOT NULL,
    signature VARCHAR NOT NULL
);
CREATE TABLE IF NOT EXISTS value_index (
    value_id BIGINT NOT NULL,
    shape_id INTEGER NOT NULL,
    row_count INTEGER NOT NULL
);
-- Where each small value's rows are: SELECT * EXCLUDE (__value_id) FROM <table_name>
-- WHERE __value_id = <value_id> reads one back.
CREATE OR REPLACE VIEW table_values AS
SELECT 'small_' || v.value_id AS name, s.table_name, v.value_id, v.row_count
FROM value_index AS v JOIN value_shapes AS s USING (shape_id);
