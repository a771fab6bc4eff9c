"""``/v1/kinds``: the kudos types."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends
from sqlalchemy import func, select

from kudos_service.api.deps import SessionDep, StateDep, require_json, require_scope
from kudos_service.api.errors import ApiError
from kudos_service.api.openapi import AUTH, JSON_BODY, KIND_EXAMPLE, STORAGE, error_responses, request_examples
from kudos_service.models import ApiKey, Kind
from kudos_service.schemas import KindCreate, KindOut

router = APIRouter(prefix="/v1/kinds", tags=["kinds"])


@router.get("", response_model=list[KindOut], responses=error_responses(*STORAGE))
def list_kinds(session: SessionDep) -> list[Kind]:
    """Every kudos type; the starter set covers employees, candidates and customers."""
    return list(session.scalars(select(Kind).order_by(Kind.id)))


@router.post(
    "",
    status_code=201,
    response_model=KindOut,
    dependencies=[Depends(require_json)],
    responses=error_responses(*AUTH, *JSON_BODY, "kind_exists", *STORAGE),
    openapi_extra=request_examples("A kind for release heroes", KIND_EXAMPLE),
)
def create_kind(
    body: KindCreate, session: SessionDep, state: StateDep, _: Annotated[ApiKey, Depends(require_scope("admin"))]
) -> Kind:
    """Add a kudos type (``admin`` scope); its id is the next free one."""
    if session.scalars(select(Kind).where(Kind.slug == body.slug)).first() is not None:
        raise ApiError(409, "kind_exists", f"a kind with slug {body.slug!r} exists already")
    next_id = int(session.scalar(select(func.max(Kind.id))) or 0) + 1
    kind = Kind(id=next_id, **body.model_dump())
    session.add(kind)
    session.flush()
    state.catalog.forget_kinds()  # a kind the cache lacks is read again anyway; this keeps listings fresh
    return kind
