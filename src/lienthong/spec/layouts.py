"""Record layouts that real clients send beside the catalog's, rewritten into it before checks.

A layout is a function ``record -> rewritten record | None`` (None: the record is not in that
layout). The validator applies a packet's layouts (catalog key ``layouts``) before its checks,
checks the rewritten record, keeps it as the record's value (what the hub stores) and reports
the rewrite as the warning ``record.layout``, so the sender learns that it deviates.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

__all__ = ["LAYOUTS", "SURVEY_ITEM_FIELDS", "Layout", "survey_flat"]

Layout = Callable[[dict[str, Any]], dict[str, Any] | None]

#: The per-question keys of DongBoDanhGia, nested in ``DanhSachNoiDungYKien`` by the catalog.
SURVEY_ITEM_FIELDS = (
    "MaThuTuc",
    "NoiDung",
    "PhanTramDanhGiaDichVuRatHaiLong",
    "PhanTramDanhGiaDichVuHaiLong",
    "PhanTramDanhGiaDichVuChuaHaiLong",
)
_ITEMS = "DanhSachNoiDungYKien"


def survey_flat(record: dict[str, Any]) -> dict[str, Any] | None:
    """OpenCPS's DongBoDanhGia: one record per survey question, the question's five keys at
    the top level and ``DanhSachNoiDungYKien`` the empty string (or absent). Rewritten into the
    nested form: the five keys become the one item of ``DanhSachNoiDungYKien``. (The hub then
    merges the records of one unit and period into one report.)"""
    if not any(name in record for name in SURVEY_ITEM_FIELDS):
        return None
    if record.get(_ITEMS) not in (None, "", []):
        return None  # both layouts at once: left as sent, the checks say what is wrong
    item = {name: record[name] for name in SURVEY_ITEM_FIELDS if name in record}
    rewritten = {k: v for k, v in record.items() if k not in SURVEY_ITEM_FIELDS and k != _ITEMS}
    rewritten[_ITEMS] = [item]
    return rewritten


LAYOUTS: Mapping[str, Layout] = {"survey_flat": survey_flat}
