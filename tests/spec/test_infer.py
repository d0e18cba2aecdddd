"""Inferring the packet of bare records from their field names (``lienthong check``)."""

from __future__ import annotations

from typing import Any

import pytest

from lienthong.spec import (
    Validator,
    check_bytes,
    infer_packet,
    load_catalog,
)
from lienthong.spec.samples import sample

CATALOG = load_catalog("qcvn120-2019")


def sample_records(packet: str) -> list[dict[str, Any]]:
    """The records of a packet's sample: its request's ``data``, or its answer's ``result``."""
    example = sample(CATALOG.packets[packet], CATALOG)
    data = example["request"].get("data")
    if isinstance(data, list):
        return data
    result = (example["response"] or {}).get("result")
    return result if isinstance(result, list) else [result] if isinstance(result, dict) else []


@pytest.mark.parametrize("packet", [p for p in CATALOG.packets if CATALOG.packets[p].fields])
def test_every_sample_infers_to_its_own_packet_or_is_ambiguous_for_a_reason(packet: str) -> None:
    records = sample_records(packet)
    assert records, packet
    inference = infer_packet(CATALOG, records)
    if inference.packet is not None:
        assert inference.packet == packet
        assert inference.candidates == (packet,)
    else:
        # only packets that no field name can tell apart
        assert packet in inference.candidates
        assert inference.same_fields, inference


def test_the_two_question_lists_have_the_same_fields() -> None:
    inference = infer_packet(CATALOG, sample_records("LayDanhSachHoiDapBoCoQuan"))
    assert inference.packet is None
    assert set(inference.candidates) == {"LayDanhSachHoiDapBoCoQuan", "LayDanhSachHoiDapGuiTuDVCQG"}
    assert inference.same_fields


def test_a_record_missing_some_fields_is_still_recognised() -> None:
    record = sample_records("DongBoHoSoMC")[0]
    partial = {k: v for i, (k, v) in enumerate(record.items()) if i % 4}  # three in four keys
    assert infer_packet(CATALOG, [partial]).packet == "DongBoHoSoMC"


def test_fields_that_fit_two_packets_closely_are_ambiguous_with_both_named() -> None:
    # the question fields the push and the pulled list share, and nothing else
    a = {f.name for f in CATALOG.packets["DongBoHoiDap"].fields}
    b = {f.name for f in CATALOG.packets["LayDanhSachHoiDapGuiTuDVCQG"].fields}
    inference = infer_packet(CATALOG, [dict.fromkeys(sorted(a & b), "x")])
    assert inference.packet is None
    assert {"DongBoHoiDap", "LayDanhSachHoiDapGuiTuDVCQG"} <= set(inference.candidates)
    assert not inference.same_fields


@pytest.mark.parametrize(
    "records",
    [[{"a": 1, "b": 2}], [], [1, "x", None], [{}]],
    ids=["unknown-fields", "nothing", "not-objects", "empty-object"],
)
def test_nothing_is_inferred_from_unknown_or_no_fields(records: list[Any]) -> None:
    inference = infer_packet(CATALOG, records)
    assert inference.packet is None
    assert inference.candidates == ()


def test_the_union_of_the_records_fields_decides() -> None:
    """Each record alone holds a few keys; together they are evidently dossiers."""
    record = sample_records("DongBoHoSoMC")[0]
    keys = list(record)
    halves = [
        {k: record[k] for k in keys[: len(keys) // 2]},
        {k: record[k] for k in keys[len(keys) // 2 :]},
    ]
    assert infer_packet(CATALOG, halves).packet == "DongBoHoSoMC"


def test_check_bytes_checks_bare_records_as_the_inferred_packet() -> None:
    import json

    records = sample_records("DongBoHoSoMC")
    broken = {k: v for k, v in records[0].items() if k != "MaHoSo"}
    data = json.dumps([records[0], broken]).encode()
    documents = check_bytes(data, Validator(CATALOG), "bare.json")
    assert [d.assumed_packet for d in documents] == ["DongBoHoSoMC", "DongBoHoSoMC"]
    assert documents[0].ok
    assert not documents[1].ok
    assert any(i.code == "field.required" for i in documents[1].all_issues())
    # --packet wins: nothing is assumed
    named = check_bytes(data, Validator(CATALOG), "bare.json", packet="DongBoHoSoMC")
    assert [d.assumed_packet for d in named] == [None, None]
