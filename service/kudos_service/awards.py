"""Accepting awards: validation against the kinds, idempotency, the metadata and its content hash."""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from kudos_chain import KudosMetadata, canonical_json, content_hash
from kudos_chain.client import request_id_bytes
from kudos_service.api.errors import ApiError
from kudos_service.core.config import Settings
from kudos_service.models import ApiKey, Award, AwardStatus, Deployment, Kind, Recipient, as_utc, utcnow
from kudos_service.schemas import AwardCreate, AwardOut

__all__ = ["Accepted", "accept_awards", "award_out", "resolve_kinds"]


@dataclass(frozen=True)
class Accepted:
    """An award and whether it was created now (False: an idempotent replay)."""

    award: Award
    created: bool


def resolve_kinds(session: Session, refs: Sequence[int | str]) -> tuple[dict[int | str, Kind], list[int]]:
    """Map kind ids and slugs to kinds; return the indexes of the references that match none."""
    kinds = list(session.scalars(select(Kind)))
    by_ref: dict[int | str, Kind] = {k.id: k for k in kinds} | {k.slug: k for k in kinds}
    unknown = [i for i, ref in enumerate(refs) if ref not in by_ref]
    return by_ref, unknown


def resolve_recipients(session: Session, bodies: Sequence[AwardCreate]) -> list[str]:
    """The wallet address of each award's recipient, given as an address or as ``@handle``.

    :raises ApiError: 422 ``unknown_recipient`` for a handle not in the directory, 422 ``recipient_has_no_wallet``
        for a person without a wallet address yet; every bad item is named.
    """
    handles = {b.recipient[1:] for b in bodies if b.recipient.startswith("@")}
    people = {r.handle: r for r in session.scalars(select(Recipient).where(Recipient.handle.in_(handles)))}
    addresses: list[str] = []
    problems: list[tuple[int, str, str]] = []
    for index, body in enumerate(bodies):
        if not body.recipient.startswith("@"):
            addresses.append(body.recipient)
            continue
        handle = body.recipient[1:]
        person = people.get(handle)
        if person is None:
            problems.append((index, "unknown_recipient", f"no one in the directory has the handle {handle!r}"))
        elif person.wallet_address is None:
            problems.append(
                (index, "recipient_has_no_wallet", f"{handle!r} has no wallet address in the directory yet")
            )
        addresses.append(person.wallet_address if person is not None and person.wallet_address else "")
    if problems:
        code = problems[0][1] if len({p[1] for p in problems}) == 1 else "invalid_recipient"
        details = [{"index": i, "field": "recipient", "message": m} for i, _, m in problems]
        if len(bodies) == 1:
            details = [{"field": "recipient", "message": problems[0][2]}]
        summary = problems[0][2] if len(problems) == 1 else "some recipients cannot be awarded"
        raise ApiError(422, code, summary, details)
    return addresses


def _request_hash(body: AwardCreate) -> bytes:
    fields = body.model_dump(exclude={"idempotency_key"})
    return hashlib.sha256(json.dumps(fields, sort_keys=True, default=str).encode()).digest()


