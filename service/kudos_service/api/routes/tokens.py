"""``/v1/tokens``: the metadata ``tokenURI`` points to, the badge picture, and revocation."""

from __future__ import annotations

import json
from typing import Annotated, Any

from eth_utils.crypto import keccak
from fastapi import APIRouter, Depends, Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from kudos_chain import KudosError, RevokeReason, TokenNotFoundError
from kudos_chain.indexer import index_tokens
from kudos_service.api.deps import AppState, SessionDep, StateDep, require_json, require_scope
from kudos_service.api.errors import ApiError
from kudos_service.badge import badge_svg
from kudos_service.chain import describe_error
from kudos_service.models import ApiKey, Award, Kind
from kudos_service.schemas import RevokeRequest

router = APIRouter(tags=["tokens"])

_SVG_HEADERS = {
    "Cache-Control": "public, max-age=300",
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'",
}


#: Kudos ids are sequential from 1 and stored as signed 64-bit integers: an id out of this range was never awarded.
_TOKEN_IDS = range(1, 2**63)


def _check_token_id(token_id: int) -> None:
    if token_id not in _TOKEN_IDS:
        raise ApiError(404, "token_not_found", f"no kudos {token_id} exists (ids go from 1 up)")


def _award_for_token(session: SessionDep, token_id: int) -> Award:
    _check_token_id(token_id)
    award = session.scalars(select(Award).where(Award.token_id == token_id)).first()
    if award is None:
        raise ApiError(404, "token_not_found", f"no kudos {token_id} was awarded by this service")
    return award


def _revoked(session: SessionDep, token_id: int) -> bool:
    owner = session.execute(select(index_tokens.c.owner).where(index_tokens.c.token_id == token_id)).first()
    return owner is not None and owner[0] is None


def _onchain_hash(state: StateDep, token_id: int) -> bytes:
    cache: dict[int, bytes] = state.hash_cache
    if token_id in cache:
        return cache[token_id]
    try:
        ctx = state.chain.get()
        event = ctx.client.award_events([token_id]).get(token_id)
    except (KudosError, OSError) as exc:  # OSError: requests' errors, when the node went away
        reason = describe_error(exc, state.settings)
        raise ApiError(503, "chain_unavailable", f"the chain cannot be read to verify this kudos: {reason}") from None
    if event is None:
        raise ApiError(404, "token_not_found", f"kudos {token_id} has no award event on chain")
    cache[token_id] = event.data[:32]
    return cache[token_id]


def _verified(state: AppState, session: Session, token_id: int) -> tuple[Award, bytes]:
    """The award of ``token_id`` and its on-chain content hash, refused unless its stored metadata matches it."""
    award = _award_for_token(session, token_id)
    if _revoked(session, token_id):
        raise ApiError(410, "token_revoked", f"kudos {token_id} was revoked or burnt")
    expected = _onchain_hash(state, token_id)
    if keccak(award.metadata_json) != expected:
        raise ApiError(
            409,
            "metadata_mismatch",
            f"the stored metadata of kudos {token_id} does not match its content hash on chain",
        )
    return award, expected


@router.get("/v1/tokens/{token_id}")
def token_metadata(token_id: int, state: StateDep, session: SessionDep) -> Response:
    """The ERC-721 metadata JSON of a kudos, served only when it hashes to the content hash on chain."""
    award, expected = _verified(state, session, token_id)
    return Response(
        award.metadata_json, media_type="application/json", headers={"X-Content-Hash": "0x" + expected.hex()}
    )


def _svg(session: Session, award: Award, label: str) -> Response:
    """The badge, drawn from the metadata (the text that is hashed on chain), not from convenience columns."""
    kind = session.get_one(Kind, award.kind_id)
    metadata = json.loads(award.metadata_json)
    svg = badge_svg(
        kind_name=kind.name,
        emoji=kind.emoji,
        color=kind.color,
        message=str(metadata.get("message", "")),
        awarded_by=str(metadata.get("awarded_by", "")),
        token_label=label,
    )
    return Response(svg, media_type="image/svg+xml", headers=_SVG_HEADERS)


@router.get("/v1/tokens/{token_id}/image.svg")
def token_image(token_id: int, state: StateDep, session: SessionDep) -> Response:
    """The badge picture of a kudos, drawn only from metadata that matches the chain."""
    award, _ = _verified(state, session, token_id)
    return _svg(session, award, f"#{token_id}")


@router.get("/v1/awards/{award_id}/image.svg")
def award_image(award_id: str, state: StateDep, session: SessionDep) -> Response:
    """The badge picture of an award (the URL its metadata names, known before the token id is)."""
    award = session.get(Award, award_id)
    if award is None:
        raise ApiError(404, "award_not_found", f"no award {award_id!r}")
    if award.token_id is not None:
        award, _ = _verified(state, session, award.token_id)
        return _svg(session, award, f"#{award.token_id}")
    if keccak(award.metadata_json) != award.content_hash:
        raise ApiError(409, "metadata_mismatch", f"the stored metadata of award {award_id!r} was altered")
    return _svg(session, award, "pending")


@router.post("/v1/tokens/{token_id}/revoke", dependencies=[Depends(require_json)])
def revoke_token(
    token_id: int, body: RevokeRequest, state: StateDep, _: Annotated[ApiKey, Depends(require_scope("revoke"))]
) -> dict[str, Any]:
    """Revoke (burn) a kudos on chain with a reason code (``revoke`` scope)."""
    _check_token_id(token_id)
    try:
        ctx = state.chain.get()
        with ctx.lock:
            result = ctx.client.revoke(token_id, RevokeReason[body.reason.upper()])
    except TokenNotFoundError:
        raise ApiError(404, "token_not_found", f"kudos {token_id} does not exist (never awarded, or revoked)") from None
    except (KudosError, OSError) as exc:
        reason = describe_error(exc, state.settings)
        raise ApiError(503, "chain_unavailable", f"the revocation could not be sent: {reason}") from None
    state.worker.sync_index(ctx)
    return {"token_id": token_id, "revoked": True, "reason": body.reason, "tx_hash": result.tx_hash}
