"""Dependencies shared by the routes: the app's state, a database session, authentication with scopes.

The dependencies that do no I/O are ``async``, so FastAPI runs them on the event loop instead of handing each to
a thread. API keys are cached for ``KUDOS_API_KEY_CACHE_S`` seconds (see :class:`ApiKeyCache`).
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable, Coroutine, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import cache
from typing import Annotated, Any

from fastapi import Depends, Header, Request
from fastapi.concurrency import run_in_threadpool
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from kudos_chain import Chain
from kudos_service.api.errors import STORAGE_ERRORS, ApiError, first_line
from kudos_service.awards import AcceptQueue, Catalog
from kudos_service.chain import ChainHolder, describe_error
from kudos_service.core.config import Settings
from kudos_service.core.db import Database
from kudos_service.core.security import split_api_key, verify_secret
from kudos_service.delivery import Worker
from kudos_service.metrics import Metrics
from kudos_service.models import ApiKey, KeyStatus, as_utc, utcnow
from kudos_service.recipient_check import RecipientCheck

__all__ = [
    "LAST_USED_EVERY_S",
    "ApiKeyCache",
    "AppState",
    "SessionDep",
    "StateDep",
    "require_json",
    "require_scope",
]

logger = logging.getLogger(__name__)

#: A key's last use is written to the database at most this often (per key and process): a hint for
#: ``kudos keys list``, not a database write per request.
LAST_USED_EVERY_S = 60.0


class ApiKeyCache:
    """API keys by prefix, each read from the database at most once per ``ttl`` seconds, and their last use.

    An entry is the detached :class:`ApiKey` row (or None: no such prefix) and when it was read; the secret is
    still checked against the stored hash, and the expiry against the clock, on every request. A key revoked in
    the database is therefore refused at most ``ttl`` seconds later (at once when it was revoked through this
    process, which :meth:`forget` s it).

    :meth:`used` records that a key authenticated a request: in a background thread, at most once per
    ``last_used_every`` seconds per key, and a write that fails is logged and dropped, never the request's
    failure. Thread-safe.
    """

    def __init__(self, db: Database, ttl: float = 5.0, *, last_used_every: float = LAST_USED_EVERY_S) -> None:
        self.db = db
        self.ttl = ttl
        self.last_used_every = last_used_every
        self._entries: dict[str, tuple[float, ApiKey | None]] = {}
        self._used: dict[int, float] = {}  # key id: when its last use was last sent to the database (monotonic)
        self._writer: ThreadPoolExecutor | None = None
        self._lock = threading.Lock()

    def cached(self, prefix: str) -> tuple[bool, ApiKey | None]:
        """``(True, key or None)`` when the entry of ``prefix`` is fresh, else ``(False, None)``."""
        entry = self._entries.get(prefix)
        if entry is None or time.monotonic() - entry[0] > self.ttl:
            return False, None
        return True, entry[1]

    def load(self, prefix: str) -> ApiKey | None:
        """Read the key of ``prefix`` from the database and cache it."""
        read_at = time.monotonic()
        with self.db.session() as session:
            found = session.scalars(select(ApiKey).where(ApiKey.prefix == prefix)).first()
            if found is not None:
                session.expunge(found)
        with self._lock:
            if len(self._entries) > 10_000:  # unknown prefixes must not grow it without bound
                self._entries.clear()
            self._entries[prefix] = (read_at, found)
        return found

    def forget(self, prefix: str) -> None:
        """Forget the key of ``prefix`` (its next request reads the database)."""
        with self._lock:
            self._entries.pop(prefix, None)

    def clear(self) -> None:
        """Forget every key (the next request of each reads the database)."""
        with self._lock:
            self._entries.clear()

    def used(self, key: ApiKey) -> None:
        """Note that ``key`` authenticated a request; see the class's docstring. Never raises, never waits."""
        now = time.monotonic()
        with self._lock:
            last = self._used.get(key.id)
            if last is not None and now - last < self.last_used_every:
                return
            self._used[key.id] = now
            if self._writer is None:
                self._writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="kudos-key-use")
            writer = self._writer
        with contextlib.suppress(RuntimeError):  # closed meanwhile: the service is stopping
            writer.submit(self._record, key.id, key.prefix)

    def _record(self, key_id: int, prefix: str) -> None:
        try:
            with self.db.session() as session:
                session.execute(update(ApiKey).where(ApiKey.id == key_id).values(last_used_at=utcnow()))
        except Exception as exc:  # a hint, never worth more than a log line
            level = logging.WARNING if isinstance(exc, STORAGE_ERRORS) else logging.ERROR
            logger.log(level, "the last use of API key %s was not recorded: %s", prefix, first_line(exc))

    def close(self) -> None:
        """Wait for the last uses being written (a new :meth:`used` starts a writer again)."""
        with self._lock:
            writer, self._writer = self._writer, None
        if writer is not None:
            writer.shutdown(wait=True)


@dataclass
class AppState:
    """What the routes share: settings, database, chain, worker, metrics."""

    settings: Settings
    db: Database
    chain: ChainHolder
    worker: Worker
    metrics: Metrics
    api_keys: ApiKeyCache = field(init=False)
    catalog: Catalog = field(init=False)
    accepts: AcceptQueue = field(init=False)
    recipient_check: RecipientCheck = field(init=False)

    def __post_init__(self) -> None:
        self.api_keys = ApiKeyCache(self.db, ttl=self.settings.api_key_cache_s)
        self.catalog = Catalog()
        self.accepts = AcceptQueue(self.db, self.settings, self.catalog)
        self.recipient_check = RecipientCheck(self._open_chain, describe=self._describe)

    def _open_chain(self) -> Chain | None:
        context = self.chain.peek()  # never connects: a request does not wait for a node that is down
        return None if context is None else context.chain

    def _describe(self, exc: BaseException) -> str:
        return describe_error(exc, self.settings)


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
