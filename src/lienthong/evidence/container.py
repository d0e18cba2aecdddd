"""The evidence container: one ASiC-E file (ETSI EN 319 162-1) that proves messages offline.

A ZIP whose first member is ``mimetype`` (stored, ``application/vnd.etsi.asic-e+zip``), with
``META-INF/manifest.xml`` (the OpenDocument-style list of every file and its media type),
``META-INF/ASiCManifest001.xml`` (a ``DataObjectReference`` with the SHA-256 of every data
object) and, when the exporter has a key, ``META-INF/signature001.p7s``: a CAdES detached
signature over the ASiCManifest's exact bytes. The data objects (docs/evidence-container.md):

- ``export.json``: what was exported, when, from which side;
- ``messages/<seq>/``: ``message.json`` (the exact body), ``message.json.p7s`` or
  ``message.json.jws`` (the sender's signature), ``receipt.json`` and its signature,
  ``validation.json`` (the receiver's verification result, canonical JSON), ``entry.json`` (the
  log entry document, canonical JSON), ``inclusion.json`` (the Merkle inclusion path),
  ``timestamp.tsr`` (the batch's RFC 3161 ``TimeStampResp`` over the root) and ``root.bin``
  (the 32 root bytes, so ``openssl ts -verify -data root.bin`` checks the token);
- ``certificates/<sha256>.der`` and ``revocations/<sha256>.der``: the certificates and the
  OCSP responses or CRLs the messages' checks used, named by their SHA-256.

Writing takes a plain data model (:class:`MessageProof`); reading (:func:`read_container`) is
bounded and refuses hostile archives (zip bombs, path traversal, duplicate names) with a
:class:`ContainerError` carrying a stable code and both languages.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import io
import re
import zipfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from xml.etree import ElementTree as ET

import orjson

from lienthong.security.cades import sign_cades
from lienthong.security.signers import Signer
from lienthong.store.hashing import canonical_json

__all__ = [
    "ASIC_MANIFEST",
    "ASIC_NAMESPACE",
    "EXPORT_FORMAT",
    "MANIFEST",
    "MAX_CONTAINER_BYTES",
    "MAX_MEMBERS",
    "MAX_MEMBER_BYTES",
    "MAX_TOTAL_BYTES",
    "MIMETYPE",
    "SIGNATURE",
    "Batch",
    "Container",
    "ContainerError",
    "Inclusion",
    "MessageProof",
    "build_container",
    "message_folder",
    "read_container",
]

MIMETYPE = "application/vnd.etsi.asic-e+zip"
MANIFEST = "META-INF/manifest.xml"
ASIC_MANIFEST = "META-INF/ASiCManifest001.xml"
SIGNATURE = "META-INF/signature001.p7s"
EXPORT_FORMAT = "lienthong-evidence/1"

ASIC_NAMESPACE = "http://uri.etsi.org/02918/v1.2.1#"
DSIG_NAMESPACE = "http://www.w3.org/2000/09/xmldsig#"
ODF_MANIFEST_NAMESPACE = "urn:oasis:names:tc:opendocument:xmlns:manifest:1.0"
SHA256_URI = "http://www.w3.org/2001/04/xmlenc#sha256"

#: A container is at most this large on disk, each member and all of them once unpacked.
#: A message body is at most 16 MiB (the hub's limit); a dossier has a few dozen messages.
MAX_CONTAINER_BYTES = 512 * 1024 * 1024
MAX_MEMBER_BYTES = 64 * 1024 * 1024
MAX_TOTAL_BYTES = 1024 * 1024 * 1024
MAX_MEMBERS = 100_000
#: The manifests are a few hundred bytes a member.
MAX_XML_BYTES = 32 * 1024 * 1024

_MEDIA_TYPES = {
    ".json": "application/json",
    ".p7s": "application/pkcs7-signature",
    ".jws": "application/jose",
    ".tsr": "application/timestamp-reply",
    ".der": "application/octet-stream",
    ".bin": "application/octet-stream",
    ".xml": "text/xml",
}
#: A member name: ASCII segments of letters, digits, ``.``, ``_``, ``-`` (never ``.`` or ``..``
#: alone), joined by ``/``: no absolute path, no backslash, no drive, no traversal.
_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._-]{0,127}(/[A-Za-z0-9_][A-Za-z0-9._-]{0,127}){0,7}")

ET.register_namespace("asic", ASIC_NAMESPACE)
ET.register_namespace("ds", DSIG_NAMESPACE)
ET.register_namespace("manifest", ODF_MANIFEST_NAMESPACE)


class ContainerError(Exception):
    """A container that cannot be written or read: a stable ``code`` (``container.*``) and
    what is wrong in Vietnamese and English."""

    def __init__(self, code: str, vi: str, en: str) -> None:
        super().__init__(f"{code}: {en}")
        self.code, self.vi, self.en = code, vi, en


@dataclass(frozen=True, slots=True)
class Batch:
    """The time-stamped batch that covers an entry."""

    first_seq: int
    last_seq: int
    root: bytes
    """The Merkle root (32 bytes) of the batch's entry digests."""
    response: bytes
    """The TSA's ``TimeStampResp`` (DER) over SHA-256(``root``)."""
    id: int | None = None
    gen_time: dt.datetime | None = None
    tsa_url: str | None = None


