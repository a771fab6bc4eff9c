"""Every custom error of KudosToken arrives as its exception: on both chains where the contract can raise it, and
from hand-built revert data in RevertDecoder for the rest (and for panics, reason strings and unknown data)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from eth_abi.abi import encode
from eth_tester.exceptions import TransactionFailed
from eth_utils.address import to_checksum_address
from eth_utils.crypto import keccak
from web3.exceptions import ContractCustomError, Web3RPCError

from kudos_chain import (
    Chain,
    ContractNotPausedError,
    ContractPausedError,
    ContractRevertError,
    InvalidAdminError,
    InvalidBatchError,
    InvalidRecipientError,
    KudosClient,
    KudosError,
    MissingRoleError,
    NotTokenOwnerError,
    SoulboundError,
    TokenNotFoundError,
    TransactionError,
    load_artifact,
)
from kudos_chain.chain import revert_data
from kudos_chain.exceptions import _ERROR_CLASSES, RevertDecoder

from .conftest import BASE_URI, Deployment, NewSigner
from .helpers import ZERO_ADDRESS, award

ABI_ERRORS = {e["name"]: e for e in load_artifact().abi if e["type"] == "error"}
MINTER_ROLE = keccak(text="MINTER_ROLE")
ALICE = to_checksum_address("0x1eff47bc3a10a45d4b230b5d10e37751fe6aa718")


def selector(name: str) -> bytes:
    types = ",".join(i["type"] for i in ABI_ERRORS[name]["inputs"])
    return keccak(text=f"{name}({types})")[:4]


def revert(name: str, *args: Any) -> bytes:
    """The revert data of the contract's custom error ``name`` with ``args``."""
    return selector(name) + encode([i["type"] for i in ABI_ERRORS[name]["inputs"]], list(args))


def calldata(signature: str, *args: Any) -> bytes:
    types = signature[signature.index("(") + 1 : -1]
    return keccak(text=signature)[:4] + encode([t for t in types.split(",") if t], list(args))


# ----------------------------------------------------------------------------------------------------------------
# On chain: each error the contract can raise, through the public API
# ----------------------------------------------------------------------------------------------------------------


def raised(action: Callable[[], object]) -> ContractRevertError:
    with pytest.raises(ContractRevertError) as caught:
        action()
    return caught.value


def test_access_control_unauthorized_account_is_missing_role_error(deployment: Deployment):
    outsider = deployment.outsider
    as_outsider = KudosClient(deployment.chain, deployment.client.address, signer=outsider)
    error = raised(lambda: award(as_outsider, outsider.address))
    assert type(error) is MissingRoleError
    assert error.error_name == "AccessControlUnauthorizedAccount"
    assert error.error_args == {"account": outsider.address, "neededRole": MINTER_ROLE}
    assert (error.account, error.role) == (outsider.address, "MINTER_ROLE")
    assert str(error) == f"{outsider.address} does not have the MINTER_ROLE"


def test_enforced_pause_and_expected_pause(fresh: Deployment):
    client = fresh.client
    not_paused = raised(client.unpause)
    assert type(not_paused) is ContractNotPausedError
    assert (not_paused.error_name, not_paused.error_args) == ("ExpectedPause", {})
    client.pause()
    paused = raised(lambda: award(client, fresh.alice.address))
    assert type(paused) is ContractPausedError
    assert (paused.error_name, paused.error_args) == ("EnforcedPause", {})
    assert str(paused) == "the contract is paused"


def test_kudos_soulbound_from_a_transfer_and_an_approval(deployment: Deployment):
    client, alice = deployment.client, deployment.alice
    token_id = award(client, alice.address)
    error = raised(lambda: client.transfer(token_id, deployment.bob.address, owner=alice))
    assert type(error) is SoulboundError
    assert (error.error_name, error.error_args, error.token_id) == ("KudosSoulbound", {"tokenId": token_id}, token_id)
    approve = calldata("approve(address,uint256)", deployment.bob.address, token_id)
    error = raised(lambda: client.manager(alice).transact({"to": client.address, "data": approve}))
    assert type(error) is SoulboundError


def test_erc721_nonexistent_token_is_token_not_found(deployment: Deployment):
    error = raised(lambda: deployment.client.revoke(10**9))
    assert type(error) is TokenNotFoundError
    assert (error.error_name, error.token_id) == ("ERC721NonexistentToken", 10**9)
    assert str(error) == f"kudos {10**9} does not exist"


@pytest.mark.parametrize("view", ["ownerOf(uint256)", "getApproved(uint256)"])
def test_solady_token_does_not_exist_from_a_view(deployment: Deployment, view: str):
    client = deployment.client
    (answer,) = deployment.chain.call_many([(client.address, calldata(view, 10**9))])
    assert isinstance(answer, Exception)
    error = client.decoder.decode(revert_data(answer))
    assert type(error) is TokenNotFoundError
    assert (error.error_name, error.token_id) == ("TokenDoesNotExist", None)
    assert str(error) == "the kudos does not exist"


