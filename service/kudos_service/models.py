"""The service's tables. Alembic migrations in ``migrations/`` create them; the indexer's tables sit beside them."""

from __future__ import annotations

import enum
from datetime import UTC, datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    DateTime,
    Enum,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
    false,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship
from sqlalchemy.sql.elements import ColumnElement


def utcnow() -> datetime:
    """The current time, aware, in UTC."""
    return datetime.now(UTC)


def as_utc(moment: datetime) -> datetime:
    """``moment`` as an aware UTC datetime (SQLite returns stored datetimes without their zone)."""
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


class Base(DeclarativeBase):
    """The declarative base of every service table."""


class AwardStatus(enum.StrEnum):
    """Where an award is: accepted (``queued``), in a signed transaction (``submitted``), mined (``confirmed``),
    or refused by the chain for good (``failed``)."""

    QUEUED = "queued"
    SUBMITTED = "submitted"
    CONFIRMED = "confirmed"
    FAILED = "failed"


class TxStatus(enum.StrEnum):
    """One signed version of an operation's transaction: stored, sent to the node, replaced by a version with
    higher fees (and still watched: whichever version is mined counts), mined, or failed."""

    SIGNED = "signed"
    SENT = "sent"
    REPLACED = "replaced"
    MINED = "mined"
    FAILED = "failed"


class OpKind(enum.StrEnum):
    """What an operation of the outbox does on chain."""

    AWARD_BATCH = "award_batch"
    REVOKE = "revoke"
    RECOVER = "recover"
    CALL = "call"  # any other call of the contract by the service's signer (a role, the base URI)


class OpStatus(enum.StrEnum):
    """Where an operation of the outbox is.

    ``pending`` → ``in_flight`` (signed with its nonce, stored, broadcast) → ``mined`` (in a canonical block) →
    ``done`` (``confirmations`` blocks deep). A reorg takes a ``mined`` or ``done`` operation back to
    ``in_flight``. ``failed``: refused for good (reverted). ``superseded``: another transaction used its nonce,
    and its work went back to the queue. ``abandoned``: made for a chain the service no longer serves.
    """

    PENDING = "pending"
    IN_FLIGHT = "in_flight"
    MINED = "mined"
    DONE = "done"
    FAILED = "failed"
    SUPERSEDED = "superseded"
    ABANDONED = "abandoned"


#: The rows of live recoveries (stored by the enums' names): see ``uq_operations_live_recover``.
LIVE_RECOVER = "kind = 'RECOVER' AND status IN ('PENDING', 'IN_FLIGHT', 'MINED')"

#: Operations whose nonce is taken and whose transaction is, or may still be, on chain: what the worker watches.
LIVE_OPS = (OpStatus.IN_FLIGHT, OpStatus.MINED, OpStatus.DONE)


class Deployment(Base):
    """The contract this service awards on (one row)."""

    __tablename__ = "deployment"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    chain_id: Mapped[int] = mapped_column(BigInteger)
    contract_address: Mapped[str] = mapped_column(String(42))
    from_block: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    #: The chain's block 0 and the contract's code, as first seen: a node that answers with others serves
    #: another chain (a development node started again without its state, a wrong URL), and delivery stops.
    genesis_hash: Mapped[bytes | None] = mapped_column(LargeBinary(32))
    code_hash: Mapped[bytes | None] = mapped_column(LargeBinary(32))


class KeyStatus(enum.StrEnum):
    """Whether an API key opens anything: ``active``, ``expired`` (its ``expires_at`` has passed) or ``revoked``
    (for good; revoked wins over expired)."""

    ACTIVE = "active"
    EXPIRED = "expired"
    REVOKED = "revoked"