@dataclass(frozen=True, slots=True)
class Inclusion:
    """Where an entry sits in its batch's Merkle tree (RFC 9162, 2.1.3)."""

    leaf_index: int
    tree_size: int
    path: tuple[bytes, ...]
    batch: Batch


@dataclass(frozen=True, slots=True)
class MessageProof:
    """Everything that proves one logged message, with no database: the log entry's document
    (its digest is the Merkle leaf) and the bytes each of its digests stands for."""

    document: Mapping[str, Any]
    """The entry document (``lienthong.evidence.chain.entry_document``)."""
    body: bytes
    """The message's exact plaintext bytes."""
    signature: bytes | None = None
    signature_format: str | None = None
    """``cades`` (DER) or ``jws`` (compact, ASCII)."""
    receipt: bytes | None = None
    receipt_signature: bytes | None = None
    validation: Mapping[str, Any] | None = None
    """The receiver's verification result as it was kept (JSON)."""
    certificates: tuple[bytes, ...] = ()
    """The DER of the certificates the document lists, in its order."""
    revocations: tuple[bytes, ...] = ()
    """The DER of the OCSP responses and CRLs the document lists, in its order."""
    inclusion: Inclusion | None = None
    """None: the entry is not time-stamped yet."""

    @property
    def seq(self) -> int:
        return int(self.document["seq"])

    @property
    def digest(self) -> str:
        """The entry digest: SHA-256 of the document's canonical JSON (the Merkle leaf)."""
        return hashlib.sha256(canonical_json(dict(self.document))).hexdigest()


def message_folder(seq: int) -> str:
    return f"messages/{seq}"


def signature_name(base: str, signature: bytes) -> str:
    """``base.jws`` for a compact JWS (ASCII, starting with the base64url of ``{"``), else
    ``base.p7s`` (CMS, DER)."""
    return f"{base}.jws" if signature.lstrip().startswith(b"eyJ") else f"{base}.p7s"


def _media_type(name: str) -> str:
    return _MEDIA_TYPES.get(Path(name).suffix, "application/octet-stream")


def _inclusion_json(proof: MessageProof) -> bytes | None:
    inclusion = proof.inclusion
    if inclusion is None:
        return None
    batch = inclusion.batch
    return canonical_json(
        {
            "side": proof.document.get("side"),
            "seq": proof.seq,
            "leaf": proof.digest,
            "leaf_index": inclusion.leaf_index,
            "tree_size": inclusion.tree_size,
            "path": [node.hex() for node in inclusion.path],
            "root": batch.root.hex(),
            "batch": {
                "id": batch.id,
                "first_seq": batch.first_seq,
                "last_seq": batch.last_seq,
                "gen_time": batch.gen_time.isoformat() if batch.gen_time else None,
                "tsa_url": batch.tsa_url,
            },
        }
    )


