"""The ``kudos`` command: ``kudos serve`` and ``kudos keys create|list|revoke`` on this machine's data; ``kudos award``,
``kudos wallet`` and ``kudos import`` through a running service's HTTP API (``--url``/``KUDOS_API_URL``,
``KUDOS_API_KEY``), so every award takes the service's exactly-once path; ``kudos deploy`` and ``kudos roles``
straight on a chain's node (``--rpc-url``/``KUDOS_RPC_URL``), signed with a keystore in this process.

A failure prints one line on stderr and exits non-zero; no traceback.
"""

from __future__ import annotations

import json
import logging
import os
import re
import sys
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any, NoReturn
from urllib.parse import urlsplit

import requests
import typer
from eth_abi.abi import encode as abi_encode
from eth_utils.crypto import keccak
from pydantic import TypeAdapter, ValidationError
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from web3.exceptions import Web3Exception

from kudos_chain import Chain, FeePolicy, KudosClient, KudosError, Signer
from kudos_chain.chain import redact_url
from kudos_service.client import DEFAULT_URL, MAX_WALLET_PAGE, BatchResult, KudosApi, ServiceError
from kudos_service.core.config import Settings, SettingsError
from kudos_service.core.db import Database
from kudos_service.core.files import private_dir
from kudos_service.core.security import PREFIX_PATTERN, SCOPES, split_api_key
from kudos_service.delivery.redeliver import redeliver, survey
from kudos_service.errors import InvalidRequestError, NotFoundError
from kudos_service.importer import AwardRow, CsvFormatError, check_award, check_key, check_rows, parse_csv
from kudos_service.keys import create_key, expiry, key_view, list_keys, revoke_key
from kudos_service.models import as_utc, utcnow
from kudos_service.schemas import MAX_BATCH, AwardOut, Name, is_valid_address

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
    err.print(f"[red]error:[/red] {escape(message)}", highlight=False, soft_wrap=True)
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


@contextmanager
def _local_db(settings: Settings) -> Iterator[Database]:
    """This machine's database (``--data-dir`` or ``KUDOS_DATABASE_URL``), migrated; closed at the end."""
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
    if expires_in is not None and expires_at is not None:
        _fail("give --expires-in or --expires-at, not both")
    moment = None
    if expires_at is not None:
        try:
            moment = datetime.fromisoformat(expires_at.strip())
        except ValueError:
            _fail(
                f"--expires-at {expires_at!r} is not an ISO 8601 date or time, such as 2027-06-30 or 2027-06-30T17:00Z"
            )
    try:
        return expiry(expires_in=expires_in, expires_at=moment)
    except InvalidRequestError as exc:
        _fail(f"--{'expires-in' if expires_in is not None else 'expires-at'}: {exc.message}")


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
    unknown = sorted(set(scope) - set(SCOPES))
    if unknown:
        _fail(f"unknown scope {', '.join(unknown)}: choose from {', '.join(SCOPES)}")
    if name is not None:
        try:
            name = TypeAdapter(Name).validate_python(name)
        except ValidationError as exc:
            _fail(f"--name: {exc.errors()[0]['msg']}")
    when = _expiry(expires_in, expires_at)
    settings = _settings(data_dir=data_dir)
    with _local_db(settings) as db, db.session() as session:
        key, _row = create_key(session, scopes=scope, name=name, expires_at=when)
    sys.stdout.write(key + "\n")


def _when(moment: datetime | None) -> str:
    return "-" if moment is None else as_utc(moment).strftime("%Y-%m-%d %H:%M")


_STATUS_STYLE = {"active": "green", "expired": "yellow", "revoked": "red"}


@keys_app.command("list")
def keys_list(
    data_dir: DataDir = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON array (for scripts).")] = False,
) -> None:
    """List the API keys, as a table: prefix, name, scopes, status, and when each was created, last used, expires
    and was revoked (UTC). Never a key's secret. Last use is recorded at most once a minute."""
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
    wanted = split_api_key(prefix.strip()) or prefix.strip().lower()  # a whole key names its prefix; never echoed
    if not re.fullmatch(PREFIX_PATTERN, wanted):
        _fail("PREFIX is the 12 hex digits `kudos keys list` shows for the key")
    settings = _settings(data_dir=data_dir)
    with _local_db(settings) as db, db.session() as session:
        try:
            key, changed = revoke_key(session, wanted)
        except NotFoundError as exc:
            _fail(exc.message)
        label = f"API key {key.prefix}" + (f" ({key.name})" if key.name else "")
        at = _when(key.revoked_at)
    if not changed:
        sys.stdout.write(f"{label} was revoked already" + (f", at {at} UTC" if at != "-" else "") + "\n")
        return
    sys.stdout.write(
        f"revoked {label}; a running service refuses it within {settings.api_key_cache_s:g} s (KUDOS_API_KEY_CACHE_S)\n"
    )


