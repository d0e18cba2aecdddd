"""The catalog as data: bundled profiles, overrides, and malformed files."""

from __future__ import annotations

from pathlib import Path

import pytest

from lienthong.spec import CatalogError, PacketStatus, Validator, load_catalog
from lienthong.spec.samples import sample

CORPUS = Path(__file__).parent / "corpus"
QCVN120_PACKETS = [
    ("1.1", "DongBoHoSoMC"),
    ("1.2", "CapNhatTienDoHoSoMC"),
    ("2", "DongBoDanhGia"),
    ("3.1", "DongBoThongKeHoSo"),
    ("4.1", "LayThuTuc"),
    ("4.2", "LayQDCB"),
    ("5.1.1", "DongBoPAKNDiaPhuong"),
    ("5.2.1", "DanhSachPAKNChoXuLy"),
    ("5.2.2", "DongBoKetQuaXuLyPAKN"),
    ("5.2.3", "LayTaiLieuPAKN"),
    ("5.3.1", "DanhSachPAKNCongKhai"),
    ("6.1.1", "DongBoHoiDap"),
    ("6.2.1", "LayDanhSachHoiDapGuiTuDVCQG"),
    ("6.2.2", "DongBoKetQuaHoiDapGuiTuDVCQG"),
    ("6.3.1", "LayDanhSachHoiDapBoCoQuan"),
]


def test_base_profile_has_the_15_packets_in_order() -> None:
    catalog = load_catalog("qcvn120-2019")
    assert [(p.id, p.name) for p in catalog.qcvn120_packets()] == QCVN120_PACKETS


def test_category_services_and_lookup_are_in_the_catalog() -> None:
    catalog = load_catalog("qcvn120-2019")
    for name in (
        "TraCuuHoSo",
        "LayDanhSachTTHC",
        "LayDanhMucCoQuan",
        "LayDanhMucLinhVuc",
        "LayDanhMucGioiTinh",
    ):
        assert catalog.packet(name).kind.value == "share"
    assert catalog.packet("TraCuuHoSo").params[0].name == "mahoso"
    assert [f.name for f in catalog.login_request] == ["username", "password"]
    assert [f.name for f in catalog.envelope][:3] == ["session", "madonvi", "service"]


def test_pakn_packets_without_evidence_are_provisional() -> None:
    catalog = load_catalog("qcvn120-2019")
    provisional = {p.name for p in catalog.provisional_packets()}
    assert {
        "DongBoPAKNDiaPhuong",
        "DanhSachPAKNChoXuLy",
        "DongBoKetQuaXuLyPAKN",
        "LayTaiLieuPAKN",
    } <= provisional
    assert catalog.packet("CapNhatTienDoHoSoMC").status is PacketStatus.CONFIRMED
    for name in provisional:
        assert all(f.confidence == "provisional" for f in catalog.packet(name).fields), name


def test_every_field_has_provenance_and_both_languages() -> None:
    catalog = load_catalog("dvcqg-2025")

    def walk(fields, where):  # type: ignore[no-untyped-def]
        for spec in fields:
            assert spec.source, f"{where}.{spec.name} has no source"
            assert spec.vi and spec.en, f"{where}.{spec.name} lacks a description"
            walk(spec.fields, f"{where}.{spec.name}")

    for packet in catalog.packets.values():
        walk(packet.fields, packet.name)
        walk(packet.params, packet.name)


def test_code_lists_hold_the_known_codes() -> None:
    lists = load_catalog().code_lists
    assert lists["TrangThaiHoSo"].codes == tuple(str(n) for n in range(1, 11))
    assert lists["TrangThaiHoSo"].label("10") == "Đã trả kết quả"
    assert set(lists["KenhThucHien"].codes) == {"1", "2", "3"}
    assert {"1", "2", "3"} <= set(lists["CapThucHien"].codes)
    assert {"1", "2"} <= set(lists["LoaiDoiTuong"].codes)
    assert set(lists["HinhThuc"].codes) == {"0", "1"}


