"""``/v1/wallets``: the kudos an address holds, from the event index."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated

from eth_utils.address import to_checksum_address
from eth_utils.crypto import keccak
from fastapi import APIRouter, Path, Query
from pydantic import BeforeValidator
from sqlalchemy import Select, exists, func, select
from sqlalchemy.orm import Session

from kudos_chain.indexer import index_tokens, index_transfers
from kudos_chain.types import utc_from_timestamp
from kudos_service.api.deps import SessionDep, StateDep
from kudos_service.api.errors import ApiError
from kudos_service.api.openapi import STORAGE, error_responses
from kudos_service.core.limits import MAX_WALLET_PAGE
from kudos_service.models import Award, Deployment, Kind, Operation, OpKind, OpStatus, Recipient
from kudos_service.schemas import HANDLE_PATTERN, WalletItem, WalletOut, is_valid_address, whole_number

router = APIRouter(prefix="/v1/wallets", tags=["wallets"])


def checked_address(address: str) -> str:
    """The checksummed address, or a 400 ``invalid_address``."""
    if not is_valid_address(address):
        raise ApiError(400, "invalid_address", f"{address!r} is not an Ethereum address")
    return to_checksum_address(address)


def listed_wallet(session: Session, handle: str) -> str | None:
    """The wallet address of the person with ``handle`` (without its ``@``, any case) when their directory entry is
    ``listed`` and holds one, else None: one query by the unique handle, the same for a handle that is unknown,
    unlisted or without a wallet."""
    wallet: str | None = session.scalars(
        select(Recipient.wallet_address)
        .where(Recipient.handle == handle.lower(), Recipient.listed.is_(True), Recipient.wallet_address.is_not(None))
        .order_by(Recipient.id)
    ).first()
    return wallet


def wallet_of(session: Session, address: str) -> str:
    """The checksummed address that ``address`` names: itself, or the wallet of ``@handle`` when that person's
    entry is listed. A 400 ``invalid_address`` for neither an address nor a handle, a 404 ``wallet_not_found``
    (the same for an unknown handle, an unlisted one and one without a wallet) when no wallet is known."""
    if address.startswith("@") and re.fullmatch(HANDLE_PATTERN, address):
        wallet = listed_wallet(session, address[1:])
        if wallet is None:
            raise ApiError(404, "wallet_not_found", f"no wallet is known for {address.lower()}")
        return to_checksum_address(wallet)
    if address.startswith("@"):
        raise ApiError(400, "invalid_address", f"{address!r} is neither an Ethereum address nor a @handle")
    return checked_address(address)


def wallet_page(session: SessionDep, base_url: str, address: str, limit: int, offset: int) -> WalletOut:
    """A page of the kudos ``address`` holds, newest first, with the text this service keeps for each."""
    deployment = session.scalars(select(Deployment)).first()
    if deployment is None:
        raise ApiError(503, "not_deployed", "the service has not reached its chain yet")
    owned = (index_tokens.c.contract == deployment.contract_address) & (index_tokens.c.owner == address)
    total = int(session.scalar(select(func.count()).select_from(index_tokens).where(owned)) or 0)
    rows = session.execute(
        select(index_tokens, Award, Kind)
        .select_from(index_tokens)
        .outerjoin(Award, Award.token_id == index_tokens.c.token_id)
        .outerjoin(Kind, Kind.id == index_tokens.c.kind)
        .where(owned)
        .order_by(index_tokens.c.token_id.desc())
        .limit(limit)
        .offset(offset)
    ).all()
    items = []
    for row in rows:
        m = row._mapping
        award: Award | None = m[Award]
        kind: Kind | None = m[Kind]
        token_id = int(m["token_id"])
        # The text comes from the metadata, and only when it hashes to the content hash the chain holds.
        verified = award is not None and keccak(award.metadata_json) == bytes(m["content_hash"])
        metadata = json.loads(award.metadata_json) if verified and award is not None else {}
        items.append(
            WalletItem(
                token_id=token_id,
                kind=kind.slug if kind else None,
                kind_name=kind.name if kind else None,
                emoji=kind.emoji if kind else None,
                color=kind.color if kind else None,
                message=metadata.get("message"),
                awarded_by=metadata.get("awarded_by"),
                verified=verified,
                issued_at=None if m["issued_at"] is None else utc_from_timestamp(int(m["issued_at"])),
                transferable=m["transferable"],
                token_uri=f"{base_url}/v1/tokens/{token_id}",
                image_url=f"{base_url}/v1/tokens/{token_id}/image.svg",
            )
        )
    return WalletOut(
        address=address,
        chain_id=deployment.chain_id,
        contract_address=deployment.contract_address,
        total=total,
        limit=limit,
        offset=offset,
        items=items,
    )


#: The address a burnt kudos is sent to.
ZERO_ADDRESS = "0x" + "0" * 40


@dataclass(frozen=True)
class Revocation:
    """A kudos revoked through this service: when (recorded once its revocation was final) and why."""

    token_id: int
    kind_name: str
    emoji: str
    color: str
    revoked_at: datetime | None
    reason: str | None  # a RevokeRequest reason; None for a revocation this service has no operation of


def _revoked_awards() -> Select[Award, Kind, str | None]:
    """Awards with their kind and the reason of their revocation (the revoke operation's argument)."""
    revoke = (
        (Operation.kind == OpKind.REVOKE) & (Operation.token_id == Award.token_id) & (Operation.status == OpStatus.DONE)
    )
    return (
        select(Award, Kind, Operation.argument)
        .join(Kind, Kind.id == Award.kind_id)
        .outerjoin(Operation, revoke)
        .where(Award.revoked_at.is_not(None))
    )


def revocation(session: Session, token_id: int) -> Revocation | None:
    """How ``token_id`` was revoked, when this service revoked it: None for a kudos burnt by its holder, or
    revoked outside this service."""
    row = session.execute(_revoked_awards().where(Award.token_id == token_id).order_by(Operation.id.desc())).first()
    if row is None:
        return None
    award, kind, reason = row
    return Revocation(token_id, kind.name, kind.emoji, kind.color, award.revoked_at, reason)


def revoked_from(session: Session, address: str, limit: int) -> tuple[int, list[Revocation]]:
    """How many kudos awarded to ``address`` were revoked while it held them, and the ``limit`` last revoked.

    Awards are found by their recipient (indexed), and each is checked against the event index by its token id
    (indexed): its burn came from ``address``. A kudos that reached ``address`` by a transfer and was revoked
    there is not counted (the index has no lookup by sender), nor one its holder burnt.
    """
    deployment = session.scalars(select(Deployment)).first()
    if deployment is None:
        return 0, []
    burnt_here = exists().where(
        index_transfers.c.contract == deployment.contract_address,
        index_transfers.c.token_id == Award.token_id,
        index_transfers.c.from_address == address,
        index_transfers.c.to_address == ZERO_ADDRESS,
    )
    where = (Award.recipient == address, burnt_here)
    total = int(
        session.scalar(select(func.count()).select_from(Award).where(Award.revoked_at.is_not(None), *where)) or 0
    )
    if not total:
        return 0, []
    rows = session.execute(
        _revoked_awards().where(*where).order_by(Award.revoked_at.desc(), Award.token_id.desc()).limit(limit)
    ).all()
    found: dict[int, Revocation] = {}
    for award, kind, reason in rows:  # one row each (a kudos is revoked once); keep the first
        token_id = award.token_id
        if token_id is not None:  # always: only a minted kudos is revoked
            found.setdefault(
                token_id, Revocation(token_id, kind.name, kind.emoji, kind.color, award.revoked_at, reason)
            )
    return total, list(found.values())


@router.get(
    "/{address}",
    response_model=WalletOut,
    responses=error_responses("invalid_address", "wallet_not_found", "invalid_request", "not_deployed", *STORAGE),
)
def get_wallet(
    address: Annotated[
        str,
        Path(
            description="A wallet address, or `@handle` of a person whose directory entry is `listed` (as on the "
            "lookup page: an unknown handle and an unlisted one get the same 404).",
            examples=["0x2B5AD5c4795c026514f8317c7a215E218DcCD6cF", "@ada"],
        ),
    ],
    state: StateDep,
    session: SessionDep,
    limit: Annotated[int, Query(ge=1, le=MAX_WALLET_PAGE), BeforeValidator(whole_number)] = 50,
    offset: Annotated[int, Query(ge=0, lt=2**63), BeforeValidator(whole_number)] = 0,
) -> WalletOut:
    """Every kudos an address holds, newest first, paged (public: the chain is public anyway). The address of
    ``@handle`` is answered only for people who allow it, as on the lookup page."""
    return wallet_page(session, state.settings.base_url, wallet_of(session, address), limit, offset)
