"""The DuckDB state file: migrations, bulk appends of snapshots, and reads for the engine."""

from __future__ import annotations

import os
import re
import sys
import threading
import weakref
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, wait
from datetime import datetime, timezone
from importlib import resources
from typing import Any

import duckdb

from ..errors import MaestroError, StoreLockedError
from .small import SmallTables
from .values import MARK_TEXT

__all__ = ["Store", "Columns", "DEFAULT_DB", "ENV_DB"]

DEFAULT_DB = "maestro_nb.duckdb"
ENV_DB = "MAESTRO_NB_DB"

# The stores open in this process, by the file's real path. DuckDB lets two connections of one
# process share a file, which would let two Engines write it at once: the lock must hold here
# too. Weak references: a store that was dropped without close() frees its file when collected.
_OPEN: dict[str, weakref.WeakSet[Store]] = {}
_OPEN_LOCK = threading.Lock()


def _file_key(path: str) -> str | None:
    return None if path == ":memory:" else os.path.realpath(path)


def held_in_process(path: str, *, read_only: bool = False) -> bool:
    """True when a Store of this process keeps `path` from being opened (read-only: only a
    Store that writes it does; DuckDB cannot mix the two in one process)."""
    key = _file_key(path)
    with _OPEN_LOCK:
        return _conflicts(key, read_only)


def _conflicts(key: str | None, read_only: bool) -> bool:
    holders = list(_OPEN.get(key, ())) if key is not None else []
    return any(not (read_only and store.read_only) for store in holders)


def now() -> datetime:
    return datetime.now(timezone.utc).replace(tzinfo=None)


def _migrations() -> list[tuple[int, str]]:
    found = []
    for entry in resources.files("maestro_nb.store.migrations").iterdir():
        match = re.match(r"^(\d+)_.*\.sql$", entry.name)
        if match:
            found.append((int(match.group(1)), entry.read_text()))
    return sorted(found)


