"""Servers in their own processes for tests: ``python -m lienthong.cli.main ...`` on loopback,
reaching the test's own database (its PostgreSQL schema included); and an app in a thread
(:func:`serve_in_thread`) on a free loopback port."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import ssl
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import uvicorn
from sqlalchemy import Engine
from starlette.types import ASGIApp

from lienthong.store.db import normalize_url
from lienthong.store.testing import postgresql_url


def process_url(engine: Engine) -> str:
    """A URL another process can use to reach ``engine``'s database (and its test schema)."""
    if engine.dialect.name == "sqlite":
        return engine.url.render_as_string(hide_password=False)
    with engine.connect() as connection:
        schema = connection.exec_driver_sql("SELECT current_schema()").scalar()
    url = normalize_url(postgresql_url()).update_query_dict({"options": f"-csearch_path={schema}"})
    return url.render_as_string(hide_password=False)


class Server:
    """A server in its own process (``python -m lienthong.cli.main ...``), logging to a file."""

    def __init__(
        self,
        name: str,
        args: list[str],
        env: dict[str, str],
        port: int,
        log: Path,
        verify: ssl.SSLContext | None = None,
    ):
        """``verify``: the server speaks HTTPS, its certificate checked with this context."""
        self.name, self.args, self.env, self.port, self.log = name, args, env, port, log
        self.process: subprocess.Popen[bytes] | None = None
        self.verify: ssl.SSLContext | bool = verify or True
        self.url = f"{'https' if verify else 'http'}://127.0.0.1:{port}"

    def start(self) -> None:
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "lienthong.cli.main", *self.args],
                env={**os.environ, **self.env},
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group: kill() reaches its workers
            )
        deadline = time.monotonic() + 60
        while True:
            assert self.process.poll() is None, f"{self.name} exited: {self.tail()}"
            try:
                health = httpx.get(f"{self.url}/healthz", timeout=1, verify=self.verify)
                if health.status_code == 200:
                    return
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, f"{self.name} did not start: {self.tail()}"
            time.sleep(0.05)

    def kill(self) -> None:
        """SIGKILL to the server and every process it started (uvicorn's workers, which would
        otherwise live on, holding their database connections): no shutdown handler runs."""
        if self.process is None:
            return
        with contextlib.suppress(ProcessLookupError):  # gone already
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(10)

    def tail(self) -> str:
        return " | ".join(self.log.read_text("utf-8", "replace").splitlines()[-20:])


def free_port() -> int:
    """A loopback port nobody listens on now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def serve_in_thread(app: ASGIApp, port: int, **options: Any) -> Iterator[str]:
    """Run ``app`` with uvicorn on loopback ``port`` in a thread; yields its base URL
    (``https://`` when ``options``, uvicorn's, give a certificate)."""
    server = uvicorn.Server(
        uvicorn.Config(
            app, host="127.0.0.1", port=port, log_level="warning", lifespan="on", **options
        )
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "server did not start"
        time.sleep(0.02)
    try:
        yield f"{'https' if options.get('ssl_certfile') else 'http'}://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=15)
