"""The database layer on SQLite and PostgreSQL: migrations, pragmas, datetimes, JSON, constraints."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine, delete, func, insert, inspect, select, text
from sqlalchemy.exc import IntegrityError, OperationalError, StatementError
from sqlalchemy.orm import Session, sessionmaker

import lienthong.store as store
from lienthong.store import (
    Account,
    Base,
    Dossier,
    DossierEvent,
    HubSession,
    LoginFailure,
    MessageLog,
    canonical_json,
    current_revision,
    head_revision,
    make_engine,
    record_hash,
    session_factory,
    upgrade,
)
from lienthong.store.db import DatabaseProblem, check_database, normalize_url, redact_url
from lienthong.store.testing import database_urls, temporary_database

#: Run a test that takes ``engine`` on PostgreSQL only (indirect parametrization of the fixture).
POSTGRESQL_ONLY = pytest.mark.parametrize("blank_engine", ["postgresql"], indirect=True)

VN = timezone(timedelta(hours=7), "Asia/Ho_Chi_Minh")
TABLES = {
    "accounts",
    "hub_sessions",
    "login_failures",
    "dossiers",
    "dossier_events",
    "message_log",
    "alembic_version",
}
RECORD: dict[str, Any] = {
    "MaHoSo": "000.00.00.H29-240715-0001",
    "TenThuTuc": "Cấp giấy phép xây dựng nhà ở riêng lẻ",
    "ChuHoSo": "Nguyễn Thị Hồng Nhung",
    "DiaChi": "Số 1 phố Hàng Bạc, phường Hoàn Kiếm, Hà Nội",
    "TaiLieuNop": [{"TenTepDinhKem": "Đơn đề nghị.pdf", "IsDeleted": "False"}],
    "Gia": "1500000",
    "Rỗng": "",
}


def dossier(ma_ho_so: str = "000.00.00.H29-240715-0001", **changes: Any) -> Dossier:
    record = {**RECORD, "MaHoSo": ma_ho_so}
    values: dict[str, Any] = {
        "ma_ho_so": ma_ho_so,
        "unit": "000.00.00.H29",
        "ma_tthc": "1.000001",
        "status": "1",
        "received_at": datetime(2024, 7, 15, 8, 30, tzinfo=VN),
        "record": record,
        "record_hash": record_hash(record),
    }
    values.update(changes)
    return Dossier(**values)


# ------------------------------------------------------------------------------------------
# Engines and URLs
# ------------------------------------------------------------------------------------------


def test_public_api_is_pinned() -> None:
    assert sorted(store.__all__) == sorted(
        [
            "ALL_SERVICES",
            "DEFAULT_URL",
            "Account",
            "AccountError",
            "Accounts",
            "Base",
            "Dossier",
            "DossierEvent",
            "HubSession",
            "LoginFailure",
            "MessageLog",
            "UtcDateTime",
            "canonical_json",
            "current_revision",
            "hash_password",
            "head_revision",
            "make_engine",
            "record_hash",
            "redact_url",
            "session_factory",
            "upgrade",
            "utcnow",
            "verify_password",
        ]
    )
    for name in store.__all__:
        assert getattr(store, name) is not None
    assert store.DEFAULT_URL == "sqlite:///var/lienthong.db"


def test_database_kinds() -> None:
    assert database_urls() == ["sqlite", "postgresql"]


@pytest.mark.parametrize(
    "url",
    [
        "postgresql://postgres@127.0.0.1:5432/test",
        "postgres://postgres@127.0.0.1:5432/test",
        "postgresql+psycopg://postgres@127.0.0.1:5432/test",
    ],
)
def test_postgresql_urls_use_psycopg3(url: str) -> None:
    assert normalize_url(url).drivername == "postgresql+psycopg"
    engine = make_engine(url)  # lazy: no connection yet
    try:
        assert engine.dialect.driver == "psycopg"
    finally:
        engine.dispose()


def test_redact_url_hides_the_password() -> None:
    shown = redact_url("postgresql+psycopg://hub:s3cret@db.example/lienthong")
    assert "s3cret" not in shown
    assert "hub" in shown


def test_sqlite_never_creates_a_folder(tmp_path: Path) -> None:
    """A typo in a path must not leave a database where nobody looks for it."""
    url = f"sqlite:///{tmp_path / 'nested' / 'hub.db'}"
    engine = make_engine(url)
    try:
        with pytest.raises(OperationalError):
            engine.connect()
    finally:
        engine.dispose()
    with pytest.raises(DatabaseProblem) as raised:
        check_database(url)
    assert f"mkdir -p {tmp_path / 'nested'}" in raised.value.en
    assert "không tự tạo thư mục" in raised.value.vi
    assert not (tmp_path / "nested").exists()


def test_sqlite_sets_pragmas(tmp_path: Path) -> None:
    path = tmp_path / "hub.db"
    engine = make_engine(f"sqlite:///{path}")
    try:
        with engine.connect() as connection:
            pragma = {
                name: connection.exec_driver_sql(f"PRAGMA {name}").scalar()
                for name in ("journal_mode", "foreign_keys", "synchronous", "busy_timeout")
            }
        assert pragma == {
            "journal_mode": "wal",
            "foreign_keys": 1,
            "synchronous": 1,  # NORMAL
            "busy_timeout": 5000,
        }
        assert path.exists()
    finally:
        engine.dispose()


def test_sqlite_in_memory_is_one_shared_database() -> None:
    engine = make_engine("sqlite://")
    try:
        upgrade(engine)
        sessions = session_factory(engine)
        with sessions.begin() as session:
            session.add(dossier())
        with sessions() as session:
            assert session.scalar(select(func.count()).select_from(Dossier)) == 1
    finally:
        engine.dispose()


def test_schema_is_refused_on_sqlite(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="PostgreSQL"):
        make_engine(f"sqlite:///{tmp_path / 'x.db'}", schema="lt_x")


def test_invalid_schema_names_are_refused() -> None:
    with pytest.raises(ValueError, match="schema"):
        make_engine("postgresql://postgres@127.0.0.1/test", schema='x"; DROP TABLE y; --')


# ------------------------------------------------------------------------------------------
# Migrations
# ------------------------------------------------------------------------------------------


def test_upgrade_creates_every_table(engine: Engine) -> None:
    assert set(inspect(engine).get_table_names()) >= TABLES
    assert current_revision(engine) == head_revision() is not None


def test_upgrade_is_idempotent(engine: Engine) -> None:
    upgrade(engine)
    upgrade(engine)
    assert current_revision(engine) == head_revision()
    with engine.connect() as connection:
        assert connection.execute(text("SELECT count(*) FROM alembic_version")).scalar() == 1


def test_a_blank_database_has_no_revision(blank_engine: Engine) -> None:
    assert current_revision(blank_engine) is None
    upgrade(blank_engine)
    assert current_revision(blank_engine) == head_revision()


def test_concurrent_upgrades_do_not_collide(blank_engine: Engine) -> None:
    """Hub workers starting together each run ``upgrade``; they must not trip over each other."""
    errors: list[BaseException] = []

    def run() -> None:
        try:
            upgrade(blank_engine)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert current_revision(blank_engine) == head_revision()


def test_the_migrations_match_the_tables(engine: Engine) -> None:
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        differences = compare_metadata(context, Base.metadata)
    assert differences == []


@POSTGRESQL_ONLY
def test_postgresql_tables_live_in_the_test_schema(engine: Engine) -> None:
    with engine.connect() as connection:
        schema = connection.execute(text("SELECT current_schema()")).scalar()
        assert isinstance(schema, str) and schema.startswith("lt_")
        in_schema = set(
            connection.execute(
                text("SELECT table_name FROM information_schema.tables WHERE table_schema = :s"),
                {"s": schema},
            ).scalars()
        )
    assert in_schema >= TABLES


def test_postgresql_test_schema_is_dropped_afterwards(tmp_path: Path) -> None:
    try:
        with temporary_database("postgresql", tmp_path) as engine:
            upgrade(engine)
            with engine.connect() as connection:
                schema = connection.execute(text("SELECT current_schema()")).scalar()
    except store.testing.DatabaseUnavailable as exc:
        pytest.skip(str(exc))
    admin = make_engine(store.testing.postgresql_url())
    try:
        with admin.connect() as connection:
            found = connection.execute(
                text("SELECT count(*) FROM pg_namespace WHERE nspname = :s"), {"s": schema}
            ).scalar()
        assert found == 0
    finally:
        admin.dispose()


# ------------------------------------------------------------------------------------------
# Values
# ------------------------------------------------------------------------------------------


def test_aware_datetimes_round_trip_in_utc(sessions: sessionmaker[Session]) -> None:
    received = datetime(2024, 7, 15, 8, 30, 15, 123456, tzinfo=VN)
    with sessions.begin() as session:
        session.add(dossier(received_at=received, due_at=None))
    with sessions() as session:
        row = session.scalars(select(Dossier)).one()
        assert row.received_at == received
        assert row.received_at is not None and row.received_at.tzinfo is UTC
        assert row.received_at == datetime(2024, 7, 15, 1, 30, 15, 123456, tzinfo=UTC)
        assert row.due_at is None
        assert row.created_at.tzinfo is UTC
        assert abs(row.created_at - datetime.now(UTC)) < timedelta(minutes=5)
        # Comparisons bind aware values in any zone.
        found = session.scalars(
            select(Dossier.ma_ho_so).where(
                Dossier.received_at >= datetime(2024, 7, 15, 8, 30, tzinfo=VN),
                Dossier.received_at < datetime(2024, 7, 15, 1, 31, tzinfo=UTC),
            )
        ).all()
        assert found == [row.ma_ho_so]


@POSTGRESQL_ONLY
def test_datetimes_come_back_in_utc_whatever_the_session_time_zone(engine: Engine) -> None:
    sessions = session_factory(engine)
    with sessions.begin() as session:
        session.add(dossier())
    with sessions() as session:
        session.execute(text("SET TIME ZONE 'Asia/Ho_Chi_Minh'"))
        value = session.scalars(select(Dossier.received_at)).one()
    assert value == datetime(2024, 7, 15, 1, 30, tzinfo=UTC)
    assert value is not None and value.tzinfo is UTC


def test_naive_datetimes_are_refused(sessions: sessionmaker[Session]) -> None:
    with pytest.raises(StatementError, match="naive datetime"), sessions.begin() as session:
        session.add(dossier(received_at=datetime(2024, 7, 15, 8, 30)))


def test_json_round_trips_vietnamese_text(sessions: sessionmaker[Session]) -> None:
    with sessions.begin() as session:
        session.add(dossier())
    with sessions() as session:
        row = session.scalars(select(Dossier)).one()
        assert row.record == RECORD
        assert row.record["ChuHoSo"] == "Nguyễn Thị Hồng Nhung"
        assert row.record_hash == record_hash(RECORD)


def test_accounts_lists_round_trip(sessions: sessionmaker[Session]) -> None:
    with sessions.begin() as session:
        session.add(
            Account(
                username="mcdt-hà-nội",
                password_hash="x",
                units=["000.00.00.H26", "000.00.01.H26"],
                services=["*"],
            )
        )
    with sessions() as session:
        account = session.scalars(select(Account)).one()
        assert account.username == "mcdt-hà-nội"
        assert account.units == ["000.00.00.H26", "000.00.01.H26"]
        assert account.services == ["*"]
        assert account.disabled is False


def test_bulk_insert_applies_python_defaults(sessions: sessionmaker[Session]) -> None:
    rows = [
        {
            "ma_ho_so": f"000.00.00.H29-240715-{i:04d}",
            "unit": "000.00.00.H29",
            "ma_tthc": "1.000001",
            "status": "2",
            "received_at": datetime(2024, 7, 15, 8, i % 60, tzinfo=VN),
            "record": {**RECORD, "MaHoSo": f"000.00.00.H29-240715-{i:04d}"},
            "record_hash": f"{i:064x}",
        }
        for i in range(250)
    ]
    with sessions.begin() as session:
        ids = session.scalars(insert(Dossier).returning(Dossier.id), rows).all()
    assert len(set(ids)) == 250
    with sessions() as session:
        assert session.scalar(select(func.count()).select_from(Dossier)) == 250
        first = session.scalars(select(Dossier).order_by(Dossier.id).limit(1)).one()
        assert first.created_at.tzinfo is UTC and first.updated_at.tzinfo is UTC
        assert first.record["TenThuTuc"] == RECORD["TenThuTuc"]


def test_message_log_keeps_raw_bytes(sessions: sessionmaker[Session]) -> None:
    body = '{"service":"DongBoHoSoMC","data":[{"ChuHoSo":"Trần Văn Ba"}]}'.encode()
    with sessions.begin() as session:
        session.add(
            MessageLog(
                endpoint="integration",
                service="DongBoHoSoMC",
                account="mcdt-hanoi",
                unit="000.00.00.H26",
                client="203.0.113.7",
                dstcode="VN:GOV:000.00.00.G22",
                request_bytes=len(body),
                response_bytes=42,
                duration_ms=1.25,
                http_status=200,
                error_code="00",
                records=1,
                accepted=1,
                raw_body=body,
            )
        )
    with sessions() as session:
        row = session.scalars(select(MessageLog)).one()
        assert row.raw_body == body
        assert (row.records, row.accepted, row.rejected) == (1, 1, 0)
        assert row.at.tzinfo is UTC and row.note is None


# ------------------------------------------------------------------------------------------
# Constraints
# ------------------------------------------------------------------------------------------


def test_usernames_are_unique(sessions: sessionmaker[Session]) -> None:
    with sessions.begin() as session:
        session.add(Account(username="a", password_hash="x", units=[], services=[]))
    with pytest.raises(IntegrityError), sessions.begin() as session:
        session.add(Account(username="a", password_hash="y", units=[], services=[]))


def test_dossier_codes_are_unique(sessions: sessionmaker[Session]) -> None:
    with sessions.begin() as session:
        session.add(dossier())
    with pytest.raises(IntegrityError), sessions.begin() as session:
        session.add(dossier(unit="000.00.00.H26"))


def test_a_history_entry_is_stored_once(sessions: sessionmaker[Session]) -> None:
    with sessions.begin() as session:
        row = dossier()
        session.add(row)
        session.flush()
        dossier_id = row.id
    event = {"MaHoSo": row.ma_ho_so, "TrangThai": "2", "NguoiXuLy": "Lê Thị Thu"}
    values = {
        "dossier_id": dossier_id,
        "status": "2",
        "processed_at": datetime(2024, 7, 16, 9, 0, tzinfo=VN),
        "record": event,
        "record_hash": record_hash(event),
    }
    with sessions.begin() as session:
        session.execute(insert(DossierEvent), [values])
    with pytest.raises(IntegrityError), sessions.begin() as session:
        session.execute(insert(DossierEvent), [values])
    with sessions.begin() as session:  # another dossier may carry the same record
        other = dossier("000.00.00.H29-240715-0002")
        session.add(other)
        session.flush()
        session.execute(insert(DossierEvent), [{**values, "dossier_id": other.id}])
    with sessions() as session:
        assert session.scalar(select(func.count()).select_from(DossierEvent)) == 2


def test_history_needs_an_existing_dossier(sessions: sessionmaker[Session]) -> None:
    with pytest.raises(IntegrityError), sessions.begin() as session:
        session.add(DossierEvent(dossier_id=987654, status="2", record={}, record_hash="0" * 64))


def test_deleting_a_dossier_deletes_its_history(sessions: sessionmaker[Session]) -> None:
    with sessions.begin() as session:
        row = dossier()
        session.add(row)
        session.flush()
        session.add(DossierEvent(dossier_id=row.id, status="2", record={}, record_hash="1" * 64))
    with sessions.begin() as session:
        session.execute(delete(Dossier))
    with sessions() as session:
        assert session.scalar(select(func.count()).select_from(DossierEvent)) == 0


def test_sessions_and_login_failures(sessions: sessionmaker[Session]) -> None:
    with sessions.begin() as session:
        account = Account(username="a", password_hash="x", units=[], services=["*"])
        session.add(account)
        session.flush()
        expires = datetime.now(UTC) + timedelta(minutes=30)
        session.add(HubSession(token_hash="a" * 64, account_id=account.id, expires_at=expires))
        session.add(LoginFailure(username="a", client="198.51.100.2"))
    with sessions() as session:
        hub_session = session.get(HubSession, "a" * 64)
        assert hub_session is not None and hub_session.expires_at.tzinfo is UTC
        assert hub_session.client is None
        failure = session.scalars(select(LoginFailure)).one()
        assert failure.at.tzinfo is UTC
    with pytest.raises(IntegrityError), sessions.begin() as session:
        session.add(HubSession(token_hash="a" * 64, account_id=account.id, expires_at=expires))


# ------------------------------------------------------------------------------------------
# Hashing
# ------------------------------------------------------------------------------------------


def test_record_hash_is_canonical() -> None:
    a = {"b": "2", "a": "Đắk Lắk", "c": [{"y": "1", "x": "2"}]}
    b = {"c": [{"x": "2", "y": "1"}], "a": "Đắk Lắk", "b": "2"}
    assert canonical_json(a) == canonical_json(b)
    assert canonical_json(a) == '{"a":"Đắk Lắk","b":"2","c":[{"x":"2","y":"1"}]}'.encode()
    assert record_hash(a) == record_hash(b)
    assert len(record_hash(a)) == 64
    assert record_hash(a) != record_hash({**a, "b": "3"})


def test_record_hash_survives_what_orjson_refuses() -> None:
    assert len(record_hash({"x": "\ud800"})) == 64
    assert len(record_hash({"n": 2**70})) == 64


def test_a_background_thread_checkpoints_the_wal_of_a_sqlite_file(tmp_path: Path) -> None:
    """Committed pages reach the database file without any commit paying for a checkpoint."""
    import time

    from lienthong.store import db as store_db

    path = tmp_path / "wal.db"
    engine = make_engine(f"sqlite:///{path}")
    try:
        with engine.begin() as connection:
            connection.exec_driver_sql("CREATE TABLE t (x TEXT)")
        size_before = path.stat().st_size
        with engine.begin() as connection:
            connection.exec_driver_sql(
                "INSERT INTO t VALUES (?)", [("x" * 4000,) for _ in range(200)]
            )
        assert path.stat().st_size == size_before  # the rows are only in the WAL so far
        deadline = time.monotonic() + 10 * store_db.CHECKPOINT_INTERVAL
        while path.stat().st_size == size_before and time.monotonic() < deadline:
            time.sleep(0.05)
        assert path.stat().st_size > 200 * 4000
        threads = [t for t in threading.enumerate() if t.name == "lienthong-wal-checkpoint"]
        assert threads
    finally:
        engine.dispose()


@POSTGRESQL_ONLY
def test_kept_raw_bodies_are_compressed_with_lz4_where_the_server_can(engine: Engine) -> None:
    with engine.connect() as connection:
        supported = connection.scalar(
            text(
                "SELECT count(*) FROM pg_settings WHERE name = 'default_toast_compression' "
                "AND 'lz4' = ANY(enumvals)"
            )
        )
        method = connection.scalar(
            text(
                "SELECT attcompression FROM pg_attribute "
                "WHERE attrelid = 'message_log'::regclass AND attname = 'raw_body'"
            )
        )
    assert method == ("l" if supported else "")


def test_insert_ignoring_duplicates_reports_whether_a_row_went_in(engine: Engine) -> None:
    from lienthong.store.db import insert_ignoring_duplicates
    from lienthong.store.tables import HubSecret

    sessions = session_factory(engine)
    inserted = []
    for value in ("first", "second"):
        with sessions() as db:
            row = db.scalar(
                insert_ignoring_duplicates(db, HubSecret)
                .values(name="k", value=value, created_at=datetime.now(UTC))
                .returning(HubSecret.name)
            )
            db.commit()
            inserted.append(row)
    assert inserted == ["k", None]
    with sessions() as db:
        assert db.get(HubSecret, "k").value == "first"  # type: ignore[union-attr]
