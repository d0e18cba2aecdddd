"""A hub with encryption at rest: the kept request bodies are sealed in the database, the
lookup page and `lienthong log show` still read them, and `lienthong keys rotate` re-wraps the
data keys while the hub serves pushes."""

from __future__ import annotations

import copy
import threading
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, select
from typer.testing import CliRunner

from lienthong.cli.main import app
from lienthong.demo import dossiers
from lienthong.hub.app import Hub
from lienthong.hub.settings import HubSettings, SettingsError
from lienthong.security.sealing import generate_master_key_file, is_sealed, sealed_key_id
from lienthong.store.sealing import RAW_BODY, KeyedSealer
from lienthong.store.tables import EvidenceEntry, MessageLog
from tests.hub.conftest import PASSWORD, UNIT, RunningHub, free_port, serve
from tests.servers import process_url

OWNER = "Phạm Thị Tuyết Mai"


def push(running: RunningHub, session: str, sequence: int) -> dict[str, Any]:
    record = copy.deepcopy(dossiers(sequence)[sequence - 1])
    record.update(ChuHoSo=OWNER, TrichYeuHoSo=f"{record['TenTTHC']} - {OWNER}")
    answer: dict[str, Any] = running.call(
        {
            "session": session,
            "madonvi": UNIT,
            "service": "DongBoHoSoMC",
            "isUpdating": "False",
            "data": [record],
        }
    ).json()
    assert answer["error_code"] == "0", answer
    return record


def cli(*args: str) -> Any:
    return CliRunner().invoke(app, list(args), env={"COLUMNS": "250"})


def test_bodies_are_sealed_read_back_and_rotated_while_the_hub_serves(
    engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("LIENTHONG_MASTER_KEY_FILE", raising=False)
    old_key, new_key = tmp_path / "old.key", tmp_path / "new.key"
    generate_master_key_file(old_key)
    generate_master_key_file(new_key)
    url = process_url(engine)
    settings = HubSettings(port=free_port(), master_key_file=str(old_key))
    hub = Hub(settings, engine=engine)
    hub.accounts.add("tinh_thanhhoa", PASSWORD, [UNIT])
    pushed: list[str] = []
    failures: list[BaseException] = []
    with serve(hub, settings) as running:
        session = running.login()
        code = push(running, session, 1)["MaHoSo"]
        with engine.connect() as connection:
            kept = connection.scalar(
                select(MessageLog.raw_body).where(MessageLog.service == "DongBoHoSoMC")
            )
            # the evidence entry keeps the exact bytes, sealed the same way
            evidence = connection.scalar(
                select(EvidenceEntry.body).where(EvidenceEntry.service == "DongBoHoSoMC")
            )
        assert kept is not None and is_sealed(kept) and sealed_key_id(kept) == 1
        assert evidence is not None and is_sealed(evidence) and sealed_key_id(evidence) == 1
        for plain in (OWNER.encode(), OWNER.encode("unicode_escape"), code.encode(), b"MaHoSo"):
            assert plain not in kept and plain not in evidence

        page = running.client.get("/tra-cuu", params={"mahoso": code})
        assert page.status_code == 200 and "Phạm T*** T*** M*" in page.text

        with hub.sessions() as db:
            row_id = db.scalar(select(MessageLog.id).where(MessageLog.raw_body == kept))
        shown = cli(
            "log", "show", str(row_id), "--database", url, "--master-key-file", str(old_key)
        )
        assert shown.exit_code == 0, shown.output
        assert OWNER in shown.output and code in shown.output
        unopened = cli("log", "show", str(row_id), "--database", url)
        assert unopened.exit_code == 2 and "LIENTHONG_MASTER_KEY_FILE" in unopened.output
        assert OWNER not in unopened.output

        # pushes go on while the master key is rotated and a new data key is started
        stop, started = threading.Event(), threading.Event()

        def keep_pushing() -> None:
            try:
                for sequence in range(2, 200):
                    pushed.append(push(running, session, sequence)["MaHoSo"])
                    started.set()
                    if stop.is_set() and len(pushed) >= 3:
                        return
            except BaseException as exc:  # reported by the test below
                failures.append(exc)

        pusher = threading.Thread(target=keep_pushing)
        pusher.start()
        assert started.wait(timeout=30), failures
        rotated = cli(
            "keys", "rotate", "--database", url, "--master-key-file", str(old_key),
            "--new-master-key-file", str(new_key), "--new-data-key",
        )  # fmt: skip
        stop.set()
        pusher.join(timeout=60)
        assert rotated.exit_code == 0, rotated.output
        assert "re-wrapped 1 data keys" in rotated.output and "new data key 2" in rotated.output
        assert not failures and len(pushed) >= 3
        code_after = push(running, session, 200)["MaHoSo"]
    hub.sealer.close()

    # a hub given only the new master reads every row; the old master opens nothing now
    with pytest.raises(SettingsError) as refused:
        Hub(HubSettings(master_key_file=str(old_key)), engine=engine)
    assert "master" in refused.value.en and "khóa chủ" in refused.value.vi
    after = Hub(HubSettings(master_key_file=str(new_key)), engine=engine)
    assert isinstance(after.sealer, KeyedSealer)
    with after.sessions() as db:
        rows = db.scalars(select(MessageLog).where(MessageLog.raw_body.is_not(None))).all()
    bodies = [
        after.sealer.open(row.raw_body or b"", RAW_BODY, f"message_log {row.id}") for row in rows
    ]
    assert len(bodies) == len(pushed) + 2
    assert {sealed_key_id(row.raw_body or b"") for row in rows} == {1}, "the running hub's key"
    for expected in (code, code_after, *pushed):
        assert sum(expected.encode() in body for body in bodies) == 1
    assert sealed_key_id(after.sealer.seal(b"{}", RAW_BODY)) == 2, "a new hub seals with key 2"

    status = cli("keys", "status", "--database", url)
    assert status.exit_code == 0, status.output
    assert f"message_log.raw_body: {len(rows)}" in status.output
    # the evidence bodies are sealed too: none in plaintext
    assert "plaintext rows: message_log.raw_body: 0, evidence_entries.body: 0" in status.output
