"""The typed values kudos_chain takes and returns."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from enum import IntEnum
from typing import NewType

from eth_typing import ChecksumAddress, HexStr

__all__ = ["Award", "AwardEvent", "AwardResult", "Kudos", "RevokeReason", "TokenId", "TransferEvent", "TxResult"]

TokenId = NewType("TokenId", int)
"""The id of a kudos: sequential from 1, never reused."""


class RevokeReason(IntEnum):
    """The reason codes an issuer gives when revoking a kudos (any other ``uint32`` is allowed too)."""

    UNSPECIFIED = 0
    MISTAKE = 1
    FRAUD = 2
    REQUESTED_BY_HOLDER = 3
    POLICY = 4


@dataclass(frozen=True, slots=True)
class Award:
    """One kudos to award.

    :param recipient: the wallet that receives it.
    :param kind: the kudos type, a ``uint32``.
    :param content_hash: keccak256 of its canonical metadata JSON (see :func:`kudos_chain.content_hash`).
    :param request_id: the caller's idempotency key: 32 bytes as they are, or a string, hashed with keccak256.
    :param transferable: False (the default) for a soulbound kudos.
    """

    recipient: str
    kind: int
    content_hash: bytes
    request_id: bytes | str
    transferable: bool = False


@dataclass(frozen=True, slots=True)
class TxResult:
    """A mined transaction."""

    tx_hash: HexStr
    block_number: int
    gas_used: int


@dataclass(frozen=True, slots=True)
class AwardResult:
    """A kudos awarded on chain, and the transaction that awarded it."""

    token_id: TokenId
    request_id: bytes
    recipient: ChecksumAddress
    tx_hash: HexStr
    block_number: int


@dataclass(frozen=True, slots=True)
class AwardEvent:
    """A ``KudosAwarded`` event: which kudos an award minted, for which request, with which content hash, where."""

    token_id: TokenId
    request_id: bytes
    content_hash: bytes
    tx_hash: HexStr
    block_number: int
    log_index: int


@dataclass(frozen=True, slots=True)
class TransferEvent:
    """An ERC-721 ``Transfer`` event: a mint comes from the zero address, a burn goes to it."""

    token_id: TokenId
    sender: ChecksumAddress
    to: ChecksumAddress
    tx_hash: HexStr
    block_number: int
    log_index: int


@dataclass(frozen=True, slots=True)
class Kudos:
    """A kudos as the chain holds it.

    ``content_hash`` and ``request_id`` come from the kudos's ``KudosAwarded`` event.
    """

    token_id: TokenId
    owner: ChecksumAddress
    kind: int
    issued_at: datetime
    transferable: bool
    content_hash: bytes
    request_id: bytes
    token_uri: str

    @property
    def soulbound(self) -> bool:
        """True when the kudos cannot be transferred (ERC-5192 ``locked``)."""
        return not self.transferable


def utc_from_timestamp(timestamp: int) -> datetime:
    """The aware UTC datetime of a block timestamp."""
    return datetime.fromtimestamp(timestamp, tz=UTC)
