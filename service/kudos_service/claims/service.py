"""Kudos held for people without a wallet: who they are for, the links that claim them, and the claim itself.

A held kudos is an award minted to the deployment's custody address (:mod:`.custody`) with ``held_for_id`` naming
the person in the directory. Once it is confirmed, the notifier (:func:`announce_held`) gives the person a claim
link (:func:`issue_link`) and queues an email with it, in one transaction. The person opens the link, signs an
EIP-4361 message with their wallet, and :func:`redeem` turns the link into one ``recover`` operation per held
kudos, in the same transaction that marks the link used: the conditional ``UPDATE … WHERE used_at IS NULL`` lets
exactly one of two concurrent claims win, and the operations, once committed, are delivered exactly once by the
outbox, whatever crashes meanwhile.
"""

from __future__ import annotations

import logging
import re
import secrets
import string
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import urlsplit

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from kudos_chain.client import recover_calldata
from kudos_service.claims.custody import custody_address
from kudos_service.claims.emails import HeldKudos, claim_email
from kudos_service.claims.links import is_well_formed, new_claim_token, redact_links, token_hash
from kudos_service.claims.siwe import SiweMessage, verify
from kudos_service.core.config import Settings
from kudos_service.core.db import Database
from kudos_service.errors import GoneError, InvalidRequestError, NotFoundError
from kudos_service.mail import queue_mail
from kudos_service.models import (
    Award,
    AwardStatus,
    Claim,
    Kind,
    Mail,
    MailStatus,
    Operation,
    OpKind,
    OpStatus,
    Recipient,
    as_utc,
    still_held,
    utcnow,
)

__all__ = [
    "CLAIM_STATEMENT",
    "ClaimNotFoundError",
    "ClaimState",
    "IssuedLink",
    "announce_held",
    "claim_state",
    "find_claim",
    "held_awards",
    "issue_link",
    "move_held",
    "person_for_email",
    "redeem",
    "refuse_closed",
    "siwe_message",
]

logger = logging.getLogger(__name__)

#: The statement of the sign-in message: what the person agrees to by signing.
CLAIM_STATEMENT = "Receive the kudos held for me in this wallet."
#: How long a sign-in message the service wrote stays valid.
MESSAGE_LIFETIME = timedelta(minutes=10)
_NONCE_ALPHABET = string.ascii_letters + string.digits


class ClaimNotFoundError(NotFoundError):
    """No claim link has this token (or the token is not one)."""


ClaimState = str  # "open", "used", "expired" or "revoked"

#: A recovery in these states is on its way: a second one of the same kudos is never queued.
MOVING = (OpStatus.PENDING, OpStatus.IN_FLIGHT, OpStatus.MINED)


def _not_found() -> ClaimNotFoundError:
    return ClaimNotFoundError("claim_not_found", "this claim link does not exist: check that it was copied whole")


def find_claim(session: Session, token: str) -> Claim:
    """The claim of the link ``token``, by its hash.

    :raises ClaimNotFoundError: for a token that is malformed or unknown (the same answer for both).
    """
    if not is_well_formed(token):
        raise _not_found()
    claim = session.scalars(select(Claim).where(Claim.token_hash == token_hash(token))).first()
    if claim is None:
        raise _not_found()
    return claim


def claim_state(claim: Claim, now: datetime | None = None) -> ClaimState:
    """``used``, ``revoked``, ``expired`` or ``open``, in that order of precedence."""
    if claim.used_at is not None:
        return "used"
    if claim.revoked_at is not None:
        return "revoked"
    if as_utc(claim.expires_at) <= (now or utcnow()):
        return "expired"
    return "open"


def refuse_closed(claim: Claim, now: datetime) -> None:
    """Refuse a link that is not open.

    :raises GoneError: ``claim_used``, ``claim_revoked`` or ``claim_expired``.
    """
    state = claim_state(claim, now)
    if state == "used":
        raise GoneError("claim_used", "this claim link was used already: its kudos went to the wallet that signed")
    if state == "revoked":
        raise GoneError("claim_revoked", "this claim link was replaced by a newer one or withdrawn: use the newest")
    if state == "expired":
        raise GoneError("claim_expired", "this claim link has expired: ask the sender for a new one")


def held_awards(session: Session, person_id: int) -> list[Award]:
    """The kudos held for a person: minted or on the way to custody, not yet claimed, not revoked, oldest first."""
    return list(
        session.scalars(
            select(Award).where(Award.held_for_id == person_id, *still_held()).order_by(Award.created_at, Award.id)
        )
    )


@dataclass(frozen=True)
class IssuedLink:
    """A new claim link: its URL (shown once: only its hash is stored) and its claim."""

    url: str
    claim: Claim


