"""Policies per account. How answers spell success: "0" by default, "00" or the number 0 per
hub or per account. Strict validation: the deviations taken from real clients with a warning
refuse the record instead.

Real clients differ (docs/protocol.md, section 5): one compares ``error_code == "0"`` as text,
OpenCPS parses an integer, none accepts "00". These tests read the raw bytes, not only the
parsed JSON, because "0" and 0 differ only there.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest
from sqlalchemy import Engine, select

from lienthong.agent.classify import normalize_code
from lienthong.demo import dossiers
from lienthong.hub.app import Hub
from lienthong.hub.errors import SUCCESS_SPELLINGS
from lienthong.hub.settings import HubSettings
from lienthong.store.accounts import SUCCESS_CODE_FORMS, AccountError
from lienthong.store.db import session_factory
from lienthong.store.tables import MessageLog
from tests.hub.conftest import PASSWORD, UNIT, RunningHub, free_port, serve
from tests.real_clients import PACKETS


def _push(session: str) -> dict[str, Any]:
    return {
        "session": session,
        "madonvi": UNIT,
        "service": "DongBoHoSoMC",
        "isUpdating": "False",
        "data": [copy.deepcopy(dossiers(1)[0])],
    }


def _calls(running: RunningHub, username: str) -> list[bytes]:
    """The raw answers of a login, a push and a share of ``username``."""
    login = running.client.post(
        running.settings.login_path, json={"username": username, "password": PASSWORD}
    )
    session = login.json()["session"]
    push = running.call(_push(session))
    share = running.call(
        {"session": session, "madonvi": UNIT, "service": "LayDanhMucGioiTinh"},
        path=running.settings.share_path,
    )
    return [login.content, push.content, share.content]


def test_the_store_and_the_hub_know_the_same_forms() -> None:
    assert tuple(SUCCESS_SPELLINGS) == SUCCESS_CODE_FORMS


def test_success_is_the_string_0_by_default_and_each_account_may_have_its_own(
    running: RunningHub,
) -> None:
    accounts = running.hub.accounts
    default = _calls(running, "tinh_thanhhoa")
    assert all(raw.startswith(b'{"error_code":"0",') for raw in default), default
    assert b'"status":"accepted","error_code":"0"' in default[1]  # the record's outcome too

    accounts.add("mc_integer", PASSWORD, [UNIT])
    accounts.set_success_code("mc_integer", "integer")
    as_integer = _calls(running, "mc_integer")
    assert all(raw.startswith(b'{"error_code":0,') for raw in as_integer), as_integer
    assert b'"status":"unchanged","error_code":0' in as_integer[1]

    accounts.add("mc_qcvn", PASSWORD, [UNIT])
    accounts.set_success_code("mc_qcvn", "00")
    as_table = _calls(running, "mc_qcvn")
    assert all(raw.startswith(b'{"error_code":"00",') for raw in as_table), as_table

    # back to the hub's setting; the open session follows the change at once
    accounts.set_success_code("mc_qcvn", None)
    assert _calls(running, "mc_qcvn")[1].startswith(b'{"error_code":"0",')

    # refusals keep their codes as strings, whatever the form
    refused = running.call({**_push("no-such-session")}).json()
    assert refused["error_code"] == "22"
    # the agent reads every form as success
    assert {normalize_code(form) for form in SUCCESS_SPELLINGS.values()} == {"00"}


def test_the_message_log_keeps_the_code_as_it_was_sent(running: RunningHub) -> None:
    running.hub.accounts.add("mc_integer", PASSWORD, [UNIT])
    running.hub.accounts.set_success_code("mc_integer", "integer")
    _calls(running, "mc_integer")
    with session_factory(running.hub.engine)() as db:
        codes = db.scalars(select(MessageLog.error_code).order_by(MessageLog.id)).all()
    assert codes == ["0", "0", "0"]


@pytest.mark.parametrize(("form", "spelled"), [("00", b'"00"'), ("integer", b"0")])
def test_the_hub_setting_changes_the_default(engine: Engine, form: str, spelled: bytes) -> None:
    settings = HubSettings(port=free_port(), success_code=form)
    hub = Hub(settings, engine=engine)
    hub.accounts.add("tinh_thanhhoa", PASSWORD, [UNIT])
    hub.accounts.add("mc_text", PASSWORD, [UNIT])
    hub.accounts.set_success_code("mc_text", "0")
    with serve(hub, settings) as running:
        assert all(
            raw.startswith(b'{"error_code":' + spelled + b",")
            for raw in _calls(running, "tinh_thanhhoa")
        )
        # the account's own form wins over the hub's
        assert _calls(running, "mc_text")[2].startswith(b'{"error_code":"0",')


def test_an_unknown_form_is_refused_with_the_choices(running: RunningHub) -> None:
    with pytest.raises(AccountError) as refused:
        running.hub.accounts.set_success_code("tinh_thanhhoa", "zero")
    assert refused.value.code == "account.success_code"
    assert "0, 00, integer" in refused.value.en and "0, 00, integer" in refused.value.vi
    with pytest.raises(ValueError, match="LIENTHONG_SUCCESS_CODE"):
        HubSettings(success_code="zero")


def test_a_strict_account_has_its_deviations_refused(running: RunningHub) -> None:
    (packet,) = [p for p in PACKETS if p.file == "provincial-DongBoHoSoMC-bare-array.json"]
    records = [*packet.records, {**packet.records[2], "MaHoSo": "000.00.13.H56-260302-0009"}]
    records[3]["TruongMoi"] = "x"  # a field the catalog does not know
    running.hub.accounts.add("mc_strict", PASSWORD, [UNIT])
    running.hub.accounts.set_strict("mc_strict", True)
    strict = running.call({**packet.envelope(running.login("mc_strict")), "data": records}).json()
    assert strict["error_code"] == "01", strict
    first, second, third, fourth = strict["records"]
    assert (first["status"], first["error_code"]) == ("rejected", "15")
    assert [(i["code"], i["severity"]) for i in first["issues"]] == [
        ("dossier.returned_without_date", "error")
    ]
    assert (second["status"], third["status"]) == ("accepted", "accepted")
    assert (fourth["status"], [i["code"] for i in fourth["issues"]]) == (
        "rejected",
        ["field.unknown_strict"],
    )

    # the same records from a lenient account: taken, the deviations said as warnings
    lenient = running.call({**packet.envelope(running.login()), "data": records}).json()
    assert [r["status"] for r in lenient["records"]] == [
        "accepted",
        "unchanged",
        "unchanged",
        "accepted",
    ], lenient
    assert {i["severity"] for r in lenient["records"] for i in r.get("issues", [])} == {"warning"}

    running.hub.accounts.set_strict("mc_strict", False)  # back to lenient, at once
    again = running.call({**packet.envelope(running.login("mc_strict")), "data": records}).json()
    assert again["error_code"] == "0", again


def test_a_policy_change_keeps_the_accounts_sessions(running: RunningHub) -> None:
    """How an account is answered or checked grants nothing: its open sessions go on (a change
    of units, services or password ends them, tests/hub/test_auth_sessions.py)."""
    session = running.login()
    accounts = running.hub.accounts
    accounts.set_success_code("tinh_thanhhoa", "integer")
    accounts.set_strict("tinh_thanhhoa", True)
    accounts.set_signature_mode("tinh_thanhhoa", "off")
    share = {"session": session, "madonvi": UNIT, "service": "LayDanhMucGioiTinh"}
    answer = running.call(share, path=running.settings.share_path)
    assert answer.content.startswith(b'{"error_code":0,'), answer.text[:200]
