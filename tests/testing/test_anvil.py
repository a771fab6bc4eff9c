"""AnvilNode, of kudos_chain.testing: it starts a node on a free port and ends its whole process group; and
find_anvil, which says which anvil it runs."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from eth_account import Account

from kudos_chain.testing import (
    ANVIL_ENV_VAR,
    DEFAULT_CHAIN_ID,
    AnvilError,
    AnvilNode,
    AnvilNotFoundError,
    find_anvil,
    free_port,
)
from kudos_chain.testing import _anvil as anvil_module

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
    node = AnvilNode(binary=tmp_path / "anvil")  # nothing is looked up before start
    with pytest.raises(AnvilError, match="anvil was not found") as raised:
        node.start()
    assert isinstance(raised.value, AnvilNotFoundError)
    assert not node.running


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


# ------------------------------------------------------------------------------------------------------------------
# find_anvil: the path given, KUDOS_ANVIL, a checkout's pinned anvil, PATH
# ------------------------------------------------------------------------------------------------------------------


def executable(path: Path) -> Path:
    """A stand-in anvil: an executable file (find_anvil never runs it)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("#!/bin/sh\nexit 0\n")
    path.chmod(0o755)
    return path


@pytest.fixture
def nowhere(tmp_path, monkeypatch):
    """No KUDOS_ANVIL, no checkout's anvil, an empty PATH directory (``tmp_path / "path"``)."""
    monkeypatch.delenv(ANVIL_ENV_VAR, raising=False)
    monkeypatch.setattr(anvil_module, "CHECKOUT_ANVIL", tmp_path / "checkout" / "anvil")
    (tmp_path / "path").mkdir()
    monkeypatch.setenv("PATH", str(tmp_path / "path"))
    return tmp_path


def test_the_path_given_comes_first(nowhere, monkeypatch):
    given = executable(nowhere / "given" / "anvil")
    monkeypatch.setenv(ANVIL_ENV_VAR, str(executable(nowhere / "env" / "anvil")))
    assert find_anvil(given) == given


def test_kudos_anvil_comes_before_the_checkout_and_path(nowhere, monkeypatch):
    executable(anvil_module.CHECKOUT_ANVIL)
    executable(nowhere / "path" / "anvil")
    monkeypatch.setenv(ANVIL_ENV_VAR, str(executable(nowhere / "env" / "anvil")))
    assert find_anvil() == nowhere / "env" / "anvil"


def test_a_checkouts_pinned_anvil_comes_before_path(nowhere):
    executable(nowhere / "path" / "anvil")
    pinned = executable(anvil_module.CHECKOUT_ANVIL)
    assert find_anvil() == pinned


def test_anvil_on_path_is_found_last(nowhere):
    on_path = executable(nowhere / "path" / "anvil")
    assert find_anvil() == on_path


def test_the_real_checkout_is_where_this_repository_installs_anvil():
    root = Path(__file__).resolve().parents[2]
    assert root / "contracts" / "node_modules" / ".bin" / "anvil" == anvil_module.CHECKOUT_ANVIL


@pytest.mark.parametrize("source", ["given", "env"])
def test_an_explicit_choice_that_is_not_there_is_an_error_not_a_fallback(nowhere, monkeypatch, source):
    executable(nowhere / "path" / "anvil")  # would be found, but was not asked for
    missing = nowhere / "missing" / "anvil"
    if source == "env":
        monkeypatch.setenv(ANVIL_ENV_VAR, str(missing))
    with pytest.raises(AnvilNotFoundError) as raised:
        find_anvil(missing if source == "given" else None)
    label = "the path given" if source == "given" else ANVIL_ENV_VAR
    assert f"{missing} ({label})" in str(raised.value)
    assert raised.value.tried == [f"{missing} ({label})"]


def test_a_file_that_cannot_be_executed_is_not_anvil(nowhere):
    (nowhere / "path" / "anvil").write_text("not a program")
    with pytest.raises(AnvilNotFoundError):
        find_anvil()


def test_nothing_found_names_every_place_tried_and_how_to_install(nowhere):
    with pytest.raises(AnvilNotFoundError) as raised:
        find_anvil()
    message = str(raised.value)
    assert message.startswith("anvil was not found (tried KUDOS_ANVIL (not set); ")
    assert f"{anvil_module.CHECKOUT_ANVIL} (run `npm ci --prefix contracts` in a checkout)" in message
    assert "; PATH)" in message
    assert "https://getfoundry.sh" in message
    assert "npm install @foundry-rs/anvil" in message