def _members(proofs: Sequence[MessageProof], export: Mapping[str, Any]) -> dict[str, bytes]:
    members: dict[str, bytes] = {"export.json": canonical_json(dict(export))}
    for proof in proofs:
        folder = message_folder(proof.seq)
        if f"{folder}/entry.json" in members:
            raise ContainerError(
                "container.duplicate_message",
                f"thông điệp số {proof.seq} được đưa vào hai lần",
                f"message {proof.seq} is given twice",
            )
        files: dict[str, bytes | None] = {
            "message.json": proof.body,
            "entry.json": canonical_json(dict(proof.document)),
            "validation.json": (
                canonical_json(dict(proof.validation)) if proof.validation is not None else None
            ),
            "receipt.json": proof.receipt,
            "inclusion.json": _inclusion_json(proof),
            "timestamp.tsr": proof.inclusion.batch.response if proof.inclusion else None,
            "root.bin": proof.inclusion.batch.root if proof.inclusion else None,
        }
        if proof.signature is not None:
            extension = "jws" if proof.signature_format == "jws" else "p7s"
            files[f"message.json.{extension}"] = proof.signature
        if proof.receipt is not None and proof.receipt_signature is not None:
            files[signature_name("receipt.json", proof.receipt_signature)] = proof.receipt_signature
        for name, data in files.items():
            if data is not None:
                members[f"{folder}/{name}"] = data
        for kind, ders in (
            ("certificates", proof.certificates),
            ("revocations", proof.revocations),
        ):
            for der in ders:
                members[f"{kind}/{hashlib.sha256(der).hexdigest()}.der"] = der
    return members


def _xml(root: ET.Element) -> bytes:
    return bytes(ET.tostring(root, encoding="UTF-8", xml_declaration=True))


def _asic_manifest(members: Mapping[str, bytes], signed: bool) -> bytes:
    root = ET.Element(f"{{{ASIC_NAMESPACE}}}ASiCManifest")
    if signed:
        ET.SubElement(
            root,
            f"{{{ASIC_NAMESPACE}}}SigReference",
            {"URI": SIGNATURE, "MimeType": "application/pkcs7-signature"},
        )
    for name in sorted(members):
        reference = ET.SubElement(
            root,
            f"{{{ASIC_NAMESPACE}}}DataObjectReference",
            {"URI": name, "MimeType": _media_type(name)},
        )
        ET.SubElement(reference, f"{{{DSIG_NAMESPACE}}}DigestMethod", {"Algorithm": SHA256_URI})
        value = ET.SubElement(reference, f"{{{DSIG_NAMESPACE}}}DigestValue")
        value.text = base64.b64encode(hashlib.sha256(members[name]).digest()).decode("ascii")
    return _xml(root)


def _odf_manifest(names: Sequence[str]) -> bytes:
    def attribute(name: str) -> str:
        return f"{{{ODF_MANIFEST_NAMESPACE}}}{name}"

    root = ET.Element(f"{{{ODF_MANIFEST_NAMESPACE}}}manifest")
    ET.SubElement(
        root,
        attribute("file-entry"),
        {attribute("full-path"): "/", attribute("media-type"): MIMETYPE},
    )
    for name in names:
        ET.SubElement(
            root,
            attribute("file-entry"),
            {attribute("full-path"): name, attribute("media-type"): _media_type(name)},
        )
    return _xml(root)


