"""Migrations: what a file lacks is applied in one transaction, one record per migration."""

from __future__ import annotations

from datetime import datetime

import duckdb
import pytest

from maestro_nb.store import store as store_module
from maestro_nb.store.store import Store, _migrations

OLD_APPLIED_AT = datetime(2026, 1, 2, 3, 4, 5)


def older_file(path: str, migrations: int) -> None:
    """A state file as an earlier release left it: the first `migrations`, and one value table."""
    conn = duckdb.connect(path)
    conn.execute("CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, applied_at TIMESTAMP)")
    for version, sql in _migrations()[:migrations]:
        conn.execute(sql)
        conn.execute("INSERT INTO schema_migrations VALUES (?, ?)", [version, OLD_APPLIED_AT])
    conn.execute("INSERT INTO event_log VALUES (41, now(), NULL, NULL, NULL, NULL, NULL, NULL, 'note', NULL)")
    conn.execute("CREATE TABLE value_7 AS SELECT 1 AS x")
    conn.close()


def test_a_new_file_gets_every_migration_recorded_once(tmp_path) -> None:
    store = Store(tmp_path / "new.duckdb")
    try:
        records = store.rows("SELECT version, applied_at FROM schema_migrations ORDER BY version")
        assert [version for version, _ in records] == [version for version, _ in _migrations()]
        assert all(isinstance(applied_at, datetime) for _, applied_at in records)
        assert store.next_seq() == 1 and store._table_count == 0
    finally:
        store.close()


@pytest.mark.parametrize("migrations", [1, 3, 6])
def test_an_older_file_gets_what_it_lacks_and_keeps_its_records_and_numbering(tmp_path, migrations: int) -> None:
    path = str(tmp_path / "older.duckdb")
    older_file(path, migrations)
    store = Store(path)
    try:
        records = store.rows("SELECT version, applied_at FROM schema_migrations ORDER BY version")
        assert [version for version, _ in records] == [version for version, _ in _migrations()]
        assert [applied_at for _, applied_at in records[:migrations]] == [OLD_APPLIED_AT] * migrations
        assert all(applied_at != OLD_APPLIED_AT for _, applied_at in records[migrations:])
        assert store.next_seq() == 42  # numbering goes on after the file's rows and value tables
        assert store._table_count == 7
    finally:
        store.close()


def test_a_failing_migration_leaves_the_file_as_it_was(tmp_path, monkeypatch) -> None:
    path = str(tmp_path / "older.duckdb")
    older_file(path, 3)
    broken = _migrations() + [(99, "CREATE TABLE later (x INTEGER); SELECT * FROM no_such_table;")]
    monkeypatch.setattr(store_module, "_migrations", lambda: broken)
    with pytest.raises(duckdb.CatalogException, match="no_such_table"):
        Store(path)
    conn = duckdb.connect(path, read_only=True)
    try:
        assert conn.execute("SELECT max(version) FROM schema_migrations").fetchone() == (3,)
        tables = {row[0] for row in conn.execute("SELECT table_name FROM information_schema.tables").fetchall()}
        assert "later" not in tables and "value_index" not in tables  # neither 99 nor 7 half-applied
    finally:
        conn.close()
