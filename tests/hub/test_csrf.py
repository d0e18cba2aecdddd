"""The form tokens (``lienthong.hub.csrf``): signed by the hub, within their age, single-use,
on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
import threading

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from lienthong.hub.csrf import (
    CLOCK_SKEW_SECONDS,
    MAX_AGE_SECONDS,
    PURGE_BATCH,
    SECRET_NAME,
    FormTokens,
    stored_key,
)
from lienthong.hub.settings import HubSettings
from lienthong.store.tables import FormNonce, HubSecret

NOW = dt.datetime(2026, 12, 3, 9, 30, tzinfo=dt.UTC)
KEY = b"k" * 32


@pytest.fixture
def tokens(sessions: sessionmaker[Session]) -> FormTokens:
    return FormTokens(sessions, KEY)


def _nonces(sessions: sessionmaker[Session]) -> int:
    with sessions() as db:
        return int(db.scalar(select(func.count()).select_from(FormNonce)) or 0)


def test_a_token_is_taken_once(tokens: FormTokens, sessions: sessionmaker[Session]) -> None:
    token = tokens.issue(NOW)
    assert tokens.check(token, token, NOW)
    assert not tokens.check(token, token, NOW)  # sent again
    assert not tokens.check(token, token, NOW + dt.timedelta(minutes=5))
    assert _nonces(sessions) == 1
    assert tokens.check(tokens.issue(NOW), tokens.issue(NOW), NOW) is False  # not its cookie


def test_the_field_must_equal_the_cookie(tokens: FormTokens) -> None:
    token = tokens.issue(NOW)
    assert not tokens.check(token, None, NOW)
    assert not tokens.check(token, tokens.issue(NOW), NOW)
    assert not tokens.check("", token, NOW)
    assert tokens.check(token, token, NOW)  # the refusals did not spend it


@pytest.mark.parametrize(
    "forged",
    [
        "A" * 43,  # what any 43-character value placed in both used to pass for
        "q3Jd9_VfXo-2LwTt8kRzN0aHcYpE5mUsBvGiQ7lW4xC",  # what a token used to look like
        "1.1796294000.AAAAAAAAAAAAAAAAAAAAAA." + "A" * 43,  # the shape, not the MAC
        "",
        "1.." + "A" * 43,
    ],
    ids=["43 A", "old shape", "new shape", "empty", "no time"],
)
def test_values_the_hub_did_not_issue_are_refused(tokens: FormTokens, forged: str) -> None:
    assert not tokens.check(forged, forged, NOW)


def test_a_token_signed_with_another_key_is_refused(
    tokens: FormTokens, sessions: sessionmaker[Session]
) -> None:
    other = FormTokens(sessions, b"another key of thirty-two bytes!")
    token = other.issue(NOW)
    assert not tokens.check(token, token, NOW)
    assert other.check(token, token, NOW)


def test_a_token_is_good_for_its_max_age_and_not_from_the_future(tokens: FormTokens) -> None:
    def at(seconds_ago: int) -> bool:
        token = tokens.issue(NOW - dt.timedelta(seconds=seconds_ago))
        return tokens.check(token, token, NOW)

    assert at(MAX_AGE_SECONDS)
    assert not at(MAX_AGE_SECONDS + 1)
    assert at(-CLOCK_SKEW_SECONDS)  # a clock a little ahead
    assert not at(-CLOCK_SKEW_SECONDS - 1)


def _tampered(token: str) -> list[str]:
    version, issued, nonce, mac = token.split(".")
    flip = {"A": "B", "B": "A"}
    later = str(int(issued) + 3600)  # a longer life
    return [
        f"2.{issued}.{nonce}.{mac}",
        f"{version}.{later}.{nonce}.{mac}",
        f"{version}.{issued}.{flip.get(nonce[0], 'A')}{nonce[1:]}.{mac}",
        f"{version}.{issued}.{nonce}.{mac[:-1]}{'B' if mac[-1] == 'A' else 'A'}",
        f"{version}.{issued}.{nonce}.{mac}A",
        f"{version}.{issued}.{nonce}",
        f" {token}",
    ]


def test_a_tampered_token_is_refused(tokens: FormTokens) -> None:
    token = tokens.issue(NOW)
    for changed in _tampered(token):
        assert changed != token
        assert not tokens.check(changed, changed, NOW), changed
    assert tokens.check(token, token, NOW)


@settings(max_examples=60, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.text(max_size=120))
def test_any_text_is_refused_without_an_error(tokens: FormTokens, sent: str) -> None:
    assert not tokens.check(sent, sent, NOW)


def _race(workers: list[FormTokens], token: str, attempts: int = 8) -> list[bool]:
    """What ``attempts`` concurrent checks of ``token`` get, spread over ``workers``."""
    start = threading.Barrier(attempts)
    taken: list[bool] = []

    def send(tokens: FormTokens) -> None:
        start.wait()
        taken.append(tokens.check(token, token))

    threads = [
        threading.Thread(target=send, args=(workers[n % len(workers)],)) for n in range(attempts)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return taken


def test_two_workers_take_one_token_once(sessions: sessionmaker[Session]) -> None:
    """Two hubs on one database (as two uvicorn workers), racing with the same token."""
    workers = [FormTokens.for_hub(sessions, None), FormTokens.for_hub(sessions, None)]
    for _ in range(3):
        taken = _race(workers, workers[0].issue())
        assert sorted(taken) == [False] * 7 + [True]


def test_the_generated_key_is_shared_by_every_hub_on_the_database(
    sessions: sessionmaker[Session],
) -> None:
    keys: list[bytes] = []

    def generate() -> None:
        start.wait()
        keys.append(stored_key(sessions))

    start = threading.Barrier(4)
    threads = [threading.Thread(target=generate) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(set(keys)) == 1 and len(keys[0]) >= 32
    with sessions() as db:
        assert db.scalars(select(HubSecret.name)).all() == [SECRET_NAME]

    first, second = FormTokens.for_hub(sessions, None), FormTokens.for_hub(sessions, "")
    token = first.issue(NOW)
    assert second.check(token, token, NOW)  # one hub's token is good at the other


def test_a_configured_key_is_used_and_must_be_long_enough(
    sessions: sessionmaker[Session],
) -> None:
    configured = FormTokens.for_hub(sessions, "c" * 32)
    token = configured.issue(NOW)
    assert FormTokens(sessions, b"c" * 32).check(token, token, NOW)
    generated = FormTokens.for_hub(sessions, None)
    other = configured.issue(NOW)
    assert not generated.check(other, other, NOW)
    with pytest.raises(ValueError, match="at least 32 characters"):
        FormTokens.for_hub(sessions, "short")


def test_the_key_is_never_shown() -> None:
    key = "s" * 40
    assert key not in repr(HubSettings(secret_key=key))
    assert key not in repr(FormTokens(sessionmaker(), key.encode()))


def test_expired_nonces_are_purged_a_batch_at_a_time(
    tokens: FormTokens, sessions: sessionmaker[Session]
) -> None:
    with sessions() as db:
        db.add_all(
            FormNonce(nonce=f"old-{n}", expires_at=NOW - dt.timedelta(seconds=1))
            for n in range(PURGE_BATCH + 5)
        )
        db.add(FormNonce(nonce="current", expires_at=NOW + dt.timedelta(seconds=1)))
        db.commit()
    token = tokens.issue(NOW)
    assert tokens.check(token, token, NOW)
    assert _nonces(sessions) == 5 + 1 + 1  # 5 old ones left for the next, the current, the new
    token = tokens.issue(NOW)
    assert tokens.check(token, token, NOW)
    with sessions() as db:
        left = db.scalars(select(FormNonce.nonce).where(FormNonce.nonce.like("old-%"))).all()
    assert left == []


def test_a_page_keeps_the_browsers_token_while_it_is_unused_and_young(
    tokens: FormTokens, sessions: sessionmaker[Session]
) -> None:
    token = tokens.issue(NOW)
    assert tokens.for_page(token, NOW + dt.timedelta(seconds=MAX_AGE_SECONDS // 2)) == token
    older = NOW + dt.timedelta(seconds=MAX_AGE_SECONDS // 2 + 1)
    renewed = tokens.for_page(token, older)
    assert renewed != token and tokens.check(renewed, renewed, older)
    for foreign in (None, "A" * 43, FormTokens(sessions, b"x" * 32).issue(NOW)):
        fresh = tokens.for_page(foreign, NOW)
        assert fresh != foreign and tokens.check(fresh, fresh, NOW)
    assert tokens.check(token, token, NOW)
    assert tokens.for_page(token, NOW) != token  # spent: a new one
