"""The container's form (ETSI EN 319 162-1 ASiC-E) and its bounded reader: hostile archives
are refused with a stable code, never a traceback or an unbounded read."""

from __future__ import annotations

import base64
import hashlib
import io
import struct
import zipfile
from xml.etree import ElementTree as ET

import pytest

from lienthong.evidence.container import (
    ASIC_MANIFEST,
    ASIC_NAMESPACE,
    MANIFEST,
    MAX_MEMBER_BYTES,
    MIMETYPE,
    SIGNATURE,
    ContainerError,
    MessageProof,
    build_container,
    read_container,
)
from tests.evidence.proofs import Evidence

CERTIFICATE = b"\x30\x00"
DOCUMENT = {"v": 1, "side": "hub", "seq": 7, "certificates": ["ab" * 32], "revocations": []}


def _zip(*members: tuple[str, bytes], first_compressed: bool = False) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for index, (name, data) in enumerate(members):
            stored = index == 0 and not first_compressed
            archive.writestr(
                zipfile.ZipInfo(name),
                data,
                compress_type=zipfile.ZIP_STORED if stored else zipfile.ZIP_DEFLATED,
            )
    return buffer.getvalue()


def _refused(data: bytes) -> str:
    with pytest.raises(ContainerError) as refused:
        read_container(data)
    assert refused.value.vi and refused.value.en
    return refused.value.code


def test_the_layout_mimetype_first_and_manifests_listing_every_file(evidence: Evidence) -> None:
    proof = MessageProof(document=DOCUMENT, body=b'{"a": 1}', certificates=(CERTIFICATE,))
    data = build_container([proof], export={"dossier": "X"})
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        infos = archive.infolist()
        members = {info.filename: archive.read(info) for info in infos}
    first = infos[0]
    assert first.filename == "mimetype" and first.compress_type == zipfile.ZIP_STORED
    assert members["mimetype"] == MIMETYPE.encode() and not first.extra
    # the local header is at offset 0: "mimetype" readable at byte 38 (ASiC's magic number)
    assert data[30:38] == b"mimetype" and data[38 : 38 + len(MIMETYPE)] == MIMETYPE.encode()
    assert SIGNATURE not in members  # no key, no signature
    folder = "messages/7"
    assert members[f"{folder}/message.json"] == b'{"a": 1}'
    assert f"certificates/{hashlib.sha256(CERTIFICATE).hexdigest()}.der" in members
    manifest = ET.fromstring(members[ASIC_MANIFEST])
    assert manifest.find(f"{{{ASIC_NAMESPACE}}}SigReference") is None
    listed = {
        element.get("URI"): element.findtext("{http://www.w3.org/2000/09/xmldsig#}DigestValue")
        for element in manifest.iter(f"{{{ASIC_NAMESPACE}}}DataObjectReference")
    }
    data_objects = {n for n in members if n != "mimetype" and not n.startswith("META-INF/")}
    assert set(listed) == data_objects
    for name, digest in listed.items():
        assert digest == base64.b64encode(hashlib.sha256(members[name]).digest()).decode()
    odf = ET.fromstring(members[MANIFEST])
    paths = {e.get(f"{{{odf.tag.split('}')[0][1:]}}}full-path") for e in odf}
    assert paths == {"/", *data_objects, ASIC_MANIFEST}
    read = read_container(data)
    assert read.folders() == [folder] and read.export["dossier"] == "X"

    signed = read_container(build_container([proof], signer=evidence.exporter))
    assert signed.signature is not None and signed.signature_reference == SIGNATURE


def test_hostile_archives_are_refused_with_a_code(evidence: Evidence) -> None:
    mimetype = ("mimetype", MIMETYPE.encode())
    good = read_container(build_container([MessageProof(document=DOCUMENT, body=b"{}")]))
    members = [mimetype, *good.members.items()]
    assert _refused(b"not a zip at all") == "container.not_zip"
    assert _refused(_zip(*members[1:], mimetype)) == "container.mimetype"
    assert _refused(_zip(*members[1:])) == "container.mimetype"
    assert _refused(_zip(*members, first_compressed=True)) == "container.mimetype"
    assert _refused(_zip(("mimetype", b"application/zip"), *members[1:])) == "container.mimetype"
    for name in ("../../etc/passwd", "/etc/passwd", "messages/../../x", "C:\\x", "a//b", "é"):
        assert _refused(_zip(*members, (name, b"x"))) == "container.name", name
    with pytest.warns(UserWarning, match="Duplicate name"):
        duplicated = _zip(*members, members[-1])
    assert _refused(duplicated) == "container.duplicate"
    without = [m for m in members if m[0] != ASIC_MANIFEST]
    assert _refused(_zip(*without)) == "container.missing"
    entity = b'<?xml version="1.0"?><!DOCTYPE a [<!ENTITY b "c">]><a>&b;</a>'
    hostile = [(n, entity if n == ASIC_MANIFEST else d) for n, d in members]
    assert _refused(_zip(*hostile)) == "container.xml"

    # a member declaring a huge unpacked size (a zip bomb's shape): refused before reading
    bomb = bytearray(_zip(*members, ("messages/7/big.json", b"0" * 1000)))
    central = bomb.rfind(b"PK\x01\x02")  # the last member's central directory header
    struct.pack_into("<I", bomb, central + 24, MAX_MEMBER_BYTES + 1)
    assert _refused(bytes(bomb)) == "container.too_large"
    # a size that lies (more bytes than declared): the read stops and says so
    liar = bytearray(_zip(*members, ("messages/7/big.json", b"0" * 1000)))
    central = liar.rfind(b"PK\x01\x02")
    struct.pack_into("<I", liar, central + 24, 10)
    assert _refused(bytes(liar)) == "container.corrupt"
