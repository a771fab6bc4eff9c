"""Dependencies shared by the routes: the app's state, a database session, authentication with scopes."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import cache
from typing import Annotated

from fastapi import Depends, Header, Request
from sqlalchemy import select
from sqlalchemy.orm import Session

from kudos_service.api.errors import ApiError
from kudos_service.chain import ChainHolder
from kudos_service.core.config import Settings
from kudos_service.core.db import Database
from kudos_service.core.security import split_api_key, verify_secret
from kudos_service.metrics import Metrics
from kudos_service.models import ApiKey
from kudos_service.worker import Worker

__all__ = ["AppState", "SessionDep", "StateDep", "require_json", "require_scope"]


@dataclass
class AppState:
    """What the routes share: settings, database, chain, worker, metrics."""

    settings: Settings
    db: Database
    chain: ChainHolder
    worker: Worker
    metrics: Metrics
    hash_cache: dict[int, bytes] = field(default_factory=dict)


def get_state(request: Request) -> AppState:
    """The app's state."""
    state: AppState = request.app.state.kudos
    return state


StateDep = Annotated[AppState, Depends(get_state)]


def get_session(state: StateDep) -> Iterator[Session]:
    """A database session for one request, committed when the route returns."""
    with state.db.session() as session:
        yield session


SessionDep = Annotated[Session, Depends(get_session)]


def require_json(content_type: Annotated[str | None, Header()] = None) -> None:
    """Refuse a body that is not declared as JSON."""
    if content_type is None or content_type.split(";")[0].strip().lower() != "application/json":
        raise ApiError(415, "unsupported_media_type", "send the body as JSON with Content-Type: application/json")


@cache
def require_scope(scope: str) -> Callable[..., ApiKey]:
    """A dependency that needs an API key with ``scope`` in ``Authorization: Bearer``.

    One callable per scope, so that FastAPI runs it once per request however often a route names it.
    """

    def check(state: StateDep, authorization: Annotated[str | None, Header()] = None) -> ApiKey:
        challenge = {"WWW-Authenticate": "Bearer"}
        if not authorization or not authorization.lower().startswith("bearer "):
            raise ApiError(401, "unauthorized", "an API key is needed: Authorization: Bearer <key>", headers=challenge)
        key = authorization[7:].strip()
        prefix = split_api_key(key)
        with state.db.session() as session:
            found = None if prefix is None else session.scalars(select(ApiKey).where(ApiKey.prefix == prefix)).first()
        if found is None or found.revoked or not verify_secret(key, found.secret_hash):
            raise ApiError(401, "unauthorized", "the API key is not valid", headers=challenge)
        if scope not in found.scope_set:
            raise ApiError(403, "forbidden", f"this API key lacks the {scope!r} scope")
        return found

    return check
