"""Fees of new and replacement transactions, and what to tell people when the cap holds delivery back."""

from __future__ import annotations

from dataclasses import dataclass

from kudos_chain import Fees, TransactionManager
from kudos_chain.exceptions import FeeCapExceededError

__all__ = ["Head", "eth", "fees_for_new", "fees_for_replacement"]


@dataclass(frozen=True, slots=True)
class Head:
    """The newest block, as one step of the worker sees it."""

    number: int
    hash: bytes
    base_fee: int
    gas_limit: int


def fees_for_new(manager: TransactionManager, head: Head) -> Fees:
    """Fees of a new transaction for the next block: twice the base fee plus the tip, within the cap.

    :raises FeeCapExceededError: when the base fee and tip alone are above the cap ("base fee 41 gwei is above the
        cap of 30 gwei").
    """
    return manager.fees_for(head.base_fee)


def fees_for_replacement(manager: TransactionManager, head: Head, previous: Fees) -> Fees:
    """Fees of a version that replaces one priced at ``previous``: what a new transaction would pay now, and at
    least the 10 % more on both the max fee and the tip that nodes require of a replacement.

    :raises FeeCapExceededError: when even the least replacement is above the cap.
    """
    return manager.fees_for(head.base_fee, at_least=previous.bumped())


#: How the notes of operations held back in flight end (what a restarted worker reads them by).
HELD_BY_FEES = "; delivery resumes when the fee falls"
HELD_BY_FUNDS = "cannot pay for its gas"


def stuck_on_fees(error: FeeCapExceededError) -> str:
    """The sentence for awards and ``/readyz`` while the cap holds a transaction back."""
    return f"{error}{HELD_BY_FEES}"


def eth(wei: int) -> str:
    """``0.0123 ETH``: an amount of wei in words."""
    return f"{wei / 10**18:.6g} ETH"
