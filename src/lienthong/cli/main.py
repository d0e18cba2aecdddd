"""The ``lienthong`` command."""

from __future__ import annotations

import json
import sys
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from lienthong import __version__
from lienthong.cli import reports
from lienthong.cli.output import fail, make_console
from lienthong.cli.reports import json_text, safe
from lienthong.spec import (
    Catalog,
    CatalogError,
    CheckedDocument,
    Validator,
    bundled_profiles,
    check_bytes,
    load_catalog,
)
from lienthong.spec.catalog import PacketSpec
from lienthong.spec.export import catalog_schemas, markdown, packet_schema
from lienthong.spec.samples import sample

app = typer.Typer(
    name="lienthong",
    help="Liên thông dữ liệu dịch vụ công (QCVN 120:2019/BTTTT) / Public-service data interconnection.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
spec_app = typer.Typer(
    help="The packet catalog: list, show, export, the hub's OpenAPI document.",
    no_args_is_help=True,
)
app.add_typer(spec_app, name="spec")


def _register_operations() -> None:
    """The hub, database, accounts and log commands (they import the store layer)."""
    from lienthong.cli.accounts import accounts_app
    from lienthong.cli.agent import agent_app
    from lienthong.cli.backup import backup_app
    from lienthong.cli.catalog import catalog_app
    from lienthong.cli.db import db_app
    from lienthong.cli.evidence import evidence_app
    from lienthong.cli.hub import hub_command
    from lienthong.cli.log import log_app
    from lienthong.cli.pki import pki_app
    from lienthong.cli.report import report_app
    from lienthong.cli.sign import sign_command
    from lienthong.cli.verify import verify_command

    app.command("hub")(hub_command)
    app.add_typer(accounts_app, name="accounts")
    app.add_typer(db_app, name="db")
    app.add_typer(log_app, name="log")
    app.add_typer(catalog_app, name="catalog")
    app.add_typer(report_app, name="report")
    app.add_typer(agent_app, name="agent")
    app.add_typer(pki_app, name="pki")
    app.add_typer(evidence_app, name="evidence")
    app.add_typer(backup_app, name="backup")
    app.command("sign")(sign_command)
    app.command("verify")(verify_command)


_register_operations()

console = make_console()
err_console = make_console(stderr=True)

ProfileOption = Annotated[
    str | None,
    typer.Option(
        "--profile",
        "-p",
        help=f"Catalog profile ({', '.join(bundled_profiles())}); default $LIENTHONG_PROFILE or qcvn120-2019.",
    ),
]
CatalogOption = Annotated[
    list[Path] | None,
    typer.Option(
        "--catalog", "-c", help="Override file(s) applied on top of the profile (repeatable)."
    ),
]


def get_catalog(profile: str | None, overrides: list[Path] | None) -> Catalog:
    try:
        return load_catalog(profile, overrides or ())
    except CatalogError as exc:
        fail(f"danh mục gói tin không hợp lệ: {exc}", f"invalid packet catalog: {exc}")


def get_packet(catalog: Catalog, name: str) -> PacketSpec:
    if name in catalog.packets:
        return catalog.packets[name]
    matches = [p for p in catalog.packets if p.lower() == name.lower()]
    if len(matches) == 1:
        return catalog.packets[matches[0]]
    fail(
        f"không có gói tin {name!r} trong cấu hình {catalog.profile}; xem `lienthong spec list`",
        f"no packet {name!r} in profile {catalog.profile}; see `lienthong spec list`",
    )


@app.callback(invoke_without_command=True)
def main(
    version: Annotated[bool, typer.Option("--version", help="Print the version and exit.")] = False,
) -> None:
    if version:
        console.print(f"lienthong {__version__}")
        raise typer.Exit()


# -- spec ---------------------------------------------------------------------------------------


JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON (for scripts).")]


@spec_app.command("list")
def spec_list(
    profile: ProfileOption = None, catalog_files: CatalogOption = None, as_json: JsonOption = False
) -> None:
    """List the packets of the catalog with their status."""
    catalog = get_catalog(profile, catalog_files)
    if as_json:
        packets = [
            {
                "id": packet.id,
                "name": packet.name,
                "kind": packet.kind.value,
                "status": packet.status.value,
                "fields": len(packet.fields),
                "official_fields": packet.official_fields,
                "vi": packet.vi,
                "en": packet.en,
            }
            for packet in catalog.packets.values()
        ]
        console.out(json_text({"profile": catalog.profile, "packets": packets}))
        return
    table = Table(title=f"{catalog.profile}: {len(catalog.packets)} packets")
    for column in ("QCVN 120", "packet", "kind", "status", "fields (known of official)", "purpose"):
        table.add_column(column)
    for packet in catalog.packets.values():
        colour = {"confirmed": "green", "partial": "yellow", "provisional": "red"}[
            packet.status.value
        ]
        table.add_row(
            packet.id or "",
            packet.name,
            packet.kind.value,
            f"[{colour}]{packet.status.value}[/{colour}]",
            packet.official_count(names=False),
            safe(packet.vi),
        )
    console.print(table)
    provisional = ", ".join(p.name for p in catalog.provisional_packets())
    console.print(f"Gói tin tạm thời / provisional packets: {provisional or '-'}")


@spec_app.command("show")
def spec_show(
    packet: Annotated[str, typer.Argument(help="Packet name, e.g. DongBoHoSoMC.")],
    profile: ProfileOption = None,
    catalog_files: CatalogOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the JSON Schema instead.")] = False,
) -> None:
    """Show one packet: status, parameters and fields with their checks and provenance."""
    catalog = get_catalog(profile, catalog_files)
    spec = get_packet(catalog, packet)
    if as_json:
        console.print_json(json.dumps(packet_schema(spec, catalog), ensure_ascii=False))
        return
    console.print(
        f"[bold]{spec.name}[/bold]  QCVN 120 {spec.id or '-'}  table {spec.table or '-'}  kind {spec.kind.value}"
    )
    console.print(f"{safe(spec.vi)}\n[dim]{safe(spec.en)}[/dim]")
    if spec.is_provisional:
        console.print(
            "[red bold]TẠM THỜI / PROVISIONAL[/red bold]: chưa có bảng trường chính thức; bộ trường dưới đây "
            "là đề xuất của lienthong. / The official fields are unknown; these are lienthong's proposal."
        )
    else:
        console.print(f"status: {spec.status.value}")
    if spec.official_fields is not None:
        sent = (
            f"; sent: {len(spec.params)} of {spec.official_params}"
            if spec.official_params is not None
            else ""
        )
        console.print(
            f"fields (known of official, QCVN 120 Table 1): {spec.official_count()}{sent}"
        )
        if spec.official_note:
            console.print(f"[dim]{safe(spec.official_note)}[/dim]")
    for title, fields in (("params", spec.params), ("fields", spec.fields)):
        if not fields:
            continue
        table = Table(title=title)
        for column in ("field", "type", "req", "checks", "confidence", "description"):
            table.add_column(column, overflow="fold")
        stack = [(f, "") for f in reversed(fields)]
        while stack:
            field, prefix = stack.pop()
            checks = " ".join(
                part
                for part in (
                    f"max {field.max_length}" if field.max_length else "",
                    f"codes:{field.codes}" if field.codes else "",
                    field.format or "",
                )
                if part
            )
            confidence = (
                field.confidence if field.confidence != "provisional" else "[red]provisional[/red]"
            )
            table.add_row(
                prefix + field.name,
                field.type,
                "yes" if field.required else "",
                checks,
                confidence,
                f"{safe(field.vi)}\n[dim]{safe(field.en)}[/dim]",
            )
            stack.extend((child, f"{prefix}{field.name}[].") for child in reversed(field.fields))
        console.print(table)
    if spec.rules:
        console.print(f"rules: {', '.join(spec.rules)}")


class ExportFormat(StrEnum):
    jsonschema = "jsonschema"
    markdown = "markdown"


@spec_app.command("export")
def spec_export(
    format: Annotated[ExportFormat, typer.Option("--format", "-f")] = ExportFormat.jsonschema,
    output: Annotated[
        Path | None,
        typer.Option(
            "--output", "-o", help="File (markdown) or directory (jsonschema); default stdout."
        ),
    ] = None,
    profile: ProfileOption = None,
    catalog_files: CatalogOption = None,
) -> None:
    """Export JSON Schema for every packet, or the Markdown reference (docs/packets.md)."""
    catalog = get_catalog(profile, catalog_files)
    if format is ExportFormat.markdown:
        text = markdown(catalog)
        if output is None:
            sys.stdout.write(text)
        else:
            output.write_text(text, "utf-8")
            err_console.print(f"wrote {output}")
        return
    schemas = catalog_schemas(catalog)
    if output is None:
        sys.stdout.write(json.dumps(schemas, ensure_ascii=False, indent=2) + "\n")
        return
    output.mkdir(parents=True, exist_ok=True)
    for name, schema in schemas.items():
        (output / f"{name}.json").write_text(
            json.dumps(schema, ensure_ascii=False, indent=2) + "\n", "utf-8"
        )
    err_console.print(f"wrote {len(schemas)} schemas to {output}")


@spec_app.command("openapi")
def spec_openapi(
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="File to write; default stdout.")
    ] = None,
    profile: ProfileOption = None,
) -> None:
    """Write the hub's OpenAPI 3.1 document, as GET /openapi.json serves it: the paths and the
    catalog profile come from the LIENTHONG_* settings the hub would start with."""
    from lienthong.hub.openapi import hub_document, serialized
    from lienthong.hub.settings import HubSettings

    settings = HubSettings.from_env(profile=profile)
    try:
        document = serialized(hub_document(settings))
    except CatalogError as exc:
        fail(f"danh mục gói tin không hợp lệ: {exc}", f"invalid packet catalog: {exc}")
    if output is None:
        sys.stdout.buffer.write(document)
        sys.stdout.flush()
        return
    output.write_bytes(document)
    err_console.print(f"wrote {output}")


