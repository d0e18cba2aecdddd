"""`lienthong hub`: start the portal-side server."""

from __future__ import annotations

import os
from typing import Annotated

import typer
from sqlalchemy.exc import SQLAlchemyError

from lienthong.asgi_tls import tls_problem, uvicorn_tls_options
from lienthong.cli.database import check_port, ready_database
from lienthong.cli.output import console, fail
from lienthong.cli.reports import safe
from lienthong.hub.settings import HubSettings, SettingsError
from lienthong.store.db import database_problem, redact_url


def hub_command(
    host: Annotated[str | None, typer.Option(help="Address to listen on (LIENTHONG_HOST).")] = None,
    port: Annotated[int | None, typer.Option(help="Port (LIENTHONG_PORT, default 8120).")] = None,
    workers: Annotated[
        int | None, typer.Option(help="Worker processes (LIENTHONG_WORKERS).")
    ] = None,
    database: Annotated[
        str | None, typer.Option("--database", help="SQLAlchemy URL (LIENTHONG_DATABASE_URL).")
    ] = None,
    demo: Annotated[
        bool, typer.Option("--demo", help="Create a demo account and demo dossiers first.")
    ] = False,
) -> None:
    """Start the hub: the national-portal side of the interconnection (uvicorn)."""
    import uvicorn

    from lienthong.hub.app import Hub
    from lienthong.hub.csrf import secret_key_problem
    from lienthong.hub.identity import identity_of

    overrides = {"host": host, "port": port, "workers": workers, "database_url": database}
    for name, value in overrides.items():
        if value is not None:
            os.environ[f"LIENTHONG_{name.upper()}"] = str(value)
    try:
        settings = HubSettings.from_env()
    except SettingsError as refused:  # a setting that is not a number or not a known choice
        fail(refused.vi, refused.en)
    problem = secret_key_problem(settings.secret_key)
    if problem is not None:  # before any worker starts, in words rather than a traceback
        console.print(f"[red]{problem}[/red]")
        raise typer.Exit(2)
    try:
        proxies = settings.proxy_options()
        identity_of(settings)  # a bad logo stops here, not in every worker
    except ValueError as problem:
        console.print(f"[red]{problem}[/red]")
        raise typer.Exit(2) from None
    if settings.tls_client_ca and not settings.tls:
        fail(
            "LIENTHONG_TLS_CLIENT_CA cần LIENTHONG_TLS_CERTFILE và LIENTHONG_TLS_KEYFILE",
            "LIENTHONG_TLS_CLIENT_CA needs LIENTHONG_TLS_CERTFILE and LIENTHONG_TLS_KEYFILE",
        )
    problem_tls = tls_problem(settings.tls_certfile, settings.tls_keyfile, settings.tls_client_ca)
    if problem_tls is not None:  # before the port, the database and any banner
        fail(problem_tls.vi, problem_tls.en)
    from lienthong.hub.receipts import check_receipt_key

    try:
        check_receipt_key(settings)  # a receipt key that cannot sign stops here, in words
    except SettingsError as refused:
        fail(refused.vi, refused.en)
    check_port(settings.host, settings.port)  # before the migrations and any banner
    ready_database(settings.database_url)
    try:
        hub = Hub(settings)  # runs the migrations once, before the workers start
    except SettingsError as refused:  # signature settings: a mode, an anchor file
        fail(refused.vi, refused.en)
    except (SQLAlchemyError, OSError) as exc:  # the server went away since the check
        found = database_problem(settings.database_url, exc)
        fail(found.vi, found.en)
    scheme = "https" if settings.tls else "http"
    base = f"{scheme}://{settings.host}:{settings.port}"
    console.print(
        f"[bold]lienthong hub[/bold] on {base}  "
        f"(database {safe(redact_url(settings.database_url))})"
    )
    if demo:
        from lienthong.hub.demo import DEMO_PASSWORD, DEMO_UNIT, DEMO_USERNAME, seed_demo

        seed_demo(hub)
        console.print(f"demo account: {DEMO_USERNAME} / {DEMO_PASSWORD}  (unit {DEMO_UNIT})")
        console.print("try / thử:")
        console.print(
            f"  S=$(curl -s -X POST {base}{settings.login_path} -H 'Content-Type: application/json' "
            f'-d \'{{"username":"{DEMO_USERNAME}","password":"{DEMO_PASSWORD}"}}\' '
            "| python3 -c 'import json,sys; print(json.load(sys.stdin)[\"session\"])')",
            soft_wrap=True,
        )
        console.print(
            f"  curl -s -X POST {base}{settings.integration_path} -H 'Content-Type: application/json' "
            f'-d \'{{"session":"\'$S\'","madonvi":"{DEMO_UNIT}","service":"TraCuuHoSo",'
            '"mahoso":"000.00.13.H56-260302-0001"}\'',
            soft_wrap=True,
        )
    tls = (
        uvicorn_tls_options(settings.tls_certfile, settings.tls_keyfile, settings.tls_client_ca)
        if settings.tls
        else {}
    )
    hub.engine.dispose()
    uvicorn.run(
        "lienthong.hub.app:create_app",
        factory=True,
        host=settings.host,
        port=settings.port,
        workers=settings.workers,
        log_level="info",
        server_header=False,  # the server software is nobody's business
        # X-Forwarded-For only from the proxies named in LIENTHONG_TRUSTED_PROXIES, never
        # from uvicorn's default (the local host) or its FORWARDED_ALLOW_IPS
        **proxies,
        **tls,
    )
