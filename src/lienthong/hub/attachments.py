"""Whether a citizen's attachment is what its name claims: the content checks behind
:func:`lienthong.hub.petitions.citizen_attachment`.

A check takes the bytes and the type's label (``PDF``) and returns None for a file of that type,
else a :class:`Refusal` (vi, en) saying why. The work is bounded whatever the bytes: a PDF is
looked at in its first bytes and its last ``PDF_TAIL_BYTES``; an OLE2 file (DOC, XLS) in its
512-byte header; an Office Open XML or OpenDocument file (DOCX, XLSX, ODT) through its ZIP
directory (at most ``ZIP_MAX_MEMBERS`` members, ``ZIP_MAX_DIRECTORY_BYTES`` of directory, the
sizes it declares at most ``ZIP_MAX_UNPACKED_BYTES`` and ``ZIP_MAX_RATIO`` times the file), and
only one small member is ever decompressed (``[Content_Types].xml`` or ``mimetype``, at most
``ZIP_MAX_READ_BYTES``): a ZIP bomb is refused by what it declares, never unpacked.
"""

from __future__ import annotations

import functools
import io
import re
import struct
import urllib.parse
import zipfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from xml.parsers import expat

MIB = 1024 * 1024

#: ISO 32000 puts ``startxref``, the offset and ``%%EOF`` on the last lines; Adobe's readers
#: look for ``%%EOF`` in the last 1024 bytes, which leaves room for trailing junk.
PDF_TAIL_BYTES = 1024
#: Office files hold tens of members, a large workbook a few hundred.
ZIP_MAX_MEMBERS = 1000
#: The ZIP's central directory: about 100 bytes a member; bounded before it is read.
ZIP_MAX_DIRECTORY_BYTES = 256 * 1024
#: The members' declared (uncompressed) sizes together.
ZIP_MAX_UNPACKED_BYTES = 50 * MIB
#: ... and at most this many times the file's own size (Office XML packs 5 to 20 times).
ZIP_MAX_RATIO = 100
#: The most of one member decompressed (``[Content_Types].xml``, ``mimetype``).
ZIP_MAX_READ_BYTES = 1 * MIB

WORD_MAIN = "application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"
SHEET_MAIN = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"


@dataclass(frozen=True, slots=True)
class Refusal:
    """Why a content is refused, for the citizen."""

    vi: str
    en: str


Check = Callable[[bytes, str], Refusal | None]
"""(content, label) -> None when the content is a file of the type labelled ``label``."""


def not_of_type(label: str) -> Refusal:
    return Refusal(f"nội dung không phải là tệp {label}", f"the content is not a {label} file")


def _damaged(label: str, vi: str, en: str) -> Refusal:
    return Refusal(f"tệp {label} bị hỏng: {vi}", f"a damaged {label} document: {en}")


def _oversized(label: str, vi: str, en: str) -> Refusal:
    return Refusal(
        f"tệp {label} quá lớn khi giải nén: {vi}", f"an oversized {label} document: {en}"
    )


# -- PDF, images, text ----------------------------------------------------------------------------

_PDF_HEADER = re.compile(rb"%PDF-[12]\.\d")
_PDF_END = re.compile(rb"startxref\s+\d+\s+%%EOF")


def pdf(content: bytes, label: str) -> Refusal | None:
    """``%PDF-1.x`` (or ``2.x``) at byte 0, as every PDF writer puts it; ``startxref``, an offset
    and ``%%EOF`` within the last ``PDF_TAIL_BYTES``. Readers that take a header anywhere in the
    first KiB are what let an HTML page with ``%PDF-`` in it pass as a PDF."""
    if not _PDF_HEADER.match(content):
        return not_of_type(label)
    if not _PDF_END.search(content[-PDF_TAIL_BYTES:]):
        return Refusal(
            f"tệp {label} không trọn vẹn: {PDF_TAIL_BYTES} byte cuối không có startxref và %%EOF",
            f"an incomplete {label} file: its last {PDF_TAIL_BYTES} bytes have no startxref "
            "and %%EOF",
        )
    return None


def jpeg(content: bytes, label: str) -> Refusal | None:
    """The start-of-image marker and the first segment's marker byte."""
    return None if content.startswith(b"\xff\xd8\xff") else not_of_type(label)


