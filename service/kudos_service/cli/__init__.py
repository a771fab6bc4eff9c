"""The ``kudos`` command, one module per way it reaches the system:

- :mod:`~kudos_service.cli.local`: this machine's data (``serve``, ``keys``, ``chain redeliver``);
- :mod:`~kudos_service.cli.node`: a chain's node over JSON-RPC, signed with a keystore (``deploy``, ``roles``);
- :mod:`~kudos_service.cli.remote`: a running service over HTTP (``award``, ``wallet``, ``import``), through
  :mod:`~kudos_service.cli.api_client`, with :mod:`~kudos_service.cli.csv_import` reading ``import``'s file.

Every failure prints one ``error:`` line on stderr and exits with code 1, a usage error too (a missing option, a
bad value, an unknown command: :class:`KudosGroup`); no traceback. The command modules import only Typer and
light modules at the top and the heavy ones (web3, SQLAlchemy, FastAPI) inside the commands that need them, so
``kudos --help`` and the commands over HTTP start in a fraction of a second.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import typer
from rich.markup import escape
from typer.core import TyperGroup

from kudos_service.cli import local, node, remote
from kudos_service.cli._output import err

__all__ = ["KudosGroup", "app", "main"]


class KudosGroup(TyperGroup):
    """The root command: a usage error (a missing option, a bad value, an unknown command or option) is one
    ``error:`` line naming the command's ``--help``, exit code 1, like every other refusal, instead of Click's
    usage panel and exit code 2. The command alone (``kudos``, ``kudos keys``) prints its help and exits 1."""

    def main(
        self,
        args: Sequence[str] | None = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        windows_expand_args: bool = True,
        **extra: Any,
    ) -> Any:
        try:
            code = super().main(
                args, prog_name, complete_var, standalone_mode=False, windows_expand_args=windows_expand_args, **extra
            )
        except typer.TyperException as exc:  # Typer's usage errors (its own Click's), and a file it cannot open
            if type(exc).__name__ == "NoArgsIsHelpError":  # not exported by Typer; it has printed the help already
                code = 1
            else:
                ctx = getattr(exc, "ctx", None)
                where = f" (see `{ctx.command_path} --help`)" if ctx is not None else ""
                code = _refuse(_one_line(exc.format_message()) + where)
        except typer.Abort:  # end of input at a prompt
            code = _refuse("aborted")
        if not standalone_mode:
            return code
        raise SystemExit(code if isinstance(code, int) else 0)


def _one_line(message: str) -> str:
    text = " ".join(message.split()).rstrip(".")
    return text[:1].lower() + text[1:]


def _refuse(message: str) -> int:
    err.print(f"[red]error:[/red] {escape(message)}", highlight=False, soft_wrap=True)
    return 1


app = typer.Typer(
    name="kudos",
    help="Award kudos: recognition as non-fungible tokens.",
    cls=KudosGroup,
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_show_locals=False,  # a local can hold a password or an API key
)
for commands in (remote.app, local.app, node.app):
    app.add_typer(commands)


def main() -> None:
    """Entry point of the ``kudos`` command."""
    app()