def issue_link(
    session: Session,
    person: Recipient,
    *,
    settings: Settings,
    now: datetime | None = None,
    api_key_id: int | None = None,
) -> IssuedLink:
    """A new claim link for ``person``, valid ``settings.claim_link_days``; every earlier open link of theirs ends
    (a new link ends the old one). Flushed in ``session``'s transaction."""
    now = now or utcnow()
    end_links(session, person.id, now=now, why="a newer link replaced this one")
    token, digest = new_claim_token()
    claim = Claim(
        recipient_id=person.id,
        token_hash=digest,
        nonce="".join(secrets.choice(_NONCE_ALPHABET) for _ in range(16)),
        created_at=now,
        expires_at=now + timedelta(days=settings.claim_link_days),
        api_key_id=api_key_id,
    )
    session.add(claim)
    session.flush()
    return IssuedLink(url=f"{settings.base_url}/claim/{token}", claim=claim)


def end_links(session: Session, person_id: int, *, now: datetime, why: str) -> int:
    """End every open link of a person (the person's row locked first), and withdraw the claim emails not yet sent:
    a link that no longer works is not mailed, and the copy kept loses it. How many links ended."""
    lock_person(session, person_id)
    ended = session.execute(
        update(Claim)
        .where(Claim.recipient_id == person_id, Claim.used_at.is_(None), Claim.revoked_at.is_(None))
        .values(revoked_at=now)
        .execution_options(synchronize_session=False)
    )
    for mail in session.scalars(
        select(Mail).where(
            Mail.recipient_id == person_id,
            Mail.purpose == "claim",
            Mail.status.in_((MailStatus.QUEUED, MailStatus.KEPT)),
        )
    ):
        mail.status = MailStatus.FAILED
        mail.last_error = f"withdrawn: {why}"
        mail.text_body = redact_links(mail.text_body)
        mail.html_body = None if mail.html_body is None else redact_links(mail.html_body)
    return int(ended.rowcount)  # type: ignore[attr-defined]


def _claim_uri(settings: Settings) -> str:
    return f"{settings.base_url}/claim"


def _domain(settings: Settings) -> str:
    return urlsplit(settings.base_url).netloc


def siwe_message(claim: Claim, address: str, *, settings: Settings, chain_id: int, now: datetime) -> SiweMessage:
    """The sign-in message ``address`` signs to claim with ``claim``'s link (valid :data:`MESSAGE_LIFETIME`)."""
    return SiweMessage(
        domain=_domain(settings),
        address=address,
        statement=CLAIM_STATEMENT,
        uri=_claim_uri(settings),
        chain_id=chain_id,
        nonce=claim.nonce,
        issued_at=now.replace(microsecond=0),
        expiration_time=(now + MESSAGE_LIFETIME).replace(microsecond=0),
    )


def _recover_op(claim_id: int | None, award: Award, wallet: str, *, signer: str, contract: str) -> Operation:
    assert award.token_id is not None
    return Operation(
        kind=OpKind.RECOVER,
        status=OpStatus.PENDING,
        signer=signer,
        to_address=contract,
        data=recover_calldata(award.token_id, wallet),
        token_id=award.token_id,
        argument=wallet,
        claim_id=claim_id,
        replacements=0,
    )


def lock_person(session: Session, person_id: int) -> Recipient:
    """The person's row, locked until the transaction ends (``SELECT … FOR UPDATE`` on PostgreSQL; SQLite lets
    one writer at a time anyway): what changes their links and moves, from any process, goes one at a time."""
    return session.scalars(select(Recipient).where(Recipient.id == person_id).with_for_update()).one()


def move_held(
    session: Session, person: Recipient, wallet: str, *, signer: str, contract: str, claim_id: int | None = None
) -> list[Operation]:
    """Put the ``recover`` of every confirmed kudos held for ``person`` to ``wallet`` in the outbox (once: a kudos
    whose recovery is already on its way is left to it, and a unique index on the live recoveries of a token
    keeps two processes from both queuing one). Kudos held but not yet confirmed follow when they are
    (:func:`announce_held` moves them to the wallet the person claimed with)."""
    lock_person(session, person.id)
    held = [a for a in held_awards(session, person.id) if a.status == AwardStatus.CONFIRMED and a.token_id is not None]
    moving = set(
        session.scalars(
            select(Operation.token_id).where(
                Operation.kind == OpKind.RECOVER,
                Operation.status.in_(MOVING),
                Operation.token_id.in_([a.token_id for a in held]),
            )
        )
    )
    ops: list[Operation] = []
    for award in held:
        if award.token_id in moving:
            continue
        op = _recover_op(claim_id, award, wallet, signer=signer, contract=contract)
        try:
            with session.begin_nested():
                session.add(op)
        except IntegrityError:  # another process queued its move meanwhile
            continue
        ops.append(op)
    return ops


