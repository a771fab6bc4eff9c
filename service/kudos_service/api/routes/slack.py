"""``POST /integrations/slack/commands``: the ``/kudos @someone <kind> <message>`` slash command.

Every request is checked with slack-sdk's :class:`~slack_sdk.signature.SignatureVerifier` against the app's Signing
Secret (``KUDOS_SLACK_SIGNING_SECRET``): a bad signature, or a timestamp more than five minutes away from now, is a
401. Without the setting the endpoint does not exist (404).

The person mentioned is looked up in the directory by their Slack user id, and the award goes through
:func:`~kudos_service.awards.accept_awards`, the path of ``POST /v1/awards``, under an idempotency key derived from
Slack's ``trigger_id`` (unique per invocation of the command), so the same command sent twice awards once. A
command without ``trigger_id`` is keyed by a hash of its signed form within the replay window (see
:func:`_idempotency_key`): sent again with the same form, even signed again later, it awards once in that window.

Awards need an API key row: the integration has one of its own (prefix ``slack``), made on first use. It cannot
authenticate anything over HTTP: bearer keys are looked up by a 12-digit prefix, its secret hash is random bytes
that no key hashes to, and it has no scope. It keeps Slack's idempotency keys apart from every HR tool's.

Slack always gets a 200 with a message: ``in_channel`` (everyone sees it) for a kudos given, ``ephemeral`` (only the
sender sees it) for anything it cannot do, with the reason and what to type instead.
"""

from __future__ import annotations

import hashlib
import json
import re
import secrets
import threading
import time
from collections.abc import Mapping
from contextlib import nullcontext
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, parse_qsl

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from pydantic import ValidationError
from slack_sdk.signature import SignatureVerifier
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from kudos_service.api.deps import StateDep
from kudos_service.api.errors import ApiError
from kudos_service.api.openapi import STORAGE, error_responses
from kudos_service.awards import accept_awards, stored_awards
from kudos_service.core.db import Database
from kudos_service.errors import ServiceError
from kudos_service.models import ApiKey, Kind, Recipient
from kudos_service.schemas import MAX_MESSAGE, AwardCreate
from kudos_service.state import AppState

__all__ = ["DEDUPE_WINDOW_SECONDS", "MAX_SKEW_SECONDS", "SLACK_KEY_PREFIX", "parse_command", "router", "slack_api_key"]

router = APIRouter(tags=["slack"])

#: Slack's rule: a request whose timestamp is more than five minutes from now is refused (replays).
MAX_SKEW_SECONDS = 5 * 60

#: A command without ``trigger_id`` sent again with the same signed form within this many seconds awards once: the
#: replay window, in which a captured request's signature stays valid.
DEDUPE_WINDOW_SECONDS = MAX_SKEW_SECONDS

#: The prefix of the integration's own API key row; bearer keys have 12 hex digits, so none can look it up.
SLACK_KEY_PREFIX = "slack"

USAGE = "Usage: `/kudos @someone <kind> <message>`, for example `/kudos @ada team-player Thanks for the launch!`"

_MENTION = re.compile(r"\s*<@([UW][A-Z0-9]+)(?:\|[^>]*)?>(.*)", re.DOTALL)
_MARKUP = re.compile(r"<([^<>|]*)(?:\|([^<>]*))?>")
_TIMESTAMP = re.compile(r"[0-9]{1,12}")


# ----------------------------------------------------------------------------------------------------------------
# The request: signature, form, command text
# ----------------------------------------------------------------------------------------------------------------


def _verify(secret: str, body: bytes, headers: Mapping[str, str]) -> str:
    """The request's timestamp once its signature is checked; otherwise a 401."""
    timestamp = headers.get("x-slack-request-timestamp")
    signature = headers.get("x-slack-signature")
    if not timestamp or not signature:
        raise ApiError(
            401, "invalid_slack_signature", "X-Slack-Request-Timestamp and X-Slack-Signature headers are needed"
        )
    if not _TIMESTAMP.fullmatch(timestamp):
        raise ApiError(401, "invalid_slack_signature", "X-Slack-Request-Timestamp is not a Unix time")
    if abs(time.time() - int(timestamp)) > MAX_SKEW_SECONDS:
        raise ApiError(401, "stale_slack_request", "the request's timestamp is more than five minutes from now")
    try:
        body.decode("utf-8")  # slack-sdk signs the body as text
    except UnicodeDecodeError:
        raise ApiError(401, "invalid_slack_signature", "the request's signature is not valid") from None
    # SignatureVerifier checks the five minutes again, then the HMAC-SHA256 of v0:{timestamp}:{body}.
    if not SignatureVerifier(secret).is_valid(body, timestamp, signature):
        raise ApiError(401, "invalid_slack_signature", "the request's signature is not valid")
    return timestamp


