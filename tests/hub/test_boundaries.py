"""Every packet's every field at its boundaries, over real HTTP (issue 10, defect 5): values that
pass validation must never crash a service, on ``[sqlite]`` and ``[postgresql]``.

For each packet, from its valid sample, each top-level field (each parameter of a share) is set
in turn to boundary values: long and very long text, the integer edges of 64 bits and past
them, zero, negatives, thousands of digits. Every answer must be a stated one: no HTTP 5xx and
never code ``99``.
"""

from __future__ import annotations

from typing import Any

import pytest

from lienthong.spec import load_catalog
from lienthong.spec.catalog import PacketKind
from lienthong.spec.samples import sample
from tests.hub.conftest import UNIT, RunningHub

CATALOG = load_catalog()
TEXT_EDGES: tuple[Any, ...] = ("", " ", "x" * 65, "x" * 129, "Đ" * 300, "9" * 5000)
NUMBER_EDGES: tuple[Any, ...] = (
    "0",
    "-1",
    "10000",
    str(2**31),
    str(2**63 - 1),
    str(2**63),
    "9" * 14,
    "9" * 4000,
    0,
    -1,
    2**63,
    1.5,
)


def _edges(kind: str) -> tuple[Any, ...]:
    return NUMBER_EDGES + TEXT_EDGES[:3] if kind in ("integer", "number") else TEXT_EDGES


def _cases(packet_name: str) -> list[tuple[str, str, Any]]:
    """(where, field, value): ``data`` fields of a push, parameters of a share."""
    packet = CATALOG.packets[packet_name]
    cases: list[tuple[str, str, Any]] = []
    for spec in packet.params:
        cases += [("param", spec.name, value) for value in _edges(spec.type)]
    if packet.kind is PacketKind.PUSH:
        for spec in packet.fields:
            cases += [("data", spec.name, value) for value in _edges(spec.type)]
    return cases


@pytest.mark.parametrize("packet_name", sorted(CATALOG.packets))
def test_every_field_at_its_boundaries_gets_a_stated_answer(
    running: RunningHub, packet_name: str
) -> None:
    session = running.login()
    base = sample(CATALOG.packets[packet_name], CATALOG)["request"]
    crashed = []
    for where, field, value in _cases(packet_name):
        envelope: dict[str, Any] = {**base, "session": session, "madonvi": UNIT}
        if where == "param":
            envelope[field] = value
        else:
            envelope["data"] = [{**envelope["data"][0], field: value}]
        answer = running.call(envelope)
        code = answer.json().get("error_code") if answer.status_code < 500 else None
        if answer.status_code >= 500 or code == "99":
            crashed.append((field, str(value)[:20], answer.status_code, answer.text[:200]))
    assert crashed == []