def test_erc721_invalid_receiver_and_transfer_to_zero_address_are_invalid_recipient(deployment: Deployment):
    client, alice = deployment.client, deployment.alice
    error = raised(lambda: award(client, ZERO_ADDRESS))
    assert type(error) is InvalidRecipientError
    assert (error.error_name, error.recipient) == ("ERC721InvalidReceiver", ZERO_ADDRESS)
    token_id = award(client, alice.address, transferable=True)
    error = raised(lambda: client.transfer(token_id, ZERO_ADDRESS, owner=alice))
    assert type(error) is InvalidRecipientError
    assert (error.error_name, error.error_args) == ("TransferToZeroAddress", {})


def test_the_three_ownership_errors_are_not_token_owner(deployment: Deployment):
    client, alice, bob = deployment.client, deployment.alice, deployment.bob
    token_id = award(client, alice.address, transferable=True)

    burn = raised(lambda: client.burn(token_id, owner=bob))
    assert type(burn) is NotTokenOwnerError
    assert burn.error_name == "ERC721IncorrectOwner"
    assert burn.error_args == {"sender": bob.address, "tokenId": token_id, "owner": alice.address}
    assert burn.token_id == token_id

    wrong_owner = raised(lambda: client.transfer(token_id, bob.address, owner=bob))
    assert type(wrong_owner) is NotTokenOwnerError
    assert (wrong_owner.error_name, wrong_owner.token_id) == ("TransferFromIncorrectOwner", None)

    steal = calldata("transferFrom(address,address,uint256)", alice.address, bob.address, token_id)
    not_approved = raised(lambda: client.manager(bob).transact({"to": client.address, "data": steal}))
    assert type(not_approved) is NotTokenOwnerError
    assert not_approved.error_name == "NotOwnerNorApproved"
    assert client.kudos(token_id).owner == alice.address


def test_the_batch_errors_are_invalid_batch(deployment: Deployment):
    client = deployment.client
    empty = client.award_batch_calldata([])
    error = raised(lambda: client.manager().transact({"to": client.address, "data": empty}))
    assert type(error) is InvalidBatchError
    assert (error.error_name, str(error)) == ("KudosEmptyBatch", "a batch award needs at least one recipient")

    mismatch = calldata(
        "awardBatch(address[],uint32[],bytes32[],bytes32[],bool[])",
        [deployment.alice.address, deployment.bob.address],
        [1],
        [b"\x01" * 32] * 2,
        [b"\x02" * 32] * 3,
        [False] * 2,
    )
    error = raised(lambda: client.manager().transact({"to": client.address, "data": mismatch}))
    assert type(error) is InvalidBatchError
    assert error.error_name == "KudosBatchLengthMismatch"
    assert error.error_args == {"recipients": 2, "kinds": 1, "contentHashes": 2, "requestIds": 3, "transferables": 2}


def test_kudos_invalid_admin_is_invalid_admin(chain: Chain, new_signer: NewSigner):
    deployer = new_signer()
    with pytest.raises(InvalidAdminError) as caught:
        KudosClient.deploy(chain, deployer, admin=ZERO_ADDRESS, base_uri=BASE_URI)
    assert caught.value.error_name == "KudosInvalidAdmin"
    assert caught.value.error_args == {"admin": ZERO_ADDRESS}
    assert chain.w3.eth.get_transaction_count(deployer.address) == 0


def test_an_error_without_a_class_of_its_own_is_a_contract_revert_error(deployment: Deployment):
    client = deployment.client
    error = raised(lambda: client.balance_of(ZERO_ADDRESS))
    assert type(error) is ContractRevertError
    assert (error.error_name, error.error_args) == ("BalanceQueryForZeroAddress", {})
    assert str(error) == "the contract reverted with BalanceQueryForZeroAddress()"

    renounce = calldata("renounceRole(bytes32,address)", MINTER_ROLE, deployment.admin.address)
    error = raised(lambda: client.manager(deployment.alice).transact({"to": client.address, "data": renounce}))
    assert type(error) is ContractRevertError
    assert error.error_name == "AccessControlBadConfirmation"


def test_every_error_class_is_a_transaction_error_and_a_kudos_error():
    for cls in set(_ERROR_CLASSES.values()):
        assert issubclass(cls, ContractRevertError)
        assert issubclass(cls, TransactionError)
        assert issubclass(cls, KudosError)


# ----------------------------------------------------------------------------------------------------------------
# RevertDecoder, from hand-built revert data
# ----------------------------------------------------------------------------------------------------------------

SAMPLE = {"address": ALICE, "uint256": 7, "bytes32": MINTER_ROLE}


