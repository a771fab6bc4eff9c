"""KudosToken: deployment, roles, awards (single and batch), views, metadata and ERC-165."""

from __future__ import annotations

import json
from functools import reduce
from typing import Any

import pytest
from eth_utils.crypto import keccak

from kudos_chain import load_artifact

from .conftest import (
    BASE_URI,
    DEFAULT_ADMIN_ROLE,
    MAX_UINT256,
    MINTER_ROLE,
    NAME,
    PAUSER_ROLE,
    SYMBOL,
    ZERO_ADDRESS,
    batch_args,
    decode_events,
)

# ----------------------------------------------------------------------------------------------------------------
# Deployment and roles
# ----------------------------------------------------------------------------------------------------------------


def test_name_symbol_and_initial_state(kudos):
    assert kudos.functions.name().call() == NAME
    assert kudos.functions.symbol().call() == SYMBOL
    assert kudos.functions.totalAwarded().call() == 0
    assert kudos.functions.paused().call() is False


def test_role_constants(kudos):
    assert kudos.functions.DEFAULT_ADMIN_ROLE().call() == DEFAULT_ADMIN_ROLE
    assert kudos.functions.MINTER_ROLE().call() == MINTER_ROLE
    assert kudos.functions.PAUSER_ROLE().call() == PAUSER_ROLE
    for role in (MINTER_ROLE, PAUSER_ROLE, DEFAULT_ADMIN_ROLE):
        assert kudos.functions.getRoleAdmin(role).call() == DEFAULT_ADMIN_ROLE


def test_admin_holds_admin_minter_and_pauser_roles(kudos, accounts):
    for role in (DEFAULT_ADMIN_ROLE, MINTER_ROLE, PAUSER_ROLE):
        assert kudos.functions.hasRole(role, accounts.admin).call() is True
        for other in (accounts.minter, accounts.alice, accounts.outsider):
            assert kudos.functions.hasRole(role, other).call() is False


def test_deployment_emits_the_three_role_grants(kudos, deployment, accounts):
    _, receipt = deployment
    assert decode_events(kudos, receipt) == [
        ("RoleGranted", {"role": role, "account": accounts.admin, "sender": accounts.admin})
        for role in (DEFAULT_ADMIN_ROLE, MINTER_ROLE, PAUSER_ROLE)
    ]


def test_deployer_need_not_be_the_admin(chain, accounts):
    token, _ = chain.deploy(accounts.outsider, NAME, SYMBOL, BASE_URI, accounts.alice)
    for role in (DEFAULT_ADMIN_ROLE, MINTER_ROLE, PAUSER_ROLE):
        assert token.functions.hasRole(role, accounts.alice).call() is True
        assert token.functions.hasRole(role, accounts.outsider).call() is False


def test_zero_admin_is_refused(chain, accounts, reverts):
    with reverts("KudosInvalidAdmin", ZERO_ADDRESS):
        chain.deploy(accounts.admin, NAME, SYMBOL, BASE_URI, ZERO_ADDRESS)


def test_granted_minter_can_award_until_revoked(chain, kudos, accounts, reverts):
    receipt = chain.send(kudos.functions.grantRole(MINTER_ROLE, accounts.minter), accounts.admin)
    assert decode_events(kudos, receipt) == [
        ("RoleGranted", {"role": MINTER_ROLE, "account": accounts.minter, "sender": accounts.admin})
    ]
    assert kudos.functions.hasRole(MINTER_ROLE, accounts.minter).call() is True

    chain.send(kudos.functions.award(accounts.alice, 1, keccak(b"c"), keccak(b"r"), False), accounts.minter)
    chain.send(kudos.functions.awardBatch(*batch_args([accounts.bob, accounts.carol])), accounts.minter)
    assert kudos.functions.totalAwarded().call() == 3
    assert kudos.functions.ownerOf(1).call() == accounts.alice

    # Minting is all the role gives.
    with reverts("AccessControlUnauthorizedAccount", accounts.minter, DEFAULT_ADMIN_ROLE):
        kudos.functions.revoke(1, 0).transact({"from": accounts.minter})
    with reverts("AccessControlUnauthorizedAccount", accounts.minter, PAUSER_ROLE):
        kudos.functions.pause().transact({"from": accounts.minter})

    receipt = chain.send(kudos.functions.revokeRole(MINTER_ROLE, accounts.minter), accounts.admin)
    assert decode_events(kudos, receipt) == [
        ("RoleRevoked", {"role": MINTER_ROLE, "account": accounts.minter, "sender": accounts.admin})
    ]
    with reverts("AccessControlUnauthorizedAccount", accounts.minter, MINTER_ROLE):
        kudos.functions.award(accounts.alice, 1, keccak(b"c"), keccak(b"r"), False).transact({"from": accounts.minter})


