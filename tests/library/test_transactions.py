"""TransactionManager on both chains: fees under a cap, local nonces, sign now and broadcast later, failures."""

from __future__ import annotations

import pytest
from web3.types import TxParams, Wei

from kudos_chain import (
    FeeCapExceededError,
    FeePolicy,
    KudosClient,
    MissingRoleError,
    TransactionError,
    TransactionFailedError,
    TransactionManager,
    TransactionTimeoutError,
)

from .conftest import Deployment
from .helpers import award, make_award, nonce

GWEI = 10**9


def base_fee(deployment: Deployment) -> int:
    return int(deployment.chain.w3.eth.get_block("latest").get("baseFeePerGas") or 0)


def award_call(deployment: Deployment) -> TxParams:
    return {
        "to": deployment.client.address,
        "data": deployment.client.award_calldata(make_award(deployment.bob.address)),
    }


# ----------------------------------------------------------------------------------------------------------------
# Fees
# ----------------------------------------------------------------------------------------------------------------


def test_a_fee_cap_below_the_base_fee_refuses_before_taking_a_nonce(deployment: Deployment):
    chain, admin = deployment.chain, deployment.admin
    base = base_fee(deployment)
    assert base > 0
    cap = base // 2
    capped = KudosClient(chain, deployment.client.address, signer=admin, fees=FeePolicy(cap, GWEI))
    start = nonce(chain, admin)
    with pytest.raises(FeeCapExceededError) as caught:
        award(capped, deployment.alice.address)
    assert caught.value.cap_wei == cap
    assert caught.value.required_wei >= GWEI + cap
    assert f"above the cap of {cap / 10**9:.9g} gwei" in str(caught.value)
    assert nonce(chain, admin) == start
    award(deployment.client, deployment.alice.address)  # the uncapped manager's nonces are intact
    assert nonce(chain, admin) == start + 1


def test_a_fee_cap_between_base_fee_and_the_default_max_fee_is_the_max_fee(deployment: Deployment):
    chain, alice = deployment.chain, deployment.alice
    tip = 2
    base = base_fee(deployment)
    cap = 2 * base + tip - 1  # below the default of twice the base fee plus the tip, above base fee plus tip
    manager = TransactionManager(chain, alice, fees=FeePolicy(max_fee_per_gas=cap, max_priority_fee_per_gas=tip))
    assert manager.current_fees() == (cap, tip)
    receipt = manager.transact({"to": alice.address, "value": Wei(1)})
    tx = chain.w3.eth.get_transaction(receipt.tx_hash)
    assert (tx["maxFeePerGas"], tx["maxPriorityFeePerGas"]) == (cap, tip)


def test_without_a_cap_the_max_fee_is_twice_the_base_fee_plus_the_tip(deployment: Deployment):
    manager = TransactionManager(deployment.chain, deployment.alice, fees=FeePolicy(max_priority_fee_per_gas=3))
    assert manager.current_fees() == (2 * base_fee(deployment) + 3, 3)
    max_fee, tip = TransactionManager(deployment.chain, deployment.alice).current_fees()
    assert max_fee >= 2 * base_fee(deployment) + tip
    assert 0 <= tip <= max_fee


# ----------------------------------------------------------------------------------------------------------------
# Nonces, signing and broadcasting
# ----------------------------------------------------------------------------------------------------------------


def test_signed_transactions_are_type_2_on_the_chain_id_with_consecutive_nonces(deployment: Deployment):
    chain, admin = deployment.chain, deployment.admin
    manager = deployment.client.manager()
    start = nonce(chain, admin)
    signed = manager.sign_many([award_call(deployment) for _ in range(3)])
    assert [s.nonce for s in signed] == [start, start + 1, start + 2]
    assert {s.sender for s in signed} == {admin.address}
    assert nonce(chain, admin) == start  # signed, not sent
    receipts = manager.wait_many(manager.broadcast_many(signed))
    assert [r.tx_hash for r in receipts] == [s.tx_hash for s in signed]
    for s in signed:
        tx = chain.w3.eth.get_transaction(s.tx_hash)
        assert (tx["type"], tx["chainId"], tx["nonce"], tx["from"]) == (2, chain.chain_id, s.nonce, admin.address)


def test_broadcasting_again_after_a_crash_is_safe(deployment: Deployment):
    chain, admin = deployment.chain, deployment.admin
    manager = deployment.client.manager()
    signed = manager.sign_many([award_call(deployment) for _ in range(2)])
    hashes = manager.broadcast_many(signed)
    manager.wait_many(hashes)
    total = deployment.client.total_awarded()
    start = nonce(chain, admin)

    assert manager.broadcast_many(signed) == hashes  # already mined: counted as sent
    assert [r.status for r in manager.wait_many(hashes)] == [1, 1]
    assert deployment.client.total_awarded() == total
    assert nonce(chain, admin) == start


def test_a_refused_transaction_raises_and_the_manager_asks_the_node_for_its_nonce_again(deployment: Deployment):
    chain, alice = deployment.chain, deployment.alice
    first, second = TransactionManager(chain, alice), TransactionManager(chain, alice)  # two managers: one too many
    mine = first.sign_many([{"to": alice.address, "value": Wei(1)}])
    clash = second.sign_many([{"to": alice.address, "value": Wei(2)}])
    assert mine[0].nonce == clash[0].nonce
    first.wait_many(first.broadcast_many(mine))
    with pytest.raises(TransactionError, match="refused") as caught:
        second.broadcast_many(clash)
    assert clash[0].tx_hash in str(caught.value)
    receipt = second.transact({"to": alice.address, "value": Wei(3)})  # resynced: the next nonce is the chain's
    assert chain.w3.eth.get_transaction(receipt.tx_hash)["nonce"] == mine[0].nonce + 1


def test_a_transaction_mined_with_status_0_is_replayed_for_its_reason(deployment: Deployment):
    outsider = deployment.outsider
    manager = KudosClient(deployment.chain, deployment.client.address, signer=outsider).manager()
    signed = manager.sign_many([award_call(deployment)], gas=[300_000])  # no estimate: the node accepts it
    hashes = manager.broadcast_many(signed)
    with pytest.raises(MissingRoleError) as caught:
        manager.wait_many(hashes)
    assert caught.value.account == outsider.address
    assert deployment.chain.w3.eth.get_transaction_receipt(hashes[0])["status"] == 0


def test_a_failure_without_a_reason_is_transaction_failed(deployment: Deployment):
    manager = deployment.client.manager()
    signed = manager.sign_many([award_call(deployment)], gas=[30_000])  # out of gas, yet fine when replayed
    with pytest.raises(TransactionFailedError) as caught:
        manager.wait_many(manager.broadcast_many(signed))
    assert caught.value.tx_hash == signed[0].tx_hash
    assert signed[0].tx_hash in str(caught.value)


def test_waiting_for_an_unknown_transaction_times_out(deployment: Deployment):
    manager = TransactionManager(deployment.chain, deployment.alice, poll_interval=0.01)
    unknown = "0x" + "ab" * 32
    with pytest.raises(TransactionTimeoutError) as caught:
        manager.wait_many([unknown], timeout=0.1)
    assert (caught.value.tx_hash, caught.value.timeout) == (unknown, 0.1)
    assert str(caught.value) == f"transaction {unknown} was not mined within 0.1 s"


def test_nothing_to_sign_is_nothing_sent(deployment: Deployment):
    manager = TransactionManager(deployment.chain, deployment.alice)
    assert manager.sign_many([]) == []
    assert manager.broadcast_many([]) == []
    assert manager.wait_many([]) == []