def build_container(
    proofs: Sequence[MessageProof],
    *,
    export: Mapping[str, Any] | None = None,
    signer: Signer | None = None,
    ocsp_response: bytes | None = None,
    revocation: Sequence[bytes] = (),
    now: dt.datetime | None = None,
) -> bytes:
    """The ASiC-E container (ZIP bytes) of ``proofs``; signed by ``signer`` (CAdES over the
    ASiCManifest, its OCSP answer and its CAs' ``revocation`` data stapled when given: then the
    signature verifies offline, hard-fail) when one is given.

    ``export`` is merged into ``export.json`` (what was asked: a dossier code, a petition).
    """
    moment = (now or dt.datetime.now(dt.UTC)).astimezone(dt.UTC)
    ordered = sorted(proofs, key=lambda proof: proof.seq)
    sides = sorted({str(proof.document.get("side")) for proof in ordered})
    summary = {
        "format": EXPORT_FORMAT,
        "exported_at": moment.isoformat(timespec="seconds").replace("+00:00", "Z"),
        "side": sides[0] if len(sides) == 1 else sides,
        "messages": [proof.seq for proof in ordered],
        **(export or {}),
    }
    members = _members(ordered, summary)
    manifest = _asic_manifest(members, signed=signer is not None)
    meta: dict[str, bytes] = {ASIC_MANIFEST: manifest}
    if signer is not None:
        meta[SIGNATURE] = sign_cades(
            manifest, signer, ocsp_response=ocsp_response, revocation=revocation
        )
    meta = {MANIFEST: _odf_manifest([*sorted(members), *sorted(meta)]), **meta}
    stamp = moment.timetuple()[:6]
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        # ETSI EN 319 162-1, A.1: "mimetype" first, stored, no extra field
        info = zipfile.ZipInfo("mimetype", date_time=stamp)
        info.compress_type = zipfile.ZIP_STORED
        archive.writestr(info, MIMETYPE.encode("ascii"))
        for name, data in [*meta.items(), *sorted(members.items())]:
            info = zipfile.ZipInfo(name, date_time=stamp)
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, data)
    return buffer.getvalue()


# -- reading -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Reference:
    """One ``DataObjectReference`` of the ASiCManifest."""

    uri: str
    media_type: str
    digest: bytes


@dataclass(frozen=True)
class Container:
    """A container read back: its members (but ``mimetype``) and its ASiCManifest."""

    members: Mapping[str, bytes]
    manifest: bytes
    references: tuple[Reference, ...]
    signature: bytes | None
    """The CAdES signature over :attr:`manifest`, when the container is signed."""
    signature_reference: str | None = None
    export: Mapping[str, Any] = field(default_factory=dict)

    def data_objects(self) -> list[str]:
        """The members that are data (not META-INF)."""
        return sorted(name for name in self.members if not name.startswith("META-INF/"))

    def folders(self) -> list[str]:
        """The message folders, in seq order."""
        found = {
            name.rsplit("/", 1)[0]
            for name in self.members
            if name.startswith("messages/") and name.count("/") == 2
        }
        return sorted(found, key=lambda folder: (len(folder), folder))


def _refuse(code: str, vi: str, en: str) -> ContainerError:
    return ContainerError(f"container.{code}", vi, en)


def _check_name(name: str) -> None:
    if not _NAME.fullmatch(name) or any(part in (".", "..") for part in name.split("/")):
        shown = name.encode("unicode_escape").decode("ascii")[:200]
        raise _refuse(
            "name",
            f"tên tệp trong gói không được phép (đường dẫn tuyệt đối, '..' hoặc ký tự lạ): {shown}",
            f"a member name is not allowed (absolute path, '..' or odd characters): {shown}",
        )


def _open_zip(data: bytes) -> zipfile.ZipFile:
    if len(data) > MAX_CONTAINER_BYTES:
        raise _refuse(
            "too_large",
            f"gói chứng cứ lớn hơn {MAX_CONTAINER_BYTES} byte",
            f"the container is larger than {MAX_CONTAINER_BYTES} bytes",
        )
    try:
        return zipfile.ZipFile(io.BytesIO(data))
    except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, OSError, EOFError):
        raise _refuse(
            "not_zip",
            "tệp không phải gói ASiC-E (ZIP) đọc được",
            "the file is not a readable ASiC-E (ZIP) container",
        ) from None