_PNG = b"\x89PNG\r\n\x1a\n"
_PNG_HEADER_CHUNK = b"\x00\x00\x00\x0dIHDR"  # the PNG standard puts IHDR (13 bytes) first


def png(content: bytes, label: str) -> Refusal | None:
    """The PNG signature, then the IHDR chunk."""
    return None if content.startswith(_PNG + _PNG_HEADER_CHUNK) else not_of_type(label)


def text(content: bytes, label: str) -> Refusal | None:
    """Plain text: a program or an archive has NUL bytes; UTF-16 text (with its BOM) too."""
    if b"\x00" not in content or content.startswith((b"\xff\xfe", b"\xfe\xff")):
        return None
    return not_of_type(label)


# -- OLE2 compound files (Word 97-2003, Excel 97-2003) ---------------------------------------------

_OLE2 = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
_OLE2_HEADER_BYTES = 512
#: [MS-CFB] 2.2: (major version, sector shift): version 3 has 512-byte sectors, 4 has 4096.
_OLE2_VERSIONS = ((3, 9), (4, 12))


def ole2(content: bytes, label: str) -> Refusal | None:
    """The compound file signature at byte 0 and a sane header ([MS-CFB] 2.2): little-endian
    byte order mark, version 3 with 512-byte or 4 with 4096-byte sectors, 64-byte mini sectors.
    DOC and XLS are not told apart (that needs the directory's stream names)."""
    if not content.startswith(_OLE2):
        return not_of_type(label)
    if len(content) < _OLE2_HEADER_BYTES:
        return _damaged(
            label,
            f"ngắn hơn phần đầu {_OLE2_HEADER_BYTES} byte của tệp OLE2",
            f"shorter than an OLE2 file's {_OLE2_HEADER_BYTES}-byte header",
        )
    major, byte_order, sector_shift, mini_sector_shift = struct.unpack_from("<4H", content, 26)
    if (
        byte_order != 0xFFFE
        or (major, sector_shift) not in _OLE2_VERSIONS
        or mini_sector_shift != 6
    ):
        return _damaged(
            label,
            "phần đầu không phải của một tệp OLE2",
            "its header is not that of an OLE2 compound file",
        )
    return None


# -- ZIP packages (Office Open XML, OpenDocument) --------------------------------------------------


class _Refused(Exception):
    def __init__(self, refusal: Refusal) -> None:
        super().__init__(refusal.en)
        self.refusal = refusal


_ZIP = b"PK\x03\x04"
_ZIP_END = b"PK\x05\x06"
_ZIP64_LOCATOR = b"PK\x06\x07"
_ZIP_END_BYTES = 22
_ZIP_LOCAL_HEADER_BYTES = 30
_ZIP_ENCRYPTED = 0x1
_DRIVE = re.compile(r"[A-Za-z]:")
#: What the stdlib may raise on a damaged archive or member.
_ZIP_ERRORS = (zipfile.BadZipFile, zipfile.LargeZipFile, zlib.error, EOFError, ValueError,
               NotImplementedError, RuntimeError, OSError, struct.error)  # fmt: skip


def _directory(content: bytes, label: str) -> tuple[int, int]:
    """(members, bytes) of the central directory, from the end record found as ``zipfile`` finds
    it, so that the directory is bounded before ``zipfile`` reads it. ZIP64 (for archives over
    4 GiB or 65535 members) is refused: ``zipfile`` would then read another record's sizes."""
    start = len(content) - _ZIP_END_BYTES
    if not (content[start : start + 4] == _ZIP_END and content.endswith(b"\x00\x00")):
        start = content.rfind(_ZIP_END, max(len(content) - 0xFFFF - _ZIP_END_BYTES, 0))
    if start < 0 or len(content) - start < _ZIP_END_BYTES:
        raise _Refused(_damaged(label, "không có mục lục ZIP", "it has no ZIP directory"))
    if start >= 20 and content[start - 20 : start - 16] == _ZIP64_LOCATOR:
        raise _Refused(_damaged(label, "là ZIP64", "it is a ZIP64 archive"))
    _, _, _, _, members, size, _, _ = struct.unpack_from("<4s4H2LH", content, start)
    return members, size


