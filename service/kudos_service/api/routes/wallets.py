"""``/v1/wallets``: the kudos an address holds, from the event index."""

from __future__ import annotations

import json
from typing import Annotated

from eth_utils.address import to_checksum_address
from eth_utils.crypto import keccak
from fastapi import APIRouter, Query
from pydantic import BeforeValidator
from sqlalchemy import func, select

from kudos_chain.indexer import index_tokens
from kudos_chain.types import utc_from_timestamp
from kudos_service.api.deps import SessionDep, StateDep
from kudos_service.api.errors import ApiError
from kudos_service.api.openapi import STORAGE, error_responses
from kudos_service.models import Award, Deployment, Kind
from kudos_service.schemas import WalletItem, WalletOut, is_valid_address, whole_number

router = APIRouter(prefix="/v1/wallets", tags=["wallets"])


def checked_address(address: str) -> str:
    """The checksummed address, or a 400 ``invalid_address``."""
    if not is_valid_address(address):
        raise ApiError(400, "invalid_address", f"{address!r} is not an Ethereum address")
    return to_checksum_address(address)


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


@router.get(
    "/{address}",
    response_model=WalletOut,
    responses=error_responses("invalid_address", "invalid_request", "not_deployed", *STORAGE),
)
def get_wallet(
    address: str,
    state: StateDep,
    session: SessionDep,
    limit: Annotated[int, Query(ge=1, le=200), BeforeValidator(whole_number)] = 50,
    offset: Annotated[int, Query(ge=0, lt=2**63), BeforeValidator(whole_number)] = 0,
) -> WalletOut:
    """Every kudos an address holds, newest first, paged (public: the chain is public anyway)."""
    return wallet_page(session, state.settings.base_url, checked_address(address), limit, offset)
