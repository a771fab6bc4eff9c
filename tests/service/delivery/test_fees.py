"""Fees of new and replacement transactions (:mod:`kudos_service.delivery.fees`): the exact arithmetic, the 10 %
bump a node requires of a replacement, the cap, and the words people read while the cap holds delivery back."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from kudos_service.delivery.fees import Head, eth, fees_for_new, fees_for_replacement, stuck_on_fees

from kudos_chain import Chain, Fees, Signer, TransactionManager
from kudos_chain.exceptions import FeeCapExceededError
from kudos_chain.transactions import FeePolicy

GWEI = 10**9


@pytest.fixture(scope="module")
def chain() -> Iterator[Chain]:
    with Chain.embedded() as embedded:
        yield embedded


def manager(chain: Chain, *, cap: int | None = None, tip: int = 2 * GWEI) -> TransactionManager:
    """A manager whose tip is fixed (the node is not asked) and whose cap is ``cap``."""
    return TransactionManager(chain, Signer.create(), fees=FeePolicy(max_fee_per_gas=cap, max_priority_fee_per_gas=tip))


def head(base_fee: int) -> Head:
    return Head(number=7, hash=b"\x01" * 32, base_fee=base_fee, gas_limit=30_000_000)


def test_a_new_transaction_pays_twice_the_base_fee_plus_the_tip(chain: Chain) -> None:
    assert fees_for_new(manager(chain), head(10 * GWEI)) == Fees(22 * GWEI, 2 * GWEI)
    assert fees_for_new(manager(chain, tip=3), head(0)) == Fees(3, 3)


def test_a_new_transaction_is_priced_within_the_cap(chain: Chain) -> None:
    assert fees_for_new(manager(chain, cap=30 * GWEI), head(20 * GWEI)) == Fees(30 * GWEI, 2 * GWEI)
    with pytest.raises(FeeCapExceededError) as raised:
        fees_for_new(manager(chain, cap=30 * GWEI), head(29 * GWEI))
    assert (raised.value.required_wei, raised.value.cap_wei) == (31 * GWEI, 30 * GWEI)


def test_a_replacement_pays_at_least_ten_percent_more_on_both_fees(chain: Chain) -> None:
    previous = Fees(100 * GWEI, 2 * GWEI)
    fees = fees_for_replacement(manager(chain), head(10 * GWEI), previous)
    assert fees == Fees(110 * GWEI, 2_200_000_000)
    assert fees.max_fee_per_gas * 10 >= previous.max_fee_per_gas * 11
    assert fees.max_priority_fee_per_gas * 10 >= previous.max_priority_fee_per_gas * 11


def test_a_replacement_pays_what_a_new_transaction_would_when_that_is_more(chain: Chain) -> None:
    fees = fees_for_replacement(manager(chain), head(50 * GWEI), Fees(20 * GWEI, 1 * GWEI))
    assert fees == Fees(102 * GWEI, 2 * GWEI)


def test_a_replacement_above_the_cap_is_refused_and_one_below_is_capped(chain: Chain) -> None:
    capped = manager(chain, cap=40 * GWEI)
    assert fees_for_replacement(capped, head(10 * GWEI), Fees(30 * GWEI, 2 * GWEI)) == Fees(33 * GWEI, 2_200_000_000)
    assert fees_for_replacement(capped, head(20 * GWEI), Fees(30 * GWEI, 2 * GWEI)) == Fees(40 * GWEI, 2_200_000_000)
    with pytest.raises(FeeCapExceededError) as raised:
        fees_for_replacement(capped, head(10 * GWEI), Fees(40 * GWEI, 2 * GWEI))
    assert (raised.value.required_wei, raised.value.cap_wei) == (44 * GWEI, 40 * GWEI)


def test_the_sentence_while_the_cap_holds_delivery_back(chain: Chain) -> None:
    with pytest.raises(FeeCapExceededError) as raised:
        fees_for_new(manager(chain, cap=30 * GWEI), head(41 * GWEI))
    assert stuck_on_fees(raised.value) == f"{raised.value}; delivery resumes when the fee falls"
    assert "41 gwei" in stuck_on_fees(raised.value)


@pytest.mark.parametrize(
    ("wei", "words"),
    [
        (12_300_000_000_000_000, "0.0123 ETH"),
        (10**18, "1 ETH"),
        (1_234_567_890_123_456_789, "1.23457 ETH"),
        (25 * 10**18, "25 ETH"),
        (0, "0 ETH"),
    ],
)
def test_an_amount_of_wei_in_words(wei: int, words: str) -> None:
    assert eth(wei) == words