def _safe_name(name: str) -> bool:
    """A member name that stays inside the archive: relative, forward slashes, no ``..``."""
    return (
        bool(name)
        and "\x00" not in name
        and "\\" not in name
        and not name.startswith("/")
        and not _DRIVE.match(name)
        and ".." not in name.split("/")
    )


def _open_zip(content: bytes, label: str) -> tuple[zipfile.ZipFile, dict[str, zipfile.ZipInfo]]:
    """The archive and its members by lower-case name, once its directory is found sound."""
    too_many = _oversized(
        label,
        f"có hơn {ZIP_MAX_MEMBERS} tệp thành phần",
        f"it has more than {ZIP_MAX_MEMBERS} members",
    )
    members, directory_size = _directory(content, label)
    if members > ZIP_MAX_MEMBERS:
        raise _Refused(too_many)
    if directory_size > ZIP_MAX_DIRECTORY_BYTES:
        raise _Refused(
            _oversized(
                label,
                f"mục lục ZIP lớn hơn {ZIP_MAX_DIRECTORY_BYTES // 1024} KB",
                f"its ZIP directory is larger than {ZIP_MAX_DIRECTORY_BYTES // 1024} KB",
            )
        )
    try:
        archive = zipfile.ZipFile(io.BytesIO(content))
    except _ZIP_ERRORS:
        raise _Refused(_damaged(label, "không đọc được tệp ZIP", "not a readable ZIP")) from None
    infos = archive.infolist()
    if len(infos) > ZIP_MAX_MEMBERS:
        raise _Refused(too_many)
    by_name: dict[str, zipfile.ZipInfo] = {}
    for info in infos:
        if not _safe_name(info.orig_filename):
            raise _Refused(
                _damaged(
                    label,
                    "một tệp thành phần có đường dẫn ra ngoài tệp ZIP (.., / hoặc \\ ở đầu)",
                    "a member's path leaves the archive (.., a leading / or \\)",
                )
            )
        if info.flag_bits & _ZIP_ENCRYPTED:
            raise _Refused(
                _damaged(label, "có tệp thành phần được mã hóa", "a member is encrypted")
            )
        if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
            raise _Refused(
                _damaged(
                    label,
                    "nén theo cách Office không dùng",
                    "a member is compressed in a way Office does not use",
                )
            )
        if by_name.setdefault(info.orig_filename.lower(), info) is not info:
            raise _Refused(
                _damaged(label, "hai tệp thành phần trùng tên", "two members have the same name")
            )
    # members that share their compressed data are how a bomb multiplies its output
    spans = sorted(
        (info.header_offset, info.header_offset + _ZIP_LOCAL_HEADER_BYTES + info.compress_size)
        for info in infos
    )
    ends = [end for _, end in spans]
    starts = [start for start, _ in spans[1:]] + [len(content)]
    if any(end > start for end, start in zip(ends, starts, strict=True)):
        raise _Refused(_damaged(label, "các tệp thành phần chồng lên nhau", "its members overlap"))
    unpacked = sum(info.file_size for info in infos)
    if unpacked > ZIP_MAX_UNPACKED_BYTES:
        raise _Refused(
            _oversized(
                label,
                f"giải nén ra hơn {ZIP_MAX_UNPACKED_BYTES // MIB} MB",
                f"it unpacks to more than {ZIP_MAX_UNPACKED_BYTES // MIB} MB",
            )
        )
    if unpacked > ZIP_MAX_RATIO * len(content):
        raise _Refused(
            _oversized(
                label,
                f"giải nén ra hơn {ZIP_MAX_RATIO} lần kích thước tệp",
                f"it unpacks to more than {ZIP_MAX_RATIO} times its size",
            )
        )
    return archive, by_name


def _read(archive: zipfile.ZipFile, info: zipfile.ZipInfo, limit: int, label: str) -> bytes:
    """One member's bytes, CRC checked; refused when it declares more than ``limit``."""
    if info.file_size > limit:
        raise _Refused(
            _oversized(
                label,
                f"{info.orig_filename[:64]} lớn hơn {limit} byte",
                f"{info.orig_filename[:64]} is larger than {limit} bytes",
            )
        )
    try:
        with archive.open(info) as member:
            return member.read(limit + 1)[:limit]  # the stdlib stops at the declared size
    except _ZIP_ERRORS:
        raise _Refused(
            _damaged(
                label,
                f"không đọc được {info.orig_filename[:64]} (sai CRC hoặc dữ liệu)",
                f"{info.orig_filename[:64]} cannot be read (bad CRC or data)",
            )
        ) from None