def _checked_infos(archive: zipfile.ZipFile) -> list[zipfile.ZipInfo]:
    infos = archive.infolist()
    if len(infos) > MAX_MEMBERS:
        raise _refuse(
            "too_many",
            f"gói có hơn {MAX_MEMBERS} tệp",
            f"the container has more than {MAX_MEMBERS} members",
        )
    if not infos or infos[0].filename != "mimetype":
        raise _refuse(
            "mimetype",
            "tệp đầu tiên của gói phải là 'mimetype' (ETSI EN 319 162-1)",
            "the container's first member must be 'mimetype' (ETSI EN 319 162-1)",
        )
    seen: set[str] = set()
    total = 0
    kept = []
    for info in infos:
        name = info.filename
        if name.endswith("/") and info.file_size == 0:
            continue  # a directory entry, as zip tools write them
        _check_name(name)
        if name in seen:
            raise _refuse(
                "duplicate",
                f"tên tệp lặp lại trong gói: {name}",
                f"a member name occurs twice: {name}",
            )
        seen.add(name)
        if info.flag_bits & 0x1:
            raise _refuse("encrypted", f"tệp {name} bị mã hóa", f"member {name} is encrypted")
        if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
            raise _refuse(
                "compression",
                f"tệp {name} dùng kiểu nén không hỗ trợ",
                f"member {name} uses an unsupported compression",
            )
        total += info.file_size
        if info.file_size > MAX_MEMBER_BYTES or total > MAX_TOTAL_BYTES:
            raise _refuse(
                "too_large",
                f"tệp {name} (hoặc cả gói) khai báo kích thước giải nén quá giới hạn "
                f"({MAX_MEMBER_BYTES} byte một tệp, {MAX_TOTAL_BYTES} byte cả gói)",
                f"member {name} (or the whole container) declares an unpacked size over the "
                f"limit ({MAX_MEMBER_BYTES} bytes a member, {MAX_TOTAL_BYTES} in all)",
            )
        kept.append(info)
    mimetype = kept[0]
    if mimetype.compress_type != zipfile.ZIP_STORED or mimetype.file_size > 64:
        raise _refuse(
            "mimetype",
            "tệp 'mimetype' phải được lưu không nén",
            "the 'mimetype' member must be stored uncompressed",
        )
    return kept


def _read_member(archive: zipfile.ZipFile, info: zipfile.ZipInfo) -> bytes:
    try:
        with archive.open(info) as stream:
            # the declared size bounds what is read; more would be a lie about the size
            data = stream.read(info.file_size + 1)
    except (zipfile.BadZipFile, ValueError, OSError, EOFError, RuntimeError, NotImplementedError):
        raise _refuse(
            "corrupt",
            f"không đọc được tệp {info.filename} trong gói (hỏng hoặc sai kích thước, CRC)",
            f"member {info.filename} cannot be read (corrupt, or its size or CRC is wrong)",
        ) from None
    if len(data) != info.file_size:
        raise _refuse(
            "corrupt",
            f"tệp {info.filename} không đúng kích thước đã khai báo",
            f"member {info.filename} does not have its declared size",
        )
    return data


def _parse_xml(data: bytes, name: str) -> ET.Element:
    # No DTD at all: no entity expansion, no external entity (the format needs none).
    if len(data) > MAX_XML_BYTES or b"<!DOCTYPE" in data or b"<!ENTITY" in data:
        raise _refuse(
            "xml",
            f"{name}: XML có DTD/ENTITY hoặc quá lớn",
            f"{name}: the XML has a DTD/ENTITY or is too large",
        )
    try:
        return ET.fromstring(data)
    except ET.ParseError as exc:
        raise _refuse(
            "xml", f"{name}: XML không đọc được ({exc})", f"{name}: unreadable XML ({exc})"
        ) from None


