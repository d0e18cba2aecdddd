"""A citizen's attachment is what its name claims: PDFs by their header at byte 0 and their
trailer, OLE2 files by their header, Office Open XML and OpenDocument packages by their ZIP
directory and required members, within bounds (members, declared sizes, ratio), never unpacked."""

from __future__ import annotations

import base64
import io
import random
import re
import struct
import zipfile

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lienthong.hub import attachments
from lienthong.hub.attachments import ZIP_MAX_MEMBERS, ZIP_MAX_RATIO, ZIP_MAX_UNPACKED_BYTES
from lienthong.hub.petitions import CITIZEN_FILE_ACCEPT, CITIZEN_FILE_TYPES, citizen_attachment
from lienthong.store.tables import Petition, PetitionFile
from tests.hub import sample_files
from tests.hub.conftest import RunningHub, form_token
from tests.hub.sample_files import (
    MIB,
    ODT_TYPE,
    SHEET_MAIN,
    WORD_MAIN,
    content_types,
    docx_members,
    odt_members,
    package,
)
from tests.hub.test_web_citizen_http import (
    PAKN_API,
    _b64,
    _count,
    _documents,
    _petition,
    _post_multipart,
)

#: One sample per accepted extension, built by the format's rules.
SAMPLES = {
    "pdf": sample_files.pdf(),
    "jpg": sample_files.JPEG,
    "jpeg": sample_files.JPEG,
    "png": sample_files.png(),
    "doc": sample_files.ole2(),
    "docx": sample_files.docx(),
    "xls": sample_files.ole2(major=4, sector_shift=12),
    "xlsx": sample_files.xlsx(),
    "odt": sample_files.odt(),
    "txt": "Kính gửi Ủy ban nhân dân xã".encode(),
}


def _refusal(name: str, content: bytes) -> tuple[str, str]:
    """(vi, en) of the one problem of ``content`` named ``name``, at ``NoiDung``."""
    attachment, problems = citizen_attachment(name, content)
    assert attachment is None, name
    [(part, vi, en)] = problems
    assert part == "NoiDung"
    return vi, en


def test_every_accepted_type_has_a_sample_that_passes() -> None:
    assert sorted(SAMPLES) == sorted(ext.lstrip(".") for ext in CITIZEN_FILE_ACCEPT.split(","))
    for extension, content in SAMPLES.items():
        attachment, problems = citizen_attachment(f"tai-lieu.{extension}", content)
        assert problems == [], extension
        assert attachment is not None and attachment.content == content


def test_each_sample_is_refused_under_every_other_name() -> None:
    """A file renamed to another accepted type is told apart (DOC and XLS excepted: both are
    OLE2 files, told apart only by their streams; JPG and JPEG are one type)."""
    for kind in CITIZEN_FILE_TYPES:
        for extension, content in SAMPLES.items():
            same = extension in kind.extensions or {extension, kind.extensions[0]} == {"doc", "xls"}
            if same or (kind.label == "TXT" and extension in ("pdf", "txt")):
                continue  # a PDF without binary bytes is also text
            refusal = kind.check(content, kind.label)
            assert refusal is not None, (kind.label, extension)


# -- PDF --------------------------------------------------------------------------------------------


def test_an_html_page_with_the_pdf_marker_is_not_a_pdf() -> None:
    page = sample_files.html_with_pdf_marker()
    assert b"%PDF-" in page[:1024]  # what the old check looked for
    vi, en = _refusal("don.pdf", page)
    assert (vi, en) == ("nội dung không phải là tệp PDF", "the content is not a PDF file")


@pytest.mark.parametrize(
    "content",
    [
        b"\xef\xbb\xbf" + sample_files.pdf(),  # a UTF-8 BOM
        b"\r\n" + sample_files.pdf(),
        b"%PDF-x.y\n" + sample_files.pdf()[9:],
        b"%pdf-1.7\n" + sample_files.pdf()[9:],
    ],
)
def test_a_pdf_starts_with_its_header_at_byte_0(content: bytes) -> None:
    assert _refusal("don.pdf", content)[0] == "nội dung không phải là tệp PDF"


