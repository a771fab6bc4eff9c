"""Fixtures shared by every test suite, on top of the ones kudos-chain gives its users
(:mod:`kudos_chain.testing.plugin`, enabled here as a user enables it).

``anvil`` is the plugin's ``kudos_anvil``: one local anvil node for the whole session. Where anvil is not found
the tests that need it are skipped, except in CI (the ``CI`` environment variable set), where they fail
(``kudos_anvil_binary`` is overridden for that): CI runs both chains.

``chain`` runs a test once on each chain the library supports: the embedded py-evm chain and the anvil node
(over HTTP). Its ``dev_accounts`` are funded signers on both; the last one is the faucet of :func:`fund`, which
sends from it through the node (``eth_sendTransaction``), so a test that signs with the library should use
other accounts, or fresh ones (see ``tests/library/conftest.py``).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from web3.types import Wei

from kudos_chain import Chain, Signer
from kudos_chain.testing import AnvilNode, AnvilNotFoundError, find_anvil
from tests.utils.ci import tool_missing

pytest_plugins = ["kudos_chain.testing.plugin", "pytester"]  # pytester: tests/testing/test_plugin.py

CHAINS = ("embedded", "anvil")


@pytest.fixture(scope="session")
def kudos_anvil_binary() -> Path:
    """The plugin's, with this repository's rule for a missing tool: skipped here, failed in CI."""
    try:
        return find_anvil()
    except AnvilNotFoundError as exc:
        reason = str(exc)
    return tool_missing(reason)  # out of the except block: the message alone, no chained exception


@pytest.fixture(scope="session")
def anvil(kudos_anvil: AnvilNode) -> AnvilNode:
    """A local anvil node, started once per session, with its URL and its dev accounts' keys."""
    return kudos_anvil


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
