"""The claim page a person opens from their email: ``/claim/{token}`` shows the kudos held for them, before they
have a wallet, and lets them claim the kudos into one.

Two ways to claim, both ending in the API's own :func:`~kudos_service.claims.service.redeem` (through
``redeem_claim``, with the same attempt limit, :func:`~kudos_service.api.routes.claims.check_attempt`):

- **With a browser wallet** (EIP-1193 ``window.ethereum``): ``claim.js`` asks the wallet for its account, fetches
  the EIP-4361 message (``POST /v1/claims/{token}/message``), has it signed (``personal_sign``), sends it
  (``POST /v1/claims/{token}``) and follows the kudos until they are in the wallet. The script is a static file
  (``/static/claim.js``); this page alone is served with a policy that lets it run (``script-src 'self';
  connect-src 'self'``), every other page keeps the strict one of :mod:`.pages`.
- **Without one**, and without JavaScript: a form (``POST /claim/{token}``, form-encoded) takes the wallet's
  address, shows the exact message to sign in any wallet's "sign message" tool, and takes the signature back.
  A refusal shows the form again with a sentence; a claim redirects (303) to the page, which then shows the kudos
  moving and refreshes itself until they are in the wallet.

A link that is unknown or malformed gets the same 404 page; a link used, expired or revoked says so (and shows no
kudos when it is expired or revoked: such a link may have gone to the wrong person). The token, a credential,
stays out of every log line of the app (the access log filter of :mod:`kudos_service.main`) and out of the
``Referer`` header (``Referrer-Policy: no-referrer``); the page is ``Cache-Control: no-store``.
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from kudos_service.api.deps import SessionDep, StateDep
from kudos_service.api.errors import ApiError, http_status
from kudos_service.api.routes.claims import check_attempt, claim_view, redeem_claim
from kudos_service.api.routes.pages import _COLOR, _HEADERS, _LONG_LINES, _LONG_WIDTH, _chain, _error, templates
from kudos_service.claims.service import find_claim, siwe_message
from kudos_service.errors import NotFoundError, ServiceError
from kudos_service.icons import icon_for_emoji
from kudos_service.models import Award, Claim, Kind, utcnow
from kudos_service.schemas import ClaimMessageRequest, ClaimOut, ClaimRequest
from kudos_service.state import AppState
from kudos_service.text_layout import display_width

__all__ = ["CLAIM_CSP", "SCRIPT", "router"]

router = APIRouter(include_in_schema=False)

#: The claim page's policy: the pages' strict one, and its own script, which calls the claim API.
CLAIM_CSP = _HEADERS["Content-Security-Policy"] + "; script-src 'self'; connect-src 'self'"
_CLAIM_HEADERS = {**_HEADERS, "Content-Security-Policy": CLAIM_CSP, "Cache-Control": "no-store"}

#: The script of the claim page, served as ``/static/claim.js?v=<its hash>``: a new version is a new URL, so the
#: file may be cached for a year.
SCRIPT = Path(__file__).resolve().parents[2] / "templates" / "claim.js"
_SCRIPT_TEXT = SCRIPT.read_bytes()
_SCRIPT_VERSION = hashlib.sha256(_SCRIPT_TEXT).hexdigest()[:16]

#: A person's words for where each kudos is (``HeldKudosOut.status``).
STATUS_TEXT = {
    "on_its_way": "On its way",
    "held": "Held for you",
    "moving": "Moving…",
    "in_wallet": "In your wallet",
    "failed": "Could not be moved",
}

#: The form's fields, each at most this long: an address is 42 characters, a signature 132, the service's message
#: about 400 (the API takes 4,000).
_FIELD_LIMITS = {"step": 16, "address": 64, "message": 4000, "signature": 200}
_CONTROL = frozenset(chr(c) for c in (*range(32), 127)) - {"\n", "\r", "\t"}
_FORM = "application/x-www-form-urlencoded"


class _RefusalError(Exception):
    """The form refused: the page again, with ``error``, at the ``step`` the person was on (``sign`` needs the
    ``address``), and ``status``."""

    def __init__(
        self,
        status: int,
        error: str,
        *,
        step: str = "address",
        address: str = "",
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(error)
        self.status = status
        self.error = error
        self.step = step
        self.address = address
        self.headers = headers


def _sentence(text: str) -> str:
    """An API message (``this claim link has expired: ask…``) as a sentence: capital first, full stop last."""
    text = text.strip()
    if not text:
        return text
    return text[0].upper() + text[1:] + ("" if text[-1] in ".!?" else ".")


def _date(value: datetime) -> str:
    return f"{value:%d %B %Y}".lstrip("0")


def _emojis(session: Session, view: ClaimOut) -> dict[str, str]:
    ids = [k.award_id for k in view.kudos]
    if not ids:
        return {}
    rows = session.execute(select(Award.id, Kind.emoji).join(Kind, Kind.id == Award.kind_id).where(Award.id.in_(ids)))
    return dict(rows.all())


def _cards(session: Session, view: ClaimOut) -> list[dict[str, Any]]:
    emojis = _emojis(session, view)
    cards = []
    for kudos in view.kudos:
        message = kudos.message or ""
        cards.append(
            {
                "id": kudos.award_id,
                "kind": kudos.kind,
                "icon": icon_for_emoji(emojis.get(kudos.award_id)).name,
                "color": kudos.color if _COLOR.fullmatch(kudos.color) else "#4b5563",
                "message": kudos.message,
                "long": display_width(message) > _LONG_WIDTH or message.count("\n") >= _LONG_LINES,
                "awarded_by": kudos.awarded_by,
                "awarded_at": kudos.awarded_at,
                "token_id": kudos.token_id,
                "status": kudos.status,
                "status_text": STATUS_TEXT[kudos.status],
                "image_url": f"/v1/awards/{kudos.award_id}/image.svg",
            }
        )
    return cards


def _page(
    request: Request,
    state: AppState,
    session: Session,
    token: str,
    view: ClaimOut,
    *,
    status: int = 200,
    step: str = "address",
    address: str = "",
    message: str = "",
    error: str | None = None,
    headers: dict[str, str] | None = None,
) -> Response:
    context = {
        "chain": _chain(session),
        "query": "",
        "token": token,
        "view": view,
        "cards": _cards(session, view) if view.state in ("open", "used") else [],
        "expires_on": _date(view.expires_at),
        "step": step,
        "address": address,
        "message": message,
        "error": error,
        "failed": sum(1 for k in view.kudos if k.status == "failed"),
        "script": f"/static/claim.js?v={_SCRIPT_VERSION}",
    }
    return templates.TemplateResponse(
        request, "claim.html", context, status_code=status, headers={**_CLAIM_HEADERS, **(headers or {})}
    )


def _not_found(request: Request, session: Session) -> Response:
    """The one answer for a token that is malformed or unknown: nothing tells which, or whether anything exists."""
    response = _error(
        request,
        session,
        404,
        "This link does not work",
        "There is nothing at this address. If you copied it from an email, check that you copied the whole link.",
    )
    response.headers["Cache-Control"] = "no-store"
    return response


def _unavailable(request: Request, session: Session, exc: ApiError) -> Response:
    response = _error(request, session, exc.status, "Your kudos cannot be shown right now", _sentence(exc.message))
    response.headers.update(exc.headers or {})
    return response


@router.get("/static/claim.js")
def claim_script() -> Response:
    """The claim page's script (no inline script: the page's policy allows this file alone)."""
    return Response(
        _SCRIPT_TEXT,
        media_type="text/javascript; charset=utf-8",
        headers={"Cache-Control": "public, max-age=31536000, immutable", "X-Content-Type-Options": "nosniff"},
    )


def _load(
    request: Request, state: AppState, session: Session, token: str, *, open_only: bool
) -> tuple[Claim, ClaimOut] | Response:
    """The claim of ``token`` and its view; or the page to answer instead: 404 for no such link, 503 before the
    chain is reached, and (``open_only``) the link's page with 410 when it is used, expired or revoked."""
    try:
        claim = find_claim(session, token)
        view = claim_view(state, session, claim)
    except NotFoundError:
        return _not_found(request, session)
    except ApiError as exc:
        return _unavailable(request, session, exc)
    if open_only and view.state != "open":
        return _page(request, state, session, token, view, status=410)
    return claim, view


