"""The ``kudos`` command: ``kudos serve`` and ``kudos keys create``.

A failure prints one line on stderr and exits non-zero; no traceback.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Annotated, NoReturn

import typer
from pydantic import ValidationError
from rich.console import Console

from kudos_chain import KudosError
from kudos_service.core.config import Settings, SettingsError
from kudos_service.core.db import Database
from kudos_service.core.security import SCOPES, generate_api_key, hash_secret
from kudos_service.models import ApiKey

__all__ = ["app", "main"]

app = typer.Typer(
    name="kudos", help="Award kudos: recognition as non-fungible tokens.", no_args_is_help=True, add_completion=False
)
keys_app = typer.Typer(help="Manage API keys.", no_args_is_help=True)
app.add_typer(keys_app, name="keys")

err = Console(stderr=True)

DataDir = Annotated[
    Path | None, typer.Option("--data-dir", help="Where the database and the embedded chain live (KUDOS_DATA_DIR).")
]


def _settings(**overrides: object) -> Settings:
    values = {k: v for k, v in overrides.items() if v is not None}
    try:
        return Settings(**values)  # type: ignore[arg-type]
    except SettingsError as exc:
        _fail(str(exc))
    except ValidationError as exc:
        problems = "; ".join(f"KUDOS_{'_'.join(map(str, e['loc'])).upper()}: {e['msg']}" for e in exc.errors())
        _fail(f"invalid settings: {problems}")


def _fail(message: str) -> NoReturn:
    err.print(f"[red]error:[/red] {message}", highlight=False, soft_wrap=True)
    raise typer.Exit(1)


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Address to listen on (default 127.0.0.1).")] = None,
    port: Annotated[int | None, typer.Option(help="Port to listen on (default 8000).")] = None,
    data_dir: DataDir = None,
) -> None:
    """Start the API and the delivery worker (the embedded chain unless KUDOS_RPC_URL is set)."""
    import uvicorn  # noqa: PLC0415 - only the server needs it

    from kudos_service.main import build_state, create_app  # noqa: PLC0415

    settings = _settings(host=host, port=port, data_dir=data_dir)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        state = build_state(settings)
        if settings.embedded:
            ctx = state.chain.get()
            where = f"embedded chain {ctx.chain_id}, contract {ctx.client.address}"
        else:
            where = "a real chain (connecting in the background)"
    except (KudosError, OSError) as exc:
        _fail(str(exc))
    err.print(f"kudos-chain on {where}; data in {settings.data_dir}", highlight=False, soft_wrap=True)
    err.print(f"API docs: {settings.base_url}/docs", highlight=False, soft_wrap=True)
    uvicorn.run(create_app(state=state), host=settings.host, port=settings.port, log_level="warning")


@keys_app.command("create")
def keys_create(
    scope: Annotated[list[str], typer.Option("--scope", help=f"A scope of the key: {', '.join(SCOPES)}. Repeatable.")],
    name: Annotated[str | None, typer.Option(help="A label for the key.")] = None,
    data_dir: DataDir = None,
) -> None:
    """Create an API key and print it alone on stdout (only its hash is stored)."""
    unknown = sorted(set(scope) - set(SCOPES))
    if unknown:
        _fail(f"unknown scope {', '.join(unknown)}: choose from {', '.join(SCOPES)}")
    settings = _settings(data_dir=data_dir)
    if settings.database_url is None:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
    db = Database(settings.sqlalchemy_url)
    db.migrate()
    key, prefix = generate_api_key()
    with db.session() as session:
        session.add(ApiKey(prefix=prefix, secret_hash=hash_secret(key), scopes=",".join(sorted(set(scope))), name=name))
    db.dispose()
    sys.stdout.write(key + "\n")


def main() -> None:
    """Entry point of the ``kudos`` command."""
    app()
