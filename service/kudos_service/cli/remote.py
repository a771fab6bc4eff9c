"""Commands over a running service's HTTP API: ``kudos award``, ``kudos wallet`` and ``kudos import``
(``--url``/``KUDOS_API_URL``, ``KUDOS_API_KEY``), so that every award takes the service's exactly-once path.

They start fast: this module imports only Typer and the API's limits; each command imports the HTTP client
(httpx2), the schemas (pydantic) and Rich's tables when it runs, never web3, SQLAlchemy or FastAPI.
"""

from __future__ import annotations

import re
import sys
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from kudos_service.cli._output import err, fail, show
from kudos_service.core.limits import MAX_BATCH, MAX_WALLET_PAGE

if TYPE_CHECKING:
    from rich.progress import Progress

    from kudos_service.cli.api_client import ApiRequestError, BatchResult, KudosApi
    from kudos_service.cli.csv_import import AwardRow
    from kudos_service.schemas import AwardOut

__all__ = ["DEFAULT_URL", "app"]

#: Where these commands appear in ``kudos --help``.
PANEL = "Through a running service (HTTP)"

#: Where the commands look for the service unless ``--url`` or ``KUDOS_API_URL`` says otherwise.
DEFAULT_URL = "http://127.0.0.1:8000"

app = typer.Typer()

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
        fail("an API key is needed: set KUDOS_API_KEY or pass --api-key (`kudos keys create --scope award` makes one)")
    return api_key.strip()


@contextmanager
def _api(url: str, api_key: str | None = None) -> Iterator[KudosApi]:
    """The service's API; an :class:`ApiRequestError` raised inside ends the command with its one line."""
    from urllib.parse import urlsplit

    from kudos_service.cli.api_client import ApiRequestError, KudosApi

    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        fail("the service URL (--url, KUDOS_API_URL) must start with http:// or https:// and name a host")
    try:
        with KudosApi(url.strip(), api_key) as api:
            yield api
    except ApiRequestError as exc:
        fail(str(exc))