def _form(body: bytes) -> dict[str, str]:
    """The first value of each field of an ``application/x-www-form-urlencoded`` body."""
    fields = parse_qs(body.decode("utf-8", errors="replace"), keep_blank_values=True)
    return {name: values[0] for name, values in fields.items()}


def _plain(text: str) -> str:
    """Slack's markup as plain text: ``<@U1|ada>`` as ``@ada``, ``<#C1|general>`` as ``#general``, a link as its
    label, ``&lt;``, ``&gt;`` and ``&amp;`` as ``<``, ``>`` and ``&``."""

    def replace(match: re.Match[str]) -> str:
        target, label = match.group(1), match.group(2)
        if target.startswith(("@", "#")):
            return target[0] + (label.lstrip("@#") if label else target[1:])
        if target.startswith("!"):  # <!here>, <!subteam^S1|@team>, <!date^...|fallback>
            return label if label else "@" + target[1:].split("^")[0]
        return label or target.removeprefix("mailto:")

    text = _MARKUP.sub(replace, text)
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def _escape(text: str) -> str:
    """Text for Slack's mrkdwn: ``&``, ``<`` and ``>`` escaped, so it cannot mention or link anyone."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


@dataclass(frozen=True)
class Command:
    """``/kudos @someone <kind> <message>``, parsed: the Slack user id, the kind's words, the message."""

    user_id: str
    kind_words: list[str]
    rest: str


def parse_command(text: str) -> Command | None:
    """The mention and what follows it, or None when the text does not start with a Slack mention."""
    match = _MENTION.fullmatch(text)
    if match is None:
        return None
    rest = match.group(2)
    return Command(user_id=match.group(1), kind_words=rest.split(), rest=rest)


def _kind_and_message(kinds: list[Kind], rest: str) -> tuple[Kind, str] | None:
    """The kind named first in ``rest`` (by slug or name, case-insensitive; the longest name that matches) and the
    message after it."""
    lookup: dict[str, Kind] = {}
    for kind in kinds:
        lookup[kind.slug.lower()] = kind
        lookup[" ".join(kind.name.lower().split())] = kind
    words = list(re.finditer(r"\S+", rest))
    longest = max((len(name.split()) for name in lookup), default=1)
    for count in range(min(longest, len(words)), 0, -1):
        candidate = " ".join(w.group() for w in words[:count]).lower().rstrip(":,")
        if candidate in lookup:
            return lookup[candidate], rest[words[count - 1].end() :].strip()
    return None


# ----------------------------------------------------------------------------------------------------------------
# Answers
# ----------------------------------------------------------------------------------------------------------------


def _ephemeral(text: str) -> dict[str, Any]:
    return {"response_type": "ephemeral", "text": text}


def _kinds_list(kinds: list[Kind]) -> str:
    return "The kinds: " + ", ".join(f"`{k.slug}` ({_escape(k.name)})" for k in kinds) + "."


def _given(recipient: Recipient, sender_id: str, kind: Kind, message: str, base_url: str) -> dict[str, Any]:
    headline = f"{kind.emoji} <@{recipient.slack_user_id}> received a *{_escape(kind.name)}* kudos from <@{sender_id}>!"
    quote = "\n".join("> " + line for line in _escape(message).splitlines() or [""])
    if recipient.wallet_address is None:
        text = f"{headline}\n{quote}"
        note = "A token on chain, kept for them until they claim it into a wallet of their own."
    else:
        text = f"{headline}\n{quote}\n<{base_url}/wallet/{recipient.wallet_address}|See the wallet>"
        note = "A token on chain: it shows in the wallet once confirmed."
    return {
        "response_type": "in_channel",
        "text": text,
        "blocks": [
            {"type": "section", "text": {"type": "mrkdwn", "text": text}},
            {"type": "context", "elements": [{"type": "mrkdwn", "text": note}]},
        ],
    }


# ----------------------------------------------------------------------------------------------------------------
# The award
# ----------------------------------------------------------------------------------------------------------------