# ----------------------------------------------------------------------------------------------------------
# Commands that talk to a running service over its HTTP API
# ----------------------------------------------------------------------------------------------------------

ApiUrl = Annotated[
    str, typer.Option("--url", envvar="KUDOS_API_URL", show_envvar=True, help="The kudos service's base URL.")
]
ApiKeyOption = Annotated[
    str | None,
    typer.Option(
        "--api-key",
        envvar="KUDOS_API_KEY",
        show_envvar=True,
        show_default=False,
        help="An API key with the award scope (prefer KUDOS_API_KEY: other users can see a command line).",
    ),
]
_FINAL = ("confirmed", "failed")


def _need_key(api_key: str | None) -> str:
    if not api_key or not api_key.strip():
        _fail("an API key is needed: set KUDOS_API_KEY or pass --api-key (`kudos keys create --scope award` makes one)")
    return api_key.strip()


@contextmanager
def _api(url: str, api_key: str | None = None) -> Iterator[KudosApi]:
    """The service's API; a :class:`ServiceError` raised inside ends the command with its one line."""
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        _fail("the service URL (--url, KUDOS_API_URL) must start with http:// or https:// and name a host")
    try:
        with KudosApi(url.strip(), api_key) as api:
            yield api
    except ServiceError as exc:
        _fail(str(exc))


def _show(rows: list[tuple[str, object]]) -> None:
    width = max(len(label) for label, _ in rows) + 2
    for label, value in rows:
        if value is not None:
            sys.stdout.write(f"{label + ':':<{width}}{value}\n")


@app.command()
def award(
    recipient: Annotated[str, typer.Argument(help="A wallet address (0x…), or @handle of a person in the directory.")],
    kind: Annotated[str, typer.Argument(help="The kudos type: its slug or its id (`GET /v1/kinds` lists them).")],
    message: Annotated[str, typer.Argument(help="The words of thanks, 1 to 500 characters.")],
    awarded_by: Annotated[str, typer.Option("--from", help="Who gives the kudos, as the recipient will read it.")],
    name: Annotated[str | None, typer.Option("--name", help="The recipient's display name, for the metadata.")] = None,
    transferable: Annotated[
        bool | None,
        typer.Option("--transferable/--soulbound", show_default=False, help="Default: the kind's (usually soulbound)."),
    ] = None,
    wait: Annotated[
        float, typer.Option(min=0, metavar="SECONDS", help="Wait up to SECONDS for the award to be on chain.")
    ] = 0,
    idempotency_key: Annotated[
        str | None,
        typer.Option(
            "--idempotency-key",
            help="Send the award under this key; the same key never awards twice. Default: a new one, printed, "
            "so that a retry can reuse it.",
        ),
    ] = None,
    url: ApiUrl = DEFAULT_URL,
    api_key: ApiKeyOption = None,
) -> None:
    """Award one kudos through the service, and print the award (with --wait, its token id and transaction)."""
    secret = _need_key(api_key)
    fields = {
        "recipient": recipient,
        "kind": int(kind) if kind.strip().isdigit() else kind.strip(),
        "message": message,
        "awarded_by": awarded_by,
        "recipient_name": name,
        "transferable": transferable,
    }
    body, problems = check_award(fields)
    if body is None:
        _fail("; ".join(problems))
    if idempotency_key is not None and (why := check_key(idempotency_key)) is not None:
        _fail(f"--idempotency-key: {why}")
    key = idempotency_key or str(uuid.uuid4())
    with _api(url, secret) as api:
        try:
            out = api.create_award(body, key, wait=wait)
            deadline = time.monotonic() + wait
            while out.status not in _FINAL and (left := deadline - time.monotonic()) > 0:
                out = api.award(out.id, wait=left)
        except ServiceError as exc:
            if idempotency_key is None and exc.sent:
                _fail(f"{exc}; to retry without awarding twice, use --idempotency-key {key}")
            raise
    _show(
        [
            ("award", out.id),
            ("status", out.status),
            ("recipient", out.recipient),
            ("kind", out.kind),
            ("soulbound", "no" if out.transferable else "yes"),
            ("token id", out.token_id),
            ("tx hash", out.tx_hash),
            ("block", out.block_number),
            ("chain id", out.chain_id if out.token_id is not None else None),
            ("contract", out.contract_address if out.token_id is not None else None),
            ("token uri", out.token_uri),
            ("idempotency key", key),
        ]
    )
    if out.status == "failed":
        _fail(f"award {out.id} failed: {out.failure_reason or 'no reason given'}")
    if wait and out.status != "confirmed":
        _fail(f"award {out.id} is still {out.status} after {wait:g} s; it is accepted and will be delivered")


