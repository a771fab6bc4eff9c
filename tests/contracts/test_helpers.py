"""The revert helper itself: it must fail on the wrong error, the wrong arguments and on no revert at all."""

from __future__ import annotations

import pytest
from eth_abi.abi import encode
from eth_utils.crypto import keccak
from web3.exceptions import ContractCustomError

from .conftest import ZERO_ADDRESS, decode_revert, expect_revert, revert_data


def test_wrong_arguments_fail(kudos, accounts, award):
    a = award(accounts.alice)
    with pytest.raises(AssertionError), expect_revert("KudosSoulbound", a.token_id + 1):
        kudos.functions.approve(accounts.bob, a.token_id).transact({"from": accounts.alice})


def test_wrong_error_fails(kudos, accounts):
    with pytest.raises(AssertionError), expect_revert("ERC721NonexistentToken", 1):
        kudos.functions.award(ZERO_ADDRESS, 1, keccak(b"c"), keccak(b"r"), False).transact({"from": accounts.admin})


def test_no_revert_fails(kudos, accounts):
    with pytest.raises(pytest.fail.Exception), expect_revert("EnforcedPause"):
        kudos.functions.pause().transact({"from": accounts.admin})


def test_unknown_error_name_or_arity_is_a_test_bug():
    with pytest.raises(ValueError, match="not a custom error"), expect_revert("NoSuchError"):
        pass
    with pytest.raises(ValueError, match="takes 1 arguments"), expect_revert("KudosSoulbound"):
        pass


def test_revert_data_from_a_json_rpc_custom_error(kudos):
    """Against a JSON-RPC node web3 raises ContractCustomError with the data in hex; the helper reads it too."""
    data = keccak(text="KudosSoulbound(uint256)")[:4] + encode(["uint256"], [7])
    error = ContractCustomError("0x" + data.hex(), data="0x" + data.hex())
    assert revert_data(error) == data
    assert decode_revert(kudos.abi, data) == ("KudosSoulbound", (7,))


def test_trailing_data_is_refused(kudos):
    data = keccak(text="KudosEmptyBatch()")[:4] + b"\x00" * 32
    with pytest.raises(AssertionError, match="trailing"):
        decode_revert(kudos.abi, data)