def slack_api_key(db: Database) -> ApiKey:
    """The integration's own API key row, made on first use (see the module's docstring)."""
    query = select(ApiKey).where(ApiKey.prefix == SLACK_KEY_PREFIX)
    with db.session() as session:
        found = session.scalars(query).first()
        if found is not None:
            return found
        key = ApiKey(
            prefix=SLACK_KEY_PREFIX,
            secret_hash=secrets.token_bytes(32),  # the hash of no key: nobody can present this one
            scopes="",
            name="Slack /kudos (internal; cannot be used over HTTP)",
        )
        try:
            with session.begin_nested():
                session.add(key)
        except IntegrityError:  # a concurrent first request made it
            return session.scalars(query).one()
        return key


#: Commands keyed by their form are looked up and accepted one at a time, so that two copies of one command on
#: either side of a window's boundary cannot both miss each other's key (see :func:`_idempotency_key`).
_BODY_KEYED = threading.Lock()


def _form_digest(body: bytes) -> str:
    """A hash of the signed form, field by field in a canonical order.

    Nothing in Slack's form changes when one invocation is sent again (the timestamp and the signature travel in
    headers), while two invocations differ by their ``response_url`` at least: the whole form is the command.
    Parsed and sorted, so that a resend encoded another way (``+`` or ``%20``, another field order) is the same.
    """
    fields = sorted(parse_qsl(body.decode("utf-8"), keep_blank_values=True))
    return hashlib.sha256(json.dumps(fields, ensure_ascii=False).encode()).hexdigest()


def _form_key(digest: str, window: int) -> str:
    return "slack-form-" + hashlib.sha256(f"{window}\n{digest}".encode()).hexdigest()


def _idempotency_key(session: Session, api_key: ApiKey, form: Mapping[str, str], body: bytes, timestamp: str) -> str:
    """The same for Slack's resends of one invocation: its ``trigger_id``; else the form's hash in its window.

    Windows are :data:`DEDUPE_WINDOW_SECONDS` long, counted on the signed timestamp. A command takes the key of the
    previous window when an award was made under it, else its own window's: so two copies less than a window apart
    share a key even across a boundary, and a copy more than two windows later awards again.
    """
    trigger = form.get("trigger_id")
    if trigger:
        material = f"trigger\n{form.get('team_id', '')}\n{trigger}"
        return "slack-" + hashlib.sha256(material.encode()).hexdigest()
    digest = _form_digest(body)
    window = int(timestamp) // DEDUPE_WINDOW_SECONDS
    previous = _form_key(digest, window - 1)
    if stored_awards(session, [(api_key.id, previous)]):
        return previous
    return _form_key(digest, window)


@dataclass(frozen=True)
class _Answer:
    body: dict[str, Any]
    created: bool = False


class _RefusalError(Exception):
    """What the sender alone is told when the command cannot award a kudos."""


def _parse(kinds: list[Kind], text: str, sender_id: str) -> tuple[str, Kind, str]:
    """The Slack user id of the person named, the kind and the message; or a :class:`_RefusalError`."""
    command = parse_command(text)
    if command is None or not command.kind_words:
        hint = " Mention the person with @ and pick them from Slack's list." if text and text.lower() != "help" else ""
        raise _RefusalError(f"{USAGE}.{hint}\n{_kinds_list(kinds)}")
    found = _kind_and_message(kinds, command.rest)
    if found is None:
        word = _escape(_plain(command.kind_words[0]))
        raise _RefusalError(f"`{word}` is not a kind of kudos. {_kinds_list(kinds)}\n{USAGE}.")
    kind, raw_message = found
    message = _plain(raw_message).strip()
    if not message:
        raise _RefusalError(f"Add a few words of thanks after the kind. {USAGE}.")
    if len(message) > MAX_MESSAGE:
        raise _RefusalError(f"The message is {len(message)} characters long; at most {MAX_MESSAGE}.")
    if command.user_id == sender_id:
        raise _RefusalError("Kudos are for someone else: you cannot give one to yourself.")
    return command.user_id, kind, message


def _recipient(session: Session, slack_user_id: str) -> Recipient:
    """The person in the directory with this Slack user id (one without a wallet yet has the kudos held for them);
    or a :class:`_RefusalError`."""
    recipient = _by_slack_id(session, slack_user_id)
    if recipient is None:
        raise _RefusalError(
            f"<@{slack_user_id}> is not in the kudos directory yet, so they cannot receive kudos. "
            f"Ask an admin to add them with their Slack user id `{slack_user_id}`."
        )
    return recipient