@app.command()
def wallet(
    address: Annotated[str, typer.Argument(help="The wallet address (0x and 40 hex digits).")],
    limit: Annotated[int, typer.Option(min=1, max=100_000, help="Show at most this many kudos, newest first.")] = 50,
    url: ApiUrl = DEFAULT_URL,
) -> None:
    """Show the kudos a wallet holds, newest first, as a table (public: no API key needed)."""
    address = address.strip()
    if not is_valid_address(address):
        _fail(f"{address!r} is not a wallet address (0x and 40 hex digits, with a valid checksum if mixed-case)")
    with _api(url) as api:
        page = api.wallet(address, limit=min(limit, MAX_WALLET_PAGE))
        items = list(page.items)
        while page.items and len(items) < min(limit, page.total):
            page = api.wallet(address, limit=min(limit - len(items), MAX_WALLET_PAGE), offset=len(items))
            items += page.items
    table = Table(
        title=f"{page.address}: {page.total} kudos" + (f", the newest {len(items)}" if len(items) < page.total else ""),
        caption=f"chain {page.chain_id} · contract {page.contract_address}",
        pad_edge=False,
    )
    table.add_column("token id", justify="right", no_wrap=True)
    table.add_column("kind")
    table.add_column("message", min_width=10)
    table.add_column("from")
    for column in ("issued", "verified", "soulbound"):
        table.add_column(column, no_wrap=True)
    for item in items:
        table.add_row(
            str(item.token_id),
            escape(f"{item.emoji or ''} {item.kind_name or item.kind or '?'}".strip()),
            escape(item.message) if item.message is not None else "[dim]-[/dim]",
            escape(item.awarded_by or "-"),
            item.issued_at.strftime("%Y-%m-%d") if item.issued_at else "-",
            "yes" if item.verified else "[red]no[/red]",
            "?" if item.transferable is None else ("no" if item.transferable else "yes"),
        )
    Console().print(table)


_IMPORT_HELP = "\n\n".join(
    [
        "Award every row of a CSV file, in batches, through the service.",
        "The first line is the header. Columns, in any order: recipient (0x address or @handle), kind (slug or id), "
        "message (1 to 500 characters), awarded_by; optionally recipient_name, transferable (true/false; empty: "
        "the kind's default) and key (an idempotency key of your own).",
        "Example: a header recipient,kind,message,awarded_by and a row @ada,team-player,Thanks for the launch!,Grace",
        "Every row is checked before anything is sent: each bad row is listed by its line number (the header is "
        "line 1) and nothing is sent.",
        "Running the same file again awards nothing twice and finishes what an interrupted run left: each row's "
        "idempotency key is derived from its content (and from how many identical rows come before it), unless "
        "the key column gives one.",
    ]
)


@app.command("import", help=_IMPORT_HELP)
def import_csv(
    file: Annotated[Path, typer.Argument(help="The CSV file (UTF-8) with a header row.", show_default=False)],
    batch_size: Annotated[int, typer.Option(min=1, max=MAX_BATCH, help="Rows per request.")] = 200,
    wait: Annotated[bool, typer.Option("--wait", help="Then wait until every award is on chain.")] = False,
    timeout: Annotated[float, typer.Option(min=0, metavar="SECONDS", help="How long --wait waits.")] = 300,
    url: ApiUrl = DEFAULT_URL,
    api_key: ApiKeyOption = None,
) -> None:
    secret = _need_key(api_key)
    try:
        header, records = parse_csv(file.read_text("utf-8-sig"))
    except UnicodeDecodeError as exc:
        _fail(f"{file} is not UTF-8 text (byte {exc.start})")
    except OSError as exc:
        _fail(f"cannot read {file}: {exc.strerror or exc}")
    except CsvFormatError as exc:
        _fail(f"{file}: {exc}")
    with _api(url, secret) as api:
        rows, bad = check_rows(records, api.kinds(), len(header))
        if bad:
            for row in bad:
                err.print(str(row), markup=False, highlight=False, soft_wrap=True)
            _fail(f"{len(bad)} of {len(records)} rows of {file} are bad; nothing was sent")
        if not rows:
            sys.stdout.write(f"{file} has no rows: nothing to award\n")
            return
        sent = _send(api, rows, batch_size)
        if wait:
            _confirm(api, sent, timeout)
    _report(file, sent, wait)