@pytest.fixture(scope="module")
def decoder() -> RevertDecoder:
    return RevertDecoder(load_artifact().abi)


def test_every_mapped_error_is_an_error_of_the_abi():
    assert set(_ERROR_CLASSES) <= set(ABI_ERRORS)


@pytest.mark.parametrize("name", sorted(_ERROR_CLASSES))
def test_the_decoder_maps_each_error_to_its_class(decoder: RevertDecoder, name: str):
    inputs = ABI_ERRORS[name]["inputs"]
    args = [SAMPLE[i["type"]] for i in inputs]
    error = decoder.decode(revert(name, *args))
    assert type(error) is _ERROR_CLASSES[name]
    assert error.error_name == name
    assert error.error_args == {i["name"]: a for i, a in zip(inputs, args, strict=True)}
    assert str(error)
    assert decoder.decode("0x" + revert(name, *args).hex()) is not None
    assert type(decoder.decode(revert(name, *args).hex())) is _ERROR_CLASSES[name]


def test_the_decoder_checksums_addresses(decoder: RevertDecoder):
    error = decoder.decode(revert("ERC721InvalidReceiver", ALICE.lower()))
    assert isinstance(error, InvalidRecipientError)
    assert error.recipient == ALICE


@pytest.mark.parametrize(
    ("role", "name"),
    [
        (b"\x00" * 32, "DEFAULT_ADMIN_ROLE"),
        (keccak(text="PAUSER_ROLE"), "PAUSER_ROLE"),
        (b"\x12" * 32, "0x" + "12" * 32),
    ],
)
def test_missing_role_names_the_role(decoder: RevertDecoder, role: bytes, name: str):
    error = decoder.decode(revert("AccessControlUnauthorizedAccount", ALICE, role))
    assert isinstance(error, MissingRoleError)
    assert error.role == name


def test_an_abi_error_without_a_class_keeps_its_name_and_arguments(decoder: RevertDecoder):
    error = decoder.decode(revert("ERC721InsufficientApproval", ALICE, 5))
    assert type(error) is ContractRevertError
    assert error.error_name == "ERC721InsufficientApproval"
    assert error.error_args == {"operator": ALICE, "tokenId": 5}
    assert str(error) == f"the contract reverted with ERC721InsufficientApproval(operator={ALICE}, tokenId=5)"


def test_a_panic_and_a_reason_string(decoder: RevertDecoder):
    panic = decoder.decode(keccak(text="Panic(uint256)")[:4] + encode(["uint256"], [0x11]))
    assert type(panic) is ContractRevertError
    assert (panic.error_name, panic.error_args, str(panic)) == (
        "Panic",
        {"code": 0x11},
        "the contract panicked with code 0x11",
    )
    reason = decoder.decode(keccak(text="Error(string)")[:4] + encode(["string"], ["nope"]))
    assert type(reason) is ContractRevertError
    assert (reason.error_name, reason.error_args, str(reason)) == (
        "Error",
        {"reason": "nope"},
        "the contract reverted: nope",
    )


def test_unknown_data_is_kept_and_nothing_is_none(decoder: RevertDecoder):
    unknown = decoder.decode(b"\xde\xad\xbe\xef\x01")
    assert type(unknown) is ContractRevertError
    assert unknown.error_name == "unknown"
    assert unknown.error_args == {"data": "0xdeadbeef01"}
    for nothing in (None, b"", b"\x01\x02\x03", "0x", "0x123", "not hex"):
        assert decoder.decode(nothing) is None


# ----------------------------------------------------------------------------------------------------------------
# revert_data: where each provider puts the revert data
# ----------------------------------------------------------------------------------------------------------------


def test_revert_data_from_web3_errors_and_rpc_answers():
    data = "0x" + revert("KudosSoulbound", 3).hex()
    assert revert_data(ContractCustomError(data, data=data)) == data
    answer = {"jsonrpc": "2.0", "id": 1, "error": {"code": 3, "message": "execution reverted", "data": data}}
    assert revert_data(Web3RPCError("execution reverted", rpc_response=answer)) == data  # type: ignore[arg-type]
    nested = {"jsonrpc": "2.0", "id": 1, "error": {"code": 3, "message": "reverted", "data": {"data": data}}}
    assert revert_data(Web3RPCError("reverted", rpc_response=nested)) == data  # type: ignore[arg-type]
    assert revert_data(ValueError("no data")) is None


def test_revert_data_from_eth_tester_failures():
    raw = revert("KudosSoulbound", 3)
    assert revert_data(TransactionFailed(raw)) == "0x" + raw.hex()
    assert revert_data(TransactionFailed(f"execution reverted: {raw!r}")) == "0x" + raw.hex()
    assert revert_data(TransactionFailed("execution reverted: a reason string")) is None
    assert revert_data(TransactionFailed("execution reverted: b'unterminated")) is None
    assert revert_data(TransactionFailed("something else")) is None
