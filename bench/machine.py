"""The machine a benchmark runs on: its description, and its speed at the moment."""

from __future__ import annotations

import importlib.metadata
import os
import platform
import statistics
import time
from pathlib import Path

import pydantic


def machine() -> str:
    cpu = platform.processor() or "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return (
        f"{cpu}, {os.cpu_count()} cores, {platform.system()} {platform.release()}, "
        f"Python {platform.python_version()}, pydantic {pydantic.VERSION}, "
        f"jsonschema {importlib.metadata.version('jsonschema')}"
    )


def reference_speed(repeats: int = 9) -> float:
    """Milliseconds a fixed pure-Python loop takes here (median): the machine's own speed, so
    that runs on faster or slower machines (shared VMs vary from day to day) can be compared."""
    timings = []
    for _ in range(repeats):
        started = time.perf_counter()
        table: dict[int, int] = {}
        for number in range(300_000):
            table[number & 1023] = table.get(number & 1023, 0) + number * number
        timings.append((time.perf_counter() - started) * 1000)
    return statistics.median(timings)
