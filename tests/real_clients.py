"""The corpus of real-client-shaped packets (tests/spec/corpus/real-clients/, issue 11): each
file as its client sends it, with what lienthong does with it (manifest.yaml).

Shared by the tests of ``check`` (tests/spec), the hub's two front doors (tests/hub) and the
agent (tests/agent)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from sqlalchemy.orm import Session

CORPUS = Path(__file__).parent / "spec" / "corpus" / "real-clients"


@dataclass(frozen=True)
class RealClientPacket:
    file: str
    client: str
    packet: str
    transport: str
    """``envelope`` (QCVN 120's envelope) or ``lgsp`` (a bare array to a provincial adapter)."""
    warnings: frozenset[str]
    strict: frozenset[str]
    path: str = ""
    query: dict[str, str] = field(default_factory=dict)
    needs_portal_question: bool = False
    """The file answers a citizen's question on the portal: its ``HOIDAPID`` is replaced by
    the id of a question asked first (:meth:`answering`)."""

    @property
    def raw(self) -> bytes:
        return (CORPUS / self.file).read_bytes()

    @property
    def records(self) -> list[dict[str, Any]]:
        value = json.loads(self.raw)
        return list(value["data"] if isinstance(value, dict) else value)

    def answering(self, question: int) -> RealClientPacket:
        """This packet answering the portal question ``question`` (sent as a string, as its
        client does)."""
        records = [{**r, "HOIDAPID": str(question)} for r in self.records]
        value = json.loads(self.raw)
        value = {**value, "data": records} if isinstance(value, dict) else records
        return _Rewritten(**{**self.__dict__, "rewritten": json.dumps(value).encode()})

    @property
    def unit(self) -> str:
        value = json.loads(self.raw)
        return str(value["madonvi"] if isinstance(value, dict) else self.query["MaDinhDanhDV"])

    @property
    def params(self) -> dict[str, str]:
        """The envelope's parameters besides session, madonvi, service and data."""
        value = json.loads(self.raw)
        if isinstance(value, dict):
            skip = {"session", "madonvi", "service", "data"}
            return {k: str(v) for k, v in value.items() if k not in skip}
        return {k: v for k, v in self.query.items() if k != "MaDinhDanhDV"}

    def envelope(self, session: str) -> dict[str, Any]:
        """The packet in QCVN 120's envelope, whatever door its client uses."""
        return {
            "session": session,
            "madonvi": self.unit,
            "service": self.packet,
            **self.params,
            "data": self.records,
        }

    def adapter_query(self) -> dict[str, str]:
        """The adapter's query string for this packet, whatever door its client uses."""
        return {"MaDinhDanhDV": self.unit, **self.params}


@dataclass(frozen=True)
class _Rewritten(RealClientPacket):
    rewritten: bytes = b""

    @property
    def raw(self) -> bytes:
        return self.rewritten


def ask_question(db: Session) -> int:
    """A citizen's question on the portal (committed), for a packet that answers one."""
    from lienthong.hub.questions import submit_question

    asked = submit_question(
        db,
        {
            "NOIDUNG": "Làm căn cước cho con dưới 14 tuổi cần giấy tờ gì?",
            "HOVATEN": "Phạm Thị Dung",
            "THUDIENTU": "dung.pham@example.vn",
            "MADONVI": "000.00.13.H56",
        },
    )
    db.commit()
    return asked


def load() -> list[RealClientPacket]:
    entries = yaml.safe_load((CORPUS / "manifest.yaml").read_text("utf-8"))
    return [
        RealClientPacket(
            file=entry["file"],
            client=entry["client"],
            packet=entry["packet"],
            transport=entry["transport"],
            warnings=frozenset(entry["warnings"]),
            strict=frozenset(entry["strict"]),
            path=entry.get("path", entry["packet"]),
            query={k: str(v) for k, v in (entry.get("query") or {}).items()},
            needs_portal_question=bool(entry.get("needs_portal_question", False)),
        )
        for entry in entries
    ]


PACKETS = load()
