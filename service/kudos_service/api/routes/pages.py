"""The wallet pages people open in a browser: ``/`` to look a wallet up, ``/wallet/{address}`` to see its kudos.

Server-rendered with Jinja2 (no front-end build); every page names the chain and the contract it shows, since a
kudos lives on one chain only. Refusals here are HTML pages; the ``/v1`` API keeps its JSON errors, except that a
browser opening a revoked kudos's badge or metadata gets a page it can read (:func:`gone_page`).

People's text (names, messages, kinds) is marked ``dir="auto"``, so Arabic or Hebrew reads right to left inside an
English page. A wallet page lists the kudos its wallet holds, then those revoked while it held them, with the
reason and the date; its chain, contract and full address are in an "About this wallet" section below.
"""

from __future__ import annotations

import re
from datetime import datetime
from pathlib import Path
from typing import Any

import jinja2
from eth_utils.address import to_checksum_address
from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from markupsafe import Markup
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from kudos_service.api.deps import SessionDep, StateDep
from kudos_service.api.errors import ApiError
from kudos_service.api.routes.wallets import listed_wallet, revocation, revoked_from, wallet_page
from kudos_service.chain_access import CHAIN_NAMES
from kudos_service.icons import icon, icon_for_emoji, inline_svg
from kudos_service.models import Deployment, Recipient
from kudos_service.schemas import WalletItem, is_valid_address
from kudos_service.text_layout import display_width

__all__ = ["CHAIN_NAMES", "PAGE_SIZE", "REVOKE_REASONS", "gone_page", "prefers_html", "router"]

router = APIRouter(include_in_schema=False)

#: Kudos shown on one wallet page.
PAGE_SIZE = 24


#: The reasons of a revocation (``RevokeRequest.reason``) in words.
REVOKE_REASONS = {
    "unspecified": "no reason given",
    "mistake": "awarded by mistake",
    "fraud": "fraud",
    "requested_by_holder": "at its holder's request",
    "policy": "against policy",
}

#: A message wider than this (in ems, about 220 Latin letters or 120 Chinese characters) or with more lines than
#: ``_LONG_LINES`` shows its first lines, with a button to read the rest.
_LONG_WIDTH = 120.0
_LONG_LINES = 5

_HANDLE = re.compile(r"[a-z0-9][a-z0-9._-]{0,63}")
_COLOR = re.compile(r"#[0-9a-fA-F]{6}")

_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; img-src 'self'; style-src 'unsafe-inline'; form-action 'self'; "
        "base-uri 'none'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}


def _date(value: datetime | None) -> str:
    return "" if value is None else f"{value:%d %b %Y}".lstrip("0")


def _quoted(text: str) -> str:
    """``text`` in quotes for a sentence of ours, isolated (U+2068 FIRST STRONG ISOLATE to U+2069 POP DIRECTIONAL
    ISOLATE): a right-to-left text read in an English sentence keeps both in their order.

    >>> _quoted("0x12")
    '\u2068“0x12”\u2069'
    """
    return f"\u2068“{text}”\u2069"


def _short(address: str) -> str:
    return f"{address[:6]}…{address[-4:]}"


def _address_groups(address: str) -> list[str]:
    """``address`` in groups of four characters after its ``0x``, to show it in lines that break between groups."""
    return [address[:6], *(address[i : i + 4] for i in range(6, len(address), 4))]


def _icon(name: str, css_class: str = "icon") -> Markup:
    """The vendored icon ``name`` as inline SVG: fixed markup from the icon set, vetted when it was vendored, so
    the template inserts it unescaped. Pages draw icons, never emoji as text, which needs an emoji font."""
    return Markup(inline_svg(icon(name), css_class=css_class))  # noqa: S704


_env = jinja2.Environment(
    loader=jinja2.FileSystemLoader(Path(__file__).resolve().parents[2] / "templates"),
    autoescape=True,
    undefined=jinja2.StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)
_env.filters["date"] = _date
_env.filters["short"] = _short
_env.filters["groups"] = _address_groups
_env.globals["icon"] = _icon
templates = Jinja2Templates(env=_env)