def test_only_the_admin_grants_roles(kudos, accounts, reverts):
    with reverts("AccessControlUnauthorizedAccount", accounts.outsider, DEFAULT_ADMIN_ROLE):
        kudos.functions.grantRole(MINTER_ROLE, accounts.outsider).transact({"from": accounts.outsider})


# ----------------------------------------------------------------------------------------------------------------
# award
# ----------------------------------------------------------------------------------------------------------------


def test_award_returns_the_next_id(kudos, accounts, award):
    call = kudos.functions.award(accounts.alice, 1, keccak(b"c"), keccak(b"r"), False)
    assert call.call({"from": accounts.admin}) == 1
    award(accounts.alice)
    assert call.call({"from": accounts.admin}) == 2


def test_ids_are_sequential_from_one(kudos, accounts, award):
    recipients = [accounts.alice, accounts.bob, accounts.alice, accounts.carol]
    ids = [award(to).token_id for to in recipients]
    assert ids == [1, 2, 3, 4]
    assert kudos.functions.totalAwarded().call() == 4
    assert [kudos.functions.ownerOf(i).call() for i in ids] == recipients
    assert kudos.functions.balanceOf(accounts.alice).call() == 2
    assert kudos.functions.balanceOf(accounts.bob).call() == 1


def test_soulbound_award_emits_transfer_locked_and_kudos_awarded(kudos, accounts, award):
    a = award(accounts.alice, kind=7)
    assert decode_events(kudos, a.receipt) == [
        ("Transfer", {"from": ZERO_ADDRESS, "to": accounts.alice, "id": 1}),
        ("Locked", {"tokenId": 1}),
        ("KudosAwarded", {"tokenId": 1, "requestId": a.request_id, "contentHash": a.content_hash}),
    ]


def test_transferable_award_emits_no_locked(kudos, accounts, award):
    a = award(accounts.alice, transferable=True)
    assert decode_events(kudos, a.receipt) == [
        ("Transfer", {"from": ZERO_ADDRESS, "to": accounts.alice, "id": 1}),
        ("KudosAwarded", {"tokenId": 1, "requestId": a.request_id, "contentHash": a.content_hash}),
    ]


@pytest.mark.parametrize("transferable", [False, True])
@pytest.mark.parametrize("kind", [0, 1, 2**32 - 1])
def test_kudos_returns_owner_kind_issue_time_and_transferability(chain, kudos, accounts, award, kind, transferable):
    award(accounts.bob)  # the packed data of one kudos does not leak into its neighbour's
    a = award(accounts.alice, kind=kind, transferable=transferable)
    award(accounts.carol, kind=2**32 - 1 - kind, transferable=not transferable)
    assert kudos.functions.kudos(a.token_id).call() == [
        accounts.alice,
        kind,
        chain.timestamp(a.receipt),
        transferable,
    ]
    assert kudos.functions.locked(a.token_id).call() is (not transferable)


