"""The public and pending lists filter, count and page in the database
(``lienthong.hub.petitions.public_rows`` / ``pending``, ``lienthong.hub.questions``
``public_answered`` / ``pending``), over real HTTP on SQLite and PostgreSQL: paging and
``TongSo`` with many rows, keywords with ``%`` and ``_`` taken literally, Vietnamese letters
in any case, the unit hierarchy in both code formats, and the back-fill of migration 0010.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import sqlalchemy as sa
from alembic import command
from sqlalchemy import Engine, event, select

from lienthong.hub import petitions, questions
from lienthong.store.db import _version_schema, alembic_config, session_factory, upgrade
from lienthong.store.tables import Petition, Question
from tests.hub.conftest import UNIT, RunningHub

DISTRICT = "000.00.13.H56"
BIG = "9223372036854775807"


def _call(running: RunningHub, session: str, service: str, **params: Any) -> dict[str, Any]:
    envelope = {"session": session, "madonvi": UNIT, "service": service, **params}
    answer: dict[str, Any] = running.call(envelope).json()
    return answer


def _local(code: str, title: str, text: str = "Nội dung.", **extra: str) -> dict[str, Any]:
    return {
        "MaPAKN": code,
        "TieuDe": title,
        "NoiDungPAKN": text,
        "NgayGuiPAKN": "20260301080000",
        "Ten": "Trần Thị Cúc",
        "MaDonViXuLy": DISTRICT,
        "TrangThai": "4",
        "NoiDungTraLoi": "Đã xử lý.",
        "NgayTraLoi": "20260305100000",
        "CongKhai": "True",
        **extra,
    }


def _push(running: RunningHub, session: str, service: str, data: list[dict[str, Any]]) -> None:
    answer = _call(running, session, service, data=data)
    assert answer["error_code"] == "0", answer
    assert {record["status"] for record in answer["records"]} == {"accepted"}, answer


@contextmanager
def _loaded(table: type[Any]) -> Iterator[list[Any]]:
    """The rows of ``table`` the database hands over while the block runs: a list page reads
    the rows it shows, never every row that matches."""
    seen: list[Any] = []

    def loaded(target: Any, context: Any) -> None:
        seen.append(target)

    event.listen(table, "load", loaded)
    try:
        yield seen
    finally:
        event.remove(table, "load", loaded)


def _ids(answer: dict[str, Any]) -> list[str]:
    return [str(row["Id"]) for row in answer["result"]]


def test_many_published_petitions_are_paged_and_counted(running: RunningHub) -> None:
    session = running.login()
    _push(
        running,
        session,
        "DongBoPAKNDiaPhuong",
        [_local(f"P-{n:03d}", f"Kiến nghị số {n}") for n in range(237)],
    )
    newest_first = [f"{DISTRICT}-P-{n:03d}" for n in reversed(range(237))]  # one push: by id

    first = _call(running, session, "DanhSachPAKNCongKhai")
    assert _ids(first) == newest_first[:10]
    assert {row["TongSo"] for row in first["result"]} == {"237"}
    page = _call(running, session, "DanhSachPAKNCongKhai", trangHienTai="3", soBanGhiMoiTrang="50")
    assert _ids(page) == newest_first[100:150]
    last = _call(running, session, "DanhSachPAKNCongKhai", trangHienTai="24")
    assert _ids(last) == newest_first[230:]
    for past in ({"trangHienTai": "25"}, {"trangHienTai": BIG, "soBanGhiMoiTrang": "500"}):
        beyond = _call(running, session, "DanhSachPAKNCongKhai", **past)
        assert (beyond["error_code"], beyond["result"]) == ("0", [])  # no offset overflow

    with running.hub.sessions() as db, _loaded(Petition) as seen:
        rows = petitions.public(db, {"trangHienTai": "2", "keyword": "KIẾN NGHỊ"})
        assert [row["Id"] for row in rows] == newest_first[10:20]
        assert len(seen) == 10  # not 237
        assert len(petitions.pending(db, UNIT, {"soBanGhiMoiTrang": "5"})) == 0
        assert len(seen) == 10

    listed = running.client.get("/pakn", params={"trang": "24"})
    assert listed.status_code == 200
    assert "Trang 24 / 24 · 237 kết quả" in listed.text
    assert len(re.findall(r'data-testid="pakn-', listed.text)) == 7
    beyond_page = running.client.get("/pakn", params={"trang": "1000000"})
    assert "Không có trang 1000000" in beyond_page.text


def test_keywords_are_literal_and_any_case(running: RunningHub) -> None:
    session = running.login()
    titles = {
        "K-1": ("Giảm 50% phí trước bạ", "Nội dung."),
        "K-2": ("Giảm 500 phí", "Nội dung."),
        "K-3": ("Sai mã_số thuế", "Nội dung."),
        "K-4": ("Sai mãXsố thuế", "Nội dung."),
        "K-5": ("ĐƯỜNG LÀNG HỎNG", "Ổ gà khắp nơi."),
        "K-6": ("Cầu yếu", "Xe tải qua đường tràn."),
        "K-7": ("abc", "def"),  # "cd" is in neither field: never across two
    }
    _push(
        running,
        session,
        "DongBoPAKNDiaPhuong",
        [_local(code, title, text) for code, (title, text) in titles.items()],
    )

    def found(keyword: str) -> list[str]:
        answer = _call(running, session, "DanhSachPAKNCongKhai", keyword=keyword)
        return sorted(row.rsplit("-", 2)[-2] + "-" + row.rsplit("-", 1)[-1] for row in _ids(answer))

    assert found("50%") == ["K-1"]
    assert found("%") == ["K-1"]
    assert found("mã_số") == ["K-3"]
    assert found("_") == ["K-3"]
    assert found("đường") == ["K-5", "K-6"]  # a title in capitals, a text in small letters
    assert found("ĐƯỜNG LÀNG") == ["K-5"]
    assert found("Ổ GÀ") == ["K-5"]
    assert found("cd") == []
    assert found("c\x1fd") == []
    assert found("  ") == sorted(titles)  # blank: no filter

    too_long = _call(running, session, "DanhSachPAKNCongKhai", keyword="x" * 201)
    assert too_long["error_code"] == "15" and "200" in too_long["message"]

    page = running.client.get("/pakn", params={"tukhoa": "ĐƯỜNG"})
    assert page.status_code == 200 and page.text.count('data-testid="pakn-') == 2
    assert (
        running.client.get("/pakn", params={"tukhoa": "50%"}).text.count('data-testid="pakn-') == 1
    )
    for path in ("/pakn", "/hoi-dap"):  # PostgreSQL text cannot hold a NUL: never sent to it
        nul = running.client.get(path, params={"tukhoa": "\x00"})
        assert nul.status_code == 200 and 'data-testid="khong-co-ket-qua"' in nul.text, path


def test_answered_questions_are_paged_and_searched(running: RunningHub) -> None:
    session = running.login()
    compiled = [
        {
            "HOIDAPID": str(1000 + n),
            "NOIDUNG": f"Câu hỏi số {n} về ĐĂNG KÝ KẾT HÔN?",
            "MADONVI": DISTRICT,
            "NOIDUNGTRALOI": "Nộp tại UBND cấp xã; lệ phí 0% với người nghèo."
            if n == 7
            else "Nộp tại UBND cấp xã.",
        }
        for n in range(25)
    ]
    compiled.append({"HOIDAPID": "2000", "NOIDUNG": "Chưa trả lời?", "MADONVI": DISTRICT})
    _push(running, session, "DongBoHoiDap", compiled)

    with running.hub.sessions() as db:
        rows, total = questions.public_answered(db, "", questions.UNIT, 20, 10)
        assert total == 25 and len(rows) == 5  # the unanswered one is not listed
        assert questions.public_answered(db, "", questions.UNIT, 25, 10) == ([], 25)
        found, count = questions.public_answered(db, "đăng ký kết hôn", questions.UNIT, 0, 100)
        assert count == 25 and len(found) == 25
        percent, count = questions.public_answered(db, "0%", None, 0, 10)
        assert (count, [row["HOIDAPID"] for row in percent]) == (1, ["1007"])  # in the answer
        with _loaded(Question) as seen:
            assert questions.public_answered(db, "kết hôn", None, 10, 10)[1] >= 25
            assert len(seen) == 10
        everything = questions.public_answered(db, "", None, 0, 10)[1]
        ministries = questions.public_answered(db, "", questions.MINISTRY, 0, 10)[1]
        assert everything == 25 + ministries > 25

    page = running.client.get("/hoi-dap", params={"nguon": "don-vi", "trang": "3"})
    assert "Trang 3 / 3 · 25 kết quả" in page.text
    assert page.text.count('data-testid="hoi-dap-') == 5
    searched = running.client.get("/hoi-dap", params={"tukhoa": "KẾT HÔN", "nguon": "don-vi"})
    assert "25 kết quả" in searched.text


def test_pending_lists_follow_the_unit_hierarchy(running: RunningHub) -> None:
    session = running.login()
    units = {
        "U-1": DISTRICT,
        "U-2": "000.13.13.H56",  # a commune of the district
        "U-3": "H56.13.07",  # the same hierarchy in the QĐ 20 format
        "U-4": "000.00.14.H56",  # another district of the province
        "U-5": "000.00.00.H56",  # the province itself
    }
    records = [
        {
            key: value
            for key, value in _local(code, "Chờ xử lý", MaDonViXuLy=unit, TrangThai="1").items()
            if key not in ("NoiDungTraLoi", "NgayTraLoi", "CongKhai")
        }
        for code, unit in units.items()
    ]
    _push(running, session, "DongBoPAKNDiaPhuong", records)

    def pending(scope: str, **params: str) -> tuple[list[str], set[str]]:
        envelope = {"session": session, "madonvi": scope, "service": "DanhSachPAKNChoXuLy"}
        answer = running.call({**envelope, **params}).json()
        assert answer["error_code"] == "0", answer
        rows = answer["result"]
        return [str(row["MaPAKNDiaPhuong"]) for row in rows], {row["TongSo"] for row in rows}

    assert pending(UNIT) == (["U-1", "U-2", "U-3", "U-4", "U-5"], {"5"})
    assert pending(DISTRICT) == (["U-1", "U-2", "U-3"], {"3"})
    assert pending("H56.13") == (["U-1", "U-2", "U-3"], {"3"})
    assert pending(DISTRICT, trangHienTai="2", soBanGhiMoiTrang="2") == (["U-3"], {"3"})
    with running.hub.sessions() as db, _loaded(Petition) as seen:
        listed = petitions.pending(db, DISTRICT, {"trangHienTai": "1", "soBanGhiMoiTrang": "2"})
        assert len(listed) == len(seen) == 2
    assert pending(DISTRICT, trangHienTai=BIG, soBanGhiMoiTrang="500") == ([], set())
    assert pending(DISTRICT, tuNgay="20260302000000") == ([], set())

    portal = []
    with running.hub.sessions() as db:
        for unit in (DISTRICT, "000.00.14.H56"):
            fields = {
                "NOIDUNG": "Hỏi?",
                "HOVATEN": "An",
                "THUDIENTU": "an@example.vn",
                "MADONVI": unit,
            }
            portal.append(str(questions.submit_question(db, fields)))
        db.commit()
    envelope = {"session": session, "madonvi": DISTRICT, "service": "LayDanhSachHoiDapGuiTuDVCQG"}
    rows = running.call(envelope).json()["result"]
    assert [row["HOIDAPID"] for row in rows] == portal[:1]


# -- migration 0010 -----------------------------------------------------------------------------


def test_the_migration_fills_the_columns_of_existing_rows(blank_engine: Engine) -> None:
    with blank_engine.begin() as connection:
        config = alembic_config(connection)
        config.attributes["version_table_schema"] = _version_schema(connection)
        command.upgrade(config, "0009")
    created = dt.datetime(2026, 3, 1, 1, 0, tzinfo=dt.UTC)
    stored = created.replace(tzinfo=None) if blank_engine.dialect.name == "sqlite" else created
    json = sa.JSON().with_variant(sa.dialects.postgresql.JSONB(), "postgresql")
    common = {"record_hash": "", "created_at": stored, "updated_at": stored}
    petition_table = sa.table(
        "petitions",
        *(sa.column(name) for name in ("pakn_id", "unit", "source", "status", "published")),
        sa.column("record", json),
        sa.column("answer", json),
        *(sa.column(name) for name in common),
    )
    question_table = sa.table(
        "questions",
        *(sa.column(name) for name in ("hoidap_id", "unit", "source", "status")),
        sa.column("record", json),
        sa.column("answer", json),
        *(sa.column(name) for name in common),
    )
    with blank_engine.begin() as connection:
        connection.execute(
            petition_table.insert(),
            [
                {
                    "pakn_id": "A",
                    "unit": "H56.00.13",
                    "source": "local",
                    "status": "4",
                    "published": True,
                    "record": {
                        "TieuDe": "ĐƯỜNG",
                        "NoiDungPAKN": "Ngập",
                        "NgayGuiPAKN": "20260302080000",
                    },
                    "answer": None,
                    **common,
                },
                {
                    "pakn_id": "B",
                    "unit": "000.05.00.H56",  # breaks the hierarchy rule
                    "source": "portal",
                    "status": "1",
                    "published": False,
                    "record": {"TieuDe": "Đèn", "NgayGuiPAKN": "02/03/2026"},
                    "answer": None,
                    **common,
                },
            ],
        )
        connection.execute(
            question_table.insert(),
            [
                {
                    "hoidap_id": 7,
                    "unit": DISTRICT,
                    "source": "portal",
                    "status": "3",
                    "record": {"NOIDUNG": "Hỏi GÌ?"},
                    "answer": {"NOIDUNGTRALOI": "Trả LỜI"},
                    **common,
                },
                {
                    "hoidap_id": 8,
                    "unit": DISTRICT,
                    "source": "portal",
                    "status": "1",
                    "record": {"NOIDUNG": "Chưa", "NGAYGUI": "20260301090000"},
                    "answer": None,
                    **common,
                },
            ],
        )
    upgrade(blank_engine)

    vietnam = dt.timezone(dt.timedelta(hours=7))
    with session_factory(blank_engine)() as db:
        rows = db.execute(
            select(Petition.search_text, Petition.unit_path, Petition.sent_at).order_by(Petition.id)
        ).all()
        assert [tuple(row) for row in rows] == [
            ("đường\x1fngập", "H56.13", dt.datetime(2026, 3, 2, 8, 0, tzinfo=vietnam)),
            ("đèn", None, created),  # dd/MM/yyyy is not the wire format sent_at reads
        ]
        rows = db.execute(
            select(Question.search_text, Question.unit_path, Question.sent_at).order_by(Question.id)
        ).all()
        assert [tuple(row) for row in rows] == [
            ("hỏi gì?\x1ftrả lời", "H56.13", created),
            (None, "H56.13", dt.datetime(2026, 3, 1, 9, 0, tzinfo=vietnam)),
        ]
        # the migration's rules are the application's
        assert petitions.unit_path("H56.00.13") == "H56.13"
        assert petitions.unit_path("000.05.00.H56") is None
        assert petitions.public_rows(db, "đường", 0, 10)[1] == 1
