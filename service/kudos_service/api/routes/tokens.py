"""``/v1/tokens``: the metadata ``tokenURI`` points to, the badge picture, and revocation.

A revoked kudos's metadata and badge answer 410 ``token_revoked`` in JSON, except to a browser that navigates to
them (``Accept`` prefers ``text/html``: :func:`~kudos_service.api.routes.pages.prefers_html`), which gets a page
saying when and why it was revoked; both carry ``Vary: Accept``.
"""

from __future__ import annotations

import json
from typing import Annotated, Any

from eth_utils.crypto import keccak
from fastapi import APIRouter, Depends, Header, Path, Request, Response
from fastapi.concurrency import run_in_threadpool
from sqlalchemy import select
from sqlalchemy.orm import Session

from kudos_chain import KudosError
from kudos_chain.indexer import index_tokens
from kudos_service.api.deps import SessionDep, StateDep, json_if_any, require_scope
from kudos_service.api.errors import ApiError
from kudos_service.api.openapi import (
    AUTH,
    JSON_BODY,
    STORAGE,
    SVG_BADGE,
    TokenMetadata,
    error_responses,
    request_examples,
    response_headers,
)
from kudos_service.api.routes.awards import check_idempotency_key
from kudos_service.api.routes.operations import WaitQuery, load_operation, wait_for_operation
from kudos_service.api.routes.pages import gone_page, prefers_html
from kudos_service.badge import badge_svg
from kudos_service.chain_access import describe_error
from kudos_service.delivery.outbox import Requested, request_revoke
from kudos_service.models import ApiKey, Award, Kind
from kudos_service.schemas import OperationOut, RevokeRequest, WholeNumber
from kudos_service.state import AppState

router = APIRouter(tags=["tokens"])

#: A token id in a path: digits only (``/v1/tokens/1.0`` is not token 1).
TokenIdPath = Annotated[WholeNumber, Path(description="The kudos's token id.", examples=[1])]

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


def _indexed(state: AppState, session: Session, token_id: int) -> tuple[str | None, bytes] | None:
    """``(owner, content hash)`` of ``token_id`` in the service's event index (owner None: revoked or burnt), or
    None while the index has not reached its block yet (the worker refreshes it within about a second).

    The lookup names the contract too: the index's key is ``(contract, token_id)``, so this is one primary-key
    read however many kudos the index holds.
    """
    deployment = state.catalog.deployment(session)
    if deployment is None:
        return None
    row = session.execute(
        select(index_tokens.c.owner, index_tokens.c.content_hash).where(
            index_tokens.c.contract == deployment[1], index_tokens.c.token_id == token_id
        )
    ).first()
    return None if row is None else (row[0], bytes(row[1]))


def _hash_in_award_block(state: AppState, award: Award, token_id: int) -> bytes:
    """The content hash of ``token_id``'s ``KudosAwarded`` event, read from the one block its award was mined in
    (recorded when it was confirmed): one ``eth_getLogs`` of one block, however long the chain."""
    block = award.block_number
    if block is None:  # a token id is recorded with its block: only a row edited by hand lacks one
        raise ApiError(404, "token_not_found", f"kudos {token_id} has no recorded block on chain")
    try:
        ctx = state.chain.get()
        event = ctx.client.award_events([token_id], from_block=block, to_block=block).get(token_id)
    except (KudosError, OSError) as exc:  # OSError: requests' errors, when the node went away
        reason = describe_error(exc, state.settings)
        raise ApiError(503, "chain_unavailable", f"the chain cannot be read to verify this kudos: {reason}") from None
    if event is None:
        raise ApiError(404, "token_not_found", f"kudos {token_id} has no award event on chain in block {block}")
    return event.content_hash


def _verified(state: AppState, session: Session, token_id: int) -> tuple[Award, bytes]:
    """The award of ``token_id`` and its on-chain content hash, refused unless its stored metadata matches it.

    The hash comes from the event index, or, for a kudos the index has not reached yet, from its award's block:
    never from a scan of the chain, so a public read costs the same at ten kudos as at ten million, and nothing
    is cached.
    """
    award = _award_for_token(session, token_id)
    indexed = _indexed(state, session, token_id)
    if indexed is not None and indexed[0] is None:
        raise ApiError(410, "token_revoked", f"kudos {token_id} was revoked or burnt")
    expected = indexed[1] if indexed is not None else _hash_in_award_block(state, award, token_id)
    if keccak(award.metadata_json) != expected:
        raise ApiError(
            409,
            "metadata_mismatch",
            f"the stored metadata of kudos {token_id} does not match its content hash on chain",
        )
    return award, expected


def _gone(request: Request, session: Session, token_id: int, error: ApiError) -> Response:
    """``error`` raised again, unless it is a revoked kudos asked for by a browser: then a page it can read, 410."""
    if error.status != 410:
        raise error
    if prefers_html(request.headers.get("accept")):
        page = gone_page(request, session, token_id)
        page.headers["Vary"] = "Accept"
        return page
    error.headers = {**(error.headers or {}), "Vary": "Accept"}
    raise error


#: What a read of verified metadata can answer besides the metadata (see :func:`_verified`).
_VERIFIED = ("invalid_request", "token_not_found", "token_revoked", "metadata_mismatch", "chain_unavailable", *STORAGE)


