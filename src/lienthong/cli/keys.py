"""`lienthong keys generate|status|rotate`: the master key and the data keys of encryption at
rest (docs/security.md, "Encryption at rest")."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from lienthong.cli.database import DatabaseOption, open_database, open_sessions
from lienthong.cli.output import console, fail
from lienthong.cli.reports import safe

if TYPE_CHECKING:
    from sqlalchemy.orm import Session, sessionmaker

    from lienthong.security.sealing import MasterKey

__all__ = [
    "MasterKeyFileOption",
    "MasterKeyLabelOption",
    "MasterKeyModuleOption",
    "MasterKeyPinFileOption",
    "MasterKeyTokenOption",
    "keys_app",
    "master_key",
]

keys_app = typer.Typer(
    help="Encryption at rest: the master key, the data keys, their rotation.",
    no_args_is_help=True,
)

SETTING = "LIENTHONG_MASTER_KEY"

MasterKeyFileOption = Annotated[
    str | None,
    typer.Option(
        "--master-key-file",
        help=f"The master key file (default ${SETTING}_FILE).",
        show_default=False,
    ),
]
MasterKeyTokenOption = Annotated[
    str | None,
    typer.Option(
        "--master-key-pkcs11-token",
        help=f"Instead of a file: the PKCS#11 token holding it (${SETTING}_PKCS11_TOKEN).",
        show_default=False,
    ),
]
MasterKeyLabelOption = Annotated[
    str | None,
    typer.Option(
        "--master-key-pkcs11-label",
        help=f"The master key's label on the token (${SETTING}_PKCS11_LABEL).",
        show_default=False,
    ),
]
MasterKeyPinFileOption = Annotated[
    str | None,
    typer.Option(
        "--master-key-pin-file",
        help=f"A file holding the token's PIN (${SETTING}_PIN_FILE).",
        show_default=False,
    ),
]
MasterKeyModuleOption = Annotated[
    str | None,
    typer.Option(
        "--master-key-pkcs11-module",
        help=f"The token's PKCS#11 library (${SETTING}_PKCS11_MODULE, LIENTHONG_PKCS11_MODULE).",
        show_default=False,
    ),
]


def _given_or_set(value: str | None, setting: str) -> str:
    return value if value is not None else os.environ.get(setting, "")


@contextmanager
def master_key(
    key_file: str | None,
    token: str | None,
    label: str | None,
    pin_file: str | None,
    module: str | None,
    *,
    from_settings: bool = True,
    setting: str = SETTING,
) -> Iterator[MasterKey | None]:
    """The master key the options name (each absent one from its ``LIENTHONG_MASTER_KEY_*``
    setting when ``from_settings``); None when none is named; a bilingual exit 2 when it cannot
    be opened. Closed when the block ends."""
    from lienthong.security.sealing import SealingError, open_master_key

    def pick(value: str | None, suffix: str) -> str:
        return _given_or_set(value, f"{SETTING}_{suffix}") if from_settings else (value or "")

    try:
        master = open_master_key(
            key_file=pick(key_file, "FILE"),
            pkcs11_token=pick(token, "PKCS11_TOKEN"),
            pkcs11_label=pick(label, "PKCS11_LABEL"),
            pin_file=pick(pin_file, "PIN_FILE"),
            pkcs11_module=pick(module, "PKCS11_MODULE"),
            setting=setting,
        )
    except SealingError as problem:
        fail(problem.vi, problem.en)
    try:
        yield master
    finally:
        if master is not None:
            master.close()


@contextmanager
def sealed_sessions(
    database: str | None,
    key_file: str | None,
    token: str | None,
    label: str | None,
    pin_file: str | None,
    module: str | None,
) -> Iterator[sessionmaker[Session]]:
    """Sessions on ``--database`` (as :func:`open_sessions`) whose sealed bodies open with the
    master key the options (or ``LIENTHONG_MASTER_KEY_*``) name: its sealer is registered for
    the engine, so :func:`lienthong.store.sealing.sealer_for` finds it. A wrong master key: a
    bilingual exit 2 here; no key for a sealed body: the reader's own message."""
    from lienthong.security.sealing import SealingError
    from lienthong.store.db import session_factory
    from lienthong.store.sealing import open_sealer, register_sealer

    with (
        master_key(key_file, token, label, pin_file, module) as master,
        open_database(database) as engine,
    ):
        sessions = session_factory(engine)
        try:
            register_sealer(engine, open_sealer(sessions, master, create=False))
        except SealingError as problem:
            fail(problem.vi, problem.en)
        yield sessions