def _chain(session: Session) -> dict[str, Any] | None:
    deployment = session.scalars(select(Deployment)).first()
    if deployment is None:
        return None
    return {
        "id": deployment.chain_id,
        "name": CHAIN_NAMES.get(deployment.chain_id),
        "contract": deployment.contract_address,
    }


def _render(request: Request, session: Session, template: str, status: int = 200, **context: Any) -> Response:
    context.setdefault("chain", _chain(session))
    context.setdefault("query", "")
    context.setdefault("error", None)
    return templates.TemplateResponse(request, template, context, status_code=status, headers=_HEADERS)


def _error(request: Request, session: Session, status: int, title: str, message: str) -> Response:
    return _render(request, session, "error.html", status, status_code=status, title=title, message=message)


def prefers_html(accept: str | None) -> bool:
    """Whether an ``Accept`` header asks for a page rather than JSON: ``text/html`` named, and ranked above
    ``application/json`` (or ``application/*``) when those are named too. A browser navigating asks so; an API
    client (``application/json``, ``*/*``, or no header) and an ``<img>`` (``image/*``) do not.

    >>> prefers_html("text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8")
    True
    >>> prefers_html("application/json"), prefers_html("*/*"), prefers_html(None), prefers_html("image/*,*/*;q=0.8")
    (False, False, False, False)
    >>> prefers_html("application/json, text/html;q=0.5"), prefers_html("text/html;q=0")
    (False, False)
    """
    html = json = 0.0
    for item in (accept or "").split(","):
        media, *parameters = (part.strip() for part in item.split(";"))
        quality = 1.0
        for parameter in parameters:
            name, _, value = parameter.partition("=")
            if name.strip().lower() == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        if media.lower() == "text/html":
            html = max(html, quality)
        elif media.lower() in ("application/json", "application/*"):
            json = max(json, quality)
    return html > 0 and html > json


def gone_page(request: Request, session: Session, token_id: int) -> Response:
    """The page a browser gets for a revoked kudos's badge or metadata (410): what happened, when and why."""
    found = revocation(session, token_id)
    if found is None:
        title = f"Kudos #{token_id} is gone"
        message = (
            f"Kudos #{token_id} is no longer in any wallet: it was revoked on chain, or its holder burnt it. "
            "Its badge and its words are no longer shown."
        )
    else:
        when = f" on {_date(found.revoked_at)}" if found.revoked_at else ""
        reason = REVOKE_REASONS.get(found.reason or "unspecified", "no reason given")
        title = f"Kudos #{token_id} was revoked"
        message = (
            f"This \u2068{found.kind_name}\u2069 kudos was revoked by its issuer{when} ({reason}). Its badge and its "
            "words are no longer shown; the revocation is recorded on chain."
        )
    return _error(request, session, 410, title, message)


@router.get("/", response_class=HTMLResponse)
def landing(request: Request, session: SessionDep) -> Response:
    """The form to look a wallet up by address or by directory handle."""
    return _render(request, session, "index.html")


@router.get("/lookup", response_class=HTMLResponse)
def lookup(request: Request, session: SessionDep, q: str = "") -> Response:
    """An address, or ``@handle`` of a person in the directory: redirect to the wallet page.

    A handle opens a wallet only when the person's entry is ``listed``. A handle that is unknown, one whose person
    is not listed and one whose person has no wallet get the same answer (status, body, headers), from the same
    single query by the unique handle, so the page tells nothing about the directory beyond the wallets of the
    people who allow it. An address works for everyone: it is not directory data.
    """
    query = q.strip()
    if not query:
        return _render(request, session, "index.html", 400, error="Enter a wallet address or an @handle.")
    if query.lower().startswith("0x"):
        if not is_valid_address(query):
            message = (
                f"{_quoted(query)} is not a valid wallet address. An address is 0x followed by 40 hexadecimal digits; "
                "mixed-case addresses must carry a valid checksum."
            )
            return _render(request, session, "index.html", 400, query=query, error=message)
        return RedirectResponse(f"/wallet/{to_checksum_address(query)}", status_code=303)
    handle = query.removeprefix("@").lower()
    if not _HANDLE.fullmatch(handle):
        message = (
            f"{_quoted(query)} is neither a wallet address nor a handle. A handle is letters, digits, dots, dashes or "
            "underscores, like @ada.lovelace."
        )
        return _render(request, session, "index.html", 400, query=query, error=message)
    wallet = listed_wallet(session, handle)  # the API's own rule and query (GET /v1/wallets/@handle)
    if wallet is None:
        message = f"No wallet is known for @{handle}. Check the spelling, or look the person up by their address."
        return _render(request, session, "index.html", 404, query=query, error=message)
    return RedirectResponse(f"/wallet/{to_checksum_address(wallet)}", status_code=303)


