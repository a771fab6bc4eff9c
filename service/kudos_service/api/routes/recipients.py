"""``/v1/recipients``: the directory of people (personal data: ``admin`` scope only).

What a person allows the public pages to show (``show_name``: their name on the wallet page; ``listed``: their
wallet found by ``@handle`` on the lookup page) is set when they are added and changed with ``PATCH``, which also
gives a person added without a wallet their wallet. ``GET /v1/recipients`` pages through the directory (searched
with ``q``), and ``DELETE`` removes a person's entry: the kudos they hold stay theirs on chain, and awards already
made keep the name they were made with.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Response
from pydantic import BeforeValidator, StringConstraints
from sqlalchemy import func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from kudos_service.api.deps import SessionDep, StateDep, require_json, require_scope
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
from kudos_service.claims.custody import custody_address
from kudos_service.claims.service import end_links, held_awards
from kudos_service.models import ApiKey, Award, Recipient, still_held, utcnow
from kudos_service.schemas import RecipientCreate, RecipientOut, RecipientPage, RecipientUpdate, whole_number
from kudos_service.state import AppState

router = APIRouter(prefix="/v1/recipients", tags=["recipients"])

AdminKey = Annotated[ApiKey, Depends(require_scope("admin"))]


def _refuse_taken(session: Session, values: dict[str, str | None], *, other_than: int | None = None) -> None:
    """A 409 ``recipient_exists`` naming each of ``values`` (unique columns) someone else in the directory has."""
    taken = []
    for name, value in values.items():
        if value is None:
            continue
        query = select(Recipient.id).where(getattr(Recipient, name) == value)
        if other_than is not None:
            query = query.where(Recipient.id != other_than)
        if session.scalars(query).first() is not None:
            taken.append(name)
    if taken:
        raise ApiError(
            409,
            "recipient_exists",
            f"someone in the directory has this {' and '.join(taken)} already",
            [{"field": name, "message": "taken"} for name in taken],
        )


@router.post(
    "",
    status_code=201,
    response_model=RecipientOut,
    dependencies=[Depends(require_scope("admin")), Depends(require_json)],  # a missing key is 401 before a bad body
    responses=error_responses(*AUTH, *JSON_BODY, "recipient_exists", *STORAGE),
    openapi_extra=request_examples("A person with a wallet", RECIPIENT_EXAMPLE),
)
def create_recipient(body: RecipientCreate, state: StateDep, session: SessionDep, _: AdminKey) -> Recipient:
    """Add a person to the directory."""
    _refuse_custody(state, session, body.wallet_address)
    _refuse_taken(
        session,
        {
            "handle": body.handle,
            "external_id": body.external_id,
            "slack_user_id": body.slack_user_id,
            "email": body.email,
        },
    )
    person = Recipient(**body.model_dump())
    try:
        with session.begin_nested():
            session.add(person)
    except IntegrityError:  # a concurrent request added someone with one of these first
        raise ApiError(
            409,
            "recipient_exists",
            "someone in the directory has this handle, external_id, slack_user_id or email already",
        ) from None
    return person


def _refuse_custody(state: AppState, session: Session, wallet: str | None) -> None:
    """The custody address is nobody's wallet: kudos awarded to it for a person would be held for no one."""
    deployment = state.catalog.deployment(session)
    if wallet is not None and deployment is not None and wallet == custody_address(*deployment):
        message = "the custody address holds kudos for people without a wallet: it is nobody's wallet"
        raise ApiError(422, "invalid_request", message, [{"field": "wallet_address", "message": message}])


def _views(session: Session, people: Sequence[Recipient]) -> list[RecipientOut]:
    """The API's view of each person, with how many kudos are held for them (one query for all)."""
    ids = [p.id for p in people]
    rows = session.execute(
        select(Award.held_for_id, func.count())
        .where(Award.held_for_id.in_(ids), *still_held())
        .group_by(Award.held_for_id)
    )
    counts: dict[int | None, int] = {person_id: count for person_id, count in rows}  # noqa: C416 (dict() reads a Result as a mapping)
    return [RecipientOut.model_validate(p).model_copy(update={"held": counts.get(p.id, 0)}) for p in people]


def find_person(session: Session, handle: str) -> Recipient:
    """The person of ``handle``, or 404 ``recipient_not_found``."""
    person = session.scalars(select(Recipient).where(Recipient.handle == handle.lower())).first()
    if person is None:
        raise ApiError(404, "recipient_not_found", f"no one in the directory has the handle {handle!r}")
    return person


