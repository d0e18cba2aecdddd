"""One running agent per agent database: the second is refused, a dead one never blocks."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import Engine
from typer.testing import CliRunner

from lienthong.agent.runlock import AgentAlreadyRunning, RunLock
from lienthong.cli.main import app


def test_a_second_agent_on_the_same_database_is_refused(engine: Engine) -> None:
    first, second = RunLock(engine), RunLock(engine)
    first.acquire()
    try:
        with pytest.raises(AgentAlreadyRunning, match="another agent already runs"):
            second.acquire()
    finally:
        first.release()
    second.acquire()  # free again once the first has stopped
    second.release()


def test_an_in_memory_database_needs_no_lock() -> None:
    from lienthong.store import make_engine

    engine = make_engine("sqlite://")
    first, second = RunLock(engine), RunLock(engine)
    first.acquire()
    second.acquire()
    first.release()
    second.release()


def test_a_killed_agent_does_not_block_its_successor(tmp_path: Path) -> None:
    from lienthong.store import make_engine

    url = f"sqlite:///{tmp_path / 'agent.db'}"
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time\n"
            "from lienthong.store import make_engine\n"
            "from lienthong.agent.runlock import RunLock\n"
            f"RunLock(make_engine({url!r})).acquire()\n"
            "print('locked', flush=True)\n"
            "time.sleep(60)\n",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
        lock = RunLock(make_engine(url))
        with pytest.raises(AgentAlreadyRunning):
            lock.acquire()
        os.kill(holder.pid, signal.SIGKILL)
        holder.wait(10)
        deadline = time.monotonic() + 5
        while True:
            try:
                lock.acquire()
                break
            except AgentAlreadyRunning:
                assert time.monotonic() < deadline, "the lock outlived the killed process"
                time.sleep(0.05)
        lock.release()
    finally:
        if holder.poll() is None:
            holder.kill()


def test_agent_run_refuses_to_start_beside_a_running_agent(tmp_path: Path) -> None:
    from lienthong.store import make_engine

    url = f"sqlite:///{tmp_path / 'agent.db'}"
    running = RunLock(make_engine(url))
    running.acquire()
    try:
        result = CliRunner().invoke(
            app,
            ["agent", "--database", url, "run", "--port", "1"],
            env={"LIENTHONG_AGENT_PORTAL_USERNAME": "mcdt"},
        )
    finally:
        running.release()
    assert result.exit_code == 2, result.output
    assert "another agent already runs" in result.output
