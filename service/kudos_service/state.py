"""The application's state: what the routes and the background loops share for the life of the process.

:class:`AppState` holds the settings, the database, the chain (opened on first use), the delivery worker, the
metrics, the API keys' cache, the kinds' catalog and the queue of accepted awards; :func:`build_state` makes one
from the settings. ``api/deps.py`` hands it to the routes as a FastAPI dependency (``StateDep``).
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from sqlalchemy import select, update

from kudos_chain import Chain
from kudos_service.api.errors import STORAGE_ERRORS, first_line
from kudos_service.awards import AcceptQueue, Catalog
from kudos_service.chain_access import ChainHolder, chain_name, describe_error
from kudos_service.claims.limits import AttemptLimiter
from kudos_service.claims.service import announce_held
from kudos_service.core.config import Settings
from kudos_service.core.db import Database
from kudos_service.core.files import private_dir
from kudos_service.delivery import Worker
from kudos_service.mail import Mailer
from kudos_service.metrics import Metrics
from kudos_service.models import ApiKey, utcnow
from kudos_service.recipient_check import RecipientCheck

__all__ = ["LAST_USED_EVERY_S", "ApiKeyCache", "AppState", "build_state"]

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
    mailer: Mailer = field(init=False)
    claim_limits: AttemptLimiter = field(init=False)

    def __post_init__(self) -> None:
        self.api_keys = ApiKeyCache(self.db, ttl=self.settings.api_key_cache_s)
        self.catalog = Catalog()
        self.accepts = AcceptQueue(self.db, self.settings, self.catalog)
        self.recipient_check = RecipientCheck(self._open_chain, describe=self._describe)
        self.mailer = Mailer(self.db, self.settings.smtp(), poll_s=1.0, before_pass=self.announce_held)
        self.claim_limits = AttemptLimiter(self.settings.claim_attempts_per_minute, per_s=60.0)

    def announce_held(self) -> int:
        """Give the people whose held kudos were confirmed their claim links and emails (the mailer's thread)."""
        context = self.chain.peek()
        with self.db.session() as session:
            deployment = self.catalog.deployment(session)
        if deployment is None:
            return 0
        announced = announce_held(
            self.db,
            settings=self.settings,
            chain_name=chain_name(deployment[0]),
            signer=context.signer.address if context is not None else "",
            contract=deployment[1],
        )
        if announced:
            self.worker.wake()  # moves to wallets claimed before
        return announced

    def _open_chain(self) -> Chain | None:
        context = self.chain.peek()  # never connects: a request does not wait for a node that is down
        return None if context is None else context.chain

    def _describe(self, exc: BaseException) -> str:
        return describe_error(exc, self.settings)


def build_state(settings: Settings) -> AppState:
    """Open the database (migrated), the chain holder, the worker and the metrics."""
    if settings.database_url is None:
        private_dir(settings.data_dir)  # 0700: the database holds personal data
    db = Database(settings.sqlalchemy_url)
    db.migrate()
    holder = ChainHolder(settings, db)
    metrics = Metrics(db)
    worker = Worker(settings, db, holder, metrics)
    return AppState(settings=settings, db=db, chain=holder, worker=worker, metrics=metrics)
