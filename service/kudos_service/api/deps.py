"""FastAPI dependencies shared by the routes: the app's state, a database session, a JSON body, authentication
with scopes.

The dependencies that do no I/O are ``async``, so FastAPI runs them on the event loop instead of handing each to
a thread. API keys are read through the state's cache (``KUDOS_API_KEY_CACHE_S`` seconds, see
:class:`kudos_service.state.ApiKeyCache`).
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine, Iterator
from functools import cache
from typing import Annotated, Any

from fastapi import Depends, Header, Request
from fastapi.concurrency import run_in_threadpool
from sqlalchemy.orm import Session

from kudos_service.api.errors import ApiError
from kudos_service.core.security import split_api_key, verify_secret
from kudos_service.models import ApiKey, KeyStatus, as_utc
from kudos_service.state import AppState

__all__ = ["SessionDep", "StateDep", "get_session", "get_state", "json_if_any", "require_json", "require_scope"]


async def get_state(request: Request) -> AppState:
    """The app's state."""
    state: AppState = request.app.state.kudos
    return state


StateDep = Annotated[AppState, Depends(get_state)]


def get_session(state: StateDep) -> Iterator[Session]:
    """A database session for one request, committed when the route returns."""
    with state.db.session() as session:
        yield session


SessionDep = Annotated[Session, Depends(get_session)]


async def require_json(content_type: Annotated[str | None, Header()] = None) -> None:
    """Refuse a body that is not declared as JSON."""
    if content_type is None or content_type.split(";")[0].strip().lower() != "application/json":
        raise ApiError(415, "unsupported_media_type", "send the body as JSON with Content-Type: application/json")


async def json_if_any(request: Request) -> None:
    """A body may be left out; one that is sent must be declared as JSON."""
    if request.headers.get("content-length", "0") != "0" or "transfer-encoding" in request.headers:
        await require_json(request.headers.get("content-type"))


@cache
def require_scope(scope: str) -> Callable[..., Coroutine[Any, Any, ApiKey]]:
    """A dependency that needs an API key with ``scope`` in ``Authorization: Bearer``.

    One callable per scope, so that FastAPI runs it once per request however often a route names it. The key's
    row comes from :class:`ApiKeyCache` (read in a thread when it is not fresh); the returned :class:`ApiKey` is
    detached and shared: read it, never change it.

    Refusals: 401 ``unauthorized`` (no key, or not one this service knows), 401 ``key_revoked`` and 401
    ``key_expired`` (the right secret of a key that no longer works: only its holder learns that), 403
    ``forbidden`` (the key lacks ``scope``).
    """

    async def check(state: StateDep, authorization: Annotated[str | None, Header()] = None) -> ApiKey:
        challenge = {"WWW-Authenticate": "Bearer"}
        if not authorization or not authorization.lower().startswith("bearer "):
            raise ApiError(401, "unauthorized", "an API key is needed: Authorization: Bearer <key>", headers=challenge)
        key = authorization[7:].strip()
        prefix = split_api_key(key)
        found = None
        if prefix is not None:
            fresh, found = state.api_keys.cached(prefix)
            if not fresh:
                found = await run_in_threadpool(state.api_keys.load, prefix)
        if found is None or not verify_secret(key, found.secret_hash):
            raise ApiError(401, "unauthorized", "the API key is not valid", headers=challenge)
        status = found.status()
        if status is KeyStatus.REVOKED:
            raise ApiError(401, "key_revoked", "this API key was revoked; use another one", headers=challenge)
        if status is not KeyStatus.ACTIVE:
            when = f" at {as_utc(found.expires_at).isoformat(timespec='seconds')}" if found.expires_at else ""
            raise ApiError(401, "key_expired", f"this API key expired{when}; use another one", headers=challenge)
        state.api_keys.used(found)
        if scope not in found.scope_set:
            raise ApiError(403, "forbidden", f"this API key lacks the {scope!r} scope")
        return found

    return check