def test_content_hash_and_request_id_are_provable_from_the_receipt(chain, kudos, accounts):
    """A verifier holding the off-chain metadata JSON and the transaction hash can prove the kudos: the
    KudosAwarded log of the receipt, emitted by the token's address, binds the id, the request id and the
    keccak256 of the canonical JSON."""
    metadata = {"kind": 3, "message": "Thanks for the on-call weekend", "from": "ana", "to": "ben"}
    canonical = json.dumps(metadata, sort_keys=True, separators=(",", ":")).encode()
    content_hash = keccak(canonical)
    request_id = keccak(b"request-2026-11-26-0001")
    tx_hash = kudos.functions.award(accounts.alice, 3, content_hash, request_id, False).transact(
        {"from": accounts.admin}
    )

    receipt = chain.w3.eth.get_transaction_receipt(tx_hash)
    signature = keccak(b"KudosAwarded(uint256,bytes32,bytes32)")
    (log,) = [log for log in receipt["logs"] if bytes(log["topics"][0]) == signature]
    assert log["address"] == kudos.address
    assert [bytes(t) for t in log["topics"][1:]] == [(1).to_bytes(32, "big"), request_id]
    assert bytes(log["data"]) == keccak(canonical)
    # The content hash is not stored; the id ties the log to the token, which is still the kudos issued then.
    assert kudos.functions.kudos(1).call()[1:3] == [3, chain.timestamp(receipt)]


def test_non_minter_cannot_award(kudos, accounts, reverts):
    for account in (accounts.alice, accounts.outsider):
        with reverts("AccessControlUnauthorizedAccount", account, MINTER_ROLE):
            kudos.functions.award(accounts.alice, 1, keccak(b"c"), keccak(b"r"), False).transact({"from": account})
    assert kudos.functions.totalAwarded().call() == 0


def test_storage_layout_packs_the_pause_flag_and_the_counter(chain, kudos, accounts, award):
    """Slot 1 holds Pausable's ``_paused`` (byte 0) and ``_totalAwarded`` (bytes 1..8), so that an award reads
    both with one cold access, as the contract documents."""
    for _ in range(3):
        award(accounts.alice)
    slot = int.from_bytes(chain.w3.eth.get_storage_at(kudos.address, 1), "big")
    assert slot == 3 << 8
    chain.send(kudos.functions.pause(), accounts.admin)
    slot = int.from_bytes(chain.w3.eth.get_storage_at(kudos.address, 1), "big")
    assert slot == (3 << 8) | 1


def test_award_to_the_zero_address_is_refused(kudos, accounts, reverts):
    with reverts("ERC721InvalidReceiver", ZERO_ADDRESS):
        kudos.functions.award(ZERO_ADDRESS, 1, keccak(b"c"), keccak(b"r"), False).transact({"from": accounts.admin})


def test_award_to_a_contract_does_not_ask_it(kudos, award):
    """The token itself implements no onERC721Received, yet receives a kudos: awards are not safe mints."""
    a = award(kudos.address)
    assert kudos.functions.ownerOf(a.token_id).call() == kudos.address


# ----------------------------------------------------------------------------------------------------------------
# awardBatch
# ----------------------------------------------------------------------------------------------------------------


def test_batch_awards_consecutive_ids_with_their_data(chain, kudos, accounts, award):
    award(accounts.alice)
    recipients = [accounts.bob, accounts.carol, accounts.bob]
    args = batch_args(recipients, transferable=[False, True, False])
    assert kudos.functions.awardBatch(*args).call({"from": accounts.admin}) == 2
    receipt = chain.send(kudos.functions.awardBatch(*args), accounts.admin)

    assert kudos.functions.totalAwarded().call() == 4
    issued_at = chain.timestamp(receipt)
    _, kinds, contents, requests, transferable = args
    expected_events = []
    for i, to in enumerate(recipients):
        token_id = 2 + i
        assert kudos.functions.kudos(token_id).call() == [to, kinds[i], issued_at, transferable[i]]
        assert kudos.functions.locked(token_id).call() is (not transferable[i])
        expected_events.append(("Transfer", {"from": ZERO_ADDRESS, "to": to, "id": token_id}))
        if not transferable[i]:
            expected_events.append(("Locked", {"tokenId": token_id}))
        expected_events.append(
            ("KudosAwarded", {"tokenId": token_id, "requestId": requests[i], "contentHash": contents[i]})
        )
    assert decode_events(kudos, receipt) == expected_events
    assert kudos.functions.balanceOf(accounts.bob).call() == 2
    # Single awards continue after the batch.
    assert award(accounts.alice).token_id == 5