@spec_app.command("codes")
def spec_codes() -> None:
    """List every validation issue code with its messages."""
    from lienthong.spec import ISSUE_CODES

    table = Table()
    for column in ("code", "severity", "vi", "en"):
        table.add_column(column, overflow="fold")
    for entry in ISSUE_CODES.values():
        table.add_row(entry.code, entry.severity.value, safe(entry.vi), safe(entry.en))
    console.print(table)


# -- check --------------------------------------------------------------------------------------


class ReportFormat(StrEnum):
    text = "text"
    json = "json"
    junit = "junit"


class Language(StrEnum):
    vi = "vi"
    en = "en"
    both = "both"


def run_check(files: list[Path], validator: Validator, packet: str | None) -> list[CheckedDocument]:
    documents: list[CheckedDocument] = []
    for path in files:
        if str(path) == "-":
            data = sys.stdin.buffer.read()
        elif not path.exists():
            fail(f"không tìm thấy tệp {path}", f"file not found: {path}")
        elif path.is_dir():
            fail(f"{path} là thư mục, cần một tệp", f"{path} is a directory, expected a file")
        else:
            try:
                data = path.read_bytes()
            except OSError as exc:
                fail(
                    f"không đọc được {path}: {exc.strerror}", f"cannot read {path}: {exc.strerror}"
                )
        documents.extend(check_bytes(data, validator, str(path), packet))
    return documents


