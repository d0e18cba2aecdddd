"""`lienthong verify FILE SIGNATURE`: check a detached signature (CAdES ``.p7s`` or JWS ``.jws``)
over a file's exact bytes and print the report Circular 15/2025/TT-BKHCN asks for.

Exit 0 when the signature is valid, 1 when it is not (any other status), 2 for usage and
read errors.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from cryptography import x509

from lienthong.cli.output import console, fail
from lienthong.cli.reports import json_text, printable

__all__ = ["load_certificates", "read_certificates", "signature_kind", "verify_command"]


def _read(path: Path, what_vi: str, what_en: str) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        fail(
            f"không đọc được {what_vi} {path}: {exc.strerror or exc}",
            f"cannot read {what_en} {path}: {exc.strerror or exc}",
        )


def load_certificates(data: bytes) -> list[x509.Certificate]:
    """Every certificate of a PEM file (one or more) or a DER file; ValueError if none."""
    if b"-----BEGIN" in data:
        return x509.load_pem_x509_certificates(data)
    return [x509.load_der_x509_certificate(data)]


def read_certificates(paths: list[Path], what_vi: str, what_en: str) -> list[x509.Certificate]:
    """Every certificate of the files (PEM or DER); exits 2 with a bilingual message for a
    file that cannot be read or holds none."""
    found: list[x509.Certificate] = []
    for path in paths:
        try:
            found += load_certificates(_read(path, what_vi, what_en))
        except ValueError:
            fail(
                f"{path} không chứa chứng thư (PEM hoặc DER)",
                f"{path} holds no certificate (PEM or DER)",
            )
    return found


def _load_crl(path: Path) -> bytes:
    data = _read(path, "CRL", "CRL")
    try:
        if b"-----BEGIN" in data:
            crl = x509.load_pem_x509_crl(data)
        else:
            crl = x509.load_der_x509_crl(data)
    except ValueError:
        fail(f"{path} không phải CRL (PEM hoặc DER)", f"{path} is not a CRL (PEM or DER)")
    from cryptography.hazmat.primitives.serialization import Encoding

    return crl.public_bytes(Encoding.DER)


def signature_kind(path: Path, data: bytes) -> str:
    """``jws`` or ``cades``: by the extension, else by the content (a compact JWS starts with
    the base64url of ``{"``)."""
    suffix = path.suffix.lower()
    if suffix == ".jws":
        return "jws"
    if suffix in (".p7s", ".p7m", ".cms", ".der", ".pem"):
        return "cades"
    return "jws" if data.lstrip().startswith(b"eyJ") else "cades"


def verify_command(
    file: Annotated[Path, typer.Argument(help="The signed file, exactly as it was signed.")],
    signature: Annotated[
        Path, typer.Argument(help="Its detached signature: FILE.p7s (DER or PEM) or FILE.jws.")
    ],
    anchors: Annotated[
        list[Path] | None,
        typer.Option(
            "--anchor",
            help="A trusted root certificate, PEM or DER (repeatable; at least one).",
        ),
    ] = None,
    intermediates: Annotated[
        list[Path] | None,
        typer.Option("--intermediate", help="An intermediate certificate the signature lacks."),
    ] = None,
    crls: Annotated[
        list[Path] | None, typer.Option("--crl", help="A CRL file, PEM or DER (repeatable).")
    ] = None,
    unit: Annotated[
        str | None,
        typer.Option("--unit", help="The unit (agency code) the signer must belong to."),
    ] = None,
    offline: Annotated[
        bool, typer.Option("--offline", help="Never fetch OCSP answers or CRLs.")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
) -> None:
    """Verify a detached signature and print the report (Vietnamese, then English)."""
    from lienthong.security.report import render_text, report_dict
    from lienthong.security.verify import VerifyContext, verify_cades, verify_jws
    from lienthong.spec.identifiers import parse_agency_code

    if not anchors:
        fail(
            "cần ít nhất một chứng thư gốc tin cậy (--anchor ROOT.pem)",
            "at least one trust anchor is needed (--anchor ROOT.pem)",
        )
    if unit is not None and parse_agency_code(unit) is None:
        fail(f"mã đơn vị không hợp lệ: {unit}", f"not an agency code: {unit}")

    context = VerifyContext(
        trust_anchors=tuple(read_certificates(anchors, "chứng thư gốc", "anchor")),
        other_certs=tuple(
            read_certificates(intermediates or [], "chứng thư trung gian", "certificate")
        ),
        crls=tuple(_load_crl(path) for path in crls or []),
        unit=unit,
        allow_fetching=not offline,
    )
    body = _read(file, "tệp", "file")
    signature_bytes = _read(signature, "chữ ký", "signature")
    if signature_kind(signature, signature_bytes) == "jws":
        result = verify_jws(body, signature_bytes, context)
    else:
        result = verify_cades(body, signature_bytes, context)
    if as_json:
        console.out(json_text(report_dict(result)))
    else:
        # Names come from the certificate: shown, never interpreted (console.out: no markup).
        console.out(printable(render_text(result), multiline=True), end="")
    raise typer.Exit(0 if result.valid else 1)