def accept_awards(
    session: Session,
    *,
    settings: Settings,
    api_key: ApiKey,
    items: Sequence[tuple[str, AwardCreate]],
) -> list[Accepted]:
    """Commit each ``(idempotency key, award)`` once, all or none.

    A key already used with the same body returns the award it created; with another body the whole request is
    refused (409 ``idempotency_key_reused``), naming the items.

    :raises ApiError: 422 ``unknown_kind`` for a kind that does not exist, 409 for a reused key.
    """
    kinds, unknown = resolve_kinds(session, [body.kind for _, body in items])
    if unknown:
        details = [{"index": i, "field": "kind", "message": f"unknown kind {items[i][1].kind!r}"} for i in unknown]
        if len(items) == 1:
            details = [{"field": "kind", "message": details[0]["message"]}]
        raise ApiError(422, "unknown_kind", "a kind is not one of GET /v1/kinds", details)
    addresses = resolve_recipients(session, [body for _, body in items])
    keys = [key for key, _ in items]
    if len(set(keys)) != len(keys):
        seen: set[str] = set()
        repeated = [i for i, k in enumerate(keys) if k in seen or seen.add(k)]  # type: ignore[func-returns-value]
        details = [{"index": i, "field": "idempotency_key", "message": "repeated in this batch"} for i in repeated]
        raise ApiError(422, "duplicate_idempotency_key", "each award of a batch needs its own idempotency key", details)

    for _attempt in range(3):
        existing = {
            a.idempotency_key: a
            for a in session.scalars(
                select(Award).where(Award.api_key_id == api_key.id, Award.idempotency_key.in_(keys))
            )
        }
        results: list[Accepted] = []
        conflicts: list[dict[str, Any]] = []
        new: list[Award] = []
        for index, (key, body) in enumerate(items):
            digest = _request_hash(body)
            found = existing.get(key)
            if found is not None:
                if found.request_hash != digest:
                    conflicts.append(
                        {"index": index, "field": "idempotency_key", "message": f"{key!r} was used for another award"}
                    )
                results.append(Accepted(found, created=False))
                continue
            award = _new_award(
                settings, api_key, key, body, kind=kinds[body.kind], digest=digest, recipient=addresses[index]
            )
            new.append(award)
            results.append(Accepted(award, created=True))
        if conflicts:
            if len(items) == 1:
                conflicts = [{"field": "Idempotency-Key", "message": conflicts[0]["message"]}]
            raise ApiError(
                409,
                "idempotency_key_reused",
                "an idempotency key was already used with a different body: use a new key for a new award",
                conflicts,
            )
        try:
            with session.begin_nested():
                session.add_all(new)
        except IntegrityError:
            continue  # a concurrent request committed one of these keys first: read it and compare
        return results
    raise ApiError(409, "idempotency_conflict", "concurrent requests used these idempotency keys; retry")


def _new_award(
    settings: Settings, api_key: ApiKey, key: str, body: AwardCreate, *, kind: Kind, digest: bytes, recipient: str
) -> Award:
    award_id = str(uuid.uuid4())
    accepted_at = utcnow()
    metadata = KudosMetadata(
        kind=kind.name,
        message=body.message,
        awarded_by=body.awarded_by,
        issued_at=accepted_at.strftime("%Y-%m-%dT%H:%M:%SZ"),
        image=f"{settings.base_url}/v1/awards/{award_id}/image.svg",
        recipient_name=body.recipient_name,
        external_url=f"{settings.base_url}/wallet/{recipient}",
    )
    return Award(
        id=award_id,
        api_key_id=api_key.id,
        idempotency_key=key,
        request_hash=digest,
        request_id=request_id_bytes(award_id),
        recipient=recipient,
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


def award_out(session: Session, award: Award, *, base_url: str) -> AwardOut:
    """The API's view of an award."""
    deployment = session.scalars(select(Deployment)).first()
    kind = session.get_one(Kind, award.kind_id)
    tx_hash = award.tx.tx_hash if award.tx_id is not None and award.tx is not None else None
    token_uri = None if award.token_id is None else f"{base_url}/v1/tokens/{award.token_id}"
    return AwardOut(
        id=award.id,
        status=award.status.value,
        recipient=award.recipient,
        kind=kind.slug,
        transferable=award.transferable,
        content_hash="0x" + award.content_hash.hex(),
        failure_reason=award.failure_reason,
        tx_hash=tx_hash,
        token_id=award.token_id,
        token_uri=token_uri,
        block_number=award.block_number,
        chain_id=deployment.chain_id if deployment else None,
        contract_address=deployment.contract_address if deployment else None,
        created_at=as_utc(award.created_at),
        submitted_at=None if award.submitted_at is None else as_utc(award.submitted_at),
        confirmed_at=None if award.confirmed_at is None else as_utc(award.confirmed_at),
    )