@app.command()
def check(
    files: Annotated[
        list[Path],
        typer.Argument(
            help="JSON files: one envelope, a JSON array, or JSON Lines ('-' for stdin)."
        ),
    ],
    format: Annotated[
        ReportFormat, typer.Option("--format", "-f", help="Report format.")
    ] = ReportFormat.text,
    strict: Annotated[
        bool, typer.Option("--strict", help="Unknown fields are errors, not warnings.")
    ] = False,
    packet: Annotated[
        str | None,
        typer.Option(
            "--packet", help="Packet of bare records or share answers (files without 'service')."
        ),
    ] = None,
    profile: ProfileOption = None,
    catalog_files: CatalogOption = None,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write the report to a file.")
    ] = None,
    lang: Annotated[
        Language, typer.Option("--lang", help="Message language of the text report.")
    ] = Language.both,
) -> None:
    """Validate packets against the catalog. Exit code 0 only when there is no error."""
    catalog = get_catalog(profile, catalog_files)
    if packet is not None:
        packet = get_packet(catalog, packet).name
    validator = Validator(catalog, strict=strict)
    documents = run_check(files, validator, packet)
    if format is ReportFormat.text:
        target = (
            Console(file=output.open("w", encoding="utf-8"), highlight=False, width=160)
            if output
            else console
        )
        reports.render_text(documents, target, lang.value)
    else:
        text = (
            reports.render_json(documents)
            if format is ReportFormat.json
            else reports.render_junit(documents)
        )
        if output:
            output.write_text(text + "\n", "utf-8")
        else:
            sys.stdout.write(text + "\n")
    if not all(document.ok for document in documents):
        raise typer.Exit(1)


# -- sample -------------------------------------------------------------------------------------


@app.command("sample")
def sample_command(
    packet: Annotated[str, typer.Argument(help="Packet name, e.g. DongBoHoSoMC.")],
    profile: ProfileOption = None,
    catalog_files: CatalogOption = None,
    response: Annotated[
        bool, typer.Option("--response", help="Print the answer instead of the request.")
    ] = False,
) -> None:
    """Print a valid sample packet (request envelope, or the answer with --response)."""
    catalog = get_catalog(profile, catalog_files)
    spec = get_packet(catalog, packet)
    example = sample(spec, catalog)
    part = example["response"] if response else example["request"]
    sys.stdout.write(json.dumps(part, ensure_ascii=False, indent=2) + "\n")


# -- demo (make run) ----------------------------------------------------------------------------


@app.command()
def demo(profile: ProfileOption = None) -> None:
    """Print the catalog summary and validate every bundled sample (what `make run` does)."""
    catalog = get_catalog(profile, None)
    spec_list(profile, None, as_json=False)
    validator = Validator(catalog, strict=True)
    table = Table(title="Bundled samples / Gói tin mẫu")
    for column in ("packet", "request", "response", "warnings"):
        table.add_column(column)
    failures = 0
    for spec in catalog.packets.values():
        example = sample(spec, catalog)
        request = validator.validate_envelope(example["request"])
        answer = (
            validator.validate_response(spec.name, example["response"])
            if example["response"] and "result" in example["response"]
            else None
        )
        ok = request.ok and (answer is None or answer.ok)
        failures += not ok
        warnings = sorted({i.code for i in request.all_issues() if not i.is_error})
        table.add_row(
            spec.name,
            "[green]valid[/green]" if request.ok else "[red]invalid[/red]",
            "-"
            if answer is None
            else ("[green]valid[/green]" if answer.ok else "[red]invalid[/red]"),
            ", ".join(warnings),
        )
    console.print(table)
    console.print("Try / thử: lienthong sample DongBoHoSoMC > hs.json && lienthong check hs.json")
    if failures:
        raise typer.Exit(1)


def run() -> None:
    app()


if __name__ == "__main__":
    run()