@router.get("/claim/{token}", response_class=HTMLResponse)
def claim_page(token: str, request: Request, state: StateDep, session: SessionDep) -> Response:
    """The kudos held for the person the link ``token`` was sent to, and the ways to claim them."""
    found = _load(request, state, session, token, open_only=False)
    return found if isinstance(found, Response) else _page(request, state, session, token, found[1])


async def _form(request: Request) -> dict[str, str]:
    """The form's fields (one value each), checked for shape: form-encoded UTF-8, known fields, within limits, no
    control characters but line ends (which become ``\\n``: a browser sends a textarea's lines as CRLF)."""
    media = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media != _FORM:
        raise _RefusalError(415, "This page takes its own form only: send it from the page.")
    try:
        text = (await request.body()).decode("utf-8")
        parsed = parse_qs(text, keep_blank_values=True, strict_parsing=False, max_num_fields=len(_FIELD_LIMITS))
    except (UnicodeDecodeError, ValueError):
        raise _RefusalError(400, "The form could not be read: send it again from the page.") from None
    fields: dict[str, str] = {}
    for name, values in parsed.items():
        limit = _FIELD_LIMITS.get(name)
        if limit is None or len(values) != 1:
            raise _RefusalError(400, "The form holds fields this page does not send: send it again from the page.")
        value = values[0].replace("\r\n", "\n").replace("\r", "\n")
        if len(value) > limit or any(c in _CONTROL for c in value):
            raise _RefusalError(400, "A field of the form is too long or holds characters it cannot hold.")
        fields[name] = value
    return fields


