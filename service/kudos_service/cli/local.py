"""Commands on this machine's data: ``kudos serve`` (the API and the delivery worker), ``kudos keys`` (API keys in
the database) and ``kudos chain redeliver`` (the database's awards on another chain).

They read the settings as the service does (``--data-dir``, ``KUDOS_DATA_DIR``, ``KUDOS_DATABASE_URL``...). The
database, the chain and the server are imported inside each command, so that ``kudos --help`` and the commands
over HTTP start without them.
"""

from __future__ import annotations

import json
import logging
import re
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from kudos_service.cli._output import err, fail, show
from kudos_service.cli.node import connect, on_chain
from kudos_service.core.security import PREFIX_PATTERN, SCOPES, split_api_key

if TYPE_CHECKING:
    from kudos_service.core.config import Settings
    from kudos_service.core.db import Database

__all__ = ["app"]

#: Where these commands appear in ``kudos --help``.
PANEL = "On this machine's data"

app = typer.Typer()
keys_app = typer.Typer(help="Manage API keys.", no_args_is_help=True)
app.add_typer(keys_app, name="keys", rich_help_panel=PANEL)
chain_app = typer.Typer(help="The chain the service delivers to.", no_args_is_help=True)
app.add_typer(chain_app, name="chain", rich_help_panel=PANEL)

DataDir = Annotated[
    Path | None, typer.Option("--data-dir", help="Where the database and the embedded chain live (KUDOS_DATA_DIR).")
]


def _settings(**overrides: object) -> Settings:
    """The service's settings, as it reads them, with the options given; a bad one ends the command."""
    from pydantic import ValidationError

    from kudos_service.core.config import Settings, SettingsError

    values = {k: v for k, v in overrides.items() if v is not None}
    try:
        return Settings(**values)  # type: ignore[arg-type]
    except SettingsError as exc:
        fail(str(exc))
    except ValidationError as exc:
        problems = "; ".join(f"KUDOS_{'_'.join(map(str, e['loc'])).upper()}: {e['msg']}" for e in exc.errors())
        fail(f"invalid settings: {problems}")


@app.command(rich_help_panel=PANEL)
def serve(
    host: Annotated[str | None, typer.Option(help="Address to listen on (default 127.0.0.1).")] = None,
    port: Annotated[int | None, typer.Option(help="Port to listen on (default 8000).")] = None,
    data_dir: DataDir = None,
) -> None:
    """Start the API and the delivery worker (the embedded chain unless KUDOS_RPC_URL is set)."""
    import uvicorn

    from kudos_chain import KudosError
    from kudos_service.main import create_app
    from kudos_service.state import build_state

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
        fail(str(exc))
    err.print(f"kudos-chain on {where}; data in {settings.data_dir}", highlight=False, soft_wrap=True)
    err.print(f"API docs: {settings.base_url}/docs", highlight=False, soft_wrap=True)
    uvicorn.run(create_app(state=state), host=settings.host, port=settings.port, log_level="warning")


@contextmanager
def _local_db(settings: Settings) -> Iterator[Database]:
    """This machine's database (``--data-dir`` or ``KUDOS_DATABASE_URL``), migrated; closed at the end."""
    from kudos_service.core.db import Database
    from kudos_service.core.files import private_dir

    if settings.database_url is None:
        private_dir(settings.data_dir)  # 0700, as `kudos serve` makes it: this is often the first command run
    db = Database(settings.sqlalchemy_url)
    try:
        db.migrate()
        yield db
    finally:
        db.dispose()


def _expiry(expires_in: str | None, expires_at: str | None) -> datetime | None:
    """When a new key expires, from ``--expires-in`` or ``--expires-at``; a bad value ends the command."""
    from kudos_service.errors import InvalidRequestError
    from kudos_service.keys import expiry

    if expires_in is not None and expires_at is not None:
        fail("give --expires-in or --expires-at, not both")
    moment = None
    if expires_at is not None:
        try:
            moment = datetime.fromisoformat(expires_at.strip())
        except ValueError:
            fail(
                f"--expires-at {expires_at!r} is not an ISO 8601 date or time, such as 2027-06-30 or 2027-06-30T17:00Z"
            )
    try:
        return expiry(expires_in=expires_in, expires_at=moment)
    except InvalidRequestError as exc:
        fail(f"--{'expires-in' if expires_in is not None else 'expires-at'}: {exc.message}")