def test_revision_profile_adds_kenh_thuc_hien() -> None:
    base = load_catalog("qcvn120-2019").packet("DongBoHoSoMC")
    revision = load_catalog("dvcqg-2025").packet("DongBoHoSoMC")
    assert base.field("KenhThucHien") is None
    kenh = revision.field("KenhThucHien")
    assert kenh is not None and kenh.codes == "KenhThucHien"
    assert revision.field("TaiLieuNop").child("DuocSoHoa") is not None  # type: ignore[union-attr]
    assert load_catalog("dvcqg-2025").chain == ("qcvn120-2019", "dvcqg-2025")


def test_revision_profile_changes_validation() -> None:
    envelope = sample(load_catalog().packet("DongBoHoSoMC"), load_catalog())["request"]
    envelope["data"][0]["KenhThucHien"] = "9"
    base = Validator(load_catalog("qcvn120-2019")).validate_envelope(envelope)
    assert [i.code for i in base.records[0].issues] == ["field.unknown"]
    revised = Validator(load_catalog("dvcqg-2025")).validate_envelope(envelope)
    assert [(i.code, i.path) for i in revised.records[0].issues] == [
        ("field.code", "$.data[0].KenhThucHien")
    ]


def test_override_file_changes_validation() -> None:
    override = CORPUS / "overrides" / "tighten-email.yaml"
    catalog = load_catalog(overrides=[override])
    assert catalog.profile == "doi-tac-thu-nghiem"
    assert catalog.chain[-1] == str(override.resolve())
    envelope = sample(catalog.packet("DongBoHoSoMC"), catalog)["request"]
    record = envelope["data"][0]
    record["Email"] = ""
    record["Fax"] = ""
    record["TrichYeuHoSo"] = "x" * 21
    record["TaiLieuNop"][0]["HashTepTin"] = "a" * 65
    record["LoaiDoiTuong"] = "0"  # valid only in the partner's list
    record["TrangThaiHoSo"] = "10"
    record["NgayTra"] = ""  # the partner removed the dossier_returned rule
    tightened = Validator(catalog).validate_envelope(envelope)
    found = {(i.code, i.path) for i in tightened.records[0].issues}
    assert found == {
        ("field.required", "$.data[0].Email"),
        ("field.too_long", "$.data[0].TrichYeuHoSo"),
        ("field.too_long", "$.data[0].TaiLieuNop[0].HashTepTin"),
        ("field.unknown", "$.data[0].Fax"),
    }
    base = Validator(load_catalog("qcvn120-2019")).validate_envelope(envelope)
    base_found = {(i.code, i.path) for i in base.records[0].issues}
    assert ("field.code", "$.data[0].LoaiDoiTuong") in base_found
    assert ("dossier.returned_without_date", "$.data[0].NgayTra") in base_found
    assert ("field.required", "$.data[0].Email") not in base_found


