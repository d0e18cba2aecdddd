"""Documents of each type a citizen may attach, built by the format's rules (a PDF with its
cross-reference table, OOXML and ODF packages with their required members, an OLE2 compound
file), and hostile ones (an HTML page with ``%PDF-`` in it, ZIP bombs). No file on disk."""

from __future__ import annotations

import io
import struct
import zipfile
import zlib
from collections.abc import Iterable

MIB = 1024 * 1024


def pdf(size: int | None = None, text: str = "Don kien nghi") -> bytes:
    """A one-page PDF as a writer makes it: header, objects, xref table, trailer. With ``size``,
    a comment after the header pads it to exactly that many bytes."""

    def build(padding: int) -> bytes:
        stream = f"BT /F1 12 Tf 72 760 Td ({text}) Tj ET".encode("latin-1")
        objects = [
            b"<< /Type /Catalog /Pages 2 0 R >>",
            b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 4 0 R"
            b" /Resources << /Font << /F1 5 0 R >> >> >>",
            b"<< /Length %d >>\nstream\n%s\nendstream" % (len(stream), stream),
            b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
        ]
        out = bytearray(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n")
        if padding:
            out += b"%" + b"0" * (padding - 2) + b"\n"
        offsets = []
        for number, body in enumerate(objects, 1):
            offsets.append(len(out))
            out += b"%d 0 obj\n%s\nendobj\n" % (number, body)
        xref = len(out)
        out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
        out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
        out += b"trailer\n<< /Size %d /Root 1 0 R >>\n" % (len(objects) + 1)
        out += b"startxref\n%d\n%%%%EOF\n" % xref
        return bytes(out)

    if size is None:
        return build(0)
    padding = size - len(build(0))
    while len(built := build(padding)) != size:  # the startxref offset may gain a digit
        padding += size - len(built)
    return built


def html_with_pdf_marker() -> bytes:
    """A web page that says ``%PDF-`` within its first KiB: what an old check took for a PDF."""
    return (
        b"<!DOCTYPE html><html><head><title>%PDF-1.7</title></head>"
        b"<body><script>alert(document.cookie)</script></body></html>\n"
    )


def png() -> bytes:
    """A 1x1 PNG: signature, IHDR, IDAT, IEND, each chunk with its CRC."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    header = struct.pack(">IIBBBBB", 1, 1, 8, 6, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b"\x00\xff\x00\x00\xff"))
        + chunk(b"IEND", b"")
    )


#: The start of a JFIF JPEG: SOI, then the APP0 segment.
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00\xff\xd9"
#: The start of a Windows program: what a renamed .exe holds.
EXE = b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff\x00\x00" + bytes(48)

_FREE, _END_OF_CHAIN, _FAT_SECTOR = 0xFFFFFFFF, 0xFFFFFFFE, 0xFFFFFFFD


def ole2(major: int = 3, sector_shift: int = 9) -> bytes:
    """An empty OLE2 compound file ([MS-CFB]): the header, one FAT sector, one directory sector
    with the root entry. Word and Excel 97-2003 files are such files with their streams."""
    sector = 1 << sector_shift
    header = struct.pack(
        "<8s16sHHHHH6sIIIIIIIII",
        b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1",
        bytes(16),  # CLSID
        0x3E,  # minor version
        major,
        0xFFFE,  # little-endian
        sector_shift,
        6,  # mini sectors of 64 bytes
        bytes(6),
        0,  # directory sectors (0 for version 3)
        1,  # FAT sectors
        1,  # first directory sector
        0,  # transaction signature
        4096,  # mini stream cutoff
        _END_OF_CHAIN,  # first mini FAT sector
        0,
        _END_OF_CHAIN,  # first DIFAT sector
        0,
    )
    header += struct.pack("<109I", 0, *[_FREE] * 108)  # the DIFAT: the FAT is sector 0
    header = header.ljust(sector, b"\x00")
    fat = struct.pack("<2I", _FAT_SECTOR, _END_OF_CHAIN).ljust(sector, b"\xff")
    name = "Root Entry".encode("utf-16-le") + b"\x00\x00"
    root = struct.pack(
        "<64sHBBIII16sIQQIQ",
        name,
        len(name),
        5,  # root storage
        1,  # black
        _FREE,
        _FREE,
        _FREE,
        bytes(16),
        0,
        0,
        0,
        _END_OF_CHAIN,
        0,
    )
    directory = root.ljust(sector, b"\x00")
    return header + fat + directory


def package(members: Iterable[tuple[str, bytes]], stored: Iterable[str] = ()) -> bytes:
    """A ZIP of ``members`` (deflated, but those named in ``stored``)."""
    keep = set(stored)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members:
            method = zipfile.ZIP_STORED if name in keep else zipfile.ZIP_DEFLATED
            archive.writestr(name, data, compress_type=method)
    return buffer.getvalue()


_RELS_NS = "http://schemas.openxmlformats.org/package/2006/relationships"
_OFFICE_DOCUMENT = (
    "http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument"
)
_XML = '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
WORD_MAIN = "application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"
SHEET_MAIN = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"


def content_types(overrides: dict[str, str]) -> bytes:
    items = "".join(
        f'<Override PartName="/{part}" ContentType="{kind}"/>' for part, kind in overrides.items()
    )
    return (
        f'{_XML}<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
        '<Default Extension="rels" '
        'ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
        f'<Default Extension="xml" ContentType="application/xml"/>{items}</Types>'
    ).encode()


def _relationships(target: str) -> bytes:
    return (
        f'{_XML}<Relationships xmlns="{_RELS_NS}">'
        f'<Relationship Id="rId1" Type="{_OFFICE_DOCUMENT}" Target="{target}"/></Relationships>'
    ).encode()


def docx_members(text: str = "Kính gửi Ủy ban nhân dân") -> list[tuple[str, bytes]]:
    """The parts of a one-paragraph Word document."""
    document = (
        f"{_XML}<w:document "
        'xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main">'
        f"<w:body><w:p><w:r><w:t>{text}</w:t></w:r></w:p></w:body></w:document>"
    ).encode()
    return [
        ("[Content_Types].xml", content_types({"word/document.xml": WORD_MAIN})),
        ("_rels/.rels", _relationships("word/document.xml")),
        ("word/document.xml", document),
    ]


def docx(text: str = "Kính gửi Ủy ban nhân dân") -> bytes:
    return package(docx_members(text))


def xlsx() -> bytes:
    """A workbook of one sheet with one cell."""
    main = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
    relations = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
    sheet_type = "application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"
    workbook = (
        f'{_XML}<workbook xmlns="{main}" xmlns:r="{relations}"><sheets>'
        '<sheet name="Sheet1" sheetId="1" r:id="rId1"/></sheets></workbook>'
    ).encode()
    workbook_relations = (
        f'{_XML}<Relationships xmlns="{_RELS_NS}"><Relationship Id="rId1" '
        f'Type="{relations}/worksheet" Target="worksheets/sheet1.xml"/></Relationships>'
    ).encode()
    sheet = (
        f'{_XML}<worksheet xmlns="{main}"><sheetData><row r="1">'
        '<c r="A1" t="inlineStr"><is><t>Số hộ</t></is></c></row></sheetData></worksheet>'
    ).encode()
    overrides = {"xl/workbook.xml": SHEET_MAIN, "xl/worksheets/sheet1.xml": sheet_type}
    return package(
        [
            ("[Content_Types].xml", content_types(overrides)),
            ("_rels/.rels", _relationships("xl/workbook.xml")),
            ("xl/workbook.xml", workbook),
            ("xl/_rels/workbook.xml.rels", workbook_relations),
            ("xl/worksheets/sheet1.xml", sheet),
        ]
    )


ODT_TYPE = "application/vnd.oasis.opendocument.text"


def odt_members(mimetype: str = ODT_TYPE) -> list[tuple[str, bytes]]:
    """The parts of a one-paragraph OpenDocument text, ``mimetype`` first (stored)."""
    office = "urn:oasis:names:tc:opendocument:xmlns:office:1.0"
    content = (
        f'{_XML}<office:document-content xmlns:office="{office}" '
        'xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0" office:version="1.2">'
        "<office:body><office:text><text:p>Kính gửi Ủy ban</text:p></office:text>"
        "</office:body></office:document-content>"
    ).encode()
    manifest = (
        f"{_XML}<manifest:manifest "
        'xmlns:manifest="urn:oasis:names:tc:opendocument:xmlns:manifest:1.0" '
        'manifest:version="1.2">'
        f'<manifest:file-entry manifest:full-path="/" manifest:media-type="{mimetype}"/>'
        '<manifest:file-entry manifest:full-path="content.xml" '
        'manifest:media-type="text/xml"/></manifest:manifest>'
    ).encode()
    return [
        ("mimetype", mimetype.encode("ascii")),
        ("content.xml", content),
        ("META-INF/manifest.xml", manifest),
    ]


def odt() -> bytes:
    return package(odt_members(), stored=["mimetype"])


def zip_bomb(unpacked: int = 200 * 1000 * 1000) -> bytes:
    """A DOCX with every required part and one more member of ``unpacked`` zero bytes, written
    by a streaming writer 1 MiB at a time (about 200 KB for 200 MB)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in docx_members():
            archive.writestr(name, data)
        chunk = bytes(MIB)
        with archive.open("word/media/zeros.bin", "w") as member:
            left = unpacked
            while left > 0:
                member.write(chunk[: min(left, MIB)])
                left -= MIB
    return buffer.getvalue()
