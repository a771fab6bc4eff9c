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
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship


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
    """A chain transaction: signed and stored, sent to the node, mined, or failed."""

    SIGNED = "signed"
    SENT = "sent"
    MINED = "mined"
    FAILED = "failed"


class Deployment(Base):
    """The contract this service awards on (one row)."""

    __tablename__ = "deployment"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    chain_id: Mapped[int] = mapped_column(BigInteger)
    contract_address: Mapped[str] = mapped_column(String(42))
    from_block: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class ApiKey(Base):
    """An API key, stored as the SHA-256 of its secret (the secret is shown once, at creation)."""

    __tablename__ = "api_keys"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    prefix: Mapped[str] = mapped_column(String(16), unique=True)
    secret_hash: Mapped[bytes] = mapped_column(LargeBinary(32))
    scopes: Mapped[str] = mapped_column(String(200))
    name: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    revoked: Mapped[bool] = mapped_column(Boolean, default=False)

    @property
    def scope_set(self) -> frozenset[str]:
        """The scopes as a set."""
        return frozenset(s for s in self.scopes.split(",") if s)


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

    The directory holds personal data: only ``admin`` keys read or write it, and the public wallet page shows
    ``display_name`` only when ``show_name`` allows it.
    """

    __tablename__ = "recipients"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    handle: Mapped[str] = mapped_column(String(64), unique=True)
    external_id: Mapped[str] = mapped_column(String(255), unique=True)
    display_name: Mapped[str] = mapped_column(String(200))
    wallet_address: Mapped[str | None] = mapped_column(String(42), index=True)
    slack_user_id: Mapped[str | None] = mapped_column(String(32), unique=True)
    show_name: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, onupdate=utcnow)


class ChainTx(Base):
    """A transaction of the signer, stored with its nonce before it is broadcast."""

    __tablename__ = "chain_txs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    nonce: Mapped[int] = mapped_column(BigInteger)
    tx_hash: Mapped[str] = mapped_column(String(66), unique=True)
    raw: Mapped[bytes] = mapped_column(LargeBinary)
    status: Mapped[TxStatus] = mapped_column(Enum(TxStatus, native_enum=False, length=16), index=True)
    block_number: Mapped[int | None] = mapped_column(BigInteger)
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    awards: Mapped[list[Award]] = relationship(back_populates="tx")


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
    tx_id: Mapped[int | None] = mapped_column(ForeignKey("chain_txs.id"), index=True)
    token_id: Mapped[int | None] = mapped_column(BigInteger, unique=True)
    block_number: Mapped[int | None] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    submitted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    confirmed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    kind: Mapped[Kind] = relationship()
    tx: Mapped[ChainTx | None] = relationship(back_populates="awards")


class StorageProbe(Base):
    """Rows ``/readyz`` writes and deletes at once: a database that cannot store them cannot store awards."""

    __tablename__ = "storage_probe"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    payload: Mapped[bytes] = mapped_column(LargeBinary)
