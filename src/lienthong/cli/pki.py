"""`lienthong pki init DIR` and `lienthong pki serve DIR`: the test PKI ("giả lập") and its
OCSP, CRL and time-stamp services (docs/security.md)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from lienthong.cli.database import check_port
from lienthong.cli.output import console, fail
from lienthong.cli.reports import safe

__all__ = ["pki_app"]

pki_app = typer.Typer(
    help="A test PKI (giả lập, no legal value) and its OCSP, CRL and time-stamp services.",
    no_args_is_help=True,
)

DirectoryArgument = Annotated[Path, typer.Argument(help="Directory of the test PKI.")]


@pki_app.command("init")
def init_command(
    directory: DirectoryArgument,
    base_url: Annotated[
        str,
        typer.Option(
            "--base-url",
            help="Where `lienthong pki serve` will answer: the OCSP, CRL and CA-issuer URLs "
            "written into every certificate.",
        ),
    ] = "http://127.0.0.1:8180",
    units: Annotated[
        list[str] | None,
        typer.Option("--unit", help="Agency code to issue a certificate for (repeatable)."),
    ] = None,
) -> None:
    """Create the test PKI in DIR: root, intermediate, agencies, hub, revoked, expired, RSA-1024,
    SHA-1, OCSP, TSA and TLS certificates, their keys and an index (pki.json)."""
    from lienthong.security.certificates import fingerprint
    from lienthong.security.pki import DEMO_UNITS, PkiProblem, create_test_pki

    try:
        pki = create_test_pki(directory, units or DEMO_UNITS, base_url=base_url)
    except PkiProblem as problem:
        fail(problem.vi, problem.en)
    except OSError as exc:
        fail(
            f"không ghi được vào {directory}: {exc.strerror}",
            f"cannot write to {directory}: {exc.strerror}",
        )
    console.print(
        f"[bold]PKI giả lập / test PKI[/bold] in {safe(str(directory))} "
        f"(services at {safe(pki.base_url)})"
    )
    console.print(f"root SHA-256 {fingerprint(pki.root.certificate)}")
    for unit, entry in pki.agencies.items():
        console.print(f"  {unit}: {safe(str(entry.certificate_path))}")
    console.print(f"next / tiếp theo: lienthong pki serve {safe(str(directory))}")


@pki_app.command("serve")
def serve_command(
    directory: DirectoryArgument,
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port.")] = 8180,
) -> None:
    """Serve the test PKI's OCSP responder, CRLs and time-stamp authority (CRLs are
    regenerated at start)."""
    import uvicorn

    from lienthong.security.pki import PkiProblem, load_test_pki
    from lienthong.security.services import create_app

    try:
        pki = load_test_pki(directory)
    except PkiProblem as problem:
        fail(problem.vi, problem.en)
    check_port(host, port)
    app = create_app(pki)
    base = f"http://{host}:{port}"
    console.print(f"[bold]lienthong pki[/bold] on {base}  (PKI {safe(str(directory))})")
    if base != pki.base_url:
        console.print(f"[yellow]the certificates name {safe(pki.base_url)}, not {base}[/yellow]")
    console.print(f"  OCSP {base}/ocsp   CRL {base}/crl/intermediate.crl   TSA {base}/tsa")
    uvicorn.run(app, host=host, port=port, log_level="warning")
