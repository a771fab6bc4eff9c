"""``/v1/awards``: accept awards once, and say where each is."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Coroutine
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Query, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from pydantic import TypeAdapter, ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from kudos_service.api.deps import StateDep, require_json, require_scope
from kudos_service.api.errors import ApiError
from kudos_service.api.openapi import (
    AUTH,
    AWARD_EXAMPLE,
    AWARD_REFUSALS,
    BATCH_EXAMPLE,
    JSON_BODY,
    STORAGE,
    error_responses,
    request_examples,
    response_headers,
)
from kudos_service.awards import award_out, resolve_kinds
from kudos_service.claims.custody import custody_address
from kudos_service.core.limits import MAX_BATCH, MAX_WAIT
from kudos_service.errors import InvalidRequestError
from kudos_service.models import ApiKey, Award, AwardStatus
from kudos_service.schemas import AwardBatchRequest, AwardCreate, AwardOut
from kudos_service.schemas import IdempotencyKey as IdempotencyKeyType
from kudos_service.state import AppState


def _more_bad_items(state: AppState, exc: RequestValidationError) -> list[dict[str, Any]]:
    """The items of a batch the schema refused that are bad for reasons only the database and the whole batch
    can tell: an unknown kind, an idempotency key an earlier item uses. Items whose field the schema already
    refused are not named twice."""
    items = exc.body.get("awards") if isinstance(exc.body, dict) else None
    if not isinstance(items, list) or not 0 < len(items) <= MAX_BATCH:
        return []
    named = {tuple(e["loc"][2:4]) for e in exc.errors() if tuple(e.get("loc", ()))[:2] == ("body", "awards")}
    kinds = [
        (i, item["kind"])
        for i, item in enumerate(items)
        if isinstance(item, dict)
        and type(item.get("kind")) in (int, str)
        and (i, "kind") not in named
        and (i,) not in named
    ]
    with state.db.session() as session:
        _, unknown = resolve_kinds(session, [ref for _, ref in kinds], state.catalog)
    more = [
        {"type": "unknown_kind", "loc": ("body", "awards", kinds[j][0], "kind"), "msg": f"unknown kind {kinds[j][1]!r}"}
        for j in unknown
    ]
    seen: set[str] = set()
    for i, item in enumerate(items):
        key = item.get("idempotency_key") if isinstance(item, dict) else None
        if isinstance(key, str) and (i, "idempotency_key") not in named:
            if key in seen:
                loc = ("body", "awards", i, "idempotency_key")
                more.append({"type": "duplicate_idempotency_key", "loc": loc, "msg": "repeated in this batch"})
            seen.add(key)
    return more


class _AwardsRoute(APIRoute):
    """A refused batch names every bad item at once: those the schema refuses, and (:func:`_more_bad_items`)
    those with an unknown kind or a repeated idempotency key."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()
        if not self.path.endswith("/batch"):
            return handler

        async def handle(request: Request) -> Response:
            try:
                return await handler(request)
            except RequestValidationError as exc:
                more = _more_bad_items(request.app.state.kudos, exc)
                if not more:
                    raise
                errors = sorted([*exc.errors(), *more], key=lambda e: _index_of(e.get("loc", ())))
                raise RequestValidationError(errors, body=exc.body) from None

        return handle


def _index_of(loc: tuple[Any, ...]) -> int:
    return loc[2] if len(loc) > 2 and isinstance(loc[2], int) else -1


router = APIRouter(prefix="/v1/awards", tags=["awards"], route_class=_AwardsRoute)

AwardKey = Annotated[ApiKey, Depends(require_scope("award"))]  # the same callable as _AWARD_SCOPE
WaitQuery = Annotated[
    float, Query(ge=0, le=MAX_WAIT, description="Hold the answer until confirmed, up to this many seconds.")
]

_FINAL = (AwardStatus.CONFIRMED, AwardStatus.FAILED)
_IDEMPOTENCY_KEY: TypeAdapter[str] = TypeAdapter(IdempotencyKeyType)


def check_idempotency_key(value: str | None) -> str:
    if value is None:
        raise ApiError(400, "missing_idempotency_key", "send an Idempotency-Key header, unique per award")
    try:
        return _IDEMPOTENCY_KEY.validate_python(value)
    except ValidationError:
        raise ApiError(
            400, "invalid_idempotency_key", "an Idempotency-Key is 1 to 255 printable ASCII characters without spaces"
        ) from None


def _check_recipients(state: AppState, bodies: list[AwardCreate]) -> None:
    """Refuse recipients that could never use a kudos (:class:`~kudos_service.recipient_check.RecipientCheck`)."""
    with state.db.session() as session:
        deployment = state.catalog.deployment(session)
    custody = None if deployment is None else custody_address(*deployment)
    refused = [i for i, b in enumerate(bodies) if b.recipient == custody]
    if refused:
        message = "the custody address holds kudos only for people named by email or handle"
        details: list[dict[str, Any]] = [{"index": i, "field": "recipient", "message": message} for i in refused]
        raise InvalidRequestError(
            "invalid_recipient", message, [{"field": "recipient", "message": message}] if len(bodies) == 1 else details
        )
    state.recipient_check.check(
        [(b.recipient if isinstance(b.recipient, str) else "@", b.recipient_is_contract) for b in bodies],
        contract_address=deployment[1] if deployment else None,
    )