def test_a_pdf_ends_with_startxref_and_eof() -> None:
    whole = sample_files.pdf()
    assert citizen_attachment("don.pdf", whole + b"\x00" * 1000)[1] == []  # trailing junk
    for cut in (
        whole[: whole.rindex(b"startxref")],  # truncated, as an interrupted upload
        whole.replace(b"%%EOF", b"%%EOX"),
        b"%PDF-1.7\n<html><body>not a PDF</body></html>\n%%EOF\n",
        whole + b"\x00" * 1024,
    ):
        vi, en = _refusal("don.pdf", cut)
        assert vi == "tệp PDF không trọn vẹn: 1024 byte cuối không có startxref và %%EOF"
        assert en == "an incomplete PDF file: its last 1024 bytes have no startxref and %%EOF"


# -- OLE2 (DOC, XLS) and images ---------------------------------------------------------------------


def test_a_doc_that_is_not_ole2_is_refused() -> None:
    for content in (sample_files.EXE, sample_files.docx(), b"{\\rtf1\\ansi Kinh gui}"):
        assert _refusal("don.doc", content)[0] == "nội dung không phải là tệp DOC"
    assert _refusal("bang.xls", sample_files.pdf())[0] == "nội dung không phải là tệp XLS"


def _with_header(content: bytes, offset: int, value: int) -> bytes:
    return content[:offset] + struct.pack("<H", value) + content[offset + 2 :]


@pytest.mark.parametrize(
    ("content", "why"),
    [
        (sample_files.ole2()[:300], "shorter than an OLE2 file's 512-byte header"),
        (_with_header(sample_files.ole2(), 28, 0xFEFF), "its header is not that of an OLE2"),
        (_with_header(sample_files.ole2(), 30, 12), "its header is not that of an OLE2"),
        (_with_header(sample_files.ole2(), 26, 5), "its header is not that of an OLE2"),
        (_with_header(sample_files.ole2(), 32, 7), "its header is not that of an OLE2"),
    ],
)
def test_an_ole2_file_has_a_sane_header(content: bytes, why: str) -> None:
    vi, en = _refusal("don.doc", content)
    assert vi.startswith("tệp DOC bị hỏng: ")
    assert en.startswith("a damaged DOC document: ") and why in en


def test_a_png_has_its_header_chunk_first() -> None:
    assert _refusal("anh.png", b"\x89PNG\r\n\x1a\n" + bytes(20))[0] == (
        "nội dung không phải là tệp PNG"
    )
    assert _refusal("anh.jpg", sample_files.png())[0] == "nội dung không phải là tệp JPEG"


# -- Office Open XML and OpenDocument packages ------------------------------------------------------


def _reason(name: str, content: bytes, damaged: bool) -> str:
    """The English reason a package named ``name`` is refused, damaged or oversized."""
    vi, en = _refusal(name, content)
    label = name.rpartition(".")[2].upper()
    if damaged:
        assert vi.startswith(f"tệp {label} bị hỏng: ")
        assert en.startswith(f"a damaged {label} document: ")
    else:
        assert vi.startswith(f"tệp {label} quá lớn khi giải nén: ")
        assert en.startswith(f"an oversized {label} document: ")
    return en


def _oversized(name: str, content: bytes) -> str:
    return _reason(name, content, damaged=False)


def _damaged(name: str, content: bytes) -> str:
    return _reason(name, content, damaged=True)


def test_a_zip_bomb_named_docx_is_refused_by_what_it_declares() -> None:
    bomb = sample_files.zip_bomb(200 * 1000 * 1000)
    assert len(bomb) < 300_000  # 200 MB of zeros, as sent
    assert _oversized("don.docx", bomb).endswith("it unpacks to more than 50 MB")
    assert ZIP_MAX_UNPACKED_BYTES == 50 * MIB