@dataclass
class _Sent:
    """What an import sent: each accepted row's award by line, how many were new, the refused rows by line."""

    rows: list[AwardRow]
    awards: dict[int, AwardOut] = field(default_factory=dict)
    refused: dict[int, str] = field(default_factory=dict)
    new: int | None = 0

    def add(self, rows: list[AwardRow], result: BatchResult) -> None:
        for row, out in zip(rows, result.awards, strict=True):
            self.awards[row.line] = out
        self.new = None if self.new is None or result.created is None else self.new + result.created


def _progress() -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err,
        disable=not err.is_terminal,
    )


def _send(api: KudosApi, rows: list[AwardRow], batch_size: int) -> _Sent:
    """Send ``rows`` in batches; a row the service refuses is set aside (and the rest of its batch sent)."""
    sent = _Sent(rows)
    with _progress() as progress:
        task = progress.add_task("sending", total=len(rows))
        try:
            for start in range(0, len(rows), batch_size):
                chunk = rows[start : start + batch_size]
                _send_batch(api, chunk, sent)
                progress.advance(task, len(chunk))
        except (ServiceError, KeyboardInterrupt) as exc:
            if isinstance(exc, ServiceError) and not exc.sent and not sent.awards:
                _fail(f"{exc}; nothing was sent")
            reason = "interrupted" if isinstance(exc, KeyboardInterrupt) else str(exc)
            _fail(
                f"{reason}; {len(sent.awards)} of {len(rows)} rows are known to be accepted: run the same import "
                "again to send the rest (nothing is awarded twice)"
            )
    return sent


def _send_batch(api: KudosApi, chunk: list[AwardRow], sent: _Sent) -> None:
    pending = list(chunk)
    conflicts = 0
    while pending:
        try:
            result = api.create_batch([row.batch_item() for row in pending])
        except ServiceError as exc:
            if exc.code == "idempotency_conflict" and conflicts < 3:  # a concurrent run sent the same keys
                conflicts += 1
                continue
            refused = _refused_items(exc, len(pending))
            if not refused:
                raise
            for index, reason in refused.items():
                sent.refused[pending[index].line] = reason
            pending = [row for i, row in enumerate(pending) if i not in refused]
            continue
        sent.add(pending, result)
        return


def _refused_items(exc: ServiceError, size: int) -> dict[int, str]:
    """The items of a refused batch the service named (index: reason), or {} when it named none."""
    if exc.status not in (409, 422):
        return {}
    refused: dict[int, list[str]] = {}
    for detail in exc.details:
        index = detail.get("index", 0 if size == 1 else None)
        if not isinstance(index, int) or not 0 <= index < size:
            return {}
        field_name = str(detail.get("field", "")).rpartition(".")[2].rpartition("]")[2]
        message = str(detail.get("message", exc.code))
        refused.setdefault(index, []).append(f"{field_name}: {message}" if field_name else message)
    return {index: "; ".join(reasons) for index, reasons in refused.items()}


def _confirm(api: KudosApi, sent: _Sent, timeout: float) -> None:
    """Wait until every award is final; awards are delivered in the order accepted, so this waits on the first
    pending one at a time."""
    pending = [(line, out) for line, out in sent.awards.items() if out.status not in _FINAL]
    deadline = time.monotonic() + timeout
    with _progress() as progress:
        task = progress.add_task("confirming", total=len(sent.awards), completed=len(sent.awards) - len(pending))
        try:
            for line, out in pending:
                current = out
                while current.status not in _FINAL and (left := deadline - time.monotonic()) > 0:
                    current = api.award(current.id, wait=min(left, 10))
                sent.awards[line] = current
                if current.status not in _FINAL:
                    break
                progress.advance(task)
        except (ServiceError, KeyboardInterrupt) as exc:
            reason = "interrupted" if isinstance(exc, KeyboardInterrupt) else str(exc)
            _fail(f"{reason} while waiting: every row was accepted and will be delivered")


def _report(file: Path, sent: _Sent, waited: bool) -> None:
    accepted = len(sent.awards)
    new = sent.new
    counts = f"{accepted} accepted" if new is None else f"{new} new, {accepted - new} already awarded"
    statuses = Counter(out.status for out in sent.awards.values())
    if waited or statuses["confirmed"] or statuses["failed"]:
        counts += ", " + ", ".join(f"{n} {status}" for status, n in sorted(statuses.items()))
    sys.stdout.write(f"{file}: {len(sent.rows)} rows; {counts}; {len(sent.refused)} refused\n")
    failed = {line: out for line, out in sent.awards.items() if out.status == "failed"}
    for line, reason in sorted(sent.refused.items()):
        err.print(f"line {line}: refused: {reason}", markup=False, highlight=False, soft_wrap=True)
    for line, out in sorted(failed.items()):
        err.print(f"line {line}: award {out.id} failed: {out.failure_reason}", markup=False, highlight=False)
    if sent.refused:
        _fail(f"the service refused {len(sent.refused)} rows (listed above); fix them and run the same import again")
    if failed:
        _fail(f"{len(failed)} awards failed on chain (listed above)")
    if waited and statuses["confirmed"] < accepted:
        _fail(f"{accepted - statuses['confirmed']} awards are not confirmed yet; they will be delivered")


