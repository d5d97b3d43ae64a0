"""The journal's flush: each attempt's row as it ran, whatever its records hold."""

from __future__ import annotations

import json

import pandas as pd

from maestro_nb.engine.engine import Engine

VALUES = [1, [2, 3], "text", {"k": "v"}, 5]


def test_one_flush_of_every_kind_of_record_stores_each_row_as_it_ran(engine, namespace, db_path):
    """Loop values that are not plain, a param that is a table and table outputs, in the same
    flush as plain rows: every row keeps its own values, and the tables are named in run order."""
    namespace["make"] = lambda: pd.DataFrame({"a": [1, 2, 3]})
    namespace["f"] = lambda x, make: pd.DataFrame({"x": [json.dumps(x)], "rows": [len(make)]})
    engine.define("w", {"steps": [
        {"id": "make", "run": "make"},
        {"id": "f", "after": ["make"], "foreach": {"x": "${%s}" % json.dumps(VALUES)}, "run": "f"},
    ]})
    assert engine.run("w").status.value == "SUCCEEDED"
    engine.close()
    with Engine(db_path, namespace) as again:
        rows = again.sql("SELECT iteration, loop_params, params, output FROM attempts "
                         "WHERE step_id = 'f' ORDER BY seq")
        assert [json.loads(p) for p in rows.loop_params] == [{"x": x} for x in VALUES]
        assert all(json.loads(p)["make"]["$maestro"] == "table" for p in rows.params)
        names = [json.loads(o)["name"] for o in rows.output]
        assert names == sorted(names, key=lambda name: int(name.rsplit("_", 1)[1])) and len(set(names)) == 5
        frame = again.results("w", "f")
        assert [out.x[0] for out in frame.output] == [json.dumps(x) for x in VALUES]
        assert [out.rows[0] for out in frame.output] == [3] * 5