def test_a_package_unpacking_to_over_100_times_its_size_is_refused() -> None:
    bomb = sample_files.zip_bomb(10 * MIB)  # under 50 MB, but about 1000 times its size
    assert ZIP_MAX_RATIO == 100 and len(bomb) * ZIP_MAX_RATIO < 10 * MIB
    assert _oversized("don.docx", bomb).endswith("it unpacks to more than 100 times its size")


def _members(count: int) -> bytes:
    """A DOCX with ``count`` more (empty) members."""
    members = [*docx_members(), *((f"word/media/{n}.xml", b"") for n in range(count))]
    return package(members, stored=[name for name, _ in members])


def test_a_docx_with_5000_members_is_refused_before_its_directory_is_read() -> None:
    too_many = f"it has more than {ZIP_MAX_MEMBERS} members"
    assert _oversized("don.docx", _members(5000)).endswith(too_many)
    # one whose end record says 3 members: the directory zipfile reads is counted too
    crowded = _members(1500)
    end = crowded.rindex(b"PK\x05\x06")
    lying = crowded[: end + 8] + struct.pack("<HH", 3, 3) + crowded[end + 12 :]
    assert _oversized("don.docx", lying).endswith(too_many)
    # nor may the directory itself be large
    plain = sample_files.docx()
    end = plain.rindex(b"PK\x05\x06")
    swollen = plain[: end + 12] + struct.pack("<L", 256 * 1024 + 1) + plain[end + 16 :]
    assert _oversized("don.docx", swollen).endswith("its ZIP directory is larger than 256 KB")


@pytest.mark.parametrize(
    "name",
    ["../../etc/cron.d/x", "word/../../x.xml", "/etc/passwd", "C:/Windows/x.dll", "word\\x.xml"],
)
def test_a_package_with_a_path_that_escapes_is_refused(name: str) -> None:
    content = package([*docx_members(), (name, b"x")])
    assert _damaged("don.docx", content).endswith(
        "a member's path leaves the archive (.., a leading / or \\)"
    )


def _encrypted(content: bytes) -> bytes:
    """``content`` with the encryption flag set on its first member's headers."""
    local = content.index(b"PK\x03\x04")
    central = content.index(b"PK\x01\x02")
    patched = bytearray(content)
    for where in (local + 6, central + 8):
        (flags,) = struct.unpack_from("<H", patched, where)
        struct.pack_into("<H", patched, where, flags | 1)
    return bytes(patched)


def _overlapping(content: bytes) -> bytes:
    """``content`` with its last member's directory entry pointing at the first member's data."""
    last = content.rindex(b"PK\x01\x02")
    patched = bytearray(content)
    struct.pack_into("<L", patched, last + 42, 0)
    return bytes(patched)


def _bad_crc(content: bytes) -> bytes:
    """``content`` with a wrong CRC for ``[Content_Types].xml`` (first member) in both headers."""
    patched = bytearray(content)
    for where in (content.index(b"PK\x03\x04") + 14, content.index(b"PK\x01\x02") + 16):
        struct.pack_into("<L", patched, where, 0x12345678)
    return bytes(patched)


def _bzip2() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_BZIP2) as archive:
        for name, data in docx_members():
            archive.writestr(name, data)
    return buffer.getvalue()


def _duplicate() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in [*docx_members(), ("WORD/document.xml", b"<x/>")]:
            archive.writestr(name, data)
    return buffer.getvalue()


@pytest.mark.parametrize(
    ("content", "why"),
    [
        (sample_files.docx().replace(b"PK\x01\x02", b"PK\x01\x00", 1), "not a readable ZIP"),
        (sample_files.docx()[:400], "it has no ZIP directory"),
        (_encrypted(sample_files.docx()), "a member is encrypted"),
        (_overlapping(sample_files.docx()), "its members overlap"),
        (_bad_crc(sample_files.docx()), "[Content_Types].xml cannot be read (bad CRC or data)"),
        (_bzip2(), "a member is compressed in a way Office does not use"),
        (_duplicate(), "two members have the same name"),
        (
            package(
                [
                    (
                        "[Content_Types].xml",
                        b'<!DOCTYPE t [<!ENTITY a "aaaa">]>' + content_types({})[56:],
                    ),
                    *docx_members()[1:],
                ]
            ),
            "[Content_Types].xml is unreadable",
        ),
        (
            package([("[Content_Types].xml", b"<Types"), *docx_members()[1:]]),
            "[Content_Types].xml is unreadable",
        ),
    ],
)
def test_a_damaged_package_is_refused(content: bytes, why: str) -> None:
    assert _damaged("don.docx", content).endswith(why)