@keys_app.command("create")
def keys_create(
    scope: Annotated[list[str], typer.Option("--scope", help=f"A scope of the key: {', '.join(SCOPES)}. Repeatable.")],
    name: Annotated[str | None, typer.Option(help="A label for the key.")] = None,
    expires_in: Annotated[
        str | None,
        typer.Option(
            "--expires-in",
            metavar="LIFETIME",
            show_default=False,
            help="The key stops working this long from now: a whole number and m, h, d or w, such as 30d or 12h "
            "(at most 10 years).",
        ),
    ] = None,
    expires_at: Annotated[
        str | None,
        typer.Option(
            "--expires-at",
            metavar="WHEN",
            show_default=False,
            help="The key stops working at this ISO 8601 date or time: 2027-06-30 (00:00 UTC that day) or "
            "2027-06-30T17:00+02:00 (UTC when no zone is given). Default, and without --expires-in: never.",
        ),
    ] = None,
    data_dir: DataDir = None,
) -> None:
    """Create an API key and print it alone on stdout (only its hash is stored)."""
    from pydantic import TypeAdapter, ValidationError

    from kudos_service.keys import create_key
    from kudos_service.schemas import Name

    unknown = sorted(set(scope) - set(SCOPES))
    if unknown:
        fail(f"unknown scope {', '.join(unknown)}: choose from {', '.join(SCOPES)}")
    if name is not None:
        try:
            name = TypeAdapter(Name).validate_python(name)
        except ValidationError as exc:
            fail(f"--name: {exc.errors()[0]['msg']}")
    when = _expiry(expires_in, expires_at)
    settings = _settings(data_dir=data_dir)
    with _local_db(settings) as db, db.session() as session:
        key, _row = create_key(session, scopes=scope, name=name, expires_at=when)
    sys.stdout.write(key + "\n")


def _when(moment: datetime | None) -> str:
    from kudos_service.models import as_utc

    return "-" if moment is None else as_utc(moment).strftime("%Y-%m-%d %H:%M")


_STATUS_STYLE = {"active": "green", "expired": "yellow", "revoked": "red"}


@keys_app.command("list")
def keys_list(
    data_dir: DataDir = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON array (for scripts).")] = False,
) -> None:
    """List the API keys, as a table: prefix, name, scopes, status, and when each was created, last used, expires
    and was revoked (UTC). Never a key's secret. Last use is recorded at most once a minute."""
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    from kudos_service.keys import key_view, list_keys
    from kudos_service.models import utcnow

    settings = _settings(data_dir=data_dir)
    now = utcnow()
    with _local_db(settings) as db, db.session() as session:
        views = [key_view(key, now) for key in list_keys(session)]
    if as_json:
        sys.stdout.write(json.dumps([v.model_dump(mode="json") for v in views], indent=2) + "\n")
        return
    if not views:
        sys.stdout.write("no API keys yet: `kudos keys create --scope award` makes one\n")
        return
    table = Table(
        title=f"{len(views)} API keys",
        caption="times in UTC; last use is recorded at most once a minute",
        pad_edge=False,
    )
    table.add_column("prefix", no_wrap=True)
    table.add_column("name")
    table.add_column("scopes")
    for column in ("status", "created", "last used", "expires", "revoked"):
        table.add_column(column, no_wrap=True)
    for view in views:
        revoked = _when(view.revoked_at) if view.revoked_at else ("yes" if view.status == "revoked" else "-")
        table.add_row(
            view.prefix,
            escape(view.name or "-"),
            ",".join(view.scopes) or "-",
            f"[{_STATUS_STYLE[view.status]}]{view.status}[/]",
            _when(view.created_at),
            _when(view.last_used_at),
            _when(view.expires_at),
            revoked,
        )
    Console().print(table)


