"""Reference data the hub shares: the procedure catalog (LayThuTuc, LayDanhSachTTHC), publication
decisions (LayQDCB) and the category lists (LayDanhMuc*), kept in the database.

The bundled sample (``hub/data/procedures.yaml``, ``hub/data/categories.yaml``) is loaded into an
empty database; ``lienthong catalog import FILE`` loads a file of the same shape (YAML or JSON) at
any time. Every row is validated against the packet catalog before it is stored: a bad row is
reported and skipped, the good ones are kept.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import orjson
import yaml
from sqlalchemy import func, insert, select, update
from sqlalchemy.orm import Session

from lienthong.spec import Validator
from lienthong.store.tables import ReferenceEntry

PROCEDURES = "LayThuTuc"
DECISIONS = "LayQDCB"


class ReferenceError(ValueError):
    """A reference file that cannot be read at all (the message says why, in both languages)."""


@dataclass(slots=True)
class ImportReport:
    stored: dict[str, int] = field(default_factory=dict)
    rejected: list[tuple[str, str, str]] = field(default_factory=list)
    """(kind, row code or position, first problem) for every row that was not stored."""


def _read(path: Path) -> Mapping[str, Any]:
    try:
        text = path.read_bytes()
    except OSError as exc:
        raise ReferenceError(
            f"không đọc được {path} / cannot read {path}: {exc.strerror}"
        ) from None
    try:
        data = orjson.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
    except (orjson.JSONDecodeError, yaml.YAMLError) as exc:
        raise ReferenceError(
            f"{path}: không phải JSON/YAML hợp lệ / not valid JSON/YAML: {exc}"
        ) from None
    if not isinstance(data, Mapping):
        raise ReferenceError(
            f"{path}: cần các khóa procedures / decisions / categories "
            "/ expected keys procedures, decisions, categories"
        )
    return data


def bundled() -> Mapping[str, Any]:
    """The bundled procedures, decisions and categories, as one mapping."""
    merged: dict[str, Any] = {}
    for name in ("procedures.yaml", "categories.yaml"):
        text = resources.files("lienthong.hub").joinpath("data", name).read_text("utf-8")
        merged.update(yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader)))
    return merged


def _rows_by_kind(data: Mapping[str, Any]) -> dict[str, list[tuple[str, dict[str, Any]]]]:
    """(kind -> [(code, record)]) from a file's ``procedures``, ``decisions`` and ``categories``."""
    kinds: dict[str, list[tuple[str, dict[str, Any]]]] = {}
    for row in data.get("procedures") or []:
        if isinstance(row, dict):
            kinds.setdefault(PROCEDURES, []).append((str(row.get("MATTHC", "")), row))
    for row in data.get("decisions") or []:
        if isinstance(row, dict):
            record = {k: v for k, v in row.items() if k != "ID"}
            kinds.setdefault(DECISIONS, []).append((str(row.get("ID", "")), record))
    categories = data.get("categories") or {}
    if isinstance(categories, Mapping):
        for kind, rows in categories.items():
            for row in rows or []:
                if isinstance(row, dict) and row:
                    kinds.setdefault(str(kind), []).append((str(next(iter(row.values()))), row))
    return kinds


def import_reference(db: Session, validator: Validator, data: Mapping[str, Any]) -> ImportReport:
    """Validate and upsert every row (keyed by kind and code); one transaction, committed by the caller."""
    report = ImportReport()
    now = dt.datetime.now(dt.UTC)
    for kind, rows in _rows_by_kind(data).items():
        if kind not in validator.catalog.packets:
            report.rejected.append(
                (kind, "*", f"dịch vụ không có trong danh mục / unknown service {kind}")
            )
            continue
        checked = validator.validate_response(
            kind, {"error_code": 0, "result": [r for _, r in rows]}
        )
        existing = {
            code: entry_id
            for entry_id, code in db.execute(
                select(ReferenceEntry.id, ReferenceEntry.code).where(ReferenceEntry.kind == kind)
            )
        }
        inserts: list[dict[str, Any]] = []
        updates: list[dict[str, Any]] = []
        seen: set[str] = set()
        for position, ((code, record), result) in enumerate(
            zip(rows, checked.records, strict=True)
        ):
            if not result.ok or not code or code in seen:
                problem = result.errors[0] if result.errors else None
                reason = (
                    f"{problem.path} {problem.code}: {problem.en}"
                    if problem
                    else "missing or repeated code"
                )
                report.rejected.append((kind, code or f"#{position}", reason))
                continue
            seen.add(code)
            values = {
                "kind": kind,
                "code": code,
                "position": position,
                "record": record,
                "updated_at": now,
            }
            if code in existing:
                updates.append({**values, "id": existing[code]})
            else:
                inserts.append(values)
        if inserts:
            db.execute(insert(ReferenceEntry), inserts)
        if updates:
            db.execute(update(ReferenceEntry), updates)
        report.stored[kind] = len(inserts) + len(updates)
    return report


def import_file(db: Session, validator: Validator, path: Path) -> ImportReport:
    return import_reference(db, validator, _read(path))


def load_bundled_if_empty(db: Session, validator: Validator) -> ImportReport | None:
    if db.scalar(select(func.count()).select_from(ReferenceEntry)):
        return None
    report = import_reference(db, validator, bundled())
    db.commit()
    return report


def rows(db: Session, kind: str, codes: Iterable[str] | None = None) -> list[dict[str, Any]]:
    query = select(ReferenceEntry.record).where(ReferenceEntry.kind == kind)
    if codes is not None:
        query = query.where(ReferenceEntry.code.in_(list(codes)))
    return list(db.scalars(query.order_by(ReferenceEntry.position, ReferenceEntry.id)))


def procedure_list(db: Session) -> list[dict[str, Any]]:
    """LayDanhSachTTHC: code and name of every procedure in the catalog."""
    return [{"MATTHC": r.get("MATTHC"), "TENTTHC": r.get("TENTTHC")} for r in rows(db, PROCEDURES)]