def test_a_large_content_types_part_is_not_unpacked() -> None:
    noise = random.Random(0).randbytes(MIB // 2 + 1).hex().encode()  # packs only 2 to 1
    huge = content_types({"word/document.xml": WORD_MAIN}) + b"<!--" + noise + b"-->"
    content = package([("[Content_Types].xml", huge), *docx_members()[1:]])
    assert _oversized("don.docx", content).endswith("is larger than 1048576 bytes")


@pytest.mark.parametrize(
    ("name", "content"),
    [
        ("don.docx", package([("word/document.xml", b"<w:document/>")])),  # a plain ZIP
        ("don.docx", package(docx_members()[:1] + docx_members()[2:])),  # no _rels/.rels
        ("don.docx", package([(n, d) for n, d in docx_members() if n != "word/document.xml"])),
        (
            "don.docx",
            package(
                [
                    (
                        "[Content_Types].xml",
                        content_types(
                            {"word/document.xml": "application/vnd.ms-word.document.macroEnabled.main+xml"}
                        ),
                    ),
                    *docx_members()[1:],
                ]
            ),
        ),  # a macro-enabled document renamed .docx
        ("bang.xlsx", sample_files.docx()),
        ("don.docx", sample_files.xlsx()),
        ("don.docx", sample_files.odt()),
        ("don.odt", sample_files.docx()),
        ("don.odt", package(odt_members("application/vnd.oasis.opendocument.spreadsheet"))),
        ("don.odt", package(odt_members()[1:])),  # no mimetype
        ("don.odt", package(odt_members()[:2])),  # no manifest
        ("don.odt", package([("mimetype", ODT_TYPE.encode() + b"\n"), *odt_members()[1:]])),
    ],
)  # fmt: skip
def test_a_package_without_its_types_members_is_not_of_that_type(name: str, content: bytes) -> None:
    label = name.rpartition(".")[2].upper()
    assert _refusal(name, content) == (
        f"nội dung không phải là tệp {label}",
        f"the content is not a {label} file",
    )


def test_packages_as_other_writers_make_them_pass() -> None:
    # the main part named by a Default for its extension, part names in another case
    by_default = content_types({}).replace(
        b'Extension="xml" ContentType="application/xml"',
        f'Extension="xml" ContentType="{WORD_MAIN}"'.encode(),
    )
    members = [("[Content_Types].xml", by_default), *docx_members()[1:]]
    assert citizen_attachment("don.docx", package(members))[1] == []
    assert citizen_attachment("bang.xlsx", sample_files.xlsx())[1] == []
    assert SHEET_MAIN == attachments.SHEET_MAIN and WORD_MAIN == attachments.WORD_MAIN
    # an ODT re-zipped with mimetype compressed and not first
    rezipped = package([*odt_members()[1:], odt_members()[0]])
    assert citizen_attachment("don.odt", rezipped)[1] == []


@settings(max_examples=300, deadline=None)
@given(
    position=st.integers(min_value=0, max_value=10_000),
    value=st.integers(min_value=0, max_value=255),
    extension=st.sampled_from(["docx", "xlsx", "odt", "doc", "pdf"]),
)
def test_a_mangled_document_is_refused_or_taken_never_an_error(
    position: int, value: int, extension: str
) -> None:
    original = SAMPLES[extension]
    index = position % len(original)
    mangled = original[:index] + bytes([value]) + original[index + 1 :]
    _, problems = citizen_attachment(f"tai-lieu.{extension}", mangled)
    assert all(part == "NoiDung" for part, _, _ in problems)


# -- through the citizens' API and the petition form ------------------------------------------------


#: (file name, content, what the citizen is told): each a file that is not what it claims.
HOSTILE = [
    ("don.pdf", sample_files.html_with_pdf_marker(), "nội dung không phải là tệp PDF"),
    ("bom.docx", sample_files.zip_bomb(), "tệp DOCX quá lớn khi giải nén: giải nén ra hơn 50 MB"),
    ("nhieu.docx", _members(5000), "tệp DOCX quá lớn khi giải nén: có hơn 1000 tệp thành phần"),
    (
        "thoat.docx",
        package([*docx_members(), ("../../thoat.txt", b"x")]),
        "tệp DOCX bị hỏng: một tệp thành phần có đường dẫn ra ngoài tệp ZIP",
    ),
    ("gia.doc", sample_files.EXE, "nội dung không phải là tệp DOC"),
]


def test_the_api_refuses_documents_that_are_not_what_they_claim(roomy: RunningHub) -> None:
    items = [{"TenTep": name, "NoiDung": _b64(content)} for name, content, _ in HOSTILE]
    answer = roomy.client.post(PAKN_API, json=_petition(TaiLieuDinhKem=items))
    assert answer.status_code == 422, answer.text[:300]
    result = answer.json()
    assert result["error_code"] == "15"
    issues = {issue["path"]: issue for issue in result["issues"]}
    assert set(issues) == {f"$.TaiLieuDinhKem[{n}].NoiDung" for n in range(len(HOSTILE))}
    for number, (_, _, message) in enumerate(HOSTILE):
        issue = issues[f"$.TaiLieuDinhKem[{number}].NoiDung"]
        assert issue["message"].startswith(message), issue
        assert issue["message_en"] and issue["message_en"] != issue["message"]
    assert _count(roomy, Petition) == 0 and _count(roomy, PetitionFile) == 0


def test_the_form_refuses_documents_that_are_not_what_they_claim(roomy: RunningHub) -> None:
    with httpx.Client(base_url=roomy.base, timeout=60) as client:
        fields = {**_petition(), "csrf": form_token(client)}
        answer = _post_multipart(client, roomy, fields, [(n, c) for n, c, _ in HOSTILE])
    assert answer.status_code == 422, answer.text[:300]
    beside = re.search(
        r'<p class="field-error" id="loi-TaiLieuDinhKem" data-testid="loi-TaiLieuDinhKem">'
        r"(.*?)</p>",
        answer.text,
        re.S,
    )
    assert beside is not None
    for name, _, message in HOSTILE:
        assert f"“{name}”: {message}" in beside.group(1)
    assert _count(roomy, Petition) == 0 and _count(roomy, PetitionFile) == 0


def test_real_documents_of_every_type_reach_the_unit(roomy: RunningHub) -> None:
    named = [(f"tai-lieu.{extension}", content) for extension, content in SAMPLES.items()]
    sent = []
    for batch in (named[:5], named[5:]):
        items = [{"TenTep": name, "NoiDung": _b64(content)} for name, content in batch]
        answer = roomy.client.post(PAKN_API, json=_petition(TaiLieuDinhKem=items))
        assert answer.status_code == 200, answer.text[:300]
        sent += _documents(roomy, answer.json()["Id"])
    by_type = {kind.extensions[0]: kind.content_type for kind in CITIZEN_FILE_TYPES}
    assert [(item["TenTep"], base64.b64decode(item["NoiDung"])) for item in sent] == named
    assert [item["LoaiTep"] for item in sent][:3] == [by_type["pdf"], by_type["jpg"], "image/jpeg"]
    with httpx.Client(base_url=roomy.base, timeout=60) as client:
        fields = {**_petition(), "csrf": form_token(client)}
        answer = _post_multipart(client, roomy, fields, named[5:])
    assert answer.status_code == 200, answer.text[:300]
    assert 'data-testid="so-tai-lieu">5 tệp<' in answer.text