def _address_error(address: str) -> str:
    if not address:
        return "Enter your wallet's address: 0x followed by 40 hexadecimal digits."
    return (
        "That is not a wallet address this page can send kudos to. An address is 0x followed by 40 hexadecimal "
        "digits (mixed-case addresses must carry a valid checksum), and not the zero address."
    )


@router.post("/claim/{token}", response_class=HTMLResponse)
async def claim_by_form(token: str, request: Request, state: StateDep, session: SessionDep) -> Response:
    """The claim without a browser wallet: ``step=address`` with ``address`` shows the message to sign;
    ``step=sign`` with ``address``, ``message`` and ``signature`` claims, then redirects to the page. A refusal
    shows the form again with a sentence (4xx); a link that is not open shows what became of it (410)."""
    found = _load(request, state, session, token, open_only=True)
    if isinstance(found, Response):
        return found
    try:
        return await _claim_by_form(token, request, state, session, *found)
    except _RefusalError as refusal:
        session.expire_all()  # the link may have been used or revoked meanwhile: show it as it is now
        found = _load(request, state, session, token, open_only=True)
        if isinstance(found, Response):
            return found
        claim, view = found
        message = ""
        if refusal.step == "sign":  # a new message: the one refused may be the reason (expired, say)
            message = siwe_message(claim, refusal.address, settings=state.settings, chain_id=view.chain_id,
                                   now=utcnow()).text()  # fmt: skip
        return _page(request, state, session, token, view, status=refusal.status, step=refusal.step,
                     address=refusal.address, message=message, error=refusal.error,
                     headers=refusal.headers)  # fmt: skip


async def _claim_by_form(
    token: str, request: Request, state: AppState, session: Session, claim: Claim, view: ClaimOut
) -> Response:
    fields = await _form(request)
    step = fields.get("step", "address")
    raw_address = fields.get("address", "").strip()
    try:
        address = ClaimMessageRequest(address=raw_address).address
    except ValidationError:
        shown = raw_address if len(raw_address) <= 42 else ""
        raise _RefusalError(422, _address_error(shown), address=shown) from None
    if step == "address":
        message = siwe_message(claim, address, settings=state.settings, chain_id=view.chain_id, now=utcnow())
        return _page(request, state, session, token, view, step="sign", address=address, message=message.text())
    if step != "sign" or "message" not in fields or "signature" not in fields:
        raise _RefusalError(400, "The form is missing a field: send it again from the page.")
    signature = fields["signature"].strip()
    if signature and not signature.startswith("0x"):
        signature = "0x" + signature  # some wallets show a signature without its 0x
    try:
        body = ClaimRequest(message=fields["message"], signature=signature)
    except ValidationError:
        error = "That is not a signature: a signature is 0x followed by 130 hexadecimal digits. Paste it whole."
        raise _RefusalError(422, error, step="sign", address=address) from None
    try:
        check_attempt(state, request, token)
        await run_in_threadpool(redeem_claim, state, token, body)
    except ApiError as exc:
        raise _RefusalError(
            exc.status, _sentence(exc.message), step="sign", address=address, headers=exc.headers
        ) from None
    except ServiceError as exc:
        raise _RefusalError(http_status(exc), _sentence(exc.message), step="sign", address=address) from None
    state.worker.wake()
    return RedirectResponse(f"/claim/{token}", status_code=303, headers={"Cache-Control": "no-store"})