def _references(manifest: bytes) -> tuple[tuple[Reference, ...], str | None]:
    root = _parse_xml(manifest, ASIC_MANIFEST)
    if root.tag != f"{{{ASIC_NAMESPACE}}}ASiCManifest":
        raise _refuse(
            "asic_manifest",
            f"{ASIC_MANIFEST} không phải ASiCManifest",
            f"{ASIC_MANIFEST} is not an ASiCManifest",
        )
    signature = root.find(f"{{{ASIC_NAMESPACE}}}SigReference")
    signature_uri = signature.get("URI") if signature is not None else None
    references = []
    for element in root.findall(f"{{{ASIC_NAMESPACE}}}DataObjectReference"):
        uri = element.get("URI") or ""
        method = element.find(f"{{{DSIG_NAMESPACE}}}DigestMethod")
        value = element.find(f"{{{DSIG_NAMESPACE}}}DigestValue")
        if method is None or method.get("Algorithm") != SHA256_URI or value is None:
            raise _refuse(
                "asic_manifest",
                f"{ASIC_MANIFEST}: tham chiếu {uri[:200]} không có giá trị băm SHA-256",
                f"{ASIC_MANIFEST}: reference {uri[:200]} has no SHA-256 digest",
            )
        try:
            digest = base64.b64decode((value.text or "").strip(), validate=True)
        except ValueError:
            digest = b""
        if len(digest) != 32:
            raise _refuse(
                "asic_manifest",
                f"{ASIC_MANIFEST}: giá trị băm của {uri[:200]} không đọc được",
                f"{ASIC_MANIFEST}: the digest of {uri[:200]} cannot be read",
            )
        _check_name(uri)
        references.append(Reference(uri, element.get("MimeType") or "", digest))
    if len({r.uri for r in references}) != len(references):
        raise _refuse(
            "asic_manifest",
            f"{ASIC_MANIFEST}: một tệp được tham chiếu hai lần",
            f"{ASIC_MANIFEST}: a member is referenced twice",
        )
    return tuple(references), signature_uri


def read_container(source: bytes | Path) -> Container:
    """Read and check the form of a container (not its proofs: see
    :mod:`lienthong.evidence.offline`): a bounded, hostile-input-safe read. Raises
    :class:`ContainerError`."""
    if isinstance(source, Path):
        try:
            if source.stat().st_size > MAX_CONTAINER_BYTES:
                raise _refuse(
                    "too_large",
                    f"gói chứng cứ lớn hơn {MAX_CONTAINER_BYTES} byte",
                    f"the container is larger than {MAX_CONTAINER_BYTES} bytes",
                )
            data = source.read_bytes()
        except OSError as exc:
            raise _refuse(
                "unreadable",
                f"không đọc được {source}: {exc.strerror or exc}",
                f"cannot read {source}: {exc.strerror or exc}",
            ) from None
    else:
        data = source
    with _open_zip(data) as archive:
        infos = _checked_infos(archive)
        members = {info.filename: _read_member(archive, info) for info in infos}
    if members.pop("mimetype") != MIMETYPE.encode("ascii"):
        raise _refuse(
            "mimetype",
            f"'mimetype' phải là {MIMETYPE}",
            f"'mimetype' must be {MIMETYPE}",
        )
    for required in (MANIFEST, ASIC_MANIFEST, "export.json"):
        if required not in members:
            raise _refuse(
                "missing",
                f"gói thiếu tệp {required}",
                f"the container lacks {required}",
            )
    _parse_xml(members[MANIFEST], MANIFEST)
    manifest = members[ASIC_MANIFEST]
    references, signature_uri = _references(manifest)
    if signature_uri is not None and signature_uri != SIGNATURE:
        raise _refuse(
            "asic_manifest",
            f"{ASIC_MANIFEST}: SigReference phải là {SIGNATURE}",
            f"{ASIC_MANIFEST}: the SigReference must be {SIGNATURE}",
        )
    if signature_uri is not None and SIGNATURE not in members:
        raise _refuse("missing", f"gói thiếu tệp {SIGNATURE}", f"the container lacks {SIGNATURE}")
    try:
        export = orjson.loads(members["export.json"])
    except orjson.JSONDecodeError:
        export = None
    if not isinstance(export, dict) or export.get("format") != EXPORT_FORMAT:
        raise _refuse(
            "export",
            f"export.json không phải mô tả gói {EXPORT_FORMAT}",
            f"export.json does not describe a {EXPORT_FORMAT} container",
        )
    return Container(
        members=members,
        manifest=manifest,
        references=references,
        signature=members.get(SIGNATURE) if signature_uri is not None else None,
        signature_reference=signature_uri,
        export=export,
    )