Members = Callable[[zipfile.ZipFile, dict[str, zipfile.ZipInfo], str], None]
"""(archive, its members by lower-case name, label): raises :class:`_Refused` when the members
are not those of the package type."""


def _zip_package(content: bytes, label: str, members: Members) -> Refusal | None:
    if not content.startswith(_ZIP):
        return not_of_type(label)
    try:
        archive, by_name = _open_zip(content, label)
        with archive:
            members(archive, by_name, label)
    except _Refused as refused:
        return refused.refusal
    return None


_CONTENT_TYPES = "http://schemas.openxmlformats.org/package/2006/content-types"


def _content_types(xml: bytes, label: str) -> tuple[dict[str, str], dict[str, str]]:
    """([Content_Types].xml's overrides by part name, its defaults by extension), lower case.
    A DOCTYPE is refused: Office never writes one, and entities are how XML bombs grow."""
    overrides: dict[str, str] = {}
    defaults: dict[str, str] = {}
    broken = _Refused(
        _damaged(label, "[Content_Types].xml không đọc được", "[Content_Types].xml is unreadable")
    )

    def start(name: str, attributes: dict[str, str]) -> None:
        content_type = attributes.get("ContentType", "").strip().lower()
        if name == f"{_CONTENT_TYPES} Override":
            part = urllib.parse.unquote(attributes.get("PartName", "")).lstrip("/").lower()
            overrides[part] = content_type
        elif name == f"{_CONTENT_TYPES} Default":
            defaults[attributes.get("Extension", "").lower()] = content_type

    def doctype(*_: object) -> None:
        raise broken

    parser = expat.ParserCreate(namespace_separator=" ")
    parser.StartElementHandler = start
    parser.StartDoctypeDeclHandler = doctype
    try:
        parser.Parse(xml, True)
    except expat.ExpatError:
        raise broken from None
    return overrides, defaults


def _ooxml_members(
    main_type: str, archive: zipfile.ZipFile, by_name: dict[str, zipfile.ZipInfo], label: str
) -> None:
    types = by_name.get("[content_types].xml")
    if types is None or "_rels/.rels" not in by_name:
        raise _Refused(not_of_type(label))
    overrides, defaults = _content_types(_read(archive, types, ZIP_MAX_READ_BYTES, label), label)
    by_extension = {extension for extension, kind in defaults.items() if kind == main_type}
    if not any(
        overrides[name] == main_type
        if name in overrides
        else name.rpartition(".")[2] in by_extension
        for name in by_name
    ):
        raise _Refused(not_of_type(label))


def ooxml(main_type: str) -> Check:
    """An Office Open XML package: ``[Content_Types].xml``, ``_rels/.rels``, and a member that
    ``[Content_Types].xml`` gives ``main_type`` (``word/document.xml`` for a DOCX). A
    macro-enabled document or a template renamed ``.docx`` has another main type: refused."""
    return lambda content, label: _zip_package(
        content, label, functools.partial(_ooxml_members, main_type)
    )


_ODF_MIMETYPE_BYTES = 128


def _odf_members(
    mimetype: str, archive: zipfile.ZipFile, by_name: dict[str, zipfile.ZipInfo], label: str
) -> None:
    stated = by_name.get("mimetype")
    if stated is None or not {"meta-inf/manifest.xml", "content.xml"} <= by_name.keys():
        raise _Refused(not_of_type(label))
    if _read(archive, stated, _ODF_MIMETYPE_BYTES, label) != mimetype.encode("ascii"):
        raise _Refused(not_of_type(label))


def odf(mimetype: str) -> Check:
    """An OpenDocument package: a ``mimetype`` member holding exactly ``mimetype`` (ODF 1.2
    part 3, 3.3), ``META-INF/manifest.xml`` and ``content.xml``. Where ``mimetype`` stands and
    whether it is compressed is not checked: tools that re-zip a document move it."""
    return lambda content, label: _zip_package(
        content, label, functools.partial(_odf_members, mimetype)
    )