# ----------------------------------------------------------------------------------------------------------
# Commands that act on a chain's node directly: deploy a KudosToken, grant and revoke the minter role
# ----------------------------------------------------------------------------------------------------------

roles_app = typer.Typer(help="Grant, revoke and show the minter role of a KudosToken.", no_args_is_help=True)
app.add_typer(roles_app, name="roles")

#: Where the kudos service serves token metadata: a token's URI is the contract's base URI and the token id.
TOKENS_PATH = "/v1/tokens/"

_ADDRESS_RULE = "0x and 40 hex digits, with a valid checksum if mixed-case"
_ROLE_IDS = {"PAUSER_ROLE": keccak(text="PAUSER_ROLE"), "DEFAULT_ADMIN_ROLE": b"\x00" * 32}
_HAS_ROLE = keccak(text="hasRole(bytes32,address)")[:4]

RpcUrl = Annotated[
    str | None,
    typer.Option(
        "--rpc-url",
        envvar="KUDOS_RPC_URL",
        show_envvar=True,
        show_default=False,
        metavar="URL",
        help="The node's JSON-RPC URL, http(s) (prefer KUDOS_RPC_URL: a provider's URL holds its API key, and other "
        "users can see a command line). Only its scheme, host and port are ever printed.",
    ),
]
ChainId = Annotated[
    str | None,
    typer.Option(
        "--chain-id",
        envvar="KUDOS_CHAIN_ID",
        show_envvar=True,
        show_default=False,
        metavar="N",
        help="The chain id the node must answer with (a check against the wrong network).",
    ),
]
Keystore = Annotated[
    Path | None,
    typer.Option(
        "--keystore",
        envvar="KUDOS_SIGNER_KEYSTORE",
        show_envvar=True,
        show_default=False,
        metavar="FILE",
        help="The encrypted keystore (Web3 Secret Storage JSON) of the key that signs.",
    ),
]
PasswordFile = Annotated[
    Path | None,
    typer.Option(
        "--password-file",
        envvar="KUDOS_SIGNER_PASSWORD_FILE",
        show_envvar=True,
        show_default=False,
        metavar="FILE",
        help="A file holding the keystore's password (one trailing newline is ignored). Without it: "
        "KUDOS_SIGNER_PASSWORD, else a prompt on a terminal. Never a command-line argument.",
    ),
]
MaxFee = Annotated[
    str | None,
    typer.Option(
        "--max-fee-per-gas",
        envvar="KUDOS_MAX_FEE_PER_GAS",
        show_envvar=True,
        show_default=False,
        metavar="WEI",
        help="The most one unit of gas may cost, in wei; a network asking more is refused. Default: no cap.",
    ),
]
Contract = Annotated[
    str | None,
    typer.Option(
        "--contract",
        envvar="KUDOS_CONTRACT_ADDRESS",
        show_envvar=True,
        show_default=False,
        metavar="ADDRESS",
        help="The KudosToken's address.",
    ),
]
AccountArg = Annotated[str, typer.Argument(metavar="ADDRESS", help="The account (0x and 40 hex digits).")]


def _whole(value: str | None, option: str, envvar: str) -> int | None:
    """The positive whole number of ``option`` (or its environment variable), or None when it is not given."""
    if value is None or not value.strip():
        return None
    text = value.strip()
    if not text.isascii() or not text.isdigit() or int(text) < 1:
        _fail(f"{option} ({envvar}) must be a positive whole number, not {text!r}")
    return int(text)


def _address_of(value: str, what: str) -> str:
    """``value`` when it is an address, else the command ends naming ``what``."""
    value = value.strip()
    if not is_valid_address(value):
        _fail(f"{what} {value!r} is not an address ({_ADDRESS_RULE})")
    return value


def _need(value: str | Path | None, missing: str) -> str:
    """``value``, stripped; when it is not given the command ends with ``missing``."""
    if value is None or not str(value).strip():
        _fail(missing)
    return str(value).strip()


def _rpc_url(value: str | None) -> str:
    url = _need(value, "the node's URL is needed: pass --rpc-url or set KUDOS_RPC_URL")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        _fail("the node's URL (--rpc-url, KUDOS_RPC_URL) must start with http:// or https:// and name a host")
    return url


