"""Reading a CSV file of awards for ``kudos import``: every row checked, and an idempotency key for each.

The file has a header row naming its columns, in any order: ``recipient`` (a wallet address, ``@handle`` or the email
address of a person without a wallet), ``kind``, ``message`` and ``awarded_by`` are required; ``recipient_name``,
``transferable`` and ``key`` are optional. Line numbers count the header as line 1 (a quoted value spanning lines
counts each of them).

**Idempotency keys.** A row's key is ``csv-`` and the SHA-256 of its normalized award (recipient, kind, message,
awarded_by, recipient_name, transferable, as the service will store them) and of how many identical rows come
before it in the file. Re-running a file, or the rest of an interrupted run, sends the same keys, so the service
answers with the awards it already holds; fixing or adding a row changes no other row's key. Two identical rows
are two awards. A non-empty ``key`` column is used as the key instead: the way to award an identical row again
(in another file, say) on purpose.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import TypeAdapter, ValidationError

from kudos_service.schemas import RECIPIENT_TAGS, AwardCreate, IdempotencyKey, KindOut

__all__ = [
    "OPTIONAL_COLUMNS",
    "REQUIRED_COLUMNS",
    "AwardRow",
    "BadRow",
    "CsvFormatError",
    "Record",
    "check_award",
    "check_key",
    "check_rows",
    "derived_key",
    "parse_csv",
    "parse_transferable",
]

REQUIRED_COLUMNS = ("recipient", "kind", "message", "awarded_by")
OPTIONAL_COLUMNS = ("recipient_name", "transferable", "key")

_TRUE = {"true", "yes", "1", "y", "transferable"}
_FALSE = {"false", "no", "0", "n", "soulbound"}
_KEY: TypeAdapter[str] = TypeAdapter(IdempotencyKey)
_KEY_VERSION = "kudos-csv-1"


class CsvFormatError(ValueError):
    """The file as a whole cannot be read: not UTF-8, no header, unknown or missing columns."""


@dataclass(frozen=True)
class Record:
    """One row of the file as written: its first line and its cells by column (missing columns: None)."""

    line: int
    cells: dict[str, str | None]
    width: int


@dataclass(frozen=True)
class AwardRow:
    """A good row: its line, the award to send (the service's field names) and its idempotency key."""

    line: int
    body: dict[str, Any]
    key: str

    def batch_item(self) -> dict[str, Any]:
        """The row as an item of ``POST /v1/awards/batch``."""
        return self.body | {"idempotency_key": self.key}


@dataclass(frozen=True)
class BadRow:
    """A row that cannot be sent, and every reason why."""

    line: int
    problems: list[str]

    def __str__(self) -> str:
        return f"line {self.line}: {'; '.join(self.problems)}"


def parse_csv(text: str) -> tuple[list[str], list[Record]]:
    """The columns of the header and every non-blank row after it.

    :raises CsvFormatError: no header, a column named twice, an unknown column or a required one missing.
    """
    reader = csv.reader(io.StringIO(text, newline=""))
    header: list[str] | None = None
    records: list[Record] = []
    last = 0
    try:
        for cells in reader:
            first, last = last + 1, reader.line_num
            if not any(c.strip() for c in cells):
                continue
            if header is None:
                header = _check_header(cells)
                continue
            values: dict[str, str | None] = dict.fromkeys(header)
            values.update(zip(header, cells, strict=False))
            records.append(Record(first, values, len(cells)))
    except csv.Error as exc:
        raise CsvFormatError(f"line {reader.line_num}: not valid CSV ({exc})") from None
    if header is None:
        raise CsvFormatError(f"the file is empty: it needs a header row ({','.join(REQUIRED_COLUMNS)})")
    return header, records


def _check_header(cells: list[str]) -> list[str]:
    names = [c.strip().lower() for c in cells]
    known = REQUIRED_COLUMNS + OPTIONAL_COLUMNS
    unknown = [n for n in names if n not in known]
    missing = [n for n in REQUIRED_COLUMNS if n not in names]
    twice = sorted(n for n, count in Counter(names).items() if count > 1)
    problems = []
    if missing:
        problems.append(f"missing column {', '.join(missing)}")
    if unknown:
        problems.append(f"unknown column {', '.join(repr(n) for n in unknown)}")
    if twice:
        problems.append(f"column {', '.join(twice)} named twice")
    if problems:
        raise CsvFormatError(
            f"line 1 must be the header ({','.join(REQUIRED_COLUMNS)}[,{','.join(OPTIONAL_COLUMNS)}]): "
            + "; ".join(problems)
        )
    return names


def parse_transferable(value: str | None) -> bool | None:
    """``true``/``yes``/``1``/``transferable`` or ``false``/``no``/``0``/``soulbound``; empty: None (the kind's
    default).

    :raises ValueError: for anything else.
    """
    text = (value or "").strip().lower()
    if not text:
        return None
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise ValueError(f"{value!r} is not true/false (or transferable/soulbound)")


def resolve_kind(value: str, kinds: Sequence[KindOut]) -> KindOut | None:
    """The kind a cell names by id or slug (case-insensitive), or None."""
    text = value.strip().lower()
    for kind in kinds:
        if text == kind.slug or (text.isdigit() and int(text) == kind.id):
            return kind
    return None


def check_award(fields: dict[str, Any]) -> tuple[dict[str, Any] | None, list[str]]:
    """Check an award's fields by the service's own rules; the normalized body (as the service will store it),
    or None and every problem."""
    recipient = fields.get("recipient")
    if isinstance(recipient, str) and "@" in recipient[1:] and not recipient.startswith("@"):
        # A person by email: the kudos is held for them if they have no wallet, and then their name is not put in
        # the public metadata: it goes to the directory with the address.
        person = {"email": recipient} | ({"name": fields["recipient_name"]} if fields.get("recipient_name") else {})
        fields = fields | {"recipient": person, "recipient_name": None}
    try:
        award = AwardCreate.model_validate(fields)
    except ValidationError as exc:
        problems = []
        for error in exc.errors():
            where = ".".join(str(p) for p in error["loc"] if p not in RECIPIENT_TAGS) or "row"
            message = error["msg"].removeprefix("Value error, ")
            if error["type"] == "string_too_short":
                message = "is empty"
            problems.append(f"{where}: {message}")
        return None, problems
    return award.model_dump(exclude_none=True), []


def check_key(key: str) -> str | None:
    """Why ``key`` cannot be an idempotency key, or None when it can."""
    try:
        _KEY.validate_python(key)
    except ValidationError:
        return "an idempotency key is 1 to 255 printable ASCII characters without spaces"
    return None


def derived_key(body: dict[str, Any], occurrence: int) -> str:
    """The idempotency key of a row without a ``key``: see the module's documentation."""
    fields = [body.get(name) for name in ("recipient", "kind", "message", "awarded_by", "recipient_name")]
    material = [_KEY_VERSION, *fields, body.get("transferable"), occurrence]
    digest = hashlib.sha256(json.dumps(material, ensure_ascii=False, separators=(",", ":")).encode()).hexdigest()
    return f"csv-{digest}"


def check_rows(records: Sequence[Record], kinds: Sequence[KindOut], width: int) -> tuple[list[AwardRow], list[BadRow]]:
    """Check every record; the good rows with their keys, and every bad row with all its problems.

    :param width: how many columns the header has.
    """
    good: list[AwardRow] = []
    bad: list[BadRow] = []
    seen_bodies: Counter[str] = Counter()
    explicit_keys: dict[str, int] = {}
    for record in records:
        cells = {name: (value or "").strip() for name, value in record.cells.items()}
        problems: list[str] = []
        if record.width != width:
            problems.append(f"{record.width} fields where the header has {width}")
        fields: dict[str, Any] = {name: cells.get(name, "") for name in ("recipient", "message", "awarded_by")}
        for name in REQUIRED_COLUMNS:
            if not cells.get(name):
                problems.append(f"{name}: is empty")
        fields["recipient_name"] = cells.get("recipient_name") or None
        kind = resolve_kind(cells.get("kind", ""), kinds) if cells.get("kind") else None
        if cells.get("kind") and kind is None:
            problems.append(f"kind: unknown kind {cells['kind']!r}")
        fields["kind"] = kind.slug if kind is not None else "unknown"
        try:
            fields["transferable"] = parse_transferable(cells.get("transferable"))
        except ValueError as exc:
            problems.append(f"transferable: {exc}")
            fields["transferable"] = None
        key = cells.get("key") or None
        if key is not None:
            if (why := check_key(key)) is not None:
                problems.append(f"key: {why}")
            if key in explicit_keys:
                problems.append(f"key: {key!r} is the key of line {explicit_keys[key]} too")
            else:
                explicit_keys[key] = record.line
        body, more = check_award(fields)
        problems += [p for p in more if not _said(p, problems)]
        if problems or body is None:
            bad.append(BadRow(record.line, problems))
            continue
        if key is None:
            identity = json.dumps(body, sort_keys=True, ensure_ascii=False)
            key = derived_key(body, seen_bodies[identity])
            seen_bodies[identity] += 1
        good.append(AwardRow(record.line, body, key))
    return good, bad


def _said(problem: str, problems: list[str]) -> bool:
    """True when ``problem`` repeats one already listed for the same field (an empty cell, say)."""
    field = problem.split(":", 1)[0]
    return any(p.split(":", 1)[0] == field for p in problems)