def _all_final(state: AppState, ids: list[str]) -> bool:
    with state.db.session() as session:
        statuses = session.scalars(select(Award.status).where(Award.id.in_(ids))).all()
    return all(s in _FINAL for s in statuses)


async def _wait_for(state: AppState, ids: list[str], wait: float) -> None:
    """Poll until every award is final or ``wait`` seconds passed, without holding a thread."""
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline:
        if await run_in_threadpool(_all_final, state, ids):
            return
        await asyncio.sleep(0.05)


def _outs(state: AppState, ids: list[str], api_key: ApiKey | None = None) -> list[AwardOut]:
    with state.db.session() as session:
        if api_key is not None:
            for award_id in ids:
                _load(session, award_id, api_key)
        awards = {a.id: a for a in session.scalars(select(Award).where(Award.id.in_(ids)))}
        base_url = state.settings.base_url
        outs = [award_out(session, awards[i], base_url=base_url, catalog=state.catalog) for i in ids]
    held = state.worker.blocked_reason
    if held is not None:  # what holds delivery back holds the queue too
        for out in outs:
            if out.status == "queued":
                out.status_reason = held
    return outs


def _load(session: Session, award_id: str, api_key: ApiKey) -> Award:
    award = session.get(Award, award_id)
    if award is None or award.api_key_id != api_key.id:
        raise ApiError(404, "award_not_found", f"no award {award_id!r} was made with this API key")
    return award


_AWARD_SCOPE = require_scope("award")
_POST_DEPENDENCIES = [Depends(_AWARD_SCOPE), Depends(require_json)]  # a missing key is 401 before a bad body


@router.post(
    "",
    status_code=202,
    response_model=AwardOut,
    dependencies=_POST_DEPENDENCIES,
    responses={
        202: {
            "description": "Accepted (stored as `queued`), or the award this key made before (an idempotent replay).",
            "headers": response_headers(
                {"Idempotent-Replayed": "`true` when the award was made by an earlier request."}
            ),
        },
        **error_responses(
            *AUTH, *JSON_BODY, "missing_idempotency_key", "invalid_idempotency_key", *AWARD_REFUSALS, *STORAGE
        ),
    },
    openapi_extra=request_examples("A kudos for a wallet address", AWARD_EXAMPLE),
)
async def create_award(
    body: AwardCreate,
    state: StateDep,
    api_key: AwardKey,
    response: Response,
    idempotency_key: Annotated[str | None, Header(alias="Idempotency-Key")] = None,
    wait: WaitQuery = 0,
) -> AwardOut:
    """Accept an award: committed to the database, then delivered on chain by the worker exactly once."""
    key = check_idempotency_key(idempotency_key)
    await run_in_threadpool(_check_recipients, state, [body])
    ((out, created),) = await state.accepts.accept(api_key, [(key, body)])
    if created:
        state.worker.wake()
    else:
        response.headers["Idempotent-Replayed"] = "true"
    if wait:
        await _wait_for(state, [out.id], wait)
        (out,) = await run_in_threadpool(_outs, state, [out.id])
    return out


@router.post(
    "/batch",
    status_code=202,
    response_model=list[AwardOut],
    dependencies=_POST_DEPENDENCIES,
    responses={
        202: {
            "description": "Every award accepted, in the order of the request (those made before as they are).",
            "headers": response_headers({"Idempotent-Replayed-Count": "How many of the awards existed already."}),
        },
        **error_responses(*AUTH, *JSON_BODY, "duplicate_idempotency_key", *AWARD_REFUSALS, *STORAGE),
    },
    openapi_extra=request_examples("Two kudos at once", BATCH_EXAMPLE),
)
async def create_awards(
    body: AwardBatchRequest, state: StateDep, api_key: AwardKey, response: Response
) -> list[AwardOut]:
    """Accept up to 1,000 awards, each with its own ``idempotency_key``; any bad item refuses the whole batch.
    The ``Idempotent-Replayed-Count`` header says how many of them existed already (idempotent replays)."""
    items = [
        (item.idempotency_key, AwardCreate(**item.model_dump(exclude={"idempotency_key"}))) for item in body.awards
    ]
    await run_in_threadpool(_check_recipients, state, [body for _, body in items])
    accepted = await state.accepts.accept(api_key, items)
    response.headers["Idempotent-Replayed-Count"] = str(sum(not created for _, created in accepted))
    state.worker.wake()
    return [out for out, _ in accepted]


@router.get(
    "/{award_id}",
    response_model=AwardOut,
    responses=error_responses(*AUTH, "award_not_found", "invalid_request", *STORAGE),
)
async def get_award(award_id: str, state: StateDep, api_key: AwardKey, wait: WaitQuery = 0) -> AwardOut:
    """Where an award is: ``queued`` → ``submitted`` → ``confirmed``, or ``failed`` with a reason."""
    await run_in_threadpool(_outs, state, [award_id], api_key)
    if wait:
        await _wait_for(state, [award_id], wait)
    (out,) = await run_in_threadpool(_outs, state, [award_id], api_key)
    return out
