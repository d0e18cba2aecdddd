"""Shared fixtures of the hub tests: a real hub on a free port, over real HTTP."""

from __future__ import annotations

import re
import socket
import ssl
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import pytest
import uvicorn
from sqlalchemy import Engine

from lienthong.asgi_tls import uvicorn_tls_options
from lienthong.hub.app import Hub, create_app
from lienthong.hub.settings import HubSettings

UNIT = "000.00.00.H56"
OTHER_UNIT = "000.00.00.H60"
PASSWORD = "mat-khau-thu-nghiem"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class RunningHub:
    def __init__(
        self, hub: Hub, settings: HubSettings, verify: ssl.SSLContext | bool = True
    ) -> None:
        self.hub = hub
        self.settings = settings
        self.base = f"{'https' if settings.tls else 'http'}://127.0.0.1:{settings.port}"
        self.client = httpx.Client(base_url=self.base, timeout=30, verify=verify)

    def login(self, username: str = "tinh_thanhhoa", password: str = PASSWORD) -> str:
        answer = self.client.post(
            self.settings.login_path, json={"username": username, "password": password}
        ).json()
        assert answer["error_code"] == "0", answer
        return str(answer["session"])

    def call(
        self, envelope: dict[str, Any], path: str | None = None, **kwargs: Any
    ) -> httpx.Response:
        return self.client.post(
            path or self.settings.integration_path,
            json=envelope,
            headers={"dstcode": "VN:GOV:000.00.00.G22:vpcpdvcprovider"},
            **kwargs,
        )


#: The hidden field of a form page that carries its token (``lienthong.hub.csrf``).
FORM_TOKEN = re.compile(r'name="csrf" value="(1\.[0-9]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+)"')


def form_token(client: httpx.Client, path: str = "/pakn/gui") -> str:
    """The token of the form at ``path``; its cookie stays with ``client``, as in a browser."""
    page = client.get(path)
    assert page.status_code == 200
    found = FORM_TOKEN.search(page.text)
    assert found is not None
    return found.group(1)


@contextmanager
def serve(
    hub: Hub, settings: HubSettings, verify: ssl.SSLContext | bool = True
) -> Iterator[RunningHub]:
    """``hub`` behind uvicorn on ``settings.port``, in a thread, until the block ends; its
    proxies trusted as ``settings.trusted_proxies`` says, over HTTPS when its ``tls_*``
    settings say so (the client checking the server with ``verify``), as `lienthong hub`
    serves it."""
    tls = (
        uvicorn_tls_options(settings.tls_certfile, settings.tls_keyfile, settings.tls_client_ca)
        if settings.tls
        else {}
    )
    server = uvicorn.Server(
        uvicorn.Config(
            create_app(settings, hub=hub),
            host="127.0.0.1",
            port=settings.port,
            log_level="warning",
            server_header=False,  # as `lienthong hub` serves it
            **settings.proxy_options(),
            **tls,
        )
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline, "hub did not start"
        time.sleep(0.02)
    running = RunningHub(hub, settings, verify)
    try:
        yield running
    finally:
        running.client.close()
        server.should_exit = True
        thread.join(timeout=10)


@pytest.fixture
def running(engine: Engine) -> Iterator[RunningHub]:
    settings = HubSettings(
        port=free_port(),
        login_failures_per_account=3,
        login_failures_per_client=50,
        public_submissions_per_client=1000,  # tests/hub/test_public_limits.py tests the limits
        public_lookups_per_client=10_000,
        max_body_bytes=200_000,
    )
    hub = Hub(settings, engine=engine)
    hub.accounts.add("tinh_thanhhoa", PASSWORD, [UNIT])
    hub.accounts.add("tinh_lamdong", PASSWORD, [OTHER_UNIT])
    hub.accounts.add("chi_tra_cuu", PASSWORD, [UNIT], services=["TraCuuHoSo"])
    with serve(hub, settings) as running:
        yield running


@pytest.fixture
def roomy(engine: Engine) -> Iterator[RunningHub]:
    """A hub with the default body limit (16 MiB): the petition's own caps are the ones met."""
    settings = HubSettings(port=free_port(), public_submissions_per_client=1000)
    hub = Hub(settings, engine=engine)
    hub.accounts.add("tinh_thanhhoa", PASSWORD, [UNIT])
    with serve(hub, settings) as running:
        yield running
