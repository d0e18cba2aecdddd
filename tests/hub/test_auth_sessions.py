"""Sessions end with the account changes that granted them; every login path costs one hash."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

import lienthong.store.accounts as accounts_module
from tests.hub.conftest import PASSWORD, UNIT, RunningHub


def _lookup(running: RunningHub, session: str) -> str:
    answer = running.call(
        {"session": session, "madonvi": UNIT, "service": "TraCuuHoSo", "mahoso": "x"}
    ).json()
    return str(answer["error_code"])


@pytest.mark.parametrize(
    "change",
    [
        lambda accounts: accounts.set_password("tinh_thanhhoa", "mat-khau-moi-hoan-toan"),
        lambda accounts: accounts.disable("tinh_thanhhoa"),
        lambda accounts: accounts.grant("tinh_thanhhoa", units=["000.00.00.H60"]),
        lambda accounts: accounts.revoke("tinh_thanhhoa", services=["*"]),
    ],
    ids=["passwd", "disable", "grant", "revoke"],
)
def test_an_account_change_ends_its_sessions(
    running: RunningHub, change: Callable[[Any], object]
) -> None:
    session = running.login()
    other = running.login("tinh_lamdong")
    assert _lookup(running, session) == "15"  # past the session check
    change(running.hub.accounts)
    running.hub.accounts.enable("tinh_thanhhoa")  # disable then enable must not revive it
    assert _lookup(running, session) == "22"
    assert (
        running.call(
            {"session": other, "madonvi": "000.00.00.H60", "service": "TraCuuHoSo", "mahoso": "x"}
        ).json()["error_code"]
        == "15"
    )  # another account's session is untouched


@pytest.mark.parametrize(
    ("username", "password", "disabled", "code"),
    [
        ("nobody", "whatever", False, "20"),
        ("tinh_thanhhoa", "wrong", False, "20"),
        ("tinh_thanhhoa", "wrong", True, "20"),
        ("tinh_thanhhoa", PASSWORD, True, "24"),
        ("tinh_thanhhoa", PASSWORD, False, "0"),
    ],
)
def test_every_login_path_computes_exactly_one_password_hash(
    running: RunningHub,
    monkeypatch: pytest.MonkeyPatch,
    username: str,
    password: str,
    disabled: bool,
    code: str,
) -> None:
    if disabled:
        running.hub.accounts.disable("tinh_thanhhoa")
    accounts_module._dummy_hash()  # made once per process, not per login
    calls: list[int] = []
    real = accounts_module._scrypt

    def counted(*args: Any, **kwargs: Any) -> bytes:
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(accounts_module, "_scrypt", counted)
    answer = running.client.post(
        running.settings.login_path, json={"username": username, "password": password}
    ).json()
    assert answer["error_code"] == code
    assert len(calls) == 1