def _display_name(session: Session, address: str) -> str | None:
    """The directory's name for ``address``, only where that person's entry allows it to be shown."""
    person = session.scalars(
        select(Recipient).where(func.lower(Recipient.wallet_address) == address.lower()).order_by(Recipient.id)
    ).first()
    return person.display_name if person is not None and person.show_name else None


def _card(item: WalletItem) -> dict[str, Any]:
    color = item.color if item.color and _COLOR.fullmatch(item.color) else "#4b5563"
    message = item.message or ""
    return {
        "id": item.token_id,
        "kind": item.kind_name or "Unknown kind",
        "icon": icon_for_emoji(item.emoji).name,
        "color": color,
        "message": item.message,
        "awarded_by": item.awarded_by,
        "long": display_width(message) > _LONG_WIDTH or message.count("\n") >= _LONG_LINES,
        "verified": item.verified,
        "issued_at": item.issued_at,
        "transferable": item.transferable,
        "metadata_url": f"/v1/tokens/{item.token_id}",
        "image_url": f"/v1/tokens/{item.token_id}/image.svg",
    }


@router.get("/wallet/{address}", response_class=HTMLResponse)
def wallet(request: Request, address: str, state: StateDep, session: SessionDep, page: str = "1") -> Response:
    """The kudos an address holds as badge cards, newest first, paged."""
    if not is_valid_address(address):
        return _error(
            request,
            session,
            400,
            "That is not a wallet address",
            f"{_quoted(address)} is not a valid wallet address. An address is 0x followed by 40 hexadecimal digits; "
            "mixed-case addresses must carry a valid checksum.",
        )
    if not (page.isascii() and page.isdigit() and len(page) <= 9) or int(page) < 1:  # "²".isdigit() is true
        return _error(request, session, 400, "No such page", f"{_quoted(page)} is not a page number (1, 2, 3…).")
    number = int(page)
    checksummed = to_checksum_address(address)
    try:
        found = wallet_page(session, state.settings.base_url, checksummed, PAGE_SIZE, (number - 1) * PAGE_SIZE)
    except ApiError as exc:
        return _error(request, session, exc.status, "This wallet cannot be shown right now", exc.message)
    pages = max(1, -(-found.total // PAGE_SIZE))
    revoked_total, revoked = revoked_from(session, checksummed, PAGE_SIZE)
    return _render(
        request,
        session,
        "wallet.html",
        address=checksummed,
        name=_display_name(session, checksummed),
        total=found.total,
        cards=[_card(item) for item in found.items],
        page=number,
        pages=pages,
        first=found.offset + 1,
        last=found.offset + len(found.items),
        revoked_total=revoked_total,
        revoked=[
            {
                "id": r.token_id,
                "kind": r.kind_name,
                "icon": icon_for_emoji(r.emoji).name,
                "color": r.color if _COLOR.fullmatch(r.color) else "#4b5563",
                "revoked_at": r.revoked_at,
                "reason": REVOKE_REASONS.get(r.reason or "unspecified", "no reason given"),
            }
            for r in revoked
        ],
        chain={
            "id": found.chain_id,
            "name": CHAIN_NAMES.get(found.chain_id),
            "contract": found.contract_address,
        },
    )