def _by_slack_id(session: Session, slack_user_id: str) -> Recipient | None:
    if not slack_user_id:
        return None
    return session.scalars(select(Recipient).where(Recipient.slack_user_id == slack_user_id)).first()


def _handle(state: AppState, form: Mapping[str, str], raw: bytes, timestamp: str) -> _Answer:
    """Award the kudos the command asks for, or say why not; a command keyed by its form (no ``trigger_id``) once
    the previous one keyed so is committed."""
    with nullcontext() if form.get("trigger_id") else _BODY_KEYED:
        return _award(state, form, raw, timestamp)


def _award(state: AppState, form: Mapping[str, str], raw: bytes, timestamp: str) -> _Answer:
    """Award the kudos the command asks for, or say why not (``raw``: the signed form, as it came)."""
    sender_id = form.get("user_id", "")
    api_key = slack_api_key(state.db)
    with state.db.session() as session:
        kinds = list(session.scalars(select(Kind).order_by(Kind.id)))
        try:
            user_id, kind, message = _parse(kinds, form.get("text", "").strip(), sender_id)
            recipient = _recipient(session, user_id)
        except _RefusalError as refusal:
            return _Answer(_ephemeral(str(refusal)))
        sender = _by_slack_id(session, sender_id)
        giver = sender.display_name if sender is not None else form.get("user_name") or sender_id
        try:
            award = AwardCreate(
                recipient=f"@{recipient.handle}", kind=kind.slug, message=message, awarded_by=giver[:200]
            )
            (accepted,) = accept_awards(
                session,
                settings=state.settings,
                api_key=api_key,
                items=[(_idempotency_key(session, api_key, form, raw, timestamp), award)],
            )
        except ValidationError:
            return _Answer(_ephemeral(f"This kudos cannot be given as written. {USAGE}."))
        except (ApiError, ServiceError) as exc:
            if exc.code == "idempotency_key_reused":
                return _Answer(_ephemeral("This command was handled already."))
            return _Answer(_ephemeral(f"The kudos could not be given: {_escape(exc.message)}."))
        return _Answer(_given(recipient, sender_id, kind, message, state.settings.base_url), accepted.created)


@router.post(
    "/integrations/slack/commands",
    summary="Slack's /kudos slash command",
    responses={
        200: {"description": "Slack's response message: `in_channel` for a kudos given, `ephemeral` otherwise."},
        **error_responses(
            "invalid_slack_signature",
            "stale_slack_request",
            "not_found",
            "payload_too_large",
            "unsupported_media_type",
            *STORAGE,
        ),
    },
    openapi_extra={
        "parameters": [
            {"name": "X-Slack-Request-Timestamp", "in": "header", "required": True, "schema": {"type": "string"}},
            {"name": "X-Slack-Signature", "in": "header", "required": True, "schema": {"type": "string"}},
        ],
        "requestBody": {
            "required": True,
            "content": {
                "application/x-www-form-urlencoded": {
                    "schema": {
                        "type": "object",
                        "properties": {
                            name: {"type": "string"}
                            for name in ("command", "text", "user_id", "trigger_id", "team_id", "channel_id")
                        },
                        "required": ["command", "text", "user_id"],
                    }
                }
            },
        },
    },
)
async def slack_command(request: Request, state: StateDep) -> dict[str, Any]:
    """``/kudos @someone <kind> <message>`` from Slack: signed with the app's Signing Secret; answered in Slack's
    response format (``in_channel`` for a kudos given, ``ephemeral`` for the sender alone otherwise)."""
    secret = state.settings.slack_signing_secret
    if secret is None or not secret.get_secret_value().strip():
        raise ApiError(404, "not_found", "the Slack integration is not configured on this service")
    body = await request.body()
    if _form(body).get("ssl_check") == "1":  # Slack's check of the TLS certificate: unsigned, does nothing
        return {}
    timestamp = _verify(secret.get_secret_value(), body, request.headers)
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type != "application/x-www-form-urlencoded":
        raise ApiError(415, "unsupported_media_type", "Slack commands are sent as application/x-www-form-urlencoded")
    answer = await run_in_threadpool(_handle, state, _form(body), body, timestamp)
    if answer.created:
        state.worker.wake()
    return answer.body