def _scrub(text: str, url: str) -> str:
    """``text`` without the path, query or credentials of ``url`` (requests and urllib3 quote the URL they fail to
    reach in their messages, and providers put their API keys there)."""
    parts = urlsplit(url)
    secrets = {url, parts.netloc if parts.username else "", parts.query, parts.password or ""}
    secrets |= {parts.path + (f"?{parts.query}" if parts.query else ""), parts.path.strip("/")}
    for secret in sorted((s for s in secrets if len(s) >= 4), key=len, reverse=True):
        text = text.replace(secret, redact_url(url) if secret == url else "…")
    return text


@contextmanager
def _on_chain(url: str) -> Iterator[None]:
    """Errors of the node or the contract end the command with one line, without the URL's secrets."""
    try:
        yield
    except KudosError as exc:  # composes its own message, the URL redacted and no key material
        _fail(str(exc))
    except (requests.RequestException, OSError) as exc:
        _fail(f"the node at {redact_url(url)} stopped answering: {exc.__class__.__name__}")
    except Web3Exception as exc:
        first_line = (str(exc).strip().splitlines() or [""])[0]
        _fail(f"the node at {redact_url(url)} refused a request: {_scrub(first_line, url) or exc.__class__.__name__}")


def _keystore(keystore: Path | None) -> Path:
    return Path(_need(keystore, "a keystore is needed: pass --keystore FILE or set KUDOS_SIGNER_KEYSTORE"))