def test_batch_of_one(chain, kudos, accounts):
    chain.send(kudos.functions.awardBatch(*batch_args([accounts.alice])), accounts.admin)
    assert kudos.functions.ownerOf(1).call() == accounts.alice
    assert kudos.functions.totalAwarded().call() == 1


@pytest.mark.parametrize("short", range(1, 5))
@pytest.mark.parametrize("delta", [-1, 1])
def test_batch_arrays_of_unequal_length_are_refused(kudos, accounts, reverts, short, delta):
    args: list[list[Any]] = list(batch_args([accounts.alice, accounts.bob, accounts.carol]))
    args[short] = (args[short] * 2)[: 3 + delta]
    lengths = [len(a) for a in args]
    assert lengths[0] == 3
    assert lengths[short] == 3 + delta
    with reverts("KudosBatchLengthMismatch", *lengths):
        kudos.functions.awardBatch(*args).transact({"from": accounts.admin})


def test_batch_arrays_all_of_different_lengths_report_every_length(kudos, accounts, reverts):
    args = batch_args([accounts.alice, accounts.bob])
    args = (args[0], args[1] * 2, args[2][:1], [], args[4] * 3)
    with reverts("KudosBatchLengthMismatch", 2, 4, 1, 0, 6):
        kudos.functions.awardBatch(*args).transact({"from": accounts.admin})


def test_empty_batch_is_refused(kudos, accounts, reverts):
    with reverts("KudosEmptyBatch"):
        kudos.functions.awardBatch([], [], [], [], []).transact({"from": accounts.admin})
    # No recipients is an empty batch, whatever the other arrays hold.
    with reverts("KudosEmptyBatch"):
        kudos.functions.awardBatch([], [1], [keccak(b"c")], [keccak(b"r")], [True]).transact({"from": accounts.admin})


@pytest.mark.parametrize("k", [0, 1, 3])
def test_batch_with_the_zero_address_at_index_k_is_refused_whole(kudos, accounts, award, reverts, k):
    award(accounts.alice)
    recipients = [accounts.alice, accounts.bob, accounts.carol, accounts.operator]
    recipients[k] = ZERO_ADDRESS
    with reverts("ERC721InvalidReceiver", ZERO_ADDRESS):
        kudos.functions.awardBatch(*batch_args(recipients)).transact({"from": accounts.admin})
    assert kudos.functions.totalAwarded().call() == 1
    assert kudos.functions.balanceOf(accounts.bob).call() == 0


def test_non_minter_cannot_award_a_batch(kudos, accounts, reverts):
    with reverts("AccessControlUnauthorizedAccount", accounts.outsider, MINTER_ROLE):
        kudos.functions.awardBatch(*batch_args([accounts.alice])).transact({"from": accounts.outsider})


# ----------------------------------------------------------------------------------------------------------------
# Views of ids that do not exist, tokenURI and setBaseURI
# ----------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("view", ["tokenURI", "kudos", "locked"])
@pytest.mark.parametrize("token_id", [0, 2, MAX_UINT256])
def test_views_of_a_nonexistent_id_revert(kudos, accounts, award, reverts, view, token_id):
    award(accounts.alice)
    with reverts("ERC721NonexistentToken", token_id):
        kudos.functions[view](token_id).call()


def test_owner_of_a_nonexistent_id_reverts_with_soladys_error(kudos, reverts):
    """ownerOf and getApproved are Solady's: they revert with TokenDoesNotExist(), not the ERC-6093 error."""
    with reverts("TokenDoesNotExist"):
        kudos.functions.ownerOf(1).call()
    with reverts("TokenDoesNotExist"):
        kudos.functions.getApproved(1).call()


def test_token_uri_is_the_base_uri_and_the_decimal_id(chain, kudos, accounts):
    chain.send(kudos.functions.awardBatch(*batch_args([accounts.alice] * 10)), accounts.admin)
    assert kudos.functions.tokenURI(1).call() == f"{BASE_URI}1"
    assert kudos.functions.tokenURI(10).call() == f"{BASE_URI}10"