def redeem(
    session: Session,
    token: str,
    *,
    message: str,
    signature: str,
    settings: Settings,
    chain_id: int,
    contract: str,
    signer: str,
    now: datetime | None = None,
) -> Claim:
    """Claim with the link ``token``: check the signed sign-in message, mark the link used (one conditional
    ``UPDATE``: of two concurrent claims one wins, the other is refused ``claim_used``), give the person the
    wallet if they have none, and queue a ``recover`` of each held kudos to it, all in ``session``'s
    transaction.

    :raises ClaimNotFoundError: an unknown or malformed token.
    :raises GoneError: ``claim_used``, ``claim_revoked`` or ``claim_expired``.
    :raises kudos_service.claims.siwe.SiweError: a message that is malformed, for another domain, URI, chain or
        nonce, out of its time, or not signed by its address.
    :raises InvalidRequestError: ``wallet_is_custody`` for a claim to the custody address itself.
    """
    now = now or utcnow()
    claim = find_claim(session, token)
    refuse_closed(claim, now)
    signed = verify(
        message,
        signature,
        domain=_domain(settings),
        uri=_claim_uri(settings),
        chain_id=chain_id,
        nonce=claim.nonce,
        now=now,
    )
    wallet = signed.address
    if wallet == custody_address(chain_id, contract):
        raise InvalidRequestError("wallet_is_custody", "the custody address cannot claim: sign with your own wallet")
    lock_person(session, claim.recipient_id)
    taken = session.execute(
        update(Claim)
        .where(
            Claim.id == claim.id,
            Claim.used_at.is_(None),
            Claim.revoked_at.is_(None),
            Claim.expires_at > now,
        )
        .values(used_at=now, wallet_address=wallet)
        .execution_options(synchronize_session=False)
    )
    if taken.rowcount != 1:  # type: ignore[attr-defined]
        session.refresh(claim)
        refuse_closed(claim, now)
        raise GoneError("claim_used", "this claim link was used already")
    session.refresh(claim)
    person = session.get_one(Recipient, claim.recipient_id)
    if person.wallet_address is None:
        person.wallet_address = wallet
    ops = move_held(session, person, wallet, signer=signer, contract=contract, claim_id=claim.id)
    logger.info("claim %d: %d held kudos go to %s", claim.id, len(ops), wallet)
    return claim


def claim_progress(session: Session, claim: Claim) -> list[Operation]:
    """The ``recover`` operations of a used claim, oldest first."""
    held_for_them = select(Award.token_id).where(Award.held_for_id == claim.recipient_id)
    return list(
        session.scalars(
            select(Operation)
            .where(Operation.claim_id == claim.id, Operation.token_id.in_(held_for_them))
            .order_by(Operation.id)
        )
    )


# ----------------------------------------------------------------------------------------------------------------
# People by email, and their announcements
# ----------------------------------------------------------------------------------------------------------------

_NOT_HANDLE = re.compile(r"[^a-z0-9._-]+")


def _free_handle(session: Session, email: str, taken: set[str]) -> str:
    """A handle for a person added by email: their address's local part, made a handle, with ``-2``, ``-3`` … when
    it is taken."""
    base = _NOT_HANDLE.sub("-", email.partition("@")[0].lower()).strip("._-")[:56] or "person"
    used = set(session.scalars(select(Recipient.handle).where(func.lower(Recipient.handle).like(f"{base}%")))) | {
        h for h in taken if h.startswith(base)
    }
    if base not in used:
        return base
    return next(f"{base}-{n}" for n in range(2, len(used) + 3) if f"{base}-{n}" not in used)


def person_for_email(session: Session, email: str, name: str | None, new: dict[str, Recipient]) -> Recipient:
    """The person of the directory with ``email`` (lower case), added when there is none. ``new`` holds the
    people added in this transaction and not yet flushed, by email: two awards to one new address make one
    person."""
    found = new.get(email) or session.scalars(select(Recipient).where(Recipient.email == email)).first()
    if found is not None:
        return found
    handle = _free_handle(session, email, {p.handle for p in new.values()})
    external_id = f"mailto:{email}"
    if session.scalars(select(Recipient.id).where(Recipient.external_id == external_id)).first() is not None:
        external_id = f"mailto:{email}#{handle}"  # the address was someone's before their email changed
    person = Recipient(
        handle=handle,
        external_id=external_id,
        display_name=name or email.partition("@")[0],
        email=email,
        show_name=False,
        listed=False,
    )
    session.add(person)
    new[email] = person
    return person


