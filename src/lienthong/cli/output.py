"""The consoles of the commands, and their one way to fail.

Output that is not a terminal (a pipe, a file) is never cut: rich sizes tables to the
terminal, or to 80 columns (or ``$COLUMNS``) when there is none, and folds or ellipsizes what
does not fit. :class:`PipeConsole` gives rich a width no value reaches when stdout is not a
terminal, so that ``lienthong spec list | grep`` sees whole names.
"""

from __future__ import annotations

from typing import NoReturn

import typer
from rich.console import Console, ConsoleDimensions

from lienthong.cli.reports import safe

__all__ = ["PIPE_WIDTH", "PipeConsole", "console", "err_console", "fail", "make_console"]

PIPE_WIDTH = 32_767
"""Columns of a console that is not a terminal: wider than any value the commands print."""


class PipeConsole(Console):
    """A rich console as wide as :data:`PIPE_WIDTH` when it does not write to a terminal."""

    @property
    def size(self) -> ConsoleDimensions:
        size = super().size
        return size if self.is_terminal else ConsoleDimensions(PIPE_WIDTH, size.height)

    @size.setter
    def size(self, new_size: tuple[int, int]) -> None:
        width, height = new_size
        self._width = width
        self._height = height


def make_console(*, stderr: bool = False) -> Console:
    return PipeConsole(stderr=stderr, highlight=False)


console = make_console()
err_console = make_console(stderr=True)


def fail(message_vi: str, message_en: str, code: int = 2) -> NoReturn:
    """Say what is wrong in Vietnamese and English on stderr, and exit with ``code``."""
    err_console.print(
        f"[red]Lỗi:[/red] {safe(message_vi, multiline=True)}\n"
        f"[red]Error:[/red] {safe(message_en, multiline=True)}"
    )
    raise typer.Exit(code)