class Store:
    """One DuckDB connection to the state file; every statement the product runs is here."""

    def __init__(self, path: str | os.PathLike[str] = DEFAULT_DB, *, read_only: bool = False):
        self.path = str(path)
        self.read_only = read_only
        self._lock = _StoreLock()
        self._writer: ThreadPoolExecutor | None = None  # started by the first append_behind
        key = _file_key(self.path)
        with _OPEN_LOCK:  # held until registered: two threads cannot both pass the check
            if _conflicts(key, read_only):
                raise StoreLockedError(self.path, same_process=True)
            new_file = key is None or not os.path.exists(self.path)
            self.conn = self._connect()
            if key is not None:
                _OPEN.setdefault(key, weakref.WeakSet()).add(self)
        self._key = key
        try:
            self._open(new_file)
        except BaseException:
            self.close()
            raise

    def _connect(self) -> Any:
        try:
            return duckdb.connect(self.path, read_only=self.read_only)
        except duckdb.IOException as exc:
            text = str(exc)
            if "lock" in text.lower():
                holder = re.search(r"\(PID (\d+)\)", text)
                raise StoreLockedError(self.path, pid=holder.group(1) if holder else None) from None
            raise MaestroError(f"cannot open state file {self.path}: {text.splitlines()[0]}") from None
        except duckdb.Error as exc:
            raise MaestroError(f"cannot open state file {self.path}: {str(exc).splitlines()[0]}") from None

    def _open(self, new_file: bool) -> None:
        if not self.read_only:
            self._migrate()
        # A new file holds no rows and no value tables yet: no need to look.
        self._seq = 0 if new_file else self._scalar(
            "SELECT max(s) FROM (SELECT max(seq) s FROM attempt_log UNION ALL SELECT max(seq) FROM instance_log"
            " UNION ALL SELECT max(seq) FROM event_log UNION ALL SELECT max(seq) FROM breakpoint_log)"
        ) or 0
        self._table_count = 0 if new_file else self._scalar(
            "SELECT max(CAST(substr(table_name, 7) AS BIGINT)) FROM information_schema.tables"
            " WHERE regexp_full_match(table_name, 'value_[0-9]+')"
        ) or 0
        self.small = SmallTables(self)
        self._instance_writes = 0  # counts what may have changed instance_log, for top_instances
        self._top_instances: dict[str | None, tuple[int, list[tuple]]] = {}

    # --- schema -------------------------------------------------------------------------
    def _migrate(self) -> None:
        """Apply the migrations the file lacks, in one transaction: on a new file, one commit
        instead of one per migration."""
        with self._lock:
            self.conn.execute("BEGIN TRANSACTION")
            try:
                self.conn.execute(
                    "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, applied_at TIMESTAMP)"
                )
                done = {row[0] for row in self.conn.execute("SELECT version FROM schema_migrations").fetchall()}
                applied = []
                for version, sql in _migrations():
                    if version not in done:
                        self.conn.execute(sql)
                        applied += [version, now()]
                if applied:
                    rows = ", ".join("(?, ?)" for _ in range(len(applied) // 2))
                    self.conn.execute(f"INSERT INTO schema_migrations VALUES {rows}", applied)
                self.conn.execute("COMMIT")
            except BaseException:
                self.conn.execute("ROLLBACK")
                raise

    @property
    def schema_version(self) -> int:
        return self._scalar("SELECT max(version) FROM schema_migrations") or 0

    def close(self) -> None:
        if self._writer is not None:
            self._writer.shutdown()  # a write still going on ends first
            self._writer = None
        with self._lock:
            self.conn.close()
        with _OPEN_LOCK:
            holders = _OPEN.get(self._key)
            if holders is not None:
                holders.discard(self)
                if not holders:
                    del _OPEN[self._key]

    # --- small helpers ------------------------------------------------------------------
    def next_seq(self, count: int = 1) -> int:
        """Reserve `count` sequence numbers; returns the first."""
        first = self._seq + 1
        self._seq += count
        return first

    def _scalar(self, sql: str, params: Sequence[Any] = ()) -> Any:
        with self._lock:
            row = self.conn.execute(sql, params).fetchone()
        return row[0] if row else None

    def rows(self, sql: str, params: Sequence[Any] = ()) -> list[tuple]:
        with self._lock:
            return self.conn.execute(sql, params).fetchall()

    def query(self, sql: str, params: Sequence[Any] | None = None) -> Any:
        """Run any SQL over the state and return a pandas DataFrame."""
        with self._lock:
            self._instance_writes += 1  # any SQL may write
            try:
                return self.conn.execute(sql, params or []).df()
            except duckdb.Error as exc:
                raise MaestroError(f"SQL error: {str(exc).splitlines()[0]}") from None

    def execute_step_sql(self, sql: str, params: dict[str, Any]) -> Any:
        """Run a `sql:` step; a query's rows come back as a list of dicts, a statement gives None."""
        with self._lock:
            self._instance_writes += 1  # any SQL may write
            cursor = self.conn.cursor()
            try:
                used = {k: v for k, v in params.items() if re.search(rf"\${re.escape(k)}\b", sql)}
                result = cursor.execute(sql, used) if used else cursor.execute(sql)
                if result.description is None:
                    return None
                names = [d[0] for d in result.description]
                rows = result.fetchall()
                if names == ["Count"] and len(rows) == 1:  # DuckDB's answer to DML
                    return None
                return [dict(zip(names, row)) for row in rows]
            finally:
                cursor.close()

    # --- definitions --------------------------------------------------------------------
    def latest_version(self, workflow: str) -> tuple[int, str] | None:
        row = self.rows(
            "SELECT version, digest FROM workflow_versions WHERE workflow = ? ORDER BY version DESC LIMIT 1",
            [workflow],
        )
        return (row[0][0], row[0][1]) if row else None

    def add_version(self, workflow: str, version: int, digest: str, source: str, description: str) -> None:
        with self._lock:
            self.conn.execute(
                "INSERT INTO workflow_versions VALUES (?, ?, ?, ?, ?, ?)",
                [workflow, version, digest, source, description, now()],
            )

    def definition_source(self, workflow: str, version: int) -> str | None:
        rows = self.rows(
            "SELECT source FROM workflow_versions WHERE workflow = ? AND version = ?", [workflow, version]
        )
        return rows[0][0] if rows else None

    def latest_versions(self) -> dict[str, int]:
        return dict(self.rows("SELECT workflow, max(version) FROM workflow_versions GROUP BY 1"))

    # --- instances, iterations, breakpoints ------------------------------------------------
    def last_instance_ids(self) -> dict[str, int]:
        return dict(self.rows("SELECT workflow, max(instance_id) FROM instance_log GROUP BY 1"))

    def instance_row(self, workflow: str, instance_id: int) -> tuple | None:
        """(version, run_id, status, params JSON) of one stored instance."""
        rows = self.rows(
            "SELECT version, run_id, status, params FROM instances WHERE workflow = ? AND instance_id = ?",
            [workflow, instance_id],
        )
        return rows[0] if rows else None

    def top_instances(self, workflow: str | None = None) -> list[tuple[str, int, int, int, str]]:
        """(workflow, instance_id, version, run_id, status) of every top-level instance, in order."""
        # Read once per change of instance_log: a live panel asks on every draw, and only this
        # connection writes the file.
        cached = self._top_instances.get(workflow)
        if cached is not None and cached[0] == self._instance_writes:
            return list(cached[1])
        where = "parent IS NULL" + (" AND workflow = ?" if workflow is not None else "")
        found = self.rows(
            f"SELECT workflow, instance_id, version, run_id, status FROM instances WHERE {where}"
            " ORDER BY workflow, instance_id", [workflow] if workflow is not None else [],
        )
        self._top_instances[workflow] = (self._instance_writes, found)
        return list(found)

    def unfinished_instances(self) -> list[tuple[str, int, str | None]]:
        """(workflow, instance_id, parent) of every instance not yet ended."""
        return self.rows(
            "SELECT workflow, instance_id, parent FROM instances WHERE status IN ('CREATED', 'IN_PROGRESS')"
            " ORDER BY workflow, instance_id"
        )

    def interrupt_in_flight(self, in_flight: Sequence[str], status: str, at: float) -> int:
        """Append a `status` snapshot for every attempt of an unfinished instance whose latest
        status is one of `in_flight`; returns how many."""
        placeholders = ", ".join("?" for _ in in_flight)
        rows = self.rows(
            f"SELECT * EXCLUDE (seq) FROM attempts WHERE status IN ({placeholders})"
            " AND (workflow, instance_id) IN (SELECT workflow, instance_id FROM instances"
            " WHERE status IN ('CREATED', 'IN_PROGRESS'))", list(in_flight),
        )
        return self._mark(rows, status, at)

    def stop_paused(self, workflow: str, instance_id: int, status: str, at: float) -> int:
        """Append a `status` snapshot for every paused attempt of one instance; returns how many."""
        rows = self.rows(
            "SELECT * EXCLUDE (seq) FROM attempts WHERE status = 'PAUSED' AND workflow = ? AND instance_id = ?",
            [workflow, instance_id],
        )
        return self._mark(rows, status, at)

    def _mark(self, rows: list[tuple], status: str, at: float) -> int:
        if not rows:
            return 0
        first = self.next_seq(len(rows))
        marked = []
        for offset, row in enumerate(rows):
            row = list(row)
            row[7] = status
            row[13] = list(row[13]) + [status]
            row[14] = list(row[14]) + [at]
            marked.append((first + offset, *row))
        self.append("attempt_log", marked)
        return len(rows)

    def iteration_rows(self, workflow: str, instance_id: int, step_ids: Sequence[str] | None = None) -> list[tuple]:
        """The latest attempt of every step iteration of an instance (of `step_ids` only, if given):
        (step_id, iteration, attempt, status, run_id, output, params, loop_params, pause_point,
        paused_by, transitions, times, error, failures, error_type, traceback, changed,
        platform_failures), counting the iteration's USER_FAILED and PLATFORM_FAILED attempts in
        that run."""
        sql = (
            "WITH failed AS (SELECT step_id, iteration, run_id,"
            " count(*) FILTER (WHERE status = 'USER_FAILED') AS n,"
            " count(*) FILTER (WHERE status = 'PLATFORM_FAILED') AS platform FROM attempts"
            " WHERE workflow = ? AND instance_id = ? AND status IN ('USER_FAILED', 'PLATFORM_FAILED')"
            " GROUP BY ALL)"
            " SELECT i.step_id, i.iteration, i.attempt, i.status, i.run_id, i.output, i.params,"
            " i.loop_params, i.pause_point, i.paused_by, i.transitions, i.times, i.error, coalesce(f.n, 0),"
            " i.error_type, i.traceback, i.changed, coalesce(f.platform, 0)"
            " FROM iterations AS i LEFT JOIN failed AS f USING (step_id, iteration, run_id)"
            " WHERE i.workflow = ? AND i.instance_id = ?"
        )
        params: list[Any] = [workflow, instance_id, workflow, instance_id]
        if step_ids is not None:
            sql += " AND list_contains(?, i.step_id)"
            params.append(list(step_ids))
        return self.rows(sql, params)

    def marked_outputs(self, workflow: str, instance_id: int) -> list[tuple[str, str, str]]:
        """(step_id, iteration, output) of every step iteration of an instance whose latest
        attempt succeeded with an output that holds the value marker: the only ones whose
        output can read back as not persisted."""
        return self.rows(
            "SELECT step_id, iteration, output FROM iterations WHERE workflow = ? AND instance_id = ?"
            " AND status IN ('SUCCEEDED', 'COMPLETED_WITH_ERROR') AND contains(output, ?)",
            [workflow, instance_id, MARK_TEXT],
        )

    def step_progress(self, workflow: str, instance_id: int) -> list[tuple[str, str, int, str | None]]:
        """(step, status, iterations, first error line) for every step of an instance that has begun;
        a foreach with a `steps:` body counts its bodies by how they ended in the current run."""
        return self.rows(
            "SELECT step_id, status, count(*), min(coalesce(error_type || ': ', '') || split_part(error, chr(10), 1))"
            " FROM iterations WHERE workflow = ? AND instance_id = ? GROUP BY step_id, status"
            " UNION ALL SELECT e.step_id, e.detail->>'status', count(*), NULL FROM event_log AS e"
            " JOIN instances AS i USING (workflow, instance_id, run_id)"
            " WHERE e.kind = 'iteration' AND e.workflow = ? AND e.instance_id = ? GROUP BY ALL"
            " ORDER BY 1, 2",
            [workflow, instance_id, workflow, instance_id],
        )

    def step_endings(self, workflow: str, instance_id: int) -> dict[str, str]:
        """How each step of an instance's current run ended (its own status, or BLOCKED)."""
        return dict(self.rows(
            "SELECT e.step_id, arg_max(e.detail->>'status', e.seq) FROM event_log AS e"
            " JOIN instances AS i USING (workflow, instance_id, run_id)"
            " WHERE e.kind = 'step' AND e.workflow = ? AND e.instance_id = ? GROUP BY e.step_id",
            [workflow, instance_id],
        ))

    def active_breakpoints(self) -> list[tuple]:
        """(id, name, workflow, step_id, version, instance_id, run_id, iteration, pause_point, condition, gate)."""
        return self.rows(
            "SELECT id, name, workflow, step_id, version, instance_id, run_id, iteration, pause_point, condition,"
            " gate FROM breakpoints ORDER BY id"
        )

    def last_breakpoint_id(self) -> int:
        return self._scalar("SELECT max(id) FROM breakpoint_log") or 0

    # --- bulk appends -------------------------------------------------------------------
    def append(self, table: str, rows: list[tuple]) -> None:
        """Append many rows (in the table's column order) at once."""
        self.append_together([(table, rows)])

    def append_together(self, batches: Sequence[tuple[str, list[tuple] | Columns]]) -> None:
        """Append to several tables in one transaction: a crash keeps all of it or none. Each
        batch is a list of rows or their Columns."""
        prepared = _prepared(batches)
        if not prepared and not self.small.staged:
            return
        self._write(prepared, with_small=True)

    def append_behind(self, batches: Sequence[tuple[str, list[tuple] | Columns]]) -> Future[None]:
        """`append_together` on the store's writer thread: the rows are converted here (that
        needs the GIL), and DuckDB inserts and commits them without it while the caller goes on.
        Every later statement, on any thread, waits for this write first. Rows that name staged
        small values are written here, with them, as `append_together` does."""
        # In place also while this thread holds the lock: the writer would wait for this thread,
        # which would wait for it.
        prepared = _prepared(batches)
        if self.small.staged or self._lock.held_here():
            done: Future[None] = Future()
            self._write(prepared, with_small=True)
            done.set_result(None)
            return done
        if self._writer is None:
            self._writer = ThreadPoolExecutor(1, thread_name_prefix="maestro-writer")
        with self._lock:  # after the write before it; every statement after this one waits for it
            self._lock.behind = future = self._writer.submit(self._write_behind, prepared)
        return future

    def _write_behind(self, prepared: list[tuple[str, Any]]) -> None:
        self._lock.writer = threading.get_ident()
        self._write(prepared, with_small=False)

    def _write(self, prepared: list[tuple[str, Any]], *, with_small: bool) -> None:
        with self._lock:
            small = with_small and bool(self.small.staged)
            if len(prepared) == 1 and not small:
                self._insert(*prepared[0])
                return
            self.conn.execute("BEGIN TRANSACTION")
            try:
                if small:
                    self.small.write()  # the small tables these rows name, in the same transaction
                for table, batch in prepared:
                    self._insert(table, batch)
                self.conn.execute("COMMIT")
            except BaseException:
                self.conn.execute("ROLLBACK")
                if small:
                    self.small.lost()
                raise
            if small:
                self.small.written()

    def _insert(self, table: str, batch: Any) -> None:
        if table == "instance_log":
            self._instance_writes += 1
        if isinstance(batch, list):
            row = "(" + ", ".join("?" * len(batch[0])) + ")"
            self.conn.execute(f"INSERT INTO {table} VALUES {', '.join([row] * len(batch))}",
                              [value for values in batch for value in values])
        else:
            # DuckDB's replacement scan reads `batch` from this frame: cheaper than register().
            self.conn.execute(f"INSERT INTO {table} SELECT * FROM batch")

    # --- values -------------------------------------------------------------------------
    def save_table(self, value: Any) -> str:
        with self._lock:
            self._table_count += 1
            name = f"value_{self._table_count}"
            frame = value  # noqa: F841 - read by DuckDB's replacement scan
            self.conn.execute(f"CREATE OR REPLACE TABLE {name} AS SELECT * FROM frame")
            return name

    def missing_tables(self, names: Iterable[str]) -> set[str]:
        """The names among `names` that `load_table` finds no table for, in a query or two
        rather than one per name."""
        names = set(names)
        small = {name for name in names if name.startswith("small_")}
        big = {name for name in names - small if _TABLE_NAME.fullmatch(name)}
        missing = names - small - big
        if big:
            found = {name for (name,) in self.rows(
                "SELECT table_name FROM information_schema.tables WHERE table_name IN (SELECT unnest(?))", [sorted(big)])}
            missing |= big - found
        if small:
            missing |= self.small.missing(small)
        return missing

    def load_table(self, name: str) -> Any:
        if name.startswith("small_"):
            return self.small.load(name)
        if not _TABLE_NAME.fullmatch(name):
            return None
        with self._lock:
            exists = self.conn.execute(
                "SELECT count(*) FROM information_schema.tables WHERE table_name = ?", [name]
            ).fetchone()[0]
            return self.conn.execute(f"SELECT * FROM {name}").df() if exists else None


_TABLE_NAME = re.compile(r"value_\d+")  # a table value of its own; small ones are `small_ID`

# A table's batch of a few rows goes in as one INSERT with parameters (about 0.3 ms a row),
# more through Arrow. Until pyarrow is loaded, "a few" is more: importing it (and pandas, which
# it loads to convert lists) costs about half a second, most of a small first run.
_FEW_ROWS = 4
_FEW_ROWS_BEFORE_ARROW = 64


def _by_parameters(rows: list[tuple] | Columns) -> bool:
    return len(rows) <= (_FEW_ROWS if "pyarrow" in sys.modules else _FEW_ROWS_BEFORE_ARROW)


class _StoreLock:
    """The store's re-entrant lock. A thread that takes it first waits for the write left on
    the writer thread (`Store.append_behind`): every statement sees every write handed over
    before it."""

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._owner: int | None = None
        self._depth = 0
        self.behind: Future[None] | None = None
        self.writer: int | None = None  # the writer thread's ident

    def held_here(self) -> bool:
        return self._owner == threading.get_ident()

    def __enter__(self) -> None:
        me = threading.get_ident()
        behind = self.behind
        if behind is not None and self._owner != me and me != self.writer:
            wait([behind])  # its error is for the one who handed it over to raise
            if self.behind is behind:
                self.behind = None
        self._lock.acquire()
        self._owner = me
        self._depth += 1

    def __exit__(self, *exc: Any) -> None:
        self._depth -= 1
        if not self._depth:
            self._owner = None
        self._lock.release()


class Columns:
    """A batch of rows given column by column, in the table's column order: the journal's
    bulk path. It becomes an Arrow table without a tuple per row, and without `zip(*rows)`,
    whose iterator per row makes the garbage collector run over and over. Iterating it gives
    the rows, as a list batch would."""

    __slots__ = ("columns",)

    def __init__(self, columns: list[Sequence[Any]]):
        self.columns = columns  # each a list, or a range (a seq column)

    @classmethod
    def of_rows(cls, rows: list[tuple]) -> Columns:
        return cls([list(column) for column in zip(*rows)])

    def __len__(self) -> int:
        return len(self.columns[0]) if self.columns else 0

    def __iter__(self) -> Iterator[tuple]:
        return zip(*self.columns)

    def __add__(self, other: Columns | list[tuple]) -> Columns:
        other = other if isinstance(other, Columns) else Columns.of_rows(other)
        if not other:
            return self
        if not self:
            return other
        return Columns([[*mine, *theirs] for mine, theirs in zip(self.columns, other.columns)])

    def __radd__(self, other: list[tuple]) -> Columns:
        return Columns.of_rows(other) + self

    def __repr__(self) -> str:
        return f"<Columns: {len(self)} rows of {len(self.columns)} columns>"


def _prepared(batches: Sequence[tuple[str, list[tuple] | Columns]]) -> list[tuple[str, Any]]:
    """The non-empty batches, each as its rows (few: bound as parameters) or an Arrow table."""
    return [(table, list(rows) if _by_parameters(rows) else _arrow_table(table, rows))
            for table, rows in batches if rows]


def _arrow_table(table: str, rows: list[tuple] | Columns) -> Any:
    import pyarrow as pa

    schema = _SCHEMAS[table]
    columns = rows.columns if isinstance(rows, Columns) else zip(*rows)
    arrays = [_arrow_array(column, field.type) for field, column in zip(schema, columns)]
    return pa.table(arrays, schema=schema)


def _arrow_array(column: Sequence[Any], kind: Any) -> Any:
    import pyarrow as pa

    if type(column) is range:  # numbered rows: made at once, not converted number by number
        import numpy as np

        return pa.array(np.arange(column.start, column.stop, column.step, dtype=np.int64), type=kind)
    return pa.array(column, type=kind)


def _schemas() -> dict[str, Any]:
    import pyarrow as pa

    s, i, j, b, d, ts = pa.string(), pa.int32(), pa.string(), pa.int64(), pa.float64(), pa.timestamp("us")
    return {
        "attempt_log": pa.schema([
            ("seq", b), ("workflow", s), ("instance_id", i), ("run_id", i), ("step_id", s),
            ("iteration", s), ("loop_params", j), ("attempt", i), ("status", s), ("pause_point", s),
            ("paused_by", pa.list_(i)), ("params", j), ("output", j), ("error", s),
            ("transitions", pa.list_(s)), ("times", pa.list_(d)), ("error_type", s), ("traceback", s),
            ("changed", pa.list_(s)),
        ]),
        "instance_log": pa.schema([
            ("seq", b), ("workflow", s), ("instance_id", i), ("version", i), ("run_id", i),
            ("status", s), ("params", j), ("parent", s), ("recorded_at", ts),
        ]),
        "event_log": pa.schema([
            ("seq", b), ("recorded_at", ts), ("workflow", s), ("instance_id", i), ("run_id", i), ("step_id", s),
            ("iteration", s), ("attempt", i), ("kind", s), ("detail", j),
        ]),
        "breakpoint_log": pa.schema([
            ("seq", b), ("id", i), ("name", s), ("workflow", s), ("step_id", s), ("version", i),
            ("instance_id", i), ("run_id", i), ("iteration", s), ("pause_point", s), ("condition", s),
            ("active", pa.bool_()), ("recorded_at", ts), ("gate", pa.bool_()),
        ]),
    }


class _LazySchemas(dict):
    def __missing__(self, key: str) -> Any:
        self.update(_schemas())
        return dict.__getitem__(self, key)


_SCHEMAS: dict[str, Any] = _LazySchemas()
