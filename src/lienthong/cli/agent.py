"""``lienthong agent``: run the one-stop agent, submit packets to it, operate its dead letters.

- ``lienthong agent [run]``: the local API and the delivery worker (uvicorn).
- ``lienthong agent submit FILE``: sends a file to a running agent THROUGH ITS LOCAL API, so a
  file gets exactly the checks, authorization and wake-up a local system's call gets.
- ``lienthong agent key NAME``: a new local API key and the lines to put in the configuration.
- ``lienthong agent dlq list|show|replay|drop``: work directly on the agent database (an
  operator's tool: it works while the agent is stopped), every action audited with ``--by``.
"""

from __future__ import annotations

import getpass
import json
import os
from dataclasses import replace
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer
from rich.table import Table
from sqlalchemy.exc import SQLAlchemyError

from lienthong.agent.settings import AgentSettings, SettingsError, hash_api_key, new_api_key
from lienthong.asgi_tls import tls_problem, uvicorn_tls_options
from lienthong.cli.database import check_port, ready_database
from lienthong.cli.output import console, err_console
from lienthong.cli.output import fail as _fail
from lienthong.cli.reports import json_text, safe
from lienthong.store.db import database_problem

__all__ = ["agent_app"]

agent_app = typer.Typer(
    help="Tác tử một cửa / The one-stop agent: local API, outbox, delivery to the portal.",
    invoke_without_command=True,
    pretty_exceptions_enable=False,
)
dlq_app = typer.Typer(
    help="Hàng đợi lỗi / The dead-letter store: records the portal refused for good.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
agent_app.add_typer(dlq_app, name="dlq")


#: The local API key ``lienthong agent submit`` presents (the key itself, not its hash).
CLIENT_KEY_ENV = "LIENTHONG_AGENT_API_KEY"

ByOption = Annotated[
    str | None,
    typer.Option("--by", help="Who does it, for the audit (default: the OS user)."),
]
NoteOption = Annotated[str | None, typer.Option("--note", help="Why, for the audit.")]


def _invalid(ctx: typer.Context, exc: SettingsError) -> NoReturn:
    """Invalid settings; without ``--config``, most likely none were given at all."""
    vi, en = f"cấu hình không hợp lệ: {exc}", f"invalid configuration: {exc}"
    if ctx.find_root().meta.get("lienthong.agent", {}).get("config") is None:
        vi += (
            "\nchưa có tệp cấu hình: dùng --config TỆP (TOML, xem docs/agent.md), "
            "vd. lienthong agent --config agent.toml, hoặc đặt các biến LIENTHONG_AGENT_*"
        )
        en += (
            "\nno configuration file was given: pass --config FILE (TOML, see docs/agent.md), "
            "e.g. lienthong agent --config agent.toml, or set LIENTHONG_AGENT_* variables"
        )
    _fail(vi, en)


def _settings(ctx: typer.Context, **overrides: Any) -> AgentSettings:
    options = ctx.find_root().meta.get("lienthong.agent", {})
    try:
        return AgentSettings.load(
            options.get("config"), database_url=options.get("database"), **overrides
        )
    except SettingsError as exc:
        _invalid(ctx, exc)


def _service(ctx: typer.Context, settings: AgentSettings) -> Any:
    """The agent on ``settings``: invalid settings and database problems said in words."""
    from lienthong.agent.service import AgentService

    try:
        settings.validate()  # first: the settings say which database
    except SettingsError as exc:
        _invalid(ctx, exc)
    ready_database(settings.database_url, default=AgentSettings.database_url)
    try:
        return AgentService(settings)
    except SettingsError as exc:
        _invalid(ctx, exc)
    except (SQLAlchemyError, OSError) as exc:
        problem = database_problem(settings.database_url, exc)
        _fail(problem.vi, problem.en)


def _by(by: str | None) -> str:
    if by:
        return by
    try:
        return getpass.getuser()
    except (OSError, KeyError):
        return "unknown"


@agent_app.callback()
def _agent(
    ctx: typer.Context,
    config: Annotated[
        Path | None,
        typer.Option(
            "--config",
            "-c",
            help="TOML configuration file (LIENTHONG_AGENT_* variables override it).",
            exists=True,
            dir_okay=False,
        ),
    ] = None,
    database: Annotated[
        str | None,
        typer.Option("--database", help="Agent database URL (LIENTHONG_AGENT_DATABASE_URL)."),
    ] = None,
) -> None:
    """Tác tử một cửa / The one-stop agent. Without a command: run it."""
    ctx.find_root().meta["lienthong.agent"] = {"config": config, "database": database}
    if ctx.invoked_subcommand is None:
        run_command(ctx)


@agent_app.command("run")
def run_command(
    ctx: typer.Context,
    host: Annotated[str | None, typer.Option(help="Address to listen on.")] = None,
    port: Annotated[int | None, typer.Option(help="Port (default 8130).")] = None,
) -> None:
    """Chạy tác tử / Run the agent: the local API and the delivery worker."""
    import uvicorn

    from lienthong.agent.api import create_app
    from lienthong.agent.runlock import AgentAlreadyRunning

    settings = _settings(ctx, host=host, port=port)
    names = ("tls_certfile", "tls_keyfile", "")
    problem = tls_problem(settings.tls_certfile, settings.tls_keyfile, names=names)
    if problem is not None:  # before the port, the database and any banner
        _fail(problem.vi, problem.en)
    check_port(settings.host, settings.port)  # before the database and any banner
    service = _service(ctx, settings)
    try:  # before serving: a second agent on the same database must not even listen
        service.run_lock.acquire()
    except AgentAlreadyRunning as exc:
        service.stop()
        _fail(str(exc), "stop the other agent first, or give this one its own database")
    service.run_lock.release()  # taken again, for good, by service.start() at start-up
    shown = settings.describe()
    scheme = "https" if settings.tls_certfile else "http"
    console.print(
        f"[bold]lienthong agent[/bold] on {scheme}://{settings.host}:{settings.port}  "
        f"(database {safe(shown['database_url'])}; portal ({settings.portal.kind}) "
        f"{safe(settings.portal.base_url)} as {safe(settings.portal.account or '-')}; "
        f"{len(settings.api_keys)} API key(s))"
    )
    tls = (
        uvicorn_tls_options(settings.tls_certfile, settings.tls_keyfile)
        if scheme == "https"
        else {}
    )
    uvicorn.run(
        create_app(service), host=settings.host, port=settings.port, log_level="info", **tls
    )


@agent_app.command("key")
def key_command(
    name: Annotated[str, typer.Argument(help="Name of the local system (recorded as submitter).")],
    units: Annotated[
        list[str] | None, typer.Option("--unit", "-u", help="Agency code it may submit for.")
    ] = None,
) -> None:
    """Tạo khóa API mới / Make a new local API key (printed once; only its hash is configured)."""
    key = new_api_key()
    console.print(f"Khóa / key (give it to the local system, shown once): [bold]{key}[/bold]")
    console.print("Thêm vào cấu hình / add to the configuration:")
    shown_units = ", ".join(json.dumps(u) for u in (units or []))
    console.print(
        f'[[api_keys]]\nname = {json.dumps(name)}\nkey_sha256 = "{hash_api_key(key)}"\n'
        f"units = [{shown_units}]",
        markup=False,
    )


# -- submit ----------------------------------------------------------------------------------


def _read_submission(
    path: Path, service: str | None, unit: str | None, params: dict[str, str]
) -> dict[str, Any]:
    from lienthong.spec.inputs import loads

    raw = path.read_bytes()
    value, problem, _ = loads(raw)
    if problem is None and isinstance(value, dict) and ("data" in value or "service" in value):
        envelope = {k: v for k, v in value.items() if k != "session"}
        if service:
            envelope["service"] = service
        if unit:
            envelope["madonvi"] = unit
        return {**envelope, **params}
    if problem is None and isinstance(value, list):
        records = value
    elif problem is None and isinstance(value, dict):
        records = [value]  # one record (a JSON Lines file of one line)
    else:
        records = []
        for number, line in enumerate(raw.splitlines(), 1):
            if not line.strip():
                continue
            record, line_problem, _ = loads(line)
            if line_problem is not None:
                _fail(f"{path}:{number}: {line_problem.vi}", f"{path}:{number}: {line_problem.en}")
            records.append(record)
    if not service:
        _fail(
            "tệp chứa bản ghi (JSON Lines hoặc mảng): cần --service",
            "the file holds records (JSON Lines or an array): give --service",
        )
    envelope = {"service": service, **params, "data": records}
    if unit:
        envelope["madonvi"] = unit
    return envelope


@agent_app.command("submit")
def submit_command(
    ctx: typer.Context,
    file: Annotated[Path, typer.Argument(help="A JSON envelope, or records (JSON Lines/array).")],
    service: Annotated[
        str | None, typer.Option("--service", "-s", help="Service of the records.")
    ] = None,
    unit: Annotated[
        str | None, typer.Option("--unit", "-u", help="madonvi of the envelope.")
    ] = None,
    param: Annotated[
        list[str] | None,
        typer.Option("--param", "-p", help="Envelope parameter NAME=VALUE, e.g. isUpdating=False."),
    ] = None,
    url: Annotated[
        str | None,
        typer.Option(help="The agent's local API (default http://HOST:PORT of the settings)."),
    ] = None,
    key: Annotated[
        str | None,
        typer.Option(
            "--key", help=f"Local API key (default ${CLIENT_KEY_ENV}).", show_default=False
        ),
    ] = None,
) -> None:
    """Gửi gói tin qua API cục bộ / Submit a file to a running agent through its local API."""
    from lienthong.agent.client import AgentApiError, Client

    if not file.is_file():
        _fail(f"không đọc được tệp {file}", f"cannot read {file}")
    params: dict[str, str] = {}
    for item in param or []:
        name, sep, value = item.partition("=")
        if not sep or not name:
            _fail(f"--param {item}: cần NAME=VALUE", f"--param {item}: expected NAME=VALUE")
        params[name] = value
    envelope = _read_submission(file, service, unit, params)
    api_key = key or os.environ.get(CLIENT_KEY_ENV)
    if not api_key:
        _fail(f"cần --key hoặc ${CLIENT_KEY_ENV}", f"give --key or ${CLIENT_KEY_ENV}")
    settings = _settings(ctx)
    base = url or f"http://{settings.host}:{settings.port}"
    import httpx

    try:
        with Client(base, api_key) as client:
            result = client.submit_envelope(envelope)
    except AgentApiError as exc:
        where = f" ({exc.path})" if exc.path else ""
        _fail(
            f"{exc.error_code}: {exc.message}{where}",
            f"{exc.error_code}: {exc.message_en}{where}",
            1,
        )
    except httpx.HTTPError as exc:
        _fail(
            f"không kết nối được tác tử {base}: {exc}", f"cannot reach the agent at {base}: {exc}"
        )
    table = Table(
        title=f"{safe(envelope.get('service'))}: {len(result.queued)}/{len(result.records)} queued"
    )
    for column in ("#", "key", "status", "outbox id", "issues"):
        table.add_column(column)
    for record in result.records:
        issues = "\n".join(
            f"{safe(i.code)} {safe(i.path)}: {safe(i.message_en)}" for i in record.issues
        )
        colour = "green" if record.queued else "red"
        table.add_row(
            str(record.index),
            safe(record.key or ""),
            f"[{colour}]{record.status}[/{colour}]",
            str(record.outbox_id or ""),
            issues,
        )
    console.print(table)
    console.print(f"{safe(result.message)}\n{safe(result.message_en)}")
    if not result.ok:
        raise typer.Exit(1)


# -- pulls ---------------------------------------------------------------------------------------


@agent_app.command("pull")
def pull_command(
    ctx: typer.Context,
    services: Annotated[
        list[str] | None,
        typer.Option("--service", "-s", help="Only this service (repeatable)."),
    ] = None,
) -> None:
    """Lấy dữ liệu từ Cổng / Pull what the portal shares now (PAKN, questions, catalog...).

    Works on the agent database directly; new and changed items are queued for the webhook,
    which the running agent sends."""
    settings = replace(_settings(ctx), deliver=False)
    if not settings.portal.account:
        _invalid(ctx, SettingsError("portal.username is required to pull"))
    service = _service(ctx, settings)
    try:
        results = service.pull_now(services or None)
    finally:
        service.stop()
    table = Table(title="pulls")
    for column in ("service", "unit", "items", "new", "changed", "error"):
        table.add_column(column)
    for result in results:
        table.add_row(
            safe(result.service),
            safe(result.unit or "*"),
            str(result.items),
            str(result.counts.new),
            str(result.counts.changed),
            safe(result.error or ""),
        )
    console.print(table)
    if not all(result.ok for result in results):
        raise typer.Exit(1)


# -- dead letters ----------------------------------------------------------------------------


def _offline_service(ctx: typer.Context) -> Any:
    # no delivery from the CLI: the running agent's worker picks replayed rows up at its next poll
    return _service(ctx, replace(_settings(ctx), deliver=False))


@dlq_app.command("list")
def dlq_list(
    ctx: typer.Context,
    service_name: Annotated[
        str | None, typer.Option("--service", "-s", help="Only this service.")
    ] = None,
    limit: Annotated[int, typer.Option("-n", help="At most this many rows.")] = 100,
) -> None:
    """Các bản ghi bị từ chối hẳn / Rows the portal refused for good."""
    service = _offline_service(ctx)
    try:
        rows = service.outbox.dead_letters(limit, service_name)
        summary = service.outbox.summary()
    finally:
        service.stop()
    table = Table(title=f"dead letters: {summary.counts.get('dead', 0)}")
    for column in ("id", "service", "madonvi", "key", "attempts", "last attempt", "error"):
        table.add_column(column)
    for row in rows:
        table.add_row(
            str(row.id),
            safe(row.service),
            safe(row.unit),
            safe(row.record_key or ""),
            str(row.attempts),
            row.last_attempt_at.isoformat(timespec="seconds") if row.last_attempt_at else "",
            safe(row.last_error or ""),
        )
    console.print(table)


@dlq_app.command("show")
def dlq_show(ctx: typer.Context, row_id: Annotated[int, typer.Argument(help="Outbox id.")]) -> None:
    """Một bản ghi và câu trả lời của cổng / One row with the portal's answer and its audit."""
    from lienthong.agent.api import outbox_view

    service = _offline_service(ctx)
    try:
        row = service.outbox.get(row_id)
        actions = service.outbox.actions(row_id)
    finally:
        service.stop()
    if row is None:
        _fail(f"không có bản ghi {row_id}", f"no outbox row {row_id}", 1)
    view = outbox_view(row)
    view["params"] = row.params
    view["submitter"] = row.submitter
    view["record"] = row.record
    view["audit"] = [
        {"at": a.at.isoformat(timespec="seconds"), "action": a.action, "by": a.by, "note": a.note}
        for a in actions
    ]
    console.out(json_text(view))


@dlq_app.command("replay")
def dlq_replay(
    ctx: typer.Context,
    row_id: Annotated[int | None, typer.Argument(help="Outbox id (or --all).")] = None,
    replay_all: Annotated[bool, typer.Option("--all", help="Every dead row.")] = False,
    service_name: Annotated[
        str | None, typer.Option("--service", "-s", help="With --all: only this service.")
    ] = None,
    edited: Annotated[
        Path | None,
        typer.Option(
            "--edited",
            help="A corrected record (JSON object), validated first.",
            exists=True,
            dir_okay=False,
        ),
    ] = None,
    by: ByOption = None,
    note: NoteOption = None,
) -> None:
    """Gửi lại / Put dead rows back to pending (at their place in the order)."""
    from lienthong.agent.outbox import OutboxError
    from lienthong.spec.inputs import loads

    if (row_id is None) == (not replay_all):
        _fail("cần ID hoặc --all (không cả hai)", "give an ID or --all (not both)")
    if edited is not None and replay_all:
        _fail("--edited chỉ dùng với một ID", "--edited goes with one ID")
    record = None
    if edited is not None:
        record, problem, _ = loads(edited.read_bytes())
        if problem is not None or not isinstance(record, dict):
            _fail(f"{edited}: cần một đối tượng JSON", f"{edited}: expected one JSON object")
    who = _by(by)
    service = _offline_service(ctx)
    try:
        if replay_all:
            ids = service.outbox.replay_all(who, service_name, note)
            console.print(f"Đã gửi lại {len(ids)} bản ghi / {len(ids)} row(s) back to pending")
            return
        assert row_id is not None
        try:
            service.replay(row_id, who, record=record, note=note)
        except OutboxError as exc:
            for issue in exc.issues:
                err_console.print(
                    f"  {safe(issue['path'])} {safe(issue['code'])}: {safe(issue['message_en'])}"
                )
            _fail(str(exc), str(exc), 1)
        console.print(f"Bản ghi {row_id} chờ gửi lại / row {row_id} is pending again")
    finally:
        service.stop()


@dlq_app.command("drop")
def dlq_drop(
    ctx: typer.Context,
    row_id: Annotated[int, typer.Argument(help="Outbox id.")],
    by: ByOption = None,
    note: NoteOption = None,
) -> None:
    """Bỏ qua / Give up on a dead row (kept as dropped, never sent)."""
    from lienthong.agent.outbox import OutboxError

    service = _offline_service(ctx)
    try:
        service.outbox.drop(row_id, _by(by), note)
    except OutboxError as exc:
        _fail(str(exc), str(exc), 1)
    finally:
        service.stop()
    console.print(f"Bản ghi {row_id} đã bỏ / row {row_id} dropped")


# ``lienthong agent backfill`` (registers itself on agent_app; imported last: it uses the above)
from lienthong.cli import agent_backfill as _agent_backfill  # noqa: E402, F401

# ``lienthong agent receipts show`` (registers itself the same way)
from lienthong.cli import agent_receipts as _agent_receipts  # noqa: E402, F401

# ``lienthong agent status`` and ``stats show|send`` (register themselves the same way)
from lienthong.cli import agent_status as _agent_status  # noqa: E402, F401