def test_admin_sets_the_base_uri(chain, kudos, accounts, award):
    award(accounts.alice)
    receipt = chain.send(kudos.functions.setBaseURI("https://kudos.example/v2/"), accounts.admin)
    assert decode_events(kudos, receipt) == [
        ("BatchMetadataUpdate", {"_fromTokenId": 1, "_toTokenId": MAX_UINT256}),
    ]
    assert kudos.functions.tokenURI(1).call() == "https://kudos.example/v2/1"
    chain.send(kudos.functions.setBaseURI(""), accounts.admin)
    assert kudos.functions.tokenURI(1).call() == "1"


def test_non_admin_cannot_set_the_base_uri(chain, kudos, accounts, award, reverts):
    award(accounts.alice)
    chain.send(kudos.functions.grantRole(MINTER_ROLE, accounts.minter), accounts.admin)
    for account in (accounts.minter, accounts.alice, accounts.outsider):
        with reverts("AccessControlUnauthorizedAccount", account, DEFAULT_ADMIN_ROLE):
            kudos.functions.setBaseURI("https://evil.example/").transact({"from": account})
    assert kudos.functions.tokenURI(1).call() == f"{BASE_URI}1"


# ----------------------------------------------------------------------------------------------------------------
# ERC-165
# ----------------------------------------------------------------------------------------------------------------

IKUDOS_TOKEN_FUNCTIONS = (
    "award(address,uint32,bytes32,bytes32,bool)",
    "awardBatch(address[],uint32[],bytes32[],bytes32[],bool[])",
    "revoke(uint256,uint32)",
    "burn(uint256)",
    "recover(uint256,address)",
    "setBaseURI(string)",
    "pause()",
    "unpause()",
    "kudos(uint256)",
    "totalAwarded()",
)


def selector(signature: str) -> int:
    return int.from_bytes(keccak(text=signature)[:4], "big")


IKUDOS_TOKEN_ID = reduce(lambda acc, sig: acc ^ selector(sig), IKUDOS_TOKEN_FUNCTIONS, 0).to_bytes(4, "big")


def test_ikudos_token_id_covers_the_interface_as_compiled():
    """The signatures above are the interface's: the compiled ABI has exactly these selectors for them."""
    abi_signatures = {
        f"{e['name']}({','.join(i['type'] for i in e['inputs'])})"
        for e in load_artifact().abi
        if e["type"] == "function"
    }
    assert set(IKUDOS_TOKEN_FUNCTIONS) <= abi_signatures


@pytest.mark.parametrize(
    "interface_id",
    [
        pytest.param(bytes.fromhex("01ffc9a7"), id="ERC165"),
        pytest.param(bytes.fromhex("80ac58cd"), id="ERC721"),
        pytest.param(bytes.fromhex("5b5e139f"), id="ERC721Metadata"),
        pytest.param(bytes.fromhex("b45a3c0e"), id="ERC5192"),
        pytest.param(bytes.fromhex("49064906"), id="ERC4906"),
        pytest.param(bytes.fromhex("7965db0b"), id="IAccessControl"),
        pytest.param(IKUDOS_TOKEN_ID, id="IKudosToken"),
    ],
)
def test_supports_interface(kudos, interface_id):
    assert kudos.functions.supportsInterface(interface_id).call() is True


@pytest.mark.parametrize(
    "interface_id",
    [
        pytest.param(bytes.fromhex("ffffffff"), id="invalid"),
        pytest.param(bytes.fromhex("00000000"), id="zero"),
        pytest.param(bytes.fromhex("780e9d63"), id="ERC721Enumerable"),
        pytest.param(bytes.fromhex("12345678"), id="arbitrary"),
    ],
)
def test_does_not_support_interface(kudos, interface_id):
    assert kudos.functions.supportsInterface(interface_id).call() is False


def test_erc5192_id_is_the_selector_of_locked():
    assert selector("locked(uint256)").to_bytes(4, "big") == bytes.fromhex("b45a3c0e")