#: A search of the directory: part of a handle, a name or an external id, without control characters.
Search = Annotated[str, StringConstraints(max_length=100, pattern=r"^[^\x00-\x1f\x7f]*$")]


def _like(text: str) -> str:
    """``text`` as a case-insensitive ``LIKE`` pattern that matches it anywhere, its wildcards taken literally."""
    escaped = text.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


@router.get("", response_model=RecipientPage, responses=error_responses(*AUTH, "invalid_request", *STORAGE))
def list_recipients(
    session: SessionDep,
    _: AdminKey,
    q: Annotated[Search, Query(description="Part of a handle, a display name or an external id.")] = "",
    limit: Annotated[int, Query(ge=1, le=200), BeforeValidator(whole_number)] = 50,
    offset: Annotated[int, Query(ge=0, lt=2**63), BeforeValidator(whole_number)] = 0,
) -> RecipientPage:
    """A page of the directory, ordered by handle; with `q`, only the people whose handle, display name or
    external id contains it (case-insensitively)."""
    where = []
    if q:
        pattern = _like(q)
        where.append(
            or_(
                *(
                    func.lower(column).like(pattern, escape="\\")
                    for column in (Recipient.handle, Recipient.display_name, Recipient.external_id)
                )
            )
        )
    total = int(session.scalar(select(func.count()).select_from(Recipient).where(*where)) or 0)
    people = session.scalars(
        select(Recipient).where(*where).order_by(Recipient.handle).limit(limit).offset(offset)
    ).all()
    return RecipientPage(total=total, limit=limit, offset=offset, items=_views(session, people))


@router.get("/{handle}", response_model=RecipientOut, responses=error_responses(*AUTH, "recipient_not_found", *STORAGE))
def get_recipient(handle: str, session: SessionDep, _: AdminKey) -> RecipientOut:
    """One person of the directory, by handle, with how many kudos are held for them."""
    return _views(session, [find_person(session, handle)])[0]


@router.patch(
    "/{handle}",
    response_model=RecipientOut,
    dependencies=[Depends(require_scope("admin")), Depends(require_json)],
    responses=error_responses(*AUTH, *JSON_BODY, "recipient_not_found", "recipient_exists", *STORAGE),
    openapi_extra=request_examples("Let anyone find the person by handle", RECIPIENT_UPDATE_EXAMPLE),
)
def update_recipient(
    handle: str, body: RecipientUpdate, state: StateDep, session: SessionDep, _: AdminKey
) -> RecipientOut:
    """Change a person's entry: their display name, wallet, email, Slack user id, and what they allow the public
    pages to show (`show_name`, `listed`). A field left out is kept; the handle and the external id do not change.
    The answer's `held` counts the kudos held for them: given a wallet, they move there with
    `POST /v1/recipients/{handle}/held/move`."""
    person = find_person(session, handle)
    changes = body.model_dump(exclude_none=True)
    _refuse_custody(state, session, changes.get("wallet_address"))
    if changes.get("email", person.email) != person.email:  # links sent to the old address stop working
        end_links(session, person.id, now=utcnow(), why="the person's email address changed")
    _refuse_taken(
        session,
        {"slack_user_id": changes.get("slack_user_id"), "email": changes.get("email")},
        other_than=person.id,
    )
    for name, value in changes.items():
        setattr(person, name, value)
    try:
        with session.begin_nested():
            session.flush()
    except IntegrityError:  # a concurrent request gave someone else this Slack user id first
        raise ApiError(
            409, "recipient_exists", "someone in the directory has this slack_user_id or email already"
        ) from None
    return _views(session, [person])[0]


@router.delete(
    "/{handle}",
    status_code=204,
    response_class=Response,
    responses=error_responses(*AUTH, "recipient_not_found", "recipient_has_held_kudos", *STORAGE),
)
def delete_recipient(handle: str, session: SessionDep, _: AdminKey) -> Response:
    """Remove a person from the directory. Their kudos stay in their wallet, on chain; awards already made keep the
    name they were made with; awards to `@handle` are refused from now on. A person with kudos held for them is
    not removed (`recipient_has_held_kudos`): send them a claim link, or revoke what is held, first."""
    person = find_person(session, handle)
    if held_awards(session, person.id):
        raise ApiError(
            409,
            "recipient_has_held_kudos",
            f"kudos are held for {person.handle!r}: send a claim link or revoke them before removing the entry",
        )
    # The record of whom claimed kudos were held for goes with the person; their claims are deleted with them.
    session.execute(update(Award).where(Award.held_for_id == person.id).values(held_for_id=None))
    session.delete(person)
    session.flush()
    return Response(status_code=204)
