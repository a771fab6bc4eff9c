"""AnvilNode, the test and benchmark helper: it starts a node on a free port and ends its whole process group."""

from __future__ import annotations

import os

import pytest
from eth_account import Account

from tests.utils.anvil import DEFAULT_CHAIN_ID, AnvilError, AnvilNode, free_port

#: The first account of anvil's test mnemonic, "test test ... junk".
FIRST_DEV_ADDRESS = "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266"


def test_a_node_starts_answers_and_stops(anvil: AnvilNode):  # the session node proves anvil is installed
    node = AnvilNode(accounts=2, chain_id=4242)
    with node:
        assert node.running
        assert node.url.startswith("http://127.0.0.1:")
        assert node.port != anvil.port
        assert int(node.rpc("eth_chainId"), 16) == 4242
        assert len(node.private_keys) == 2
        assert Account.from_key(node.private_keys[0]).address == FIRST_DEV_ADDRESS
        pid = node._process.pid if node._process else None
    assert repr(node) == f"AnvilNode({node.url}, stopped)"
    assert pid is not None
    with pytest.raises(ProcessLookupError):
        os.killpg(pid, 0)  # the process group is gone


def test_the_session_node_uses_anvils_defaults(anvil: AnvilNode):
    assert anvil.chain_id == DEFAULT_CHAIN_ID
    assert len(anvil.private_keys) == 10
    assert Account.from_key(anvil.private_keys[0]).address == FIRST_DEV_ADDRESS


def test_a_missing_binary_is_an_anvil_error(tmp_path):
    with pytest.raises(AnvilError, match="not installed"):
        AnvilNode(binary=tmp_path / "anvil").start()


def test_an_rpc_error_is_an_anvil_error(anvil: AnvilNode):
    with pytest.raises(AnvilError, match="no_such_method"):
        anvil.rpc("no_such_method")


def test_a_node_on_a_fixed_port_starts_there_again(anvil: AnvilNode):
    port = free_port()
    node = AnvilNode(accounts=1, port=port)
    assert node.url == f"http://127.0.0.1:{port}"  # known before the node runs, as a client configured for it
    with node:
        node.rpc("evm_mine")
    with node:
        assert node.port == port
        assert int(node.rpc("eth_blockNumber"), 16) == 0  # a new node: state is kept only with --state
