"""``/v1/recipients``: the directory of people (personal data: ``admin`` scope only).

What a person allows the public pages to show (``show_name``: their name on the wallet page; ``listed``: their
wallet found by ``@handle`` on the lookup page) is set when they are added and changed with ``PATCH``.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from kudos_service.api.deps import SessionDep, require_json, require_scope
from kudos_service.api.errors import ApiError
from kudos_service.api.openapi import (
    AUTH,
    JSON_BODY,
    RECIPIENT_EXAMPLE,
    RECIPIENT_UPDATE_EXAMPLE,
    STORAGE,
    error_responses,
    request_examples,
)
from kudos_service.models import ApiKey, Recipient
from kudos_service.schemas import RecipientCreate, RecipientOut, RecipientUpdate

router = APIRouter(prefix="/v1/recipients", tags=["recipients"])

AdminKey = Annotated[ApiKey, Depends(require_scope("admin"))]


@router.post(
    "",
    status_code=201,
    response_model=RecipientOut,
    dependencies=[Depends(require_scope("admin")), Depends(require_json)],  # a missing key is 401 before a bad body
    responses=error_responses(*AUTH, *JSON_BODY, "recipient_exists", *STORAGE),
    openapi_extra=request_examples("A person with a wallet", RECIPIENT_EXAMPLE),
)
def create_recipient(body: RecipientCreate, session: SessionDep, _: AdminKey) -> Recipient:
    """Add a person to the directory."""
    unique: list[tuple[str, Any, str]] = [
        ("handle", Recipient.handle, body.handle),
        ("external_id", Recipient.external_id, body.external_id),
    ]
    if body.slack_user_id is not None:
        unique.append(("slack_user_id", Recipient.slack_user_id, body.slack_user_id))
    taken = [
        name for name, column, value in unique if session.scalars(select(Recipient.id).where(column == value)).first()
    ]
    if taken:
        raise ApiError(
            409,
            "recipient_exists",
            f"someone in the directory has this {' and '.join(taken)} already",
            [{"field": name, "message": "taken"} for name in taken],
        )
    person = Recipient(**body.model_dump())
    try:
        with session.begin_nested():
            session.add(person)
    except IntegrityError:  # a concurrent request added someone with one of these first
        raise ApiError(
            409, "recipient_exists", "someone in the directory has this handle, external_id or slack_user_id already"
        ) from None
    return person


def _person(session: Session, handle: str) -> Recipient:
    person = session.scalars(select(Recipient).where(Recipient.handle == handle.lower())).first()
    if person is None:
        raise ApiError(404, "recipient_not_found", f"no one in the directory has the handle {handle!r}")
    return person


@router.get("/{handle}", response_model=RecipientOut, responses=error_responses(*AUTH, "recipient_not_found", *STORAGE))
def get_recipient(handle: str, session: SessionDep, _: AdminKey) -> Recipient:
    """One person of the directory, by handle."""
    return _person(session, handle)


@router.patch(
    "/{handle}",
    response_model=RecipientOut,
    dependencies=[Depends(require_scope("admin")), Depends(require_json)],
    responses=error_responses(*AUTH, *JSON_BODY, "recipient_not_found", *STORAGE),
    openapi_extra=request_examples("Let anyone find the person by handle", RECIPIENT_UPDATE_EXAMPLE),
)
def update_recipient(handle: str, body: RecipientUpdate, session: SessionDep, _: AdminKey) -> Recipient:
    """Change what a person allows the public pages to show: `show_name`, `listed`. A field left out is kept."""
    person = _person(session, handle)
    for name, value in body.model_dump(exclude_none=True).items():
        setattr(person, name, value)
    session.flush()
    return person