def test_override_can_replace_a_provisional_packet(tmp_path: Path) -> None:
    official = tmp_path / "pakn.yaml"
    official.write_text(
        "extends: qcvn120-2019\nprofile: official-pakn\npackets:\n"
        "  DongBoKetQuaXuLyPAKN:\n    replace: true\n    kind: push\n    status: confirmed\n"
        "    vi: Kết quả xử lý PAKN\n    en: PAKN answer\n"
        "    fields:\n      - {name: IdPAKN, type: integer, required: true, vi: Mã, en: Id, source: [BANG-10]}\n",
        "utf-8",
    )
    catalog = load_catalog(overrides=[official])
    packet = catalog.packet("DongBoKetQuaXuLyPAKN")
    assert not packet.is_provisional and [f.name for f in packet.fields] == ["IdPAKN"]
    result = Validator(catalog).validate_envelope(
        {
            "session": "s",
            "madonvi": "000.00.00.H56",
            "service": packet.name,
            "data": [{"IdPAKN": "x"}],
        }
    )
    assert [(i.code, i.path) for i in result.all_issues()] == [
        ("field.integer", "$.data[0].IdPAKN")
    ]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "extends: qcvn120-2019\npackets:\n  DongBoHoSoMC:\n    fields:\n      Nope.Child: {type: string}\n",
            "no field 'Nope'",
        ),
        (
            "extends: qcvn120-2019\npackets:\n  DongBoHoSoMC:\n    fields:\n      Moi: {vi: x}\n",
            "needs a 'type'",
        ),
        (
            "extends: qcvn120-2019\npackets:\n  DongBoHoSoMC:\n    fields:\n      Email: {type: money}\n",
            "type 'money'",
        ),
        (
            "extends: qcvn120-2019\npackets:\n  DongBoHoSoMC:\n    fields:\n      Email: {codes: Missing}\n",
            "unknown code list",
        ),
        (
            "extends: qcvn120-2019\npackets:\n  DongBoHoSoMC:\n    rules: [teleport]\n",
            "unknown rules",
        ),
        (
            "extends: qcvn120-2019\npackets:\n  DongBoHoSoMC:\n    official_fields: -1\n",
            "official_fields must be a non-negative integer",
        ),
        (
            "extends: qcvn120-2019\npackets:\n  DongBoHoSoMC:\n    fields:\n"
            "      Email: {beyond_official: ''}\n",
            "beyond_official must say where the field comes from",
        ),
        ("extends: no-such-profile\n", "unknown profile"),
        ("[1, 2\n", "not valid YAML"),
        ("- just a list\n", "must be a YAML mapping"),
    ],
)
def test_malformed_override_names_the_problem(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(text, "utf-8")
    with pytest.raises(CatalogError, match=message):
        load_catalog(overrides=[path])


def test_missing_override_file_is_a_catalog_error(tmp_path: Path) -> None:
    with pytest.raises(CatalogError, match="cannot read"):
        load_catalog(overrides=[tmp_path / "absent.yaml"])


def test_profile_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LIENTHONG_PROFILE", "dvcqg-2025")
    assert load_catalog().profile == "dvcqg-2025"


#: Table 1 of QCVN 120: the official field count of each packet (of a returned row for a share).
TABLE_1 = {
    "1.1": 27, "1.2": 9, "2": 8, "3.1": 18, "4.1": 25, "4.2": 5, "5.1.1": 23, "5.2.1": 24,
    "5.2.2": 7, "5.2.3": 3, "5.3.1": 26, "6.1.1": 11, "6.2.1": 12, "6.2.2": 6, "6.3.1": 11,
}  # fmt: skip


@pytest.mark.parametrize("profile", ["qcvn120-2019", "dvcqg-2025"])
def test_every_packet_has_its_official_count(profile: str) -> None:
    packets = [p for p in load_catalog(profile).packets.values() if p.is_qcvn120]
    assert {p.id: p.official_fields for p in packets} == TABLE_1
    for packet in packets:
        known, official = len(packet.fields), packet.official_fields or 0
        marked = [f for f in packet.fields if f.beyond_official]
        # the fields beyond the count are marked, or the packet says why they cannot be
        assert len(marked) == known - official or (known != official and packet.official_note)
    sent = load_catalog(profile).packet("LayTaiLieuPAKN")
    assert (sent.official_params, len(sent.params)) == (1, 1)


def test_the_official_count_says_the_difference() -> None:
    base, later = load_catalog("qcvn120-2019"), load_catalog("dvcqg-2025")
    assert base.packet("DongBoHoSoMC").official_count() == "28 of 27 (1 beyond: SoBienNhan)"
    assert base.packet("DongBoThongKeHoSo").official_count() == "19 of 18 (1 beyond: GhiChu)"
    assert base.packet("LayQDCB").official_count() == "3 of 5 (2 unknown)"
    assert base.packet("LayThuTuc").official_count() == "28 of 25 (3 beyond)"
    assert base.packet("CapNhatTienDoHoSoMC").official_count() == "9 of 9"
    assert base.packet("TraCuuHoSo").official_count() == str(len(base.packet("TraCuuHoSo").fields))
    dossier = later.packet("DongBoHoSoMC")  # the 2025 revision's fields belong to its profile
    assert dossier.official_count(names=False) == "38 of 27 (11 beyond)"
    revision = [f.name for f in dossier.fields if f.beyond_official and "2025" in f.beyond_official]
    assert len(revision) == 10 and "KenhThucHien" in revision
    assert dossier.field("SoBienNhan").beyond_official.startswith("a real client's extra")  # type: ignore[union-attr]