@keys_app.command("revoke")
def keys_revoke(
    prefix: Annotated[
        str, typer.Argument(metavar="PREFIX", help="The key's prefix, as `kudos keys list` shows it (12 hex digits).")
    ],
    data_dir: DataDir = None,
) -> None:
    """Revoke an API key for good. A running service refuses it within its key cache time (KUDOS_API_KEY_CACHE_S,
    5 s by default)."""
    from kudos_service.errors import NotFoundError
    from kudos_service.keys import revoke_key

    wanted = split_api_key(prefix.strip()) or prefix.strip().lower()  # a whole key names its prefix; never echoed
    if not re.fullmatch(PREFIX_PATTERN, wanted):
        fail("PREFIX is the 12 hex digits `kudos keys list` shows for the key")
    settings = _settings(data_dir=data_dir)
    with _local_db(settings) as db, db.session() as session:
        try:
            key, changed = revoke_key(session, wanted)
        except NotFoundError as exc:
            fail(exc.message)
        label = f"API key {key.prefix}" + (f" ({key.name})" if key.name else "")
        at = _when(key.revoked_at)
    if not changed:
        sys.stdout.write(f"{label} was revoked already" + (f", at {at} UTC" if at != "-" else "") + "\n")
        return
    sys.stdout.write(
        f"revoked {label}; a running service refuses it within {settings.api_key_cache_s:g} s (KUDOS_API_KEY_CACHE_S)\n"
    )


@chain_app.command("redeliver")
def chain_redeliver(
    data_dir: DataDir = None,
    yes: Annotated[bool, typer.Option("--yes", help="Adopt the new chain and queue the awards again.")] = False,
) -> None:
    """List what the database holds for the chain it knew, and with --yes deliver it again on the chain and
    contract the settings name (KUDOS_RPC_URL, KUDOS_CONTRACT_ADDRESS, KUDOS_CONTRACT_FROM_BLOCK), exactly once.

    For a node that came back without its state, or a service moved to a new network: deploy the contract there
    first (kudos deploy), stop the service, run this, and start the service again.
    """
    from kudos_chain import KudosClient
    from kudos_service.core.db import Database
    from kudos_service.delivery.redeliver import redeliver, survey

    settings = _settings(data_dir=data_dir)
    if settings.embedded or settings.rpc_url is None or settings.contract_address is None:
        fail("set KUDOS_RPC_URL and KUDOS_CONTRACT_ADDRESS to the chain and contract to deliver on")
    url = settings.rpc_url.get_secret_value()
    chain = connect(url, settings.chain_id)
    with on_chain(url):
        client = KudosClient.attach(chain, settings.contract_address, from_block=settings.contract_from_block)
    db = Database(settings.sqlalchemy_url)
    db.migrate()
    try:
        with on_chain(url):
            found = survey(db, client)
    except LookupError as exc:
        fail(str(exc))
    counts = ", ".join(f"{n} {status}" for status, n in sorted(found.awards.items())) or "none"
    old = f"0x{found.old_genesis.hex()[:16]}…" if found.old_genesis else "not recorded"
    show(
        [
            ("stored chain", f"{found.old_chain_id}, genesis {old}, contract {found.old_contract}"),
            (
                "node's chain",
                f"{found.new_chain_id}, genesis 0x{found.new_genesis.hex()[:16]}…, contract {found.new_contract}",
            ),
            ("awards", counts),
            ("revoked (not delivered again)", found.revoked),
            ("to deliver again", found.to_deliver),
        ]
    )
    if found.same_chain:
        typer.echo("the node answers for the chain and contract the service knows: nothing to deliver again")
        return
    if not yes:
        typer.echo("run again with --yes, with the service stopped, to deliver these awards on the node's chain")
        return
    with on_chain(url):
        redeliver(db, client)
    typer.echo(f"{found.to_deliver} awards are queued for {found.new_contract}: start the service to deliver them")
