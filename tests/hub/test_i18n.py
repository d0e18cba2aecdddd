"""One language at a time on the public pages (``?lang=`` and its cookie), and the citizen's
wording of a malformed dossier code: plain words, one example, no article or standard."""

from __future__ import annotations

import re

import httpx
import pytest

from lienthong.hub.i18n import DOSSIER_CODE_EXAMPLE, dossier_code_message
from lienthong.spec.identifiers import check_dossier_code
from tests.hub.conftest import UNIT, RunningHub, form_token

#: A dossier code's shape, to count the examples a message gives.
CODE_SHAPE = re.compile(r"\b[0-9A-Z]{2,3}\.[0-9A-Z.]+-\d{6,8}-\d{4,7}\b")
#: What a citizen should never read about a code: standards, articles, formats, checker names.
JARGON = ("QCVN", "Điều", "TT 01", "Thông tư", "YYMMDD", "dossier_code", "G09.20", "Art.")
MALFORMED = (
    "abc<b>123",  # not a code at all
    "000.00.13.H56-261302-0001",  # month 13
    "000.00.13.H56-260302-0000",  # sequence zero
    "000.00.13.H56-991231-0001",  # a filing date far ahead
    "000.00.13.H56260302-0001",  # a dash missing
)
PAGES = ("/", "/tra-cuu", "/pakn", "/pakn/gui", "/hoi-dap", "/hoi-dap/gui", "/tinh-trang")
#: Labels every page shows, in each language.
NAV = {
    "vi": ("Trang chủ", "Tra cứu hồ sơ", "Phản ánh, kiến nghị", "Hỏi đáp", "Tình trạng hệ thống"),
    "en": ("Home", "Dossier lookup", "Feedback", "Q&amp;A", "System status"),
}


def _alert(page: httpx.Response) -> str:
    found = re.search(r'data-testid="ma-khong-hop-le">(.*?)</div>', page.text, re.S)
    assert found is not None, page.text[:500]
    return re.sub(r"<[^>]+>", "", found.group(1))


def test_malformed_codes_get_plain_words_and_one_example(running: RunningHub) -> None:
    for code in MALFORMED:
        for lang, example_words in (("vi", "ví dụ"), ("en", "for example")):
            page = running.client.get("/tra-cuu", params={"mahoso": code, "lang": lang})
            assert page.status_code == 400, code
            alert = _alert(page)
            assert f"{example_words} {DOSSIER_CODE_EXAMPLE}" in alert, (code, alert)
            examples = CODE_SHAPE.findall(alert.replace(code, ""))  # the code sent aside
            assert examples == [DOSSIER_CODE_EXAMPLE], (code, alert)
            assert not [word for word in JARGON if word in alert], (code, alert)


def test_the_messages_by_problem() -> None:
    for code, lead in (
        ("abc", "Mã hồ sơ chưa đúng."),
        ("000.00.13.H56-261302-0001", "Ngày nộp trong mã hồ sơ chưa đúng."),
        ("000.00.13.H56-260302-0000", "Số thứ tự trong mã hồ sơ chưa đúng."),
    ):
        problem = check_dossier_code(code)
        assert problem is not None
        vi, en = dossier_code_message(problem)
        assert vi.startswith(lead) and DOSSIER_CODE_EXAMPLE in vi and DOSSIER_CODE_EXAMPLE in en


def test_a_related_dossier_code_in_the_form_is_explained_alike(running: RunningHub) -> None:
    with httpx.Client(base_url=running.base, timeout=30) as client:
        fields = {
            "TieuDe": "Hồ sơ chậm",
            "NoiDungPAKN": "Hồ sơ của tôi chưa có kết quả.",
            "Ten": "Phạm Thị Hoa",
            "SoDienThoai": "0912345678",
            "MaDonViXuLy": UNIT,
            "MaHoSo": "H56-2603",
            "csrf": form_token(client),
        }
        answer = client.post("/pakn/gui", data=fields, headers={"Origin": running.base})
    assert answer.status_code == 422
    found = re.search(r'data-testid="loi-MaHoSo">(.*?)</p>', answer.text, re.S)
    assert found is not None
    assert found.group(1).startswith("Mã hồ sơ chưa đúng. Mã hồ sơ gồm mã đơn vị")
    assert not [word for word in JARGON if word in found.group(1)]


