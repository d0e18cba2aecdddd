"""`lienthong sign FILE`: a detached signature of a file's exact bytes, beside it.

``FILE.p7s`` (CAdES-B-B, DER) or, with ``--jws``, ``FILE.jws`` (compact detached JWS); the key in
PEM files, a PKCS#12 file (development) or on a PKCS#11 token or HSM. docs/security.md.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from lienthong.cli.output import err_console, fail
from lienthong.security.policy import AlgorithmProblem
from lienthong.security.signers import (
    PKCS11_MODULE_SETTING,
    FileSigner,
    Pkcs11Signer,
    Signer,
    SignerError,
    pkcs11_module,
)

_PATH = {"exists": True, "dir_okay": False, "readable": True}


def open_signer(
    cert: Path | None,
    key: Path | None,
    pkcs12: Path | None,
    password: str | None,
    module: str | None,
    token: str | None,
    key_label: str | None,
    pin: str | None,
    chain: Path | None,
    scheme: str | None,
    digest: str | None,
) -> Signer:
    """The signing key the options name; exit 2 with a bilingual message when they name none,
    several, or one that cannot be used."""
    try:
        secret = password.encode() if password is not None else None
        if pkcs12 is not None and cert is None and key is None and token is None:
            return FileSigner.from_pkcs12(pkcs12, secret, scheme=scheme, digest=digest)
        if key is not None and cert is not None and pkcs12 is None and token is None:
            return FileSigner.from_pem(cert, key, secret, scheme=scheme, digest=digest)
        if token is not None and key_label is not None and key is None and pkcs12 is None:
            if pin is None:
                fail(
                    "cần mã PIN của token (--pin hoặc LIENTHONG_TOKEN_PIN)",
                    "the token's PIN is needed (--pin or LIENTHONG_TOKEN_PIN)",
                )
            from cryptography import x509

            try:
                certificates = x509.load_pem_x509_certificates(cert.read_bytes()) if cert else []
                extra = x509.load_pem_x509_certificates(chain.read_bytes()) if chain else []
            except ValueError as exc:
                fail(
                    f"không đọc được chứng thư số PEM: {exc}",
                    f"cannot read the PEM certificates: {exc}",
                )
            return Pkcs11Signer(
                pkcs11_module(module),
                token,
                pin,
                key_label,
                certificate=certificates[0] if certificates else None,
                chain=[*certificates[1:], *extra],
                scheme=scheme,
                digest=digest,
            )
        fail(
            "chọn đúng một khóa: --cert và --key, hoặc --pkcs12, hoặc --token và --key-label",
            "choose exactly one key: --cert and --key, or --pkcs12, or --token and --key-label",
        )
    except (SignerError, AlgorithmProblem) as exc:
        fail(exc.vi, exc.en)


# The options that name a signing key, shared by every command that signs (sign, backup).
CertOption = Annotated[
    Path | None,
    typer.Option(help="PEM certificate, then its chain (with --key, or for a token).", **_PATH),
]
KeyOption = Annotated[Path | None, typer.Option(help="PEM private key (development).", **_PATH)]
Pkcs12Option = Annotated[
    Path | None, typer.Option(help="PKCS#12 file with key and chain (development).", **_PATH)
]
PasswordOption = Annotated[
    str | None,
    typer.Option(envvar="LIENTHONG_KEY_PASSWORD", help="Password of the key or PKCS#12 file."),
]
Pkcs11ModuleOption = Annotated[
    str | None,
    typer.Option(
        "--pkcs11-module",
        envvar=PKCS11_MODULE_SETTING,
        help="PKCS#11 library of the token or HSM (default SoftHSM2's).",
    ),
]
TokenOption = Annotated[str | None, typer.Option(help="Token label (PKCS#11).")]
KeyLabelOption = Annotated[
    str | None, typer.Option(help="Label of the key (and its certificate) on the token.")
]
PinOption = Annotated[
    str | None, typer.Option(envvar="LIENTHONG_TOKEN_PIN", help="The token's user PIN.")
]
ChainOption = Annotated[
    Path | None, typer.Option(help="PEM intermediates to send with a token's key.", **_PATH)
]
SchemeOption = Annotated[
    str | None, typer.Option(help="RSA scheme: rsassa_pss (default) or rsassa_pkcs1v15.")
]
DigestOption = Annotated[str | None, typer.Option(help="Digest (default sha256).")]


def sign_command(
    file: Annotated[Path, typer.Argument(help="The file to sign (its exact bytes).", **_PATH)],
    jws: Annotated[
        bool, typer.Option("--jws", help="Write FILE.jws (detached JWS) instead of FILE.p7s.")
    ] = False,
    cert: CertOption = None,
    key: KeyOption = None,
    pkcs12: Pkcs12Option = None,
    password: PasswordOption = None,
    pkcs11_module_path: Pkcs11ModuleOption = None,
    token: TokenOption = None,
    key_label: KeyLabelOption = None,
    pin: PinOption = None,
    chain: ChainOption = None,
    scheme: SchemeOption = None,
    digest: DigestOption = None,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Where to write; default beside FILE.")
    ] = None,
) -> None:
    """Sign FILE: write FILE.p7s (CAdES-B-B detached, DER) or FILE.jws (detached JWS)."""
    from lienthong.security.cades import sign_cades
    from lienthong.security.jws import sign_jws

    signer = open_signer(
        cert,
        key,
        pkcs12,
        password,
        pkcs11_module_path,
        token,
        key_label,
        pin,
        chain,
        scheme,
        digest,
    )
    target = output or file.with_name(file.name + (".jws" if jws else ".p7s"))
    try:
        body = file.read_bytes()
        if jws:
            target.write_bytes(sign_jws(body, signer).encode("ascii"))
        else:
            target.write_bytes(sign_cades(body, signer))
    except (SignerError, AlgorithmProblem) as exc:
        fail(exc.vi, exc.en)
    except OSError as exc:
        fail(
            f"không ghi được {exc.filename or target}: {exc.strerror}",
            f"cannot write {exc.filename or target}: {exc.strerror}",
        )
    finally:
        if isinstance(signer, Pkcs11Signer):
            signer.close()
    subject = signer.certificate.subject.rfc4514_string()
    err_console.print(f"đã ký / signed: {target} ({signer.scheme}, {signer.digest}; {subject})")