@app.command(rich_help_panel=PANEL)
def award(
    recipient: Annotated[
        str,
        typer.Argument(
            help="A wallet address (0x…), @handle of a person in the directory, or the email address of a person "
            "without a wallet (the kudos is held for them, and they are sent a link to claim it)."
        ),
    ],
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
    from kudos_service.cli.api_client import ApiRequestError
    from kudos_service.cli.csv_import import check_award, check_key

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
        fail("; ".join(problems))
    if idempotency_key is not None and (why := check_key(idempotency_key)) is not None:
        fail(f"--idempotency-key: {why}")
    key = idempotency_key or str(uuid.uuid4())
    with _api(url, secret) as api:
        try:
            out = api.create_award(body, key, wait=wait)
            deadline = time.monotonic() + wait
            while out.status not in _FINAL and (left := deadline - time.monotonic()) > 0:
                out = api.award(out.id, wait=left)
        except ApiRequestError as exc:
            if idempotency_key is None and exc.sent:
                fail(f"{exc}; to retry without awarding twice, use --idempotency-key {key}")
            raise
    show(
        [
            ("award", out.id),
            ("status", out.status),
            ("recipient", f"{out.recipient} (custody: held until they claim it)" if out.held else out.recipient),
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
        fail(f"award {out.id} failed: {out.failure_reason or 'no reason given'}")
    if wait and out.status != "confirmed":
        fail(f"award {out.id} is still {out.status} after {wait:g} s; it is accepted and will be delivered")


@app.command(rich_help_panel=PANEL)
def wallet(
    address: Annotated[
        str,
        typer.Argument(
            metavar="ADDRESS",
            help="The wallet address (0x and 40 hex digits), or @handle of a person whose directory entry is listed.",
        ),
    ],
    limit: Annotated[
        int,
        typer.Option(
            min=1, max=MAX_WALLET_PAGE, help=f"Show at most this many kudos, newest first (1 to {MAX_WALLET_PAGE})."
        ),
    ] = 50,
    offset: Annotated[int, typer.Option(min=0, help="Skip this many of the newest kudos first (the next page).")] = 0,
    url: ApiUrl = DEFAULT_URL,
) -> None:
    """Show the kudos a wallet holds, newest first, as a table (public: no API key needed).

    A @handle is looked up in the service's directory, as on the wallet page: it finds the wallet only of a person
    whose entry is listed, and an unknown handle gets the same answer as an unlisted one.
    """
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    from kudos_service.schemas import HANDLE_PATTERN, is_valid_address

    target = address.strip()
    if target.startswith("@"):
        if not re.fullmatch(HANDLE_PATTERN, target):
            fail(f"{target!r} is not a handle: @ and 1 to 64 letters, digits, dots, dashes or underscores")
    elif not is_valid_address(target):
        fail(
            f"{target!r} is not a wallet address (0x and 40 hex digits, with a valid checksum if mixed-case) "
            "nor a @handle"
        )
    with _api(url) as api:
        page = api.wallet(target, limit=limit, offset=offset)
    items = page.items
    shown = (
        ""
        if not items or len(items) == page.total
        else f", newest first: {offset + 1} to {offset + len(items)}"
        if offset
        else f", the newest {len(items)}"
    )
    who = f"{target} ({page.address})" if target.startswith("@") else page.address
    table = Table(
        title=f"{who}: {page.total} kudos{shown}",
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
        "The first line is the header. Columns, in any order: recipient (0x address, @handle or email), kind (slug "
        "or id), message (1 to 500 characters), awarded_by; optionally recipient_name, transferable (true/false; "
        "empty: the kind's default) and key (an idempotency key of your own).",
        "Example: a header recipient,kind,message,awarded_by and a row @ada,team-player,Thanks for the launch!,Grace",
        "Every row is checked before anything is sent: each bad row is listed by its line number (the header is "
        "line 1) and nothing is sent.",
        "Running the same file again awards nothing twice and finishes what an interrupted run left: each row's "
        "idempotency key is derived from its content (and from how many identical rows come before it), unless "
        "the key column gives one.",
    ]
)


@app.command("import", help=_IMPORT_HELP, rich_help_panel=PANEL)
def import_csv(
    file: Annotated[Path, typer.Argument(help="The CSV file (UTF-8) with a header row.", show_default=False)],
    batch_size: Annotated[int, typer.Option(min=1, max=MAX_BATCH, help="Rows per request.")] = 200,
    wait: Annotated[bool, typer.Option("--wait", help="Then wait until every award is on chain.")] = False,
    timeout: Annotated[float, typer.Option(min=0, metavar="SECONDS", help="How long --wait waits.")] = 300,
    url: ApiUrl = DEFAULT_URL,
    api_key: ApiKeyOption = None,
) -> None:
    from kudos_service.cli.csv_import import CsvFormatError, check_rows, parse_csv

    secret = _need_key(api_key)
    try:
        header, records = parse_csv(file.read_text("utf-8-sig"))
    except UnicodeDecodeError as exc:
        fail(f"{file} is not UTF-8 text (byte {exc.start})")
    except OSError as exc:
        fail(f"cannot read {file}: {exc.strerror or exc}")
    except CsvFormatError as exc:
        fail(f"{file}: {exc}")
    with _api(url, secret) as api:
        rows, bad = check_rows(records, api.kinds(), len(header))
        if bad:
            for row in bad:
                err.print(str(row), markup=False, highlight=False, soft_wrap=True)
            fail(f"{len(bad)} of {len(records)} rows of {file} are bad; nothing was sent")
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
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

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
    from kudos_service.cli.api_client import ApiRequestError

    sent = _Sent(rows)
    with _progress() as progress:
        task = progress.add_task("sending", total=len(rows))
        try:
            for start in range(0, len(rows), batch_size):
                chunk = rows[start : start + batch_size]
                _send_batch(api, chunk, sent)
                progress.advance(task, len(chunk))
        except (ApiRequestError, KeyboardInterrupt) as exc:
            if isinstance(exc, ApiRequestError) and not exc.sent and not sent.awards:
                fail(f"{exc}; nothing was sent")
            reason = "interrupted" if isinstance(exc, KeyboardInterrupt) else str(exc)
            fail(
                f"{reason}; {len(sent.awards)} of {len(rows)} rows are known to be accepted: run the same import "
                "again to send the rest (nothing is awarded twice)"
            )
    return sent


def _send_batch(api: KudosApi, chunk: list[AwardRow], sent: _Sent) -> None:
    from kudos_service.cli.api_client import ApiRequestError

    pending = list(chunk)
    conflicts = 0
    while pending:
        try:
            result = api.create_batch([row.batch_item() for row in pending])
        except ApiRequestError as exc:
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


def _refused_items(exc: ApiRequestError, size: int) -> dict[int, str]:
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
    from kudos_service.cli.api_client import ApiRequestError

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
        except (ApiRequestError, KeyboardInterrupt) as exc:
            reason = "interrupted" if isinstance(exc, KeyboardInterrupt) else str(exc)
            fail(f"{reason} while waiting: every row was accepted and will be delivered")


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
        fail(f"the service refused {len(sent.refused)} rows (listed above); fix them and run the same import again")
    if failed:
        fail(f"{len(failed)} awards failed on chain (listed above)")
    if waited and statuses["confirmed"] < accepted:
        fail(f"{accepted - statuses['confirmed']} awards are not confirmed yet; they will be delivered")
