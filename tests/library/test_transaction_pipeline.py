"""The transaction pipeline in detail: what a node's refusal means, the fees of a first transaction and of a
replacement under a cap, the fields of what is signed, the outcome of each broadcast, the waves that fit a block,
and waiting for receipts. Pure rules are checked as such; the rest on both chains."""

from __future__ import annotations

import pytest
from eth_account.typed_transactions.typed_transaction import TypedTransaction
from eth_typing import HexStr
from eth_utils.crypto import keccak
from hexbytes import HexBytes
from web3.exceptions import ContractLogicError
from web3.types import TxParams, Wei

from kudos_chain import (
    Chain,
    ContractRevertError,
    FeeCapExceededError,
    FeePolicy,
    Fees,
    KudosClient,
    MissingRoleError,
    SendOutcome,
    Signer,
    TransactionError,
    TransactionManager,
    TransactionTimeoutError,
)
from kudos_chain.transactions import GWEI, SignedTx, classify_refusal

from .conftest import Deployment, frugal_deployment, funded
from .helpers import make_award, nonce


@pytest.fixture(scope="module")
def deployment(chain: Chain) -> Deployment:
    """This module's KudosToken, with wallets of 1 ETH each (:func:`frugal_deployment`)."""
    return frugal_deployment(chain)


# ----------------------------------------------------------------------------------------------------------------
# A node's refusal
# ----------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("message", "outcome"),
    [
        ("ALREADY KNOWN", SendOutcome.SENT),
        ("known transaction: 0xabc", SendOutcome.SENT),
        ("Transaction already imported", SendOutcome.SENT),
        ("Nonce too low", SendOutcome.NONCE_USED),
        ("the nonce has already been used", SendOutcome.NONCE_USED),
        ("OldNonce", SendOutcome.NONCE_USED),
        ("invalid transaction nonce: expected 10, but got 9", SendOutcome.NONCE_USED),
        ("invalid transaction nonce: expected 9, but got 9", SendOutcome.REFUSED),
        ("invalid transaction nonce: expected 9, but got 10", SendOutcome.REFUSED),
        ("Insufficient funds for gas * price + value", SendOutcome.NO_FUNDS),
        ("insufficient balance for transfer", SendOutcome.NO_FUNDS),
        ("transaction underpriced", SendOutcome.UNDERPRICED),
        ("max fee per gas less than block base fee", SendOutcome.UNDERPRICED),
        ("fee too low", SendOutcome.UNDERPRICED),
        ("FeeCapTooLow", SendOutcome.UNDERPRICED),
        ("tx fee cap exceeded", SendOutcome.UNDERPRICED),
        ("max fee per gas less than the minimum", SendOutcome.UNDERPRICED),
        ("", SendOutcome.REFUSED),
        ("txpool is full", SendOutcome.REFUSED),
        # the first rule that matches wins: known before a used nonce, a used nonce before funds, funds before fees
        ("already known (nonce too low)", SendOutcome.SENT),
        ("nonce too low; insufficient funds", SendOutcome.NONCE_USED),
        ("insufficient funds: fee too low", SendOutcome.NO_FUNDS),
    ],
)
def test_each_refusal_is_read_from_the_nodes_words_in_any_case(message: str, outcome: SendOutcome):
    assert classify_refusal(message) is outcome


# ----------------------------------------------------------------------------------------------------------------
# Fees
# ----------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fees", "bumped"),
    [
        (Fees(0, 0), Fees(1, 1)),  # never the same fee again
        (Fees(9, 10), Fees(10, 11)),
        (Fees(19, 21), Fees(21, 24)),  # 10 % rounded up
        (Fees(100, 1000), Fees(110, 1100)),  # exactly 10 %, not 111 as a float would give
    ],
)
def test_a_bump_is_ten_percent_rounded_up_and_at_least_one_wei(fees: Fees, bumped: Fees):
    assert fees.bumped() == bumped


@pytest.fixture(scope="module")
def offline() -> Chain:
    """A chain that the fee rules below never ask: their tip is the policy's."""
    return Chain.embedded(accounts=1)


def manager_of(chain: Chain, *, cap: int | None = None, tip: int = 3) -> TransactionManager:
    return TransactionManager(chain, Signer.create(), fees=FeePolicy(max_fee_per_gas=cap, max_priority_fee_per_gas=tip))