class ApiKey(Base):
    """An API key, stored as the SHA-256 of its secret (the secret is shown once, at creation).

    A revoked key keeps its row (``revoked``, and since migration 0005 ``revoked_at``), so that its awards keep
    their owner and the listing shows it. ``last_used_at`` is written at most once a minute per key per process
    (see ``state.py``): it is a hint, up to that much behind.
    """

    __tablename__ = "api_keys"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    prefix: Mapped[str] = mapped_column(String(16), unique=True)
    secret_hash: Mapped[bytes] = mapped_column(LargeBinary(32))
    scopes: Mapped[str] = mapped_column(String(200))
    name: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    revoked: Mapped[bool] = mapped_column(Boolean, default=False)
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))  # None for keys revoked before 0005
    expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))  # None: never
    last_used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    @property
    def scope_set(self) -> frozenset[str]:
        """The scopes as a set."""
        return frozenset(s for s in self.scopes.split(",") if s)

    def status(self, now: datetime | None = None) -> KeyStatus:
        """Whether the key opens anything at ``now`` (default: the current time)."""
        if self.revoked:
            return KeyStatus.REVOKED
        if self.expires_at is not None and as_utc(self.expires_at) <= (now or utcnow()):
            return KeyStatus.EXPIRED
        return KeyStatus.ACTIVE

    def __repr__(self) -> str:  # never the hash: a row in a log line or a traceback names the key by its prefix
        return f"ApiKey(prefix={self.prefix!r}, name={self.name!r}, scopes={self.scopes!r}, revoked={self.revoked})"


class Kind(Base):
    """A kudos type; its id is the ``kind`` on chain."""

    __tablename__ = "kinds"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    slug: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(100))
    description: Mapped[str] = mapped_column(String(500))
    audience: Mapped[str] = mapped_column(String(20))
    color: Mapped[str] = mapped_column(String(7))
    emoji: Mapped[str] = mapped_column(String(16))
    default_transferable: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Recipient(Base):
    """A person in the directory: who they are in the HR tool or Slack, and their wallet.

    The directory holds personal data: only ``admin`` keys read or write it, the public wallet page shows
    ``display_name`` only when ``show_name`` allows it, and the public lookup finds a wallet by handle only when
    ``listed`` allows it.
    """

    __tablename__ = "recipients"
    __table_args__ = (Index("uq_recipients_email", "email", unique=True),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    handle: Mapped[str] = mapped_column(String(64), unique=True)
    external_id: Mapped[str] = mapped_column(String(255), unique=True)
    display_name: Mapped[str] = mapped_column(String(200))
    wallet_address: Mapped[str | None] = mapped_column(String(42), index=True)
    slack_user_id: Mapped[str | None] = mapped_column(String(32), unique=True)
    show_name: Mapped[bool] = mapped_column(Boolean, default=False)
    #: May anyone find this person's wallet by ``@handle`` on the public lookup page? Off by default: a handle
    #: that is not listed reads exactly as one nobody has.
    listed: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    #: Where their claim links go: set when someone is first thanked by email (lower case), admin-only data.
    email: Mapped[str | None] = mapped_column(String(320))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, onupdate=utcnow)


class Operation(Base):
    """One write to the chain, in the outbox: an award batch, a revocation, a recovery, a contract call.

    Its nonce is given once, by the delivery worker, when it is first signed; every signed version
    (:class:`ChainTx`) is stored before it is broadcast. It is finished only when its block is ``confirmations``
    deep and still canonical.
    """

    __tablename__ = "operations"
    __table_args__ = (
        UniqueConstraint("api_key_id", "idempotency_key", name="uq_operations_idempotency"),
        Index("ix_operations_status_nonce", "status", "nonce"),
        # One recovery of a kudos on its way at a time, whichever process queues it (a claim, a move by an admin).
        Index(
            "uq_operations_live_recover",
            "token_id",
            unique=True,
            sqlite_where=text(LIVE_RECOVER),
            postgresql_where=text(LIVE_RECOVER),
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[OpKind] = mapped_column(Enum(OpKind, native_enum=False, length=16))
    status: Mapped[OpStatus] = mapped_column(Enum(OpStatus, native_enum=False, length=16))
    signer: Mapped[str] = mapped_column(String(42))
    nonce: Mapped[int | None] = mapped_column(BigInteger)
    to_address: Mapped[str] = mapped_column(String(42))
    data: Mapped[bytes] = mapped_column(LargeBinary)
    gas_limit: Mapped[int | None] = mapped_column(BigInteger)
    token_id: Mapped[int | None] = mapped_column(BigInteger, index=True)  # what a revocation or recovery acts on
    argument: Mapped[str | None] = mapped_column(String(100))  # the reason of a revocation, the wallet of a recovery
    api_key_id: Mapped[int | None] = mapped_column(ForeignKey("api_keys.id"))
    idempotency_key: Mapped[str | None] = mapped_column(String(255))
    request_hash: Mapped[bytes | None] = mapped_column(LargeBinary(32))
    tx_hash: Mapped[str | None] = mapped_column(String(66))  # the version that was mined
    block_number: Mapped[int | None] = mapped_column(BigInteger)
    block_hash: Mapped[bytes | None] = mapped_column(LargeBinary(32))
    gas_used: Mapped[int | None] = mapped_column(BigInteger)
    sent_block: Mapped[int | None] = mapped_column(BigInteger)  # the head when it was last broadcast
    sent_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    nonce_used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))  # seen used by another tx
    replacements: Mapped[int] = mapped_column(Integer, default=0)
    error: Mapped[str | None] = mapped_column(Text)  # why it failed
    note: Mapped[str | None] = mapped_column(Text)  # why it waits
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, onupdate=utcnow)
    done_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    #: The claim a recovery serves (not a foreign key: the record outlives a person removed with their claims).
    claim_id: Mapped[int | None] = mapped_column(Integer, index=True)

    versions: Mapped[list[ChainTx]] = relationship(back_populates="operation", order_by="ChainTx.id")


