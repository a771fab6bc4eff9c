"""How every ``kudos`` command speaks: results on stdout, and a refusal as one ``error:`` line on stderr with exit
code 1 (never a traceback)."""

from __future__ import annotations

import sys
from typing import NoReturn

import typer
from rich.console import Console
from rich.markup import escape

__all__ = ["err", "fail", "show"]

#: stderr, for errors, progress and spinners (stdout is for results a script reads).
err = Console(stderr=True)


def fail(message: str) -> NoReturn:
    """End the command: ``error: message`` on stderr, exit code 1."""
    err.print(f"[red]error:[/red] {escape(message)}", highlight=False, soft_wrap=True)
    raise typer.Exit(1)


def show(rows: list[tuple[str, object]]) -> None:
    """``label: value`` lines on stdout, the values aligned; a None value is left out."""
    width = max(len(label) for label, _ in rows) + 2
    for label, value in rows:
        if value is not None:
            sys.stdout.write(f"{label + ':':<{width}}{value}\n")