@pytest.mark.parametrize(
    ("cap", "base", "at_least", "fees"),
    [
        (None, 10, None, Fees(23, 3)),  # twice the base fee plus the tip
        (None, 0, None, Fees(3, 3)),
        (None, 10, Fees(5, 7), Fees(23, 7)),  # the replacement's tip
        (None, 10, Fees(100, 1), Fees(100, 3)),  # the replacement's max fee
        (None, 10, Fees(5, 50), Fees(60, 50)),  # the base fee plus the replacement's tip
        (23, 10, None, Fees(23, 3)),  # at the cap
        (20, 10, None, Fees(20, 3)),  # over it: the cap
        (13, 10, None, Fees(13, 3)),  # the base fee and the tip exactly at the cap
        (30, 10, Fees(28, 3), Fees(28, 3)),
        (30, 10, Fees(30, 3), Fees(30, 3)),
        (30, 1, Fees(5, 29), Fees(30, 29)),
    ],
)
def test_fees_are_the_market_or_the_replacements_within_the_cap(
    offline: Chain, cap: int | None, base: int, at_least: Fees | None, fees: Fees
):
    assert manager_of(offline, cap=cap).fees_for(base, at_least=at_least) == fees


@pytest.mark.parametrize(
    ("cap", "base", "at_least", "required"),
    [
        (12, 10, None, 13),  # the base fee and the tip alone are over the cap
        (30, 10, Fees(31, 3), 31),  # the least replacement is over it
        (24, 10, Fees(25, 3), 25),
        (30, 1, Fees(5, 30), 31),  # the base fee plus the replacement's tip
    ],
)
def test_fees_over_the_cap_are_refused_with_what_they_would_need(
    offline: Chain, cap: int, base: int, at_least: Fees | None, required: int
):
    with pytest.raises(FeeCapExceededError) as caught:
        manager_of(offline, cap=cap).fees_for(base, at_least=at_least)
    assert (caught.value.required_wei, caught.value.cap_wei, caught.value.base_fee) == (required, cap, base)


def test_a_manager_shows_its_chain_and_signer_never_a_key(offline: Chain):
    signer = Signer.create()
    manager = TransactionManager(offline, signer)
    assert repr(manager) == f"TransactionManager(Chain('embedded'), {signer!r})"
    assert signer.address in repr(manager)


def test_a_tip_given_is_the_tip_used(offline: Chain):
    manager = manager_of(offline, tip=3)
    assert manager.fees_for(10, tip=5) == Fees(25, 5)
    assert manager.fees_for(10, tip=0) == Fees(20, 0)
    assert manager.tip() == 3


def test_without_a_tip_in_the_policy_the_node_suggests_it(chain: Chain):
    manager = TransactionManager(chain, Signer.create())
    try:
        suggested = int(chain.w3.eth.max_priority_fee)
    except (ValueError, NotImplementedError):
        suggested = GWEI  # a node without the method: 1 gwei
    assert manager.tip() == suggested
    assert manager.fees_for(7) == Fees(14 + suggested, suggested)


# ----------------------------------------------------------------------------------------------------------------
# What is signed
# ----------------------------------------------------------------------------------------------------------------


def fields(signed: SignedTx) -> dict[str, object]:
    """The signed transaction's fields, read back from its raw bytes."""
    decoded = TypedTransaction.from_bytes(HexBytes(signed.raw)).as_dict()
    return {key: decoded[key] for key in ("type", "chainId", "nonce", "to", "data", "value", "gas")} | {
        "fees": Fees(decoded["maxFeePerGas"], decoded["maxPriorityFeePerGas"])
    }


def test_sign_at_signs_exactly_the_call_nonce_gas_and_fees_given(deployment: Deployment):
    chain, alice = deployment.chain, deployment.alice
    manager = TransactionManager(chain, alice)
    call: TxParams = {"to": deployment.bob.address, "data": b"\x01\x02", "value": Wei(7)}
    signed = manager.sign_at(call, nonce=41, gas=50_000, fees=Fees(9 * GWEI, GWEI))
    assert (signed.nonce, signed.sender, signed.gas, signed.fees) == (41, alice.address, 50_000, Fees(9 * GWEI, GWEI))
    assert signed.tx_hash == "0x" + keccak(signed.raw).hex()
    assert fields(signed) == {
        "type": 2,
        "chainId": chain.chain_id,
        "nonce": 41,
        "to": bytes.fromhex(deployment.bob.address[2:]),
        "data": b"\x01\x02",
        "value": 7,
        "gas": 50_000,
        "fees": Fees(9 * GWEI, GWEI),
    }
    plain = manager.sign_at({"to": deployment.bob.address}, nonce=0, gas=21_000, fees=Fees(2, 1))
    assert (fields(plain)["data"], fields(plain)["value"]) == (b"", 0)