class ChainTx(Base):
    """One signed version of an operation's transaction, stored with its nonce before it is broadcast."""

    __tablename__ = "chain_txs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    operation_id: Mapped[int | None] = mapped_column(ForeignKey("operations.id"), index=True)
    nonce: Mapped[int] = mapped_column(BigInteger)
    tx_hash: Mapped[str] = mapped_column(String(66), unique=True)
    raw: Mapped[bytes] = mapped_column(LargeBinary)
    status: Mapped[TxStatus] = mapped_column(Enum(TxStatus, native_enum=False, length=16), index=True)
    max_fee_per_gas: Mapped[int | None] = mapped_column(BigInteger)
    max_priority_fee_per_gas: Mapped[int | None] = mapped_column(BigInteger)
    block_number: Mapped[int | None] = mapped_column(BigInteger)
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    operation: Mapped[Operation | None] = relationship(back_populates="versions")


class Award(Base):
    """An accepted award: committed before anything is sent, so it survives crashes."""

    __tablename__ = "awards"
    __table_args__ = (
        UniqueConstraint("api_key_id", "idempotency_key", name="uq_awards_idempotency"),
        Index("ix_awards_status_created", "status", "created_at"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    api_key_id: Mapped[int] = mapped_column(ForeignKey("api_keys.id"))
    idempotency_key: Mapped[str] = mapped_column(String(255))
    request_hash: Mapped[bytes] = mapped_column(LargeBinary(32))
    request_id: Mapped[bytes] = mapped_column(LargeBinary(32), unique=True)
    recipient: Mapped[str] = mapped_column(String(42), index=True)
    kind_id: Mapped[int] = mapped_column(ForeignKey("kinds.id"))
    message: Mapped[str] = mapped_column(Text)
    awarded_by: Mapped[str] = mapped_column(String(200))
    recipient_name: Mapped[str | None] = mapped_column(String(200))
    transferable: Mapped[bool] = mapped_column(Boolean)
    metadata_json: Mapped[bytes] = mapped_column(LargeBinary)
    content_hash: Mapped[bytes] = mapped_column(LargeBinary(32))
    status: Mapped[AwardStatus] = mapped_column(Enum(AwardStatus, native_enum=False, length=16))
    failure_reason: Mapped[str | None] = mapped_column(Text)
    operation_id: Mapped[int | None] = mapped_column(ForeignKey("operations.id"), index=True)
    tx_id: Mapped[int | None] = mapped_column(ForeignKey("chain_txs.id"), index=True)  # the version mined
    token_id: Mapped[int | None] = mapped_column(BigInteger, unique=True)
    block_number: Mapped[int | None] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    submitted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    confirmed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    #: The person a kudos minted to the custody address is held for (kept after the claim, for the record).
    held_for_id: Mapped[int | None] = mapped_column(ForeignKey("recipients.id"), index=True)
    #: When the claim's ``recover`` moved it to the person's wallet (``confirmations`` deep).
    claimed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    #: When a claim email (or link) first announced it to the person it is held for.
    announced_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    kind: Mapped[Kind] = relationship()
    held_for: Mapped[Recipient | None] = relationship()
    operation: Mapped[Operation | None] = relationship()
    tx: Mapped[ChainTx | None] = relationship()


class Claim(Base):
    """A claim link: how a person proves a wallet is theirs, by signing in with it (EIP-4361), to receive the
    kudos held for them.

    The link's secret is stored only as its SHA-256 (``token_hash``). A link is used once (``used_at``, set by one
    conditional ``UPDATE``, so two concurrent claims cannot both win), ends at ``expires_at``, and is ended early by
    ``revoked_at`` (an admin, or a newer link for the same person). ``nonce`` is the EIP-4361 nonce the signed
    message must carry.
    """

    __tablename__ = "claims"
    __table_args__ = {"sqlite_autoincrement": True}  # noqa: RUF012 (an id is never given twice: see operations.claim_id)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    recipient_id: Mapped[int] = mapped_column(ForeignKey("recipients.id", ondelete="CASCADE"), index=True)
    token_hash: Mapped[bytes] = mapped_column(LargeBinary(32), unique=True)
    nonce: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    #: The wallet that signed in and received the kudos.
    wallet_address: Mapped[str | None] = mapped_column(String(42))
    api_key_id: Mapped[int | None] = mapped_column(ForeignKey("api_keys.id"))  # who asked for it (None: the service)
    #: An admin asked for it by email while nothing held was confirmed yet: the first announcement emails a link.
    email_wanted: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())

    recipient: Mapped[Recipient] = relationship()

    def __repr__(self) -> str:  # never the hash
        return f"Claim(id={self.id}, recipient_id={self.recipient_id}, used={self.used_at is not None})"


def still_held() -> tuple[ColumnElement[bool], ...]:
    """The conditions of a kudos held for someone and not yet theirs: minted or on its way to the custody address,
    not claimed, not revoked (``held_for_id`` names the person). One definition for every query that counts or
    lists held kudos."""
    return (
        Award.held_for_id.is_not(None),
        Award.claimed_at.is_(None),
        Award.revoked_at.is_(None),
        Award.status != AwardStatus.FAILED,
    )


class StorageProbe(Base):
    """Rows ``/readyz`` writes and deletes at once: a database that cannot store them cannot store awards."""

    __tablename__ = "storage_probe"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    payload: Mapped[bytes] = mapped_column(LargeBinary)


class MailStatus(enum.StrEnum):
    """Where an email of the mail outbox is.

    ``queued`` → ``sent``; ``failed`` when the mail server refused it for good or every attempt failed. ``kept``:
    the service has no mail server (no ``KUDOS_SMTP_HOST``), so the message waits where an admin reads it, and is
    sent if one is configured later.
    """

    QUEUED = "queued"
    SENT = "sent"
    FAILED = "failed"
    KEPT = "kept"


class Mail(Base):
    """An email to send, written in the same transaction as what it announces, and sent by the mailer's loop
    (:mod:`kudos_service.mail`), never from a request. ``after_operation_id``: not before that operation of the
    outbox is ``done`` (the kudos it announces exists on chain).

    Sending is at least once: a process that stops between the mail server's answer and recording it sends the
    message again after ``lease`` (:data:`kudos_service.mail.LEASE`); ``message_id`` stays the same, so mail
    clients can tell the copy.
    """

    __tablename__ = "mails"
    __table_args__ = (Index("ix_mails_status_next_attempt_at", "status", "next_attempt_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    #: What the message is for (``claim``: kudos held for a person, with their claim link).
    purpose: Mapped[str] = mapped_column(String(32))
    recipient_id: Mapped[int | None] = mapped_column(ForeignKey("recipients.id", ondelete="SET NULL"), index=True)
    to_address: Mapped[str] = mapped_column(String(320))
    subject: Mapped[str] = mapped_column(String(200))
    text_body: Mapped[str] = mapped_column(Text)
    html_body: Mapped[str | None] = mapped_column(Text)
    message_id: Mapped[str] = mapped_column(String(255), unique=True)
    after_operation_id: Mapped[int | None] = mapped_column(ForeignKey("operations.id"), index=True)
    status: Mapped[MailStatus] = mapped_column(Enum(MailStatus, native_enum=False, length=16))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