@keys_app.command("generate")
def generate_command(
    file: Annotated[Path, typer.Argument(help="The new master key file (never overwritten).")],
) -> None:
    """Write a new master key (32 random bytes, hex) to FILE, readable by its owner only."""
    from lienthong.security.sealing import SealingError, generate_master_key_file

    try:
        master = generate_master_key_file(file)
    except SealingError as problem:
        fail(problem.vi, problem.en)
    console.print(
        f"Đã tạo khóa chủ {safe(file)} (mã {master.key_id}, quyền 600) / "
        f"created the master key {safe(file)} (id {master.key_id}, mode 600)"
    )
    console.print(
        "Giữ bản sao ở nơi khác cơ sở dữ liệu và bản sao lưu của nó / keep a copy apart from "
        "the database and its backups: without it the sealed bodies cannot be read"
    )


@keys_app.command("status")
def status_command(
    database: DatabaseOption = None,
    bound: Annotated[
        int, typer.Option(help="Stop counting a key's rows at this many (a large log).")
    ] = 1_000_000,
) -> None:
    """The data keys, the master that wraps each, the rows each seals; and the rows still
    kept in plaintext."""
    from lienthong.store.sealing import key_status

    with open_sessions(database) as sessions:
        status = key_status(sessions, bound)
    if not status.keys:
        console.print(
            "Chưa có khóa dữ liệu: mã hóa lưu trữ chưa bật / no data key: encryption at rest "
            "is not on"
        )
    table = Table()
    for column in ("data key", "master", "created (UTC)", "retired (UTC)", "sealed rows"):
        table.add_column(column)

    def counted(counts: dict[str, int]) -> str:
        return ", ".join(
            f"{name}: {'≥' if count >= bound else ''}{count}" for name, count in counts.items()
        )

    for key in status.keys:
        table.add_row(
            str(key.id),
            key.master_id,
            key.created_at.strftime("%Y-%m-%d %H:%M:%S"),
            key.retired_at.strftime("%Y-%m-%d %H:%M:%S") if key.retired_at else "(active)",
            counted(key.sealed),
        )
    if status.keys:
        console.print(table)
    console.print(f"plaintext rows: {counted(status.plaintext)}")


@keys_app.command("rotate")
def rotate_command(
    database: DatabaseOption = None,
    master_key_file: MasterKeyFileOption = None,
    master_key_token: MasterKeyTokenOption = None,
    master_key_label: MasterKeyLabelOption = None,
    master_key_pin_file: MasterKeyPinFileOption = None,
    master_key_module: MasterKeyModuleOption = None,
    new_master_key_file: Annotated[
        str | None, typer.Option("--new-master-key-file", help="The new master key file.")
    ] = None,
    new_master_key_token: Annotated[
        str | None, typer.Option("--new-master-key-pkcs11-token", help="Or the new master's token.")
    ] = None,
    new_master_key_label: Annotated[
        str | None, typer.Option("--new-master-key-pkcs11-label", help="Its label on that token.")
    ] = None,
    new_master_key_pin_file: Annotated[
        str | None, typer.Option("--new-master-key-pin-file", help="That token's PIN file.")
    ] = None,
    new_master_key_module: Annotated[
        str | None, typer.Option("--new-master-key-pkcs11-module", help="That token's library.")
    ] = None,
    new_data_key: Annotated[
        bool,
        typer.Option(
            "--new-data-key",
            help="Also start a new data key for new values (old rows stay readable).",
        ),
    ] = False,
) -> None:
    """Re-wrap every data key under a new master key, in one short transaction: sealed rows are
    not touched and running hubs keep working. Then give the hubs the new master."""
    from lienthong.security.sealing import SealingError
    from lienthong.store.sealing import rotate_keys

    with (
        master_key(
            master_key_file,
            master_key_token,
            master_key_label,
            master_key_pin_file,
            master_key_module,
        ) as current,
        master_key(
            new_master_key_file,
            new_master_key_token,
            new_master_key_label,
            new_master_key_pin_file,
            new_master_key_module,
            from_settings=False,
            setting="--new-master-key",
        ) as new,
    ):
        if current is None:
            fail(
                f"cần khóa chủ hiện tại: --master-key-file hoặc {SETTING}_FILE (hoặc token)",
                f"the current master key is needed: --master-key-file or {SETTING}_FILE "
                "(or a token)",
            )
        if new is None and not new_data_key:
            fail(
                "cần --new-master-key-file (hoặc token) hoặc --new-data-key",
                "give --new-master-key-file (or a token) or --new-data-key",
            )
        with open_sessions(database) as sessions:
            try:
                done = rotate_keys(sessions, current, new, new_data_key=new_data_key)
            except SealingError as problem:
                fail(problem.vi, problem.en)
    if new is not None:
        console.print(
            f"Đã bọc lại {len(done.rewrapped)} khóa dữ liệu bằng khóa chủ {done.master_id} / "
            f"re-wrapped {len(done.rewrapped)} data keys under master {done.master_id}"
        )
    if done.new_data_key is not None:
        console.print(
            f"Khóa dữ liệu mới {done.new_data_key} cho dữ liệu mới (sau khi khởi động lại hub) / "
            f"new data key {done.new_data_key} for new values (once the hubs restart)"
        )