def test_sign_many_estimates_what_has_no_gas_and_signs_every_field(deployment: Deployment):
    chain = deployment.chain
    signer = funded(chain)
    manager = TransactionManager(chain, signer, fees=FeePolicy(max_priority_fee_per_gas=2, gas_headroom=1.5))
    award: TxParams = {
        "to": deployment.client.address,
        "data": deployment.client.award_calldata(make_award(signer.address)),
    }
    send: TxParams = {"to": deployment.bob.address, "value": Wei(5)}
    estimate = chain.w3.eth.estimate_gas({**send, "from": signer.address})
    signed = manager.sign_many([award, send, send], gas=[90_000, None, 40_000])
    start = nonce(chain, signer)
    max_fee, tip = manager.current_fees()
    assert [s.gas for s in signed] == [90_000, int(estimate * 1.5), 40_000]
    assert [fields(s)["nonce"] for s in signed] == [start, start + 1, start + 2]
    assert [s.nonce for s in signed] == [start, start + 1, start + 2]
    assert {s.fees for s in signed} == {Fees(max_fee, tip)}
    assert [fields(s)["gas"] for s in signed] == [s.gas for s in signed]
    assert {fields(s)["fees"] for s in signed} == {Fees(max_fee, tip)}
    assert [fields(s)["value"] for s in signed] == [0, 5, 5]
    assert [fields(s)["data"] for s in signed] == [award["data"], b"", b""]  # a call without data is signed with none
    assert {fields(s)["chainId"] for s in signed} == {chain.chain_id}
    assert all(s.tx_hash == "0x" + keccak(s.raw).hex() and s.sender == signer.address for s in signed)


def test_a_call_that_would_revert_is_refused_before_any_nonce_is_taken(deployment: Deployment):
    outsider = deployment.outsider  # no minter role
    manager = KudosClient(deployment.chain, deployment.client.address, signer=outsider).manager()
    award: TxParams = {
        "to": deployment.client.address,
        "data": deployment.client.award_calldata(make_award(outsider.address)),
    }
    with pytest.raises(MissingRoleError) as caught:
        manager.sign_many([{"to": outsider.address, "value": Wei(1)}, award])
    assert caught.value.__cause__ is None
    first = manager.sign_many([{"to": outsider.address, "value": Wei(1)}])
    assert first[0].nonce == nonce(deployment.chain, outsider)


def test_an_error_that_is_not_a_revert_is_a_transaction_error_in_the_nodes_words(deployment: Deployment):
    manager = TransactionManager(deployment.chain, deployment.alice)
    refused = manager._as_error(ValueError("gas required exceeds allowance"))
    assert type(refused) is TransactionError
    assert str(refused) == "the node refused the transaction: gas required exceeds allowance"
    reverted = manager._as_error(ContractLogicError("execution reverted", data="0x"))
    assert type(reverted) is ContractRevertError
    assert (reverted.error_name, reverted.error_args) == ("unknown", {})
    assert str(reverted) == "the contract reverted: execution reverted"


# ----------------------------------------------------------------------------------------------------------------
# Sending and waiting
# ----------------------------------------------------------------------------------------------------------------


def test_send_says_for_each_transaction_what_the_node_made_of_it(deployment: Deployment):
    chain = deployment.chain
    signer = funded(chain)
    manager = TransactionManager(chain, signer)
    fees = Fees(*manager.current_fees())
    to: TxParams = {"to": deployment.bob.address, "value": Wei(1)}
    first = manager.sign_at(to, nonce=0, gas=21_000, fees=fees)
    assert manager.send([first]) == [(SendOutcome.SENT, "")]
    manager.wait_many([first.tx_hash])
    again = manager.sign_at({**to, "value": Wei(2)}, nonce=0, gas=21_000, fees=fees)  # nonce 0 is used now
    poor = TransactionManager(chain, Signer.create()).sign_at(to, nonce=0, gas=21_000, fees=fees)  # no funds
    nxt = manager.sign_at(to, nonce=1, gas=21_000, fees=fees)
    outcomes = manager.send([again, poor, nxt])
    assert [outcome for outcome, _ in outcomes] == [SendOutcome.NONCE_USED, SendOutcome.NO_FUNDS, SendOutcome.SENT]
    assert all(message for _, message in outcomes[:2])
    assert outcomes[2] == (SendOutcome.SENT, "")
    assert manager.wait_many([nxt.tx_hash])[0].status == 1