def _signer(path: Path, password_file: Path | None) -> Signer:
    """The key of keystore ``path``, decrypted with the password of the file, of KUDOS_SIGNER_PASSWORD or of a
    prompt on a terminal."""
    if password_file is not None:
        try:
            password = password_file.read_text("utf-8").rstrip("\n")  # as the service reads it
        except (OSError, UnicodeDecodeError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else exc.__class__.__name__
            _fail(f"cannot read the password file {password_file}: {reason}")
    elif os.environ.get("KUDOS_SIGNER_PASSWORD"):
        password = os.environ["KUDOS_SIGNER_PASSWORD"]
    elif sys.stdin.isatty():
        password = typer.prompt(f"Password of {path}", hide_input=True, err=True)
    else:
        _fail(
            "the keystore's password is needed: --password-file FILE, KUDOS_SIGNER_PASSWORD_FILE or "
            "KUDOS_SIGNER_PASSWORD (or run on a terminal to be asked)"
        )
    try:
        return Signer.from_keystore(path, password)
    except KudosError as exc:  # KeystoreError: the path and the reason, never the password
        _fail(str(exc))


def _connect(url: str, chain_id: int | None) -> Chain:
    with _on_chain(url):
        return Chain.connect(url, chain_id=chain_id)


def _status(message: str) -> AbstractContextManager[Any]:
    """A spinner on stderr while the chain works, on a terminal only (elsewhere stderr is for the error line)."""
    return err.status(message) if err.is_terminal else nullcontext()


def _check_base_uri(base_uri: str | None) -> str:
    value = _need(
        base_uri, f"--base-uri is needed: the URL token URIs start with, e.g. https://kudos.example.com{TOKENS_PATH}"
    )
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname or not value.endswith("/"):
        _fail(
            f"--base-uri must start with http:// or https://, name a host and end with / (a token's URI is the base "
            f"and its id): the service's is https://<public host>{TOKENS_PATH}"
        )
    return value


@app.command()
def deploy(
    base_uri: Annotated[
        str | None,
        typer.Option(
            "--base-uri",
            metavar="URL",
            show_default=False,
            help=f"Token URIs are this and the token id: the service's public URL and {TOKENS_PATH}, e.g. "
            f"https://kudos.example.com{TOKENS_PATH} (required; must end with /).",
        ),
    ] = None,
    rpc_url: RpcUrl = None,
    keystore: Keystore = None,
    password_file: PasswordFile = None,
    name: Annotated[str, typer.Option(help="The token's ERC-721 name.")] = "Kudos",
    symbol: Annotated[str, typer.Option(help="The token's ERC-721 symbol.")] = "KUDOS",
    admin: Annotated[
        str | None,
        typer.Option(
            metavar="ADDRESS",
            show_default=False,
            help="The account that holds every role (admin, minter, pauser). Default: the keystore's.",
        ),
    ] = None,
    chain_id: ChainId = None,
    max_fee_per_gas: MaxFee = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object (for scripts).")] = False,
) -> None:
    """Deploy a KudosToken, and print its address, block and chain id, and the settings that serve it."""
    base = _check_base_uri(base_uri)
    admin_address = _address_of(admin, "--admin") if admin is not None else None
    wanted_chain = _whole(chain_id, "--chain-id", "KUDOS_CHAIN_ID")
    fee_cap = _whole(max_fee_per_gas, "--max-fee-per-gas", "KUDOS_MAX_FEE_PER_GAS")
    url = _rpc_url(rpc_url)
    keystore_path = _keystore(keystore)
    signer = _signer(keystore_path, password_file)
    chain = _connect(url, wanted_chain)
    with _on_chain(url), _status(f"deploying a KudosToken on chain {chain.chain_id}…"):
        client = KudosClient.deploy(
            chain,
            signer,
            name=name,
            symbol=symbol,
            base_uri=base,
            admin=admin_address,
            fees=FeePolicy(max_fee_per_gas=fee_cap),
        )
        chain_number = chain.chain_id
    admin_address = admin_address or signer.address
    deployer_is_admin = admin_address.lower() == signer.address.lower()

    rpc_shown = redact_url(url)
    env = {
        "KUDOS_RPC_URL": rpc_shown,
        "KUDOS_CHAIN_ID": str(chain_number),
        "KUDOS_CONTRACT_ADDRESS": client.address,
        "KUDOS_CONTRACT_FROM_BLOCK": str(client.from_block),
    }
    if deployer_is_admin:  # the keystore holds MINTER_ROLE: the service can award with it as it is
        env["KUDOS_SIGNER_KEYSTORE"] = str(keystore_path.resolve())
        if password_file is not None:
            env["KUDOS_SIGNER_PASSWORD_FILE"] = str(password_file.resolve())
    public_url = base[: -len(TOKENS_PATH)] if base.endswith(TOKENS_PATH) else None
    if public_url:
        env["KUDOS_PUBLIC_URL"] = public_url
    url_hidden = rpc_shown.endswith("/…")
    notes = []
    if url_hidden:
        notes.append(
            "KUDOS_RPC_URL is shown without its path, query and credentials (where providers put their API key): "
            "set it to the full URL"
        )
    if public_url is None:
        notes.append(
            f"the base URI does not end with {TOKENS_PATH}: token URIs will not point at a kudos service's metadata"
        )
    if deployer_is_admin:
        hint = (
            "next: make the service's own key a minter (kudos roles grant-minter <its address>), point "
            "KUDOS_SIGNER_KEYSTORE at its keystore, and keep this admin key offline"
        )
    else:
        hint = (
            f"next: the admin {admin_address} makes the service's own key a minter (kudos roles grant-minter <its "
            "address>), and KUDOS_SIGNER_KEYSTORE names that key's keystore; keep the admin key offline"
        )

    if as_json:
        out = {
            "contract_address": client.address,
            "block": client.from_block,
            "chain_id": chain_number,
            "name": name,
            "symbol": symbol,
            "base_uri": base,
            "admin": admin_address,
            "deployer": signer.address,
            "env": env,
            "rpc_url_redacted": url_hidden,
            "next": hint,
        }
        sys.stdout.write(json.dumps(out, indent=2) + "\n")
        return
    _show(
        [
            ("contract", client.address),
            ("block", client.from_block),
            ("chain id", chain_number),
            ("admin", admin_address),
            ("deployer", None if deployer_is_admin else signer.address),
            ("base uri", base),
        ]
    )
    lines = ["", "# the settings of `kudos serve` for this contract"]
    lines += [f"{key}={value}" for key, value in env.items()]
    if deployer_is_admin and password_file is None:
        lines.append("# and KUDOS_SIGNER_PASSWORD_FILE=<a file holding the keystore's password>")
    if not deployer_is_admin:
        lines.append("# and KUDOS_SIGNER_KEYSTORE, KUDOS_SIGNER_PASSWORD_FILE: a key the admin made a minter")
    lines += [f"# {note}" for note in notes]
    lines += ["", hint]
    sys.stdout.write("\n".join(lines) + "\n")


def _attach(
    url: str, chain_id: str | None, contract: str | None, *, signer: Signer | None = None, fee_cap: int | None = None
) -> KudosClient:
    needed = "the contract is needed: pass --contract or set KUDOS_CONTRACT_ADDRESS"
    address = _address_of(_need(contract, needed), "--contract")
    chain = _connect(url, _whole(chain_id, "--chain-id", "KUDOS_CHAIN_ID"))
    with _on_chain(url):
        return KudosClient.attach(chain, address, signer=signer, fees=FeePolicy(max_fee_per_gas=fee_cap))


def _change_minter(
    grant: bool,
    account: str,
    rpc_url: str | None,
    keystore: Path | None,
    password_file: Path | None,
    contract: str | None,
    chain_id: str | None,
    max_fee_per_gas: str | None,
) -> None:
    address = _address_of(account, "the account")
    fee_cap = _whole(max_fee_per_gas, "--max-fee-per-gas", "KUDOS_MAX_FEE_PER_GAS")
    url = _rpc_url(rpc_url)
    if contract is not None:  # before the password is asked
        _address_of(contract, "--contract")
    signer = _signer(_keystore(keystore), password_file)
    client = _attach(url, chain_id, contract, signer=signer, fee_cap=fee_cap)
    where = f"contract {client.address} (chain {client.chain.chain_id})"
    with _on_chain(url):
        if client.is_minter(address) == grant:
            state = "already" if grant else "not"
            sys.stdout.write(f"{address} is {state} a minter of {where}: nothing sent\n")
            return
        with _status(f"{'granting' if grant else 'revoking'} MINTER_ROLE…"):
            tx = client.grant_minter(address) if grant else client.revoke_minter(address)
    done = f"granted MINTER_ROLE to {address}" if grant else f"revoked MINTER_ROLE from {address}"
    sys.stdout.write(f"{done} on {where}: transaction {tx.tx_hash}, block {tx.block_number}\n")


@roles_app.command("grant-minter")
def roles_grant_minter(
    account: AccountArg,
    rpc_url: RpcUrl = None,
    keystore: Keystore = None,
    password_file: PasswordFile = None,
    contract: Contract = None,
    chain_id: ChainId = None,
    max_fee_per_gas: MaxFee = None,
) -> None:
    """Let ADDRESS award kudos (MINTER_ROLE); the keystore must be the contract's admin."""
    _change_minter(True, account, rpc_url, keystore, password_file, contract, chain_id, max_fee_per_gas)


@roles_app.command("revoke-minter")
def roles_revoke_minter(
    account: AccountArg,
    rpc_url: RpcUrl = None,
    keystore: Keystore = None,
    password_file: PasswordFile = None,
    contract: Contract = None,
    chain_id: ChainId = None,
    max_fee_per_gas: MaxFee = None,
) -> None:
    """Stop ADDRESS awarding kudos; the keystore must be the contract's admin."""
    _change_minter(False, account, rpc_url, keystore, password_file, contract, chain_id, max_fee_per_gas)


@roles_app.command("show")
def roles_show(
    account: AccountArg,
    rpc_url: RpcUrl = None,
    contract: Contract = None,
    chain_id: ChainId = None,
) -> None:
    """Show whether ADDRESS is a minter (and a pauser, an admin) of the contract: read-only, no keystore."""
    address = _address_of(account, "the account")
    url = _rpc_url(rpc_url)
    client = _attach(url, chain_id, contract)
    with _on_chain(url):
        minter = client.is_minter(address)
        calls = [
            (client.address, _HAS_ROLE + abi_encode(["bytes32", "address"], [role, address]))
            for role in _ROLE_IDS.values()
        ]
        held = []
        for answer in client.chain.call_many(calls):
            if isinstance(answer, Exception):
                raise client.decode_error(answer) from None
            held.append(answer[-1:] == b"\x01")
        pauser, admin = held
    yes = {True: "yes", False: "no"}
    _show(
        [
            ("account", address),
            ("contract", client.address),
            ("chain id", client.chain.chain_id),
            ("minter", yes[minter]),
            ("pauser", yes[pauser]),
            ("admin", yes[admin]),
        ]
    )


chain_app = typer.Typer(help="The chain the service delivers to.", no_args_is_help=True)
app.add_typer(chain_app, name="chain")


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
    settings = _settings(data_dir=data_dir)
    if settings.embedded or settings.rpc_url is None or settings.contract_address is None:
        _fail("set KUDOS_RPC_URL and KUDOS_CONTRACT_ADDRESS to the chain and contract to deliver on")
    url = settings.rpc_url.get_secret_value()
    chain = _connect(url, settings.chain_id)
    with _on_chain(url):
        client = KudosClient.attach(chain, settings.contract_address, from_block=settings.contract_from_block)
    db = Database(settings.sqlalchemy_url)
    db.migrate()
    try:
        with _on_chain(url):
            found = survey(db, client)
    except LookupError as exc:
        _fail(str(exc))
    counts = ", ".join(f"{n} {status}" for status, n in sorted(found.awards.items())) or "none"
    old = f"0x{found.old_genesis.hex()[:16]}…" if found.old_genesis else "not recorded"
    _show(
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
    with _on_chain(url):
        redeliver(db, client)
    typer.echo(f"{found.to_deliver} awards are queued for {found.new_contract}: start the service to deliver them")


def main() -> None:
    """Entry point of the ``kudos`` command."""
    app()
