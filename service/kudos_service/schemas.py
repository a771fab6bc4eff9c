"""Request and response bodies of the API."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Annotated, Literal

from eth_utils.address import to_checksum_address
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StrictInt, StringConstraints

from kudos_chain.client import is_valid_address

__all__ = [
    "AwardBatchItem",
    "AwardBatchRequest",
    "AwardCreate",
    "AwardOut",
    "KindCreate",
    "KindOut",
    "RecipientCreate",
    "RecipientOut",
    "RevokeRequest",
    "WalletItem",
    "WalletOut",
    "is_valid_address",
]

ZERO_ADDRESS = "0x0000000000000000000000000000000000000000"
MAX_MESSAGE = 500
MAX_BATCH = 1000


def _address(value: str) -> str:
    if not is_valid_address(value):
        raise ValueError("not an Ethereum address (0x and 40 hex digits, with a valid checksum if mixed-case)")
    if value.lower() == ZERO_ADDRESS:
        raise ValueError("the zero address cannot receive a kudos")
    return to_checksum_address(value)


Address = Annotated[str, StringConstraints(strip_whitespace=True), AfterValidator(_address)]
_HANDLE = re.compile(r"[a-z0-9][a-z0-9._-]{0,63}")


def _handle(value: str) -> str:
    if not _HANDLE.fullmatch(value.lower()):
        raise ValueError(
            "a handle is 1 to 64 letters, digits, dots, dashes or underscores, starting with a letter or digit"
        )
    return value.lower()


def _recipient(value: str) -> str:
    return "@" + _handle(value[1:]) if value.startswith("@") else _address(value)


#: A directory handle, case-insensitive (stored in lower case).
Handle = Annotated[str, StringConstraints(strip_whitespace=True), AfterValidator(_handle)]

#: A recipient: a wallet address, or ``@handle`` of a person in the directory.
RecipientRef = Annotated[str, StringConstraints(strip_whitespace=True), AfterValidator(_recipient)]
Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1)]


class AwardCreate(BaseModel):
    """An award to make."""

    model_config = ConfigDict(extra="forbid")

    recipient: RecipientRef = Field(
        description="The wallet address that receives the kudos, or @handle of a person in the directory."
    )
    kind: StrictInt | Annotated[str, StringConstraints(min_length=1, max_length=64)] = Field(
        description="The kudos type: its id or its slug (see GET /v1/kinds)."
    )
    message: Annotated[Text, StringConstraints(max_length=MAX_MESSAGE)] = Field(description="The words of thanks.")
    awarded_by: Annotated[Text, StringConstraints(max_length=200)] = Field(description="Who gives the kudos.")
    recipient_name: Annotated[Text, StringConstraints(max_length=200)] | None = Field(
        default=None, description="The recipient's display name, shown in the metadata when given."
    )
    transferable: bool | None = Field(default=None, description="Default: the kind's default (usually soulbound).")


IdempotencyKey = Annotated[str, StringConstraints(min_length=1, max_length=255, pattern=r"^[\x21-\x7e]+$")]


class AwardBatchItem(AwardCreate):
    """One award of a batch, with its own idempotency key."""

    idempotency_key: IdempotencyKey


class AwardBatchRequest(BaseModel):
    """Up to 1,000 awards at once; a batch with any bad item is refused whole."""

    model_config = ConfigDict(extra="forbid")

    awards: Annotated[list[AwardBatchItem], Field(min_length=1, max_length=MAX_BATCH)]


class AwardOut(BaseModel):
    """Where an award is."""

    id: str
    status: Literal["queued", "submitted", "confirmed", "failed"]
    recipient: str
    kind: str
    transferable: bool
    content_hash: str
    failure_reason: str | None = None
    tx_hash: str | None = None
    token_id: int | None = None
    token_uri: str | None = None
    block_number: int | None = None
    chain_id: int | None = None
    contract_address: str | None = None
    created_at: datetime
    submitted_at: datetime | None = None
    confirmed_at: datetime | None = None


class KindCreate(BaseModel):
    """A new kudos type."""

    model_config = ConfigDict(extra="forbid")

    slug: Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9-]{0,62}$")]
    name: Annotated[Text, StringConstraints(max_length=100)]
    description: Annotated[str, StringConstraints(strip_whitespace=True, max_length=500)] = ""
    audience: Literal["employee", "candidate", "customer", "other"] = "employee"
    color: Annotated[str, StringConstraints(pattern=r"^#[0-9a-fA-F]{6}$")] = "#2563eb"
    emoji: Annotated[str, StringConstraints(min_length=1, max_length=16)] = "⭐"
    default_transferable: bool = False


class KindOut(BaseModel):
    """A kudos type; ``id`` is the kind stored on chain."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    slug: str
    name: str
    description: str
    audience: str
    color: str
    emoji: str
    default_transferable: bool


class RevokeRequest(BaseModel):
    """Why a kudos is revoked."""

    model_config = ConfigDict(extra="forbid")

    reason: Literal["unspecified", "mistake", "fraud", "requested_by_holder", "policy"] = "unspecified"


class WalletItem(BaseModel):
    """One kudos in a wallet."""

    token_id: int
    kind: str | None
    kind_name: str | None
    emoji: str | None
    color: str | None
    message: str | None = Field(description="The words of thanks; null unless verified.")
    awarded_by: str | None
    verified: bool = Field(description="True when this service's text hashes to the content hash on chain.")
    issued_at: datetime | None
    transferable: bool | None
    token_uri: str
    image_url: str


class WalletOut(BaseModel):
    """A page of the kudos an address holds, newest first."""

    address: str
    chain_id: int
    contract_address: str
    total: int
    limit: int
    offset: int
    items: list[WalletItem]


class RecipientCreate(BaseModel):
    """A person in the directory."""

    model_config = ConfigDict(extra="forbid")

    handle: Handle = Field(description="A short unique name: letters, digits, dots, dashes, underscores.")
    external_id: Annotated[Text, StringConstraints(max_length=255)] = Field(
        description="The person's id elsewhere: an HRIS id, an email address or a Slack user id."
    )
    display_name: Annotated[Text, StringConstraints(max_length=200)]
    wallet_address: Address | None = Field(default=None, description="Their wallet, once they have one.")
    slack_user_id: Annotated[str, StringConstraints(pattern=r"^[UW][A-Z0-9]{2,31}$")] | None = None
    show_name: bool = Field(default=False, description="May the public wallet page show the display name?")


def _utc(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)  # SQLite returns datetimes without their zone


class RecipientOut(BaseModel):
    """A person in the directory (``admin`` scope only: personal data)."""

    model_config = ConfigDict(from_attributes=True)

    handle: str
    external_id: str
    display_name: str
    wallet_address: str | None
    slack_user_id: str | None
    show_name: bool
    created_at: Annotated[datetime, AfterValidator(_utc)]
