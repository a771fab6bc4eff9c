"""Accepting awards: validation against the kinds, idempotency, the metadata and its content hash.

:class:`AcceptQueue` commits the awards of many concurrent requests in one transaction (group commit), and
:class:`Catalog` keeps what every award needs and hardly changes (the kinds, the deployment) in memory.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import queue
import threading
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from kudos_chain import KudosMetadata, canonical_json, content_hash
from kudos_chain.client import request_id_bytes
from kudos_service.claims.custody import custody_address
from kudos_service.claims.service import person_for_email
from kudos_service.core.config import Settings
from kudos_service.core.db import Database
from kudos_service.errors import ConflictError, InvalidRequestError, ServiceError
from kudos_service.models import ApiKey, Award, AwardStatus, Deployment, Kind, Recipient, as_utc, utcnow
from kudos_service.schemas import AwardCreate, AwardOut, EmailRecipient

__all__ = ["AcceptQueue", "Accepted", "Catalog", "accept_awards", "award_out", "resolve_kinds"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Accepted:
    """An award and whether it was created now (False: an idempotent replay)."""

    award: Award
    created: bool


class Catalog:
    """The kinds and the deployment, read from the database once and kept (detached) in memory.

    Kinds are only ever added, never changed: ``POST /v1/kinds`` calls :meth:`forget_kinds`, and a reference the
    cached kinds do not know reads the table again before it is refused (a kind added by another process). The
    deployment row is written once, when the contract is deployed or attached, and kept once it exists.
    Thread-safe; the returned rows are shared: read them, never change them.
    """

    def __init__(self) -> None:
        self._kinds: dict[int | str, Kind] | None = None
        self._deployment: tuple[int, str] | None = None
        self._lock = threading.Lock()

    def kinds(self, session: Session, refs: Sequence[int | str] = ()) -> dict[int | str, Kind]:
        """Every kind by id and by slug, read again when one of ``refs`` is missing."""
        kinds = self._kinds
        if kinds is None or any(ref not in kinds for ref in refs):
            rows = list(session.scalars(select(Kind)))
            for row in rows:
                session.expunge(row)
            kinds = {k.id: k for k in rows} | {k.slug: k for k in rows}
            with self._lock:
                self._kinds = kinds
        return kinds

    def forget_kinds(self) -> None:
        """The kinds changed: read them again next time."""
        with self._lock:
            self._kinds = None

    def deployment(self, session: Session) -> tuple[int, str] | None:
        """``(chain id, contract address)`` of the deployment, or None before the contract is deployed."""
        if self._deployment is None:
            row = session.scalars(select(Deployment)).first()
            if row is not None:
                with self._lock:
                    self._deployment = (row.chain_id, row.contract_address)
        return self._deployment


def resolve_kinds(
    session: Session, refs: Sequence[int | str], catalog: Catalog | None = None
) -> tuple[dict[int | str, Kind], list[int]]:
    """Map kind ids and slugs to kinds; return the indexes of the references that match none."""
    by_ref = (catalog or Catalog()).kinds(session, refs)
    unknown = [i for i, ref in enumerate(refs) if ref not in by_ref]
    return by_ref, unknown


@dataclass(frozen=True)
class Destination:
    """Where an award goes: ``address``, and the person it is held for when that is the custody address."""

    address: str
    held_for: Recipient | None = None


def resolve_recipients(
    session: Session, bodies: Sequence[AwardCreate], catalog: Catalog | None = None
) -> list[Destination]:
    """Where each award goes: a wallet address as given; ``@handle``, the person's wallet; an email address, or a
    person without a wallet yet, the custody address, held for that person (added to the directory on an email's
    first use).

    :raises InvalidRequestError: ``unknown_recipient`` for a handle not in the directory, ``chain_not_ready`` for
        a held kudos before the service has reached its contract (the custody address is the contract's); every
        bad item is named.
    """
    if all(isinstance(b.recipient, str) and not b.recipient.startswith("@") for b in bodies):
        return [Destination(str(b.recipient)) for b in bodies]
    handles = {b.recipient[1:] for b in bodies if isinstance(b.recipient, str) and b.recipient.startswith("@")}
    people = (
        {r.handle: r for r in session.scalars(select(Recipient).where(Recipient.handle.in_(handles)))}
        if handles
        else {}
    )
    new_people: dict[str, Recipient] = session.info.setdefault("kudos_new_people", {})
    deployment = (catalog or Catalog()).deployment(session)
    custody = None if deployment is None else custody_address(*deployment)
    found: list[Destination] = []
    problems: list[tuple[int, str, str]] = []
    for index, body in enumerate(bodies):
        person: Recipient | None = None
        if isinstance(body.recipient, EmailRecipient):
            person = person_for_email(session, body.recipient.email, body.recipient.name, new_people)
        elif body.recipient.startswith("@"):
            person = people.get(body.recipient[1:])
            if person is None:
                problems.append(
                    (index, "unknown_recipient", f"no one in the directory has the handle {body.recipient[1:]!r}")
                )
                found.append(Destination(""))
                continue
        else:
            found.append(Destination(body.recipient))
            continue
        if person.wallet_address is not None:
            found.append(Destination(person.wallet_address))
        elif custody is None:
            problems.append((index, "chain_not_ready", "a kudos can be held only once the service has its contract"))
            found.append(Destination(""))
        elif body.recipient_name is not None:
            problems.append(
                (index, "recipient_name_held", "a kudos held for someone does not name them in its public metadata: "
                 "leave recipient_name out (an email recipient's name goes in recipient.name)")
            )  # fmt: skip
            found.append(Destination(""))
        else:
            found.append(Destination(custody, held_for=person))
    if problems:
        code = problems[0][1] if len({p[1] for p in problems}) == 1 else "invalid_recipient"
        details = [{"index": i, "field": "recipient", "message": m} for i, _, m in problems]
        if len(bodies) == 1:
            details = [{"field": "recipient", "message": problems[0][2]}]
        summary = problems[0][2] if len(problems) == 1 else "some recipients cannot be awarded"
        raise InvalidRequestError(code, summary, details)
    return found


def _request_hash(body: AwardCreate) -> bytes:
    fields = body.model_dump()  # a batch item's idempotency key is not in it: the routes take it out first
    if not fields["recipient_is_contract"]:  # added later: requests without it hash as they always did
        del fields["recipient_is_contract"]
    return hashlib.sha256(json.dumps(fields, sort_keys=True, default=str).encode()).digest()


def accept_awards(
    session: Session,
    *,
    settings: Settings,
    api_key: ApiKey,
    items: Sequence[tuple[str, AwardCreate]],
    catalog: Catalog | None = None,
    pending: dict[tuple[int, str], Award] | None = None,
) -> list[Accepted]:
    """Add each ``(idempotency key, award)`` once, all or none, to ``session`` (flushed; committed by the caller).

    A key already used with the same body returns the award it created; with another body the whole request is
    refused (409 ``idempotency_key_reused``), naming the items. The awards are inserted in a savepoint, so that a
    key another connection commits meanwhile is read and compared.

    With ``pending`` (the :class:`AcceptQueue`'s groups, under ``session.no_autoflush``) the database is neither
    read for the keys nor written: ``pending`` holds, by ``(api key id, idempotency key)``, the awards the group
    found stored under its keys (:func:`stored_awards`) and those its earlier requests made; the new awards are
    added to the session and to ``pending``. The caller flushes and commits, and a key another connection
    committed meanwhile makes that flush raise ``IntegrityError``.

    :raises InvalidRequestError: ``unknown_kind`` for a kind that does not exist.
    :raises ConflictError: ``idempotency_key_reused`` for a key used with another body.
    """
    new_people: dict[str, Recipient] = session.info.setdefault("kudos_new_people", {})
    known = set(new_people)
    try:
        return _accept_awards(session, settings, api_key, items, catalog, pending)
    except ServiceError:  # a refused request adds no one to the directory (in a group, the others commit)
        for email in set(new_people) - known:
            person = new_people.pop(email)
            if person in session.new:
                session.expunge(person)
        raise


def _accept_awards(
    session: Session,
    settings: Settings,
    api_key: ApiKey,
    items: Sequence[tuple[str, AwardCreate]],
    catalog: Catalog | None,
    pending: dict[tuple[int, str], Award] | None,
) -> list[Accepted]:
    kinds, unknown = resolve_kinds(session, [body.kind for _, body in items], catalog)
    if unknown:
        details = [{"index": i, "field": "kind", "message": f"unknown kind {items[i][1].kind!r}"} for i in unknown]
        if len(items) == 1:
            details = [{"field": "kind", "message": details[0]["message"]}]
        raise InvalidRequestError("unknown_kind", "a kind is not one of GET /v1/kinds", details)
    destinations = resolve_recipients(session, [body for _, body in items], catalog)
    keys = [key for key, _ in items]
    if len(set(keys)) != len(keys):
        seen: set[str] = set()
        repeated = [i for i, k in enumerate(keys) if k in seen or seen.add(k)]  # type: ignore[func-returns-value]
        details = [{"index": i, "field": "idempotency_key", "message": "repeated in this batch"} for i in repeated]
        raise InvalidRequestError(
            "duplicate_idempotency_key", "each award of a batch needs its own idempotency key", details
        )

    for _attempt in range(3):
        existing = (
            {}
            if pending is not None  # the group read them all at once
            else {
                a.idempotency_key: a
                for a in session.scalars(
                    select(Award).where(Award.api_key_id == api_key.id, Award.idempotency_key.in_(keys))
                )
            }
        )
        results: list[Accepted] = []
        conflicts: list[dict[str, Any]] = []
        new: list[Award] = []
        for index, (key, body) in enumerate(items):
            digest = _request_hash(body)
            found = existing.get(key)
            if found is None and pending is not None:
                found = pending.get((api_key.id, key))
            if found is not None:
                if found.request_hash != digest:
                    conflicts.append(
                        {"index": index, "field": "idempotency_key", "message": f"{key!r} was used for another award"}
                    )
                results.append(Accepted(found, created=False))
                continue
            award = _new_award(
                settings, api_key, key, body, kind=kinds[body.kind], digest=digest, to=destinations[index]
            )
            new.append(award)
            results.append(Accepted(award, created=True))
        if conflicts:
            if len(items) == 1:
                conflicts = [{"field": "Idempotency-Key", "message": conflicts[0]["message"]}]
            raise ConflictError(
                "idempotency_key_reused",
                "an idempotency key was already used with a different body: use a new key for a new award",
                conflicts,
            )
        if pending is not None:
            session.add_all(new)
            pending.update({(api_key.id, award.idempotency_key): award for award in new})
            return results
        try:
            with session.begin_nested():
                session.add_all(new)
        except IntegrityError:
            continue  # a concurrent request committed one of these keys first: read it and compare
        return results
    raise ConflictError("idempotency_conflict", "concurrent requests used these idempotency keys; retry")


def stored_awards(session: Session, keys: Sequence[tuple[int, str]]) -> dict[tuple[int, str], Award]:
    """The stored awards of ``(api key id, idempotency key)`` pairs, by pair, in one query per API key."""
    by_api_key: dict[int, set[str]] = {}
    for api_key_id, key in keys:
        by_api_key.setdefault(api_key_id, set()).add(key)
    found: dict[tuple[int, str], Award] = {}
    for api_key_id, idempotency_keys in by_api_key.items():
        query = select(Award).where(Award.api_key_id == api_key_id, Award.idempotency_key.in_(idempotency_keys))
        found |= {(api_key_id, a.idempotency_key): a for a in session.scalars(query)}
    return found


def _new_award(
    settings: Settings, api_key: ApiKey, key: str, body: AwardCreate, *, kind: Kind, digest: bytes, to: Destination
) -> Award:
    award_id = str(uuid.uuid4())
    accepted_at = utcnow()
    metadata = KudosMetadata(
        kind=kind.name,
        message=body.message,
        awarded_by=body.awarded_by,
        awarded_at=accepted_at.strftime("%Y-%m-%dT%H:%M:%SZ"),
        image=f"{settings.base_url}/v1/awards/{award_id}/image.svg",
        recipient_name=body.recipient_name,
        # A held kudos will move: it links to the service, not to the custody address's page.
        external_url=settings.base_url if to.held_for is not None else f"{settings.base_url}/wallet/{to.address}",
    )
    return Award(
        id=award_id,
        api_key_id=api_key.id,
        idempotency_key=key,
        request_hash=digest,
        request_id=request_id_bytes(award_id),
        recipient=to.address,
        held_for=to.held_for,
        kind_id=kind.id,
        message=body.message,
        awarded_by=body.awarded_by,
        recipient_name=body.recipient_name,
        transferable=kind.default_transferable if body.transferable is None else body.transferable,
        metadata_json=canonical_json(metadata),
        content_hash=content_hash(metadata),
        status=AwardStatus.QUEUED,
        created_at=accepted_at,
    )


def award_out(session: Session, award: Award, *, base_url: str, catalog: Catalog) -> AwardOut:
    """The API's view of an award (its kind and the deployment read through ``catalog``)."""
    deployment = catalog.deployment(session)
    kind = catalog.kinds(session, [award.kind_id])[award.kind_id]
    tx_hash = None
    status_reason = None
    if award.tx is not None:
        tx_hash = award.tx.tx_hash  # the version mined
    elif award.operation is not None:
        versions = award.operation.versions
        tx_hash = versions[-1].tx_hash if versions else None  # the newest version sent
    if award.status == AwardStatus.SUBMITTED and award.operation is not None:
        status_reason = award.operation.note
    token_uri = None if award.token_id is None else f"{base_url}/v1/tokens/{award.token_id}"
    return AwardOut(
        id=award.id,
        status=award.status.value,
        recipient=award.recipient,
        kind=kind.slug,
        transferable=award.transferable,
        content_hash="0x" + award.content_hash.hex(),
        failure_reason=award.failure_reason,
        # held_for_id is set at the flush; a new award of a person added in this request has only held_for
        held=(award.held_for_id is not None or award.__dict__.get("held_for") is not None) and award.claimed_at is None,
        status_reason=status_reason,
        tx_hash=tx_hash,
        token_id=award.token_id,
        token_uri=token_uri,
        block_number=award.block_number,
        chain_id=deployment[0] if deployment else None,
        contract_address=deployment[1] if deployment else None,
        created_at=as_utc(award.created_at),
        submitted_at=None if award.submitted_at is None else as_utc(award.submitted_at),
        confirmed_at=None if award.confirmed_at is None else as_utc(award.confirmed_at),
    )


@dataclass(frozen=True)
class _Job:
    """One request's awards, waiting in the :class:`AcceptQueue`, and where its answer goes."""

    api_key: ApiKey
    items: Sequence[tuple[str, AwardCreate]]
    loop: asyncio.AbstractEventLoop
    future: asyncio.Future[list[tuple[AwardOut, bool]]]


class AcceptQueue:
    """Group commit: the awards of concurrent requests are accepted by one thread, many requests a transaction.

    Each request's awards go through :func:`accept_awards` in the order the requests arrived, in one session,
    so idempotency holds inside a group as across groups (the second request with a key finds the first's award,
    flushed in the same transaction). A refused request (unknown kind, reused key) adds nothing and is answered
    with its error; the others are committed together, and every request is answered only after the commit.

    A group reads first and writes last: every request is checked and its awards built (reading the database
    outside any transaction), and only then are all the group's awards inserted and committed, so the write lock
    is held for the inserts and the commit alone, and the delivery worker's writes get their turns. No savepoints:
    with SQLite's Python driver a savepoint outside an explicit transaction *is* a transaction, and releasing it
    commits. If the group fails (a key committed meanwhile by another connection, say), each of its requests is
    tried again alone, with :func:`accept_awards`'s savepoint, where a concurrent key is read and compared.
    """

    #: The most requests one transaction accepts.
    MAX_GROUP = 256

    def __init__(self, db: Database, settings: Settings, catalog: Catalog) -> None:
        self.db = db
        self.settings = settings
        self.catalog = catalog
        self._jobs: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    async def accept(self, api_key: ApiKey, items: Sequence[tuple[str, AwardCreate]]) -> list[tuple[AwardOut, bool]]:
        """Commit ``items`` (see :func:`accept_awards`); each award's view and whether it was created now."""
        self._start()
        loop = asyncio.get_running_loop()
        job = _Job(api_key, items, loop, loop.create_future())
        self._jobs.put(job)
        return await job.future

    def _start(self) -> None:
        if self._thread is None:
            with self._lock:
                if self._thread is None:
                    self._thread = threading.Thread(target=self._run, name="kudos-accept", daemon=True)
                    self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        """Answer the requests already queued, then end the thread."""
        with self._lock:
            thread, self._thread = self._thread, None
        if thread is not None:
            self._jobs.put(None)
            thread.join(timeout)

    def _run(self) -> None:
        while True:
            job = self._jobs.get()
            if job is None:
                return
            group = [job]
            while len(group) < self.MAX_GROUP:
                try:
                    job = self._jobs.get_nowait()
                except queue.Empty:
                    break
                if job is None:
                    self._jobs.put(None)  # stop after this group
                    break
                group.append(job)
            try:
                self._commit(group, grouped=True)
            except Exception as exc:  # the group's transaction failed: try each request alone
                logger.info("a group of %d requests failed (%s); accepting them one by one", len(group), exc)
                for one in group:
                    try:
                        self._commit([one], grouped=False)
                    except Exception as error:
                        logger.exception("accepting awards failed")
                        _answer(one, error)

    def _commit(self, group: Sequence[_Job], *, grouped: bool) -> None:
        answers: list[tuple[_Job, list[tuple[AwardOut, bool]] | BaseException]] = []
        with self.db.session() as session, session.no_autoflush:
            pending = None
            if grouped:
                pending = stored_awards(session, [(job.api_key.id, key) for job in group for key, _ in job.items])
            for job in group:
                try:
                    accepted = accept_awards(
                        session,
                        settings=self.settings,
                        api_key=job.api_key,
                        items=job.items,
                        catalog=self.catalog,
                        pending=pending,
                    )
                except ServiceError as refusal:
                    answers.append((job, refusal))
                    continue
                base_url = self.settings.base_url
                outs = [
                    (award_out(session, a.award, base_url=base_url, catalog=self.catalog), a.created) for a in accepted
                ]
                answers.append((job, outs))
        for job, answer in answers:  # committed
            _answer(job, answer)


def _answer(job: _Job, answer: list[tuple[AwardOut, bool]] | BaseException) -> None:
    def settle() -> None:
        if job.future.done():  # the request was cancelled (its client went away)
            return
        if isinstance(answer, BaseException):
            job.future.set_exception(answer)
        else:
            job.future.set_result(answer)

    with contextlib.suppress(RuntimeError):  # the event loop is closed
        job.loop.call_soon_threadsafe(settle)