def _refusals(*codes: str) -> dict[int | str, dict[str, Any]]:
    """:func:`error_responses`, with the page a browser gets for 410 beside its JSON."""
    responses = error_responses(*codes)
    gone = responses[410]
    gone["content"] = {**gone["content"], "text/html": {"schema": {"type": "string"}}}
    gone["description"] += "\n\nA browser (`Accept` preferring `text/html`) gets an HTML page saying when and why."
    return responses


@router.get(
    "/v1/tokens/{token_id}",
    responses={
        200: {
            "model": TokenMetadata,
            "description": "The metadata, byte for byte as hashed on chain.",
            "headers": response_headers({"X-Content-Hash": "The content hash on chain (0x and 64 hex digits)."}),
        },
        **_refusals(*_VERIFIED),
    },
)
def token_metadata(token_id: TokenIdPath, request: Request, state: StateDep, session: SessionDep) -> Response:
    """The ERC-721 metadata JSON of a kudos, served only when it hashes to the content hash on chain.

    A revoked kudos is 410 ``token_revoked``; a browser that navigates here (``Accept`` prefers ``text/html``) gets
    that as an HTML page saying when and why."""
    try:
        award, expected = _verified(state, session, token_id)
    except ApiError as exc:
        return _gone(request, session, token_id, exc)
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


@router.get(
    "/v1/tokens/{token_id}/image.svg",
    response_class=Response,
    responses={200: SVG_BADGE, **_refusals(*_VERIFIED)},
)
def token_image(token_id: TokenIdPath, request: Request, state: StateDep, session: SessionDep) -> Response:
    """The badge picture of a kudos, drawn only from metadata that matches the chain.

    A revoked kudos is 410 ``token_revoked``; a browser that navigates here gets that as an HTML page."""
    try:
        award, _ = _verified(state, session, token_id)
    except ApiError as exc:
        return _gone(request, session, token_id, exc)
    return _svg(session, award, f"#{token_id}")


@router.get(
    "/v1/awards/{award_id}/image.svg",
    response_class=Response,
    responses={200: SVG_BADGE, **_refusals("award_not_found", *_VERIFIED[1:])},
)
def award_image(award_id: str, request: Request, state: StateDep, session: SessionDep) -> Response:
    """The badge picture of an award (the URL its metadata names, known before the token id is)."""
    award = session.get(Award, award_id)
    if award is None:
        raise ApiError(404, "award_not_found", f"no award {award_id!r}")
    if (token_id := award.token_id) is not None:
        try:
            award, _ = _verified(state, session, token_id)
        except ApiError as exc:
            return _gone(request, session, token_id, exc)
        return _svg(session, award, f"#{token_id}")
    if keccak(award.metadata_json) != award.content_hash:
        raise ApiError(409, "metadata_mismatch", f"the stored metadata of award {award_id!r} was altered")
    return _svg(session, award, "pending")


@router.post(
    "/v1/tokens/{token_id}/revoke",
    status_code=202,
    dependencies=[Depends(json_if_any)],
    response_model=OperationOut,
    responses={
        202: {
            "description": "Accepted: the revocation is in the outbox (or was before: the same operation again). "
            "Follow it with `GET /v1/operations/{id}`.",
            "headers": response_headers(
                {"Idempotent-Replayed": "`true` when the operation was made by an earlier request."}
            ),
        },
        **error_responses(
            *AUTH,
            *JSON_BODY,
            "invalid_idempotency_key",
            "idempotency_key_reused",
            "token_not_found",
            "token_revoked",
            *STORAGE,
        ),
    },
    openapi_extra=request_examples("Awarded by mistake", {"reason": "mistake"}),
)
async def revoke_token(
    token_id: TokenIdPath,
    state: StateDep,
    api_key: Annotated[ApiKey, Depends(require_scope("revoke"))],
    response: Response,
    idempotency_key: Annotated[str | None, Header(alias="Idempotency-Key")] = None,
    wait: WaitQuery = 0,
    body: RevokeRequest | None = None,
) -> OperationOut:
    """Revoke (burn) a kudos on chain with a reason code (``revoke`` scope), through the outbox like awards.

    The body is optional: without one the reason is ``unspecified``.

    The kudos is revoked once: the same ``Idempotency-Key`` returns the operation it made, and a kudos whose
    revocation is already under way (or done) returns that operation, whoever asks.
    """
    _check_token_id(token_id)
    key = None if idempotency_key is None else check_idempotency_key(idempotency_key)
    reason = (body or RevokeRequest()).reason
    requested = await run_in_threadpool(_request_revoke, state, api_key, token_id, reason, key)
    if requested.created:
        state.worker.wake()
    else:
        response.headers["Idempotent-Replayed"] = "true"
    op_id = requested.operation.id
    if wait:
        await wait_for_operation(state, op_id, wait)
    return await run_in_threadpool(load_operation, state, op_id, None)


def _request_revoke(state: AppState, api_key: ApiKey, token_id: int, reason: str, key: str | None) -> Requested:
    context = state.chain.peek()
    with state.db.session() as session:
        deployment = state.catalog.deployment(session)
        if deployment is None:
            raise ApiError(404, "token_not_found", f"no kudos {token_id} was awarded by this service")
        return request_revoke(
            session,
            signer=context.signer.address if context is not None else "",
            contract=deployment[1],
            token_id=token_id,
            reason=reason,
            api_key_id=api_key.id,
            idempotency_key=key,
        )