def _held_kudos(award: Award, kind: Kind, base_url: str) -> HeldKudos:
    return HeldKudos(
        kind=kind.name,
        message=award.message,
        awarded_by=award.awarded_by,
        color=kind.color,
        image_url=f"{base_url}/v1/awards/{award.id}/image.svg",
    )


def queue_claim_mail(
    session: Session,
    person: Recipient,
    link: IssuedLink,
    awards: Sequence[Award],
    *,
    settings: Settings,
    chain_name: str,
) -> Mail | None:
    """The claim email of ``link`` for ``person`` (None when they have no email address)."""
    if person.email is None:
        return None
    kinds = {k.id: k for k in session.scalars(select(Kind).where(Kind.id.in_({a.kind_id for a in awards})))}
    email = claim_email(
        name=person.display_name,
        kudos=[_held_kudos(a, kinds[a.kind_id], settings.base_url) for a in awards],
        claim_url=link.url,
        expires_on=f"{as_utc(link.claim.expires_at):%d %B %Y}".lstrip("0"),
        chain_name=chain_name,
        service_name="kudos-chain",
    )
    return queue_mail(
        session,
        purpose="claim",
        to=person.email,
        subject=email.subject,
        text=email.text,
        html=email.html,
        domain=urlsplit(settings.base_url).hostname or "kudos.invalid",
        recipient_id=person.id,
    )


class _RacedError(Exception):
    """Another process announced these awards first."""


def announce_held(
    db: Database, *, settings: Settings, chain_name: str, signer: str, contract: str, now: datetime | None = None
) -> int:
    """Announce the held kudos confirmed since the last pass, a person at a time, each in its own transaction:

    - a person who claimed before (their last link used, with the wallet they have now) has them moved there;
    - a person whose open link was made after these kudos were accepted (by an admin, say) keeps it, since a link
      claims everything held at the time of the claim, unless the admin wanted it emailed, which waited for this;
    - anyone else with an email address gets a new claim link and an email listing everything held for them
      (without one, an admin asks for the link).

    Each award is announced once: a conditional ``UPDATE`` of ``announced_at`` lets one process of several do it.
    The number of people announced to."""
    now = now or utcnow()
    with db.session() as session:
        rows = session.execute(
            select(Award.held_for_id, Award.id).where(
                Award.held_for_id.is_not(None),
                Award.announced_at.is_(None),
                Award.claimed_at.is_(None),
                Award.revoked_at.is_(None),
                Award.status == AwardStatus.CONFIRMED,
            )
        ).all()
    by_person: dict[int, list[str]] = {}
    for person_id, award_id in rows:
        if person_id is not None:
            by_person.setdefault(person_id, []).append(award_id)
    announced = 0
    for person_id, award_ids in by_person.items():
        try:
            with db.session() as session:
                _announce(
                    session,
                    person_id,
                    award_ids,
                    settings=settings,
                    chain_name=chain_name,
                    signer=signer,
                    contract=contract,
                    now=now,
                )
        except _RacedError:
            continue
        announced += 1
    return announced


def _announce(
    session: Session,
    person_id: int,
    award_ids: list[str],
    *,
    settings: Settings,
    chain_name: str,
    signer: str,
    contract: str,
    now: datetime,
) -> None:
    taken = session.execute(
        update(Award)
        .where(Award.id.in_(award_ids), Award.announced_at.is_(None))
        .values(announced_at=now)
        .execution_options(synchronize_session=False)
    )
    if taken.rowcount != len(award_ids):  # type: ignore[attr-defined]
        raise _RacedError
    person = session.get_one(Recipient, person_id)
    last = session.scalars(
        select(Claim).where(Claim.recipient_id == person_id).order_by(Claim.id.desc()).limit(1)
    ).first()
    wallet = person.wallet_address
    earliest = min(as_utc(t) for t in session.scalars(select(Award.created_at).where(Award.id.in_(award_ids))))
    if wallet is not None and last is not None and last.used_at is not None and last.wallet_address == wallet:
        move_held(session, person, wallet, signer=signer, contract=contract, claim_id=last.id)
    elif (
        last is not None
        and claim_state(last, now) == "open"
        and as_utc(last.created_at) >= earliest
        and not (last.email_wanted and person.email is not None)
    ):
        pass  # a link made since these awards (an admin's) claims them too: it is not ended by another
    elif person.email is not None:
        link = issue_link(session, person, settings=settings, now=now)
        ready = [a for a in held_awards(session, person_id) if a.status == AwardStatus.CONFIRMED]
        queue_claim_mail(session, person, link, ready, settings=settings, chain_name=chain_name)
