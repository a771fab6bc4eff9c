"""The wallet pages people open in a browser: ``/`` to look a wallet up, ``/wallet/{address}`` to see its kudos.

Server-rendered with Jinja2 (no front-end build); every page names the chain and the contract it shows, since a
kudos lives on one chain only. Refusals here are HTML pages; the ``/v1`` API keeps its JSON errors.
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
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from kudos_service.api.deps import SessionDep, StateDep
from kudos_service.api.errors import ApiError
from kudos_service.api.routes.wallets import wallet_page
from kudos_service.models import Deployment, Recipient
from kudos_service.schemas import WalletItem, is_valid_address

__all__ = ["CHAIN_NAMES", "PAGE_SIZE", "router"]

router = APIRouter(include_in_schema=False)

#: Kudos shown on one wallet page.
PAGE_SIZE = 24

#: Names of well-known chains; the page always shows the numeric id too.
CHAIN_NAMES = {
    1: "Ethereum",
    10: "OP Mainnet",
    8453: "Base",
    42161: "Arbitrum One",
    11155111: "Sepolia",
    84532: "Base Sepolia",
    31337: "Anvil (local)",
    131277322940537: "Embedded chain",
}

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


def _short(address: str) -> str:
    return f"{address[:6]}…{address[-4:]}"


_env = jinja2.Environment(
    loader=jinja2.FileSystemLoader(Path(__file__).resolve().parents[2] / "templates"),
    autoescape=True,
    undefined=jinja2.StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)
_env.filters["date"] = _date
_env.filters["short"] = _short
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


@router.get("/", response_class=HTMLResponse)
def landing(request: Request, session: SessionDep) -> Response:
    """The form to look a wallet up by address or by directory handle."""
    return _render(request, session, "index.html")


@router.get("/lookup", response_class=HTMLResponse)
def lookup(request: Request, session: SessionDep, q: str = "") -> Response:
    """An address, or ``@handle`` of a person in the directory: redirect to the wallet page.

    A handle that is unknown and one whose person has no wallet get the same answer, so the page tells nothing
    about the directory beyond the address it redirects to.
    """
    query = q.strip()
    if not query:
        return _render(request, session, "index.html", 400, error="Enter a wallet address or an @handle.")
    if query.lower().startswith("0x"):
        if not is_valid_address(query):
            message = (
                f"“{query}” is not a valid wallet address. An address is 0x followed by 40 hexadecimal digits; "
                "mixed-case addresses must carry a valid checksum."
            )
            return _render(request, session, "index.html", 400, query=query, error=message)
        return RedirectResponse(f"/wallet/{to_checksum_address(query)}", status_code=303)
    handle = query.removeprefix("@").lower()
    if not _HANDLE.fullmatch(handle):
        message = (
            f"“{query}” is neither a wallet address nor a handle. A handle is letters, digits, dots, dashes or "
            "underscores, like @ada.lovelace."
        )
        return _render(request, session, "index.html", 400, query=query, error=message)
    wallet = session.scalars(
        select(Recipient.wallet_address)
        .where(Recipient.handle == handle, Recipient.wallet_address.is_not(None))
        .order_by(Recipient.id)
    ).first()
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
    return {
        "id": item.token_id,
        "kind": item.kind_name or "Unknown kind",
        "emoji": item.emoji or "⭐",
        "color": color,
        "message": item.message,
        "awarded_by": item.awarded_by,
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
            f"“{address}” is not a valid wallet address. An address is 0x followed by 40 hexadecimal digits; "
            "mixed-case addresses must carry a valid checksum.",
        )
    if not (page.isascii() and page.isdigit() and len(page) <= 9) or int(page) < 1:  # "²".isdigit() is true
        return _error(request, session, 400, "No such page", f"“{page}” is not a page number (1, 2, 3…).")
    number = int(page)
    checksummed = to_checksum_address(address)
    try:
        found = wallet_page(session, state.settings.base_url, checksummed, PAGE_SIZE, (number - 1) * PAGE_SIZE)
    except ApiError as exc:
        return _error(request, session, exc.status, "This wallet cannot be shown right now", exc.message)
    pages = max(1, -(-found.total // PAGE_SIZE))
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
        chain={
            "id": found.chain_id,
            "name": CHAIN_NAMES.get(found.chain_id),
            "contract": found.contract_address,
        },
    )