def test_send_broadcasts_the_raw_bytes_stored_from_a_signed_transaction_as_it_was_signed(deployment: Deployment):
    """What an outbox stored (a transaction's raw bytes) is broadcast again without being turned back into a
    :class:`SignedTx`, alongside ones that are: the node gets the very transaction that was signed."""
    chain = deployment.chain
    signer = funded(chain)
    manager = TransactionManager(chain, signer)
    fees = Fees(*manager.current_fees())
    to: TxParams = {"to": deployment.bob.address, "value": Wei(1)}
    first = manager.sign_at(to, nonce=0, gas=21_000, fees=fees)
    nxt = manager.sign_at(to, nonce=1, gas=21_000, fees=fees)
    assert manager.send([bytes(first.raw), nxt]) == [(SendOutcome.SENT, ""), (SendOutcome.SENT, "")]
    receipts = manager.wait_many([first.tx_hash, nxt.tx_hash])
    assert [r.status for r in receipts] == [1, 1]
    again = manager.sign_at({**to, "value": Wei(2)}, nonce=0, gas=21_000, fees=fees)
    ((outcome, message),) = manager.send([bytes(again.raw)])  # refused as a SignedTx would be: nonce 0 is used
    assert outcome is SendOutcome.NONCE_USED
    assert message


def test_a_refused_broadcast_names_the_transaction_and_the_nodes_words(deployment: Deployment):
    chain = deployment.chain
    signer = funded(chain)
    manager = TransactionManager(chain, signer)
    fees = Fees(*manager.current_fees())
    poor = TransactionManager(chain, Signer.create())
    unpaid = poor.sign_at({"to": signer.address, "value": Wei(1)}, nonce=0, gas=21_000, fees=fees)
    with pytest.raises(TransactionError) as caught:
        poor.broadcast_many([unpaid])
    assert str(caught.value).startswith(f"the node refused transaction {unpaid.tx_hash}: ")
    words = str(caught.value).partition(": ")[2]
    assert classify_refusal(words) is SendOutcome.NO_FUNDS
    assert caught.value.__cause__ is None


def test_waiting_returns_each_receipt_in_the_order_asked_even_repeated(deployment: Deployment):
    chain = deployment.chain
    signer = funded(chain)
    manager = TransactionManager(chain, signer, poll_interval=0.01)
    signed = manager.sign_many([{"to": deployment.bob.address, "value": Wei(v)} for v in (1, 2)])
    hashes = manager.broadcast_many(signed)
    receipts = manager.wait_many([hashes[1], hashes[0], hashes[1]])
    assert [r.tx_hash for r in receipts] == [hashes[1], hashes[0], hashes[1]]
    assert all(r.status == 1 for r in receipts)


def test_waiting_gives_up_after_the_managers_own_timeout(deployment: Deployment):
    manager = TransactionManager(deployment.chain, deployment.alice, receipt_timeout=0.05, poll_interval=0.01)
    unknown = "0x" + "cd" * 32
    with pytest.raises(TransactionTimeoutError) as caught:
        manager.wait_many([unknown])
    assert (caught.value.tx_hash, caught.value.timeout) == (unknown, 0.05)


def test_transactions_are_sent_in_waves_that_fit_a_block(deployment: Deployment):
    manager = TransactionManager(deployment.chain, deployment.alice)
    block_gas = int(deployment.chain.w3.eth.get_block("latest")["gasLimit"])
    half = block_gas // 2

    def tx(gas: int) -> SignedTx:
        return SignedTx(HexStr("0x" + gas.to_bytes(32, "big").hex()), 0, deployment.alice.address, b"", gas)

    def gases(waves: list[list[SignedTx]]) -> list[list[int]]:
        return [[t.gas for t in wave] for wave in waves]

    assert gases(manager._waves([])) == [[]]
    assert gases(manager._waves([tx(block_gas * 2)])) == [[block_gas * 2]]
    assert gases(manager._waves([tx(half), tx(half), tx(1)])) == [[half, half], [1]]
    assert gases(manager._waves([tx(half + 1), tx(half), tx(half)])) == [[half + 1], [half, half]]
    assert gases(manager._waves([tx(block_gas), tx(block_gas)])) == [[block_gas], [block_gas]]
    assert gases(manager._waves([tx(block_gas - 1), tx(1), tx(2)])) == [[block_gas - 1, 1], [2]]
