"""The hub's health: ``/healthz`` for machines, ``/tinh-trang`` for people, both when the
database answers and when it does not (SQLite and PostgreSQL)."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Engine, create_engine
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

from lienthong import __version__
from lienthong.store import session_factory
from lienthong.store.testing import postgresql_url
from tests.hub.conftest import RunningHub


def _unreachable(engine: Engine, tmp_dir: str) -> Engine:
    """A real engine of the same kind whose database cannot be opened: a SQLite file in a folder
    that does not exist, a PostgreSQL database that the server does not have."""
    if engine.dialect.name == "sqlite":
        return create_engine(f"sqlite:///{tmp_dir}/no-such-folder/hub.db", poolclass=NullPool)
    url = make_url(postgresql_url()).set(database="lienthong_no_such_database")
    return create_engine(url, poolclass=NullPool)


def test_healthz_and_the_status_page_when_all_is_well(running: RunningHub) -> None:
    health = running.client.get("/healthz")
    assert health.status_code == 200 and health.headers["content-type"] == "application/json"
    body = health.json()
    assert body["status"] == "ok" and body["database"] == "ok"
    assert body["version"] == __version__
    checked = dt.datetime.fromisoformat(body["time"])
    assert checked.utcoffset() == dt.timedelta(hours=7)
    assert abs((checked - dt.datetime.now(dt.UTC)).total_seconds()) < 60

    page = running.client.get("/tinh-trang")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "<h1>Tình trạng hệ thống</h1>" in page.text
    assert "Hệ thống đang hoạt động bình thường." in page.text
    assert 'data-testid="co-so-du-lieu"><span class="badge up">Hoạt động</span>' in page.text
    assert f'data-testid="phien-ban">{__version__}<' in page.text
    # linked from every page's footer instead of the raw JSON
    home = running.client.get("/").text
    assert '<a href="/tinh-trang">Tình trạng hệ thống</a>' in home
    assert "/healthz" not in home


def test_a_database_failure_shows_on_both(
    running: RunningHub, engine: Engine, tmp_path: object
) -> None:
    broken = _unreachable(engine, str(tmp_path))
    kept = running.hub.sessions
    running.hub.sessions = session_factory(broken)
    try:
        health = running.client.get("/healthz")
        assert health.status_code == 503
        body = health.json()
        assert body["status"] == "error" and body["database"] == "unreachable"
        assert body["version"] == __version__
        assert "no-such" not in health.text  # the cause stays in the server's log

        page = running.client.get("/tinh-trang")
        assert page.status_code == 503
        assert "Hệ thống đang gặp sự cố." in page.text
        assert '<span class="badge down">Không kết nối được</span>' in page.text
        assert "no-such" not in page.text and "lienthong_no_such_database" not in page.text
        english = running.client.get("/tinh-trang", params={"lang": "en"})
        assert english.status_code == 503 and '<html lang="en">' in english.text
        assert "The system has a problem." in english.text and "Not reachable" in english.text
        assert "Không kết nối được" not in english.text
    finally:
        running.hub.sessions = kept
        broken.dispose()
    assert running.client.get("/healthz").json()["database"] == "ok"  # and back
