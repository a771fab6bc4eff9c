"""Fixtures shared by every test suite.

``anvil`` is one local anvil node for the whole session. Where anvil is not installed the tests that need it are
skipped, except in CI (the ``CI`` environment variable set), where they fail: CI runs both chains.

``chain`` runs a test once on each chain the library supports: the embedded py-evm chain and the anvil node
(over HTTP). Its ``dev_accounts`` are funded signers on both; the last one is the faucet of :func:`fund`, which
sends from it through the node (``eth_sendTransaction``), so a test that signs with the library should use
other accounts, or fresh ones (see ``tests/library/conftest.py``).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from web3.types import Wei

from kudos_chain import Chain, Signer
from tests.utils.anvil import ANVIL_BINARY, AnvilError, AnvilNode
from tests.utils.ci import tool_missing

CHAINS = ("embedded", "anvil")


@pytest.fixture(scope="session")
def anvil() -> Iterator[AnvilNode]:
    """A local anvil node, started once per session, with its URL and its dev accounts' keys."""
    if not ANVIL_BINARY.exists():
        tool_missing(f"anvil is not installed at {ANVIL_BINARY} (run `npm ci --prefix contracts`)")
    node = AnvilNode()
    try:
        node.start()
    except AnvilError as exc:
        pytest.fail(f"anvil did not start: {exc}", pytrace=False)
    try:
        yield node
    finally:
        node.stop()


@pytest.fixture(scope="session", params=CHAINS)
def chain(request: pytest.FixtureRequest) -> Chain:
    """Each chain in turn: ``embedded`` (py-evm in process) and ``anvil`` (a node over HTTP)."""
    if request.param == "embedded":
        return Chain.embedded()
    node: AnvilNode = request.getfixturevalue("anvil")
    connected = Chain.connect(node.url, chain_id=node.chain_id)
    connected.dev_accounts = [Signer.from_key(key) for key in node.private_keys]
    return connected


def fund(chain: Chain, address: str, wei: int = 10**20) -> None:
    """Send ``wei`` to ``address`` from the chain's faucet, its last dev account (unlocked on both chains)."""
    faucet = chain.dev_accounts[-1].address
    to = chain.w3.to_checksum_address(address)
    tx_hash = chain.w3.eth.send_transaction({"from": faucet, "to": to, "value": Wei(wei)})
    receipt = chain.w3.eth.wait_for_transaction_receipt(tx_hash, timeout=30)
    assert receipt["status"] == 1
