"""The data keys in the database and the sealers that use them, on SQLite and PostgreSQL:
the first key, a wrong master said at start, rotation, and the status counts."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session, sessionmaker

from lienthong.security.sealing import (
    FileMasterKey,
    SealingError,
    generate_master_key_file,
    sealed_key_id,
)
from lienthong.store.sealing import (
    PLAIN,
    RAW_BODY,
    KeyedSealer,
    key_status,
    open_sealer,
    register_sealer,
    rotate_keys,
    sealer_for,
)
from lienthong.store.tables import DataKey, MessageLog, utcnow

BODY = '{"ChuHoSo": "Trần Thị Thu Hà"}'.encode()


def log_row(db: Session, raw_body: bytes) -> int:
    row = MessageLog(
        at=utcnow(), endpoint="integration", duration_ms=1.0, http_status=200, error_code="0",
        raw_body=raw_body,
    )  # fmt: skip
    db.add(row)
    db.flush()
    return row.id


def test_sealers_keys_rotation_and_status(
    engine: Engine, sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    first = generate_master_key_file(tmp_path / "first.key")
    assert open_sealer(sessions, None) is PLAIN and PLAIN.seal(BODY, RAW_BODY) == BODY
    assert sealer_for(engine) is PLAIN
    with sessions() as db:
        assert db.scalars(select(DataKey)).all() == []
    sealer = open_sealer(sessions, first)
    assert isinstance(sealer, KeyedSealer)
    register_sealer(engine, sealer)
    with sessions() as db:
        assert sealer_for(db) is sealer  # what a module given a Session finds
        keys = db.scalars(select(DataKey)).all()
        assert [(k.id, k.master_id, k.retired_at) for k in keys] == [(1, first.key_id, None)]
        assert BODY not in keys[0].wrapped
        plain_id = log_row(db, BODY)  # kept before sealing was on
        sealed_id = log_row(db, sealer.seal(BODY, RAW_BODY))
        db.commit()
        stored = db.get(MessageLog, sealed_id)
        assert stored is not None and stored.raw_body is not None
        sealed = stored.raw_body
    assert "Trần".encode() not in sealed and sealed_key_id(sealed) == 1
    again = open_sealer(sessions, FileMasterKey(tmp_path / "first.key"))  # another process
    assert again.open(sealed, RAW_BODY) == BODY and again.open(BODY, RAW_BODY) == BODY
    with pytest.raises(SealingError) as forgotten:  # a hub must not write plaintext now
        open_sealer(sessions, None)
    assert forgotten.value.code == "master.missing" and forgotten.value.vi
    assert open_sealer(sessions, None, create=False) is PLAIN  # a reader may (log show)
    with pytest.raises(SealingError) as no_key:
        PLAIN.open(sealed, RAW_BODY, f"message_log {sealed_id}")
    assert no_key.value.code == "sealed.no_key" and f"message_log {sealed_id}" in no_key.value.vi

    # a wrong master is said at start, never garbage later
    second = generate_master_key_file(tmp_path / "second.key")
    with pytest.raises(SealingError) as wrong:
        open_sealer(sessions, second)
    assert wrong.value.code == "master.mismatch"
    assert second.key_id in wrong.value.en and first.key_id in wrong.value.en
    with sessions() as db:
        assert len(db.scalars(select(DataKey)).all()) == 1, "no second key for a wrong master"

    # rotation: every data key re-wrapped under the new master, one new data key
    third = generate_master_key_file(tmp_path / "third.key")
    with pytest.raises(SealingError) as not_current:
        rotate_keys(sessions, second, third)  # "current" is not what wraps them
    assert not_current.value.code == "master.mismatch"
    done = rotate_keys(sessions, first, second, new_data_key=True)
    assert (done.rewrapped, done.master_id, done.new_data_key) == ([1], second.key_id, 2)
    assert rotate_keys(sessions, first, second).rewrapped == [], "a second run changes nothing"
    with pytest.raises(SealingError) as old:
        open_sealer(sessions, first)
    assert old.value.code == "master.mismatch"
    rotated = open_sealer(sessions, second)
    assert rotated.open(sealed, RAW_BODY) == BODY
    newer = rotated.seal(BODY, RAW_BODY)
    assert sealed_key_id(newer) == 2
    assert sealer.open(sealed, RAW_BODY) == BODY, "a running sealer keeps its unwrapped keys"
    with pytest.raises(SealingError) as unknown:
        sealer.open(newer, RAW_BODY, "message_log 9")  # a key made after it started, not its own
    assert unknown.value.code == "master.mismatch"
    with sessions() as db:
        log_row(db, newer)
        log_row(db, rotated.seal(BODY, RAW_BODY))
        db.commit()

    status = key_status(sessions, bound=2)
    assert [(k.id, k.master_id, k.retired_at is None) for k in status.keys] == [
        (1, second.key_id, False),
        (2, second.key_id, True),
    ]
    evidence = "evidence_entries.body"  # counted too, none here
    assert [k.sealed for k in status.keys] == [
        {RAW_BODY: 1, evidence: 0},
        {RAW_BODY: 2, evidence: 0},
    ]
    assert status.plaintext == {RAW_BODY: 1, evidence: 0} and plain_id
    assert key_status(sessions, bound=1).keys[1].sealed[RAW_BODY] == 1, "bounded"
