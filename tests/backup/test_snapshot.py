"""SQLite's online backup is a consistent snapshot while a writer keeps committing: every
transaction of the writer is in the copy whole or not at all, and the writer is not stopped."""

from __future__ import annotations

import threading
from pathlib import Path

from sqlalchemy import Engine

from lienthong.backup.snapshot import DatabaseFacts, sqlite_snapshot
from lienthong.store.testing import temporary_database


def _count(engine: Engine, table: str) -> int:
    with engine.connect() as connection:
        return int(connection.exec_driver_sql(f"SELECT count(*) FROM {table}").scalar_one())


def test_a_snapshot_taken_while_a_writer_commits_holds_whole_transactions(tmp_path: Path) -> None:
    with temporary_database("sqlite", tmp_path / "db") as engine:
        with engine.begin() as connection:
            connection.exec_driver_sql("CREATE TABLE orders (id INTEGER PRIMARY KEY, body BLOB)")
            connection.exec_driver_sql("CREATE TABLE lines (id INTEGER PRIMARY KEY, body BLOB)")
            for table in ("orders", "lines"):
                connection.exec_driver_sql(
                    f"INSERT INTO {table} (body) SELECT randomblob(200) FROM "
                    "(WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n "
                    "WHERE i < 20000) SELECT i FROM n)"
                )
        stop = threading.Event()
        committed = threading.Semaphore(0)

        def writer() -> None:
            # one order and its line per transaction: a consistent copy has as many of each
            while not stop.is_set():
                with engine.begin() as connection:
                    connection.exec_driver_sql("INSERT INTO orders (body) VALUES (randomblob(200))")
                    connection.exec_driver_sql("INSERT INTO lines (body) VALUES (randomblob(200))")
                committed.release()

        thread = threading.Thread(target=writer)
        thread.start()
        try:
            seen = []
            for _ in range(3):
                committed.acquire()  # the writer is running before each snapshot
                with sqlite_snapshot(engine, tmp_path) as (copy, facts):
                    assert copy.parent == tmp_path and copy.exists()
                    assert facts.tables["orders"] == facts.tables["lines"] > 20000
                    seen.append(facts.tables["orders"])
                committed.acquire()  # and it commits again after it: it was never stopped
        finally:
            stop.set()
            thread.join()
        assert _count(engine, "orders") == _count(engine, "lines") > max(seen)
        assert [path.name for path in tmp_path.iterdir()] == ["db"], "the copy is removed"


def test_the_facts_name_the_revision_and_the_evidence_heads(tmp_path: Path) -> None:
    """The evidence tables (issue 13) are read when they exist: each side's head."""
    with temporary_database("sqlite", tmp_path / "db") as engine:
        with engine.begin() as connection:
            connection.exec_driver_sql("CREATE TABLE alembic_version (version_num TEXT)")
            connection.exec_driver_sql("INSERT INTO alembic_version VALUES ('0016')")
            connection.exec_driver_sql(
                "CREATE TABLE evidence_head (side TEXT PRIMARY KEY, seq INTEGER, digest TEXT)"
            )
            connection.exec_driver_sql(
                "INSERT INTO evidence_head VALUES ('hub', 7, 'ab'), ('agent', 2, 'cd')"
            )
        with sqlite_snapshot(engine, tmp_path) as (_, facts):
            assert facts.revision == "0016"
            assert facts.tables == {"alembic_version": 1, "evidence_head": 2}
            assert facts.evidence == {
                "agent": {"seq": 2, "digest": "cd"},
                "hub": {"seq": 7, "digest": "ab"},
            }
            assert DatabaseFacts.from_dict(facts.as_dict()) == facts