def test_the_switch_gives_one_language_and_back(running: RunningHub) -> None:
    with httpx.Client(base_url=running.base, timeout=30) as client:
        for path in PAGES:
            page = client.get(path)
            assert '<html lang="vi">' in page.text, path
            assert 'class="en"' not in page.text, path  # no label doubled any more
            assert all(label in page.text for label in NAV["vi"]), path
            assert 'href="' + path + '?lang=en"' in page.text, path  # the switch
        english = client.get("/tra-cuu", params={"lang": "en"})
        assert "lang=en" in english.headers["set-cookie"]
        assert "samesite=lax" in english.headers["set-cookie"].lower()
        for path in PAGES:  # the cookie keeps the choice
            page = client.get(path)
            assert '<html lang="en">' in page.text, path
            assert 'class="en"' not in page.text, path
            assert all(label in page.text for label in NAV["en"]), path
            assert not [label for label in NAV["vi"] if label in page.text], path
            assert 'href="' + path + '?lang=vi"' in page.text and ">Tiếng Việt<" in page.text
        back = client.get("/", params={"lang": "vi"})
        assert '<html lang="vi">' in back.text and "Dossier lookup" not in back.text
        assert '<html lang="vi">' in client.get("/hoi-dap").text


def test_the_switch_keeps_the_query_and_ignores_other_languages(running: RunningHub) -> None:
    page = running.client.get("/tra-cuu", params={"mahoso": "abc&x", "lang": "en"})
    assert 'href="/tra-cuu?mahoso=abc%26x&amp;lang=vi"' in page.text
    with httpx.Client(base_url=running.base, cookies={"lang": "de"}) as client:
        odd = client.get("/", params={"lang": "fr"})
    assert '<html lang="vi">' in odd.text and "set-cookie" not in odd.headers


@pytest.mark.parametrize("path", ["/pakn/gui", "/hoi-dap/gui"])
def test_forms_in_english_keep_their_token(running: RunningHub, path: str) -> None:
    with httpx.Client(base_url=running.base, timeout=30) as client:
        client.get("/", params={"lang": "en"})
        token = form_token(client, path)
        form = client.get(path).text
        assert '<html lang="en">' in form and ">Send</button>" in form
        assert "Gửi</button>" not in form
        fields = (
            {"TieuDe": "Street light", "NoiDungPAKN": "Broken for two weeks.",
             "MaDonViXuLy": UNIT}
            if path == "/pakn/gui"
            else {"NOIDUNG": "How do I renew a licence?", "MADONVI": UNIT}
        )  # fmt: skip
        name = "Ten" if path == "/pakn/gui" else "HOVATEN"
        fields.update({name: "Phạm Thị Hoa", "csrf": token})
        empty = client.post(path, data={**fields, name: ""}, headers={"Origin": running.base})
        assert empty.status_code == 422 and '<html lang="en">' in empty.text
        assert "Please correct the" in empty.text and "Vui lòng" not in empty.text
        token = re.search(r'name="csrf" value="([^"]+)"', empty.text)
        assert token is not None
        fields["csrf"] = token.group(1)
        fields["SoDienThoai" if path == "/pakn/gui" else "SODIENTHOAI"] = "0912345678"
        sent = client.post(path, data=fields, headers={"Origin": running.base})
        assert sent.status_code == 200, sent.text[:500]
        assert "<h1>Sent</h1>" in sent.text and "Đã gửi" not in sent.text
