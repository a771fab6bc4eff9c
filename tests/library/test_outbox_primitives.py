"""What an outbox builds on, on both chains: fees for a replacement, signing at a given nonce, sending without
raising, what a node's refusal means, and the typed events of a receipt and of request ids."""

from __future__ import annotations

import pytest

from kudos_chain import FeeCapExceededError, FeePolicy, Fees, KudosClient, SendOutcome, TransactionManager
from kudos_chain.client import request_id_bytes, revoke_calldata
from kudos_chain.transactions import classify_refusal

from .conftest import Deployment
from .helpers import make_award, nonce

GWEI = 10**9


def test_a_replacement_bumps_both_fees_by_at_least_ten_percent():
    assert Fees(100, 10).bumped() == Fees(110, 11)
    assert Fees(1, 1).bumped() == Fees(2, 2)  # rounding never leaves a fee where it was
    assert Fees(3_000_000_001, 1_000_000_001).bumped() == Fees(3_300_000_002, 1_100_000_002)


def test_fees_for_a_replacement_are_the_market_or_the_bump_whichever_is_higher(deployment: Deployment):
    manager = TransactionManager(deployment.chain, deployment.admin, fees=FeePolicy(max_priority_fee_per_gas=GWEI))
    low = manager.fees_for(10 * GWEI, at_least=Fees(5 * GWEI, GWEI).bumped())
    assert low == Fees(21 * GWEI, int(1.1 * GWEI))  # the market (2 x base + tip) is above the bump; the tip is bumped
    high = manager.fees_for(GWEI, at_least=Fees(100 * GWEI, 2 * GWEI).bumped())
    assert high == Fees(110 * GWEI, int(2.2 * GWEI))


def test_a_replacement_above_the_cap_is_refused_in_words(deployment: Deployment):
    capped = TransactionManager(
        deployment.chain, deployment.admin, fees=FeePolicy(max_fee_per_gas=30 * GWEI, max_priority_fee_per_gas=GWEI)
    )
    with pytest.raises(FeeCapExceededError) as spike:
        capped.fees_for(41 * GWEI)
    assert str(spike.value) == "base fee 41 gwei is above the cap of 30 gwei"
    with pytest.raises(FeeCapExceededError) as bump:
        capped.fees_for(GWEI, at_least=Fees(29 * GWEI, GWEI).bumped())
    assert bump.value.required_wei == int(29 * GWEI * 1.1)
    assert "above the cap of 30 gwei" in str(bump.value)
    assert capped.fees_for(10 * GWEI) == Fees(21 * GWEI, GWEI)  # under the cap: as without one
    assert capped.fees_for(20 * GWEI) == Fees(30 * GWEI, GWEI)  # 2 x base + tip is over it: the cap


@pytest.mark.parametrize(
    ("message", "outcome"),
    [
        ("already known", SendOutcome.SENT),
        ("transaction already imported", SendOutcome.SENT),
        ("nonce too low: next nonce 7, tx nonce 5", SendOutcome.NONCE_USED),
        ("replacement transaction underpriced", SendOutcome.UNDERPRICED),
        ("max fee per gas less than block base fee", SendOutcome.UNDERPRICED),
        ("insufficient funds for gas * price + value", SendOutcome.NO_FUNDS),
        ("Invalid transaction nonce: Expected 4, but got 2", SendOutcome.NONCE_USED),  # py-evm's words
        ("Invalid transaction nonce: Expected 4, but got 6", SendOutcome.REFUSED),  # a gap: not used yet
        ("exceeds block gas limit", SendOutcome.REFUSED),
    ],
)
def test_a_nodes_refusal_is_classified(message: str, outcome: SendOutcome):
    assert classify_refusal(message) is outcome


def test_a_transaction_signed_at_a_nonce_is_sent_and_its_replacement_mined_once(fresh: Deployment):
    """Sign at the chain's next nonce, then sign the same call again at that nonce with higher fees: the node
    takes one of them, and a nonce mined cannot be used again."""
    manager = TransactionManager(fresh.chain, fresh.admin)
    call = {"to": fresh.client.address, "data": fresh.client.award_calldata(make_award(fresh.bob.address))}
    start = nonce(fresh.chain, fresh.admin)
    fees = manager.fees_for(int(fresh.chain.w3.eth.get_block("latest").get("baseFeePerGas") or 0))
    first = manager.sign_at(call, nonce=start, gas=500_000, fees=fees)  # type: ignore[arg-type]
    second = manager.sign_at(call, nonce=start, gas=500_000, fees=fees.bumped())  # type: ignore[arg-type]
    assert (first.nonce, second.nonce) == (start, start)
    assert first.tx_hash != second.tx_hash
    assert second.fees == fees.bumped()
    (sent,) = manager.send([first])
    assert sent[0] is SendOutcome.SENT
    manager.wait_many([first.tx_hash])
    (again,) = manager.send([second])  # its nonce is mined: refused, and said so without raising
    assert again[0] is SendOutcome.NONCE_USED, again
    assert nonce(fresh.chain, fresh.admin) == start + 1
    assert fresh.chain.mined_nonce(fresh.admin.address) == start + 1


def test_award_events_are_read_from_receipts_and_by_request_id(fresh: Deployment):
    client: KudosClient = fresh.client
    awards = [make_award(fresh.bob.address), make_award(fresh.alice.address)]
    results = client.award_batch(awards)
    (receipt,) = client.chain.receipts_many([results[0].tx_hash])
    assert receipt is not None
    assert receipt.block_hash == client.chain.block_hashes([receipt.block_number])[receipt.block_number]
    events = client.award_events_in(receipt)
    assert [e.request_id for e in events] == [request_id_bytes(a.request_id) for a in awards]
    assert [e.token_id for e in events] == [r.token_id for r in results]
    assert [e.content_hash for e in events] == [a.content_hash for a in awards]
    found = client.awards_by_request_id([awards[1].request_id, "never-awarded"])
    assert list(found) == [request_id_bytes(awards[1].request_id)]
    assert found[request_id_bytes(awards[1].request_id)].token_id == results[1].token_id
    transfers = [t for t in map(client.transfer_event, receipt.logs) if t is not None]
    assert [(t.token_id, t.to) for t in transfers] == [(r.token_id, r.recipient) for r in results]
    assert all(client.award_event(log) is None for log in receipt.logs if client.transfer_event(log) is not None)


def test_revoke_calldata_is_what_the_client_sends(fresh: Deployment):
    client = fresh.client
    (result,) = client.award_batch([make_award(fresh.bob.address)])
    receipt = client.manager().transact({"to": client.address, "data": revoke_calldata(result.token_id, 1)})
    assert receipt.status == 1
    assert client.kudos_many([result.token_id]) == [None]
