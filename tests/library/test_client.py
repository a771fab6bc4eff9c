"""KudosClient, the public API, on both chains: deploy, attach, awards, moves, revokes, pauses, roles and reads."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

import pytest
from eth_utils.crypto import keccak

from kudos_chain import (
    KUDOS_INTERFACE_ID,
    Chain,
    ConfigurationError,
    ContractNotPausedError,
    ContractPausedError,
    InvalidBatchError,
    InvalidRecipientError,
    Kudos,
    KudosClient,
    KudosMetadata,
    MissingRoleError,
    NotAKudosTokenError,
    RevokeReason,
    SoulboundError,
    TokenNotFoundError,
    content_hash,
)

from .conftest import BASE_URI, Deployment, NewSigner
from .helpers import ZERO_ADDRESS, award, deploy_raw, make_award, nonce

META = {"name": "Team Player", "message": "Thanks for the launch!", "awarded_by": "Ada"}

# ----------------------------------------------------------------------------------------------------------------
# Deploy and attach
# ----------------------------------------------------------------------------------------------------------------


def test_deploy_gives_the_signer_every_role_and_an_empty_contract(deployment: Deployment):
    client, admin = deployment.client, deployment.admin
    assert client.signer is admin
    assert client.is_minter(admin.address)
    assert not client.is_minter(deployment.outsider.address)
    assert client.paused() is False
    assert client.from_block >= 1
    assert client.from_block <= deployment.chain.block_number()
    assert deployment.chain.w3.eth.get_code(client.address)


def test_a_fresh_deployment_has_no_kudos(fresh: Deployment):
    assert fresh.client.total_awarded() == 0
    assert fresh.client.balance_of(fresh.alice.address) == 0
    assert fresh.client.wallet(fresh.alice.address) == []


def test_deploy_with_another_admin_gives_that_admin_the_roles(chain: Chain, new_signer: NewSigner):
    deployer, admin = new_signer(), new_signer()
    client = KudosClient.deploy(chain, deployer, admin=admin.address, base_uri=BASE_URI)
    assert client.is_minter(admin.address)
    assert not client.is_minter(deployer.address)
    with pytest.raises(MissingRoleError) as caught:
        client.award(admin.address, 1, content_hash=b"\x01" * 32, request_id="r")
    assert caught.value.account == deployer.address
    as_admin = KudosClient.attach(chain, client.address, signer=admin, from_block=client.from_block)
    token_id = award(as_admin, deployer.address)
    assert as_admin.kudos(token_id).owner == deployer.address


def test_attach_returns_a_client_on_the_same_contract(deployment: Deployment):
    token_id = award(deployment.client, deployment.alice.address)
    attached = KudosClient.attach(deployment.chain, deployment.client.address.lower())
    assert attached.address == deployment.client.address
    assert attached.signer is None
    assert attached.kudos(token_id).owner == deployment.alice.address
    with pytest.raises(ConfigurationError, match="no signer"):
        attached.award(deployment.alice.address, 1, content_hash=b"\x01" * 32, request_id="r")


def test_attach_refuses_an_account_without_code(deployment: Deployment):
    eoa = deployment.alice.address
    with pytest.raises(NotAKudosTokenError) as caught:
        KudosClient.attach(deployment.chain, eoa)
    assert caught.value.address == eoa
    assert "no contract code" in str(caught.value)


@pytest.mark.parametrize(
    ("what", "runtime"),
    [
        ("stops", bytes.fromhex("00")),
        ("reverts", bytes.fromhex("60006000fd")),
        ("returns 32 bytes of 1 for any call", bytes.fromhex("600160005260206000f3")),
    ],
    ids=["stops", "reverts", "says yes to everything"],
)
def test_attach_refuses_a_contract_that_is_not_a_kudos_token(deployment: Deployment, what: str, runtime: bytes):
    address = deploy_raw(deployment.chain, runtime)
    with pytest.raises(NotAKudosTokenError, match="IKudosToken") as caught:
        KudosClient.attach(deployment.chain, address)
    assert caught.value.address == address


def test_attach_refuses_a_malformed_address(deployment: Deployment):
    with pytest.raises(ConfigurationError, match="not an Ethereum address"):
        KudosClient.attach(deployment.chain, "0x1234")


def test_the_interface_id_is_the_one_the_contract_answers(deployment: Deployment):
    assert len(KUDOS_INTERFACE_ID) == 4
    (answer,) = deployment.chain.call_many(
        [(deployment.client.address, keccak(text="supportsInterface(bytes4)")[:4] + KUDOS_INTERFACE_ID + bytes(28))]
    )
    assert answer == (1).to_bytes(32, "big")


# ----------------------------------------------------------------------------------------------------------------
# Awards
# ----------------------------------------------------------------------------------------------------------------


def test_award_returns_the_new_kudos_and_the_chain_holds_it(deployment: Deployment):
    chain, client, bob = deployment.chain, deployment.client, deployment.bob
    before = client.total_awarded()
    balance = client.balance_of(bob.address)
    digest = content_hash(META)

    result = client.award(bob.address, 7, content_hash=digest, request_id="order-17")

    assert result.token_id == before + 1
    assert result.recipient == bob.address
    assert result.request_id == keccak(text="order-17")
    assert result.tx_hash.startswith("0x")
    assert len(result.tx_hash) == 66
    receipt = chain.w3.eth.get_transaction_receipt(result.tx_hash)
    assert receipt["status"] == 1
    assert receipt["blockNumber"] == result.block_number

    kudos = client.kudos(result.token_id)
    timestamp = chain.w3.eth.get_block(result.block_number)["timestamp"]
    assert kudos == Kudos(
        token_id=result.token_id,
        owner=bob.address,
        kind=7,
        issued_at=datetime.fromtimestamp(timestamp, tz=UTC),
        transferable=False,
        content_hash=digest,
        request_id=keccak(text="order-17"),
        token_uri=f"{BASE_URI}{result.token_id}",
    )
    assert kudos.soulbound
    assert kudos.issued_at.tzinfo is UTC
    assert client.total_awarded() == before + 1
    assert client.balance_of(bob.address) == balance + 1


@pytest.mark.parametrize(
    ("request_id", "expected"),
    [
        (b"\x42" * 32, b"\x42" * 32),
        (b"short", keccak(b"short")),
        (b"\x42" * 33, keccak(b"\x42" * 33)),
        ("order-17", keccak(text="order-17")),
        ("", keccak(text="")),
    ],
    ids=["32 bytes as they are", "short bytes hashed", "long bytes hashed", "string hashed", "empty string hashed"],
)
def test_a_request_id_is_32_bytes_as_given_or_else_its_keccak256(
    deployment: Deployment, request_id: bytes | str, expected: bytes
):
    client = deployment.client
    result = client.award(deployment.alice.address, 1, content_hash=b"\x01" * 32, request_id=request_id)
    assert result.request_id == expected
    assert client.kudos(result.token_id).request_id == expected


def test_award_refuses_bad_arguments_before_signing(deployment: Deployment):
    chain, client, admin = deployment.chain, deployment.client, deployment.admin
    start = nonce(chain, admin)
    with pytest.raises(ConfigurationError, match="not an Ethereum address"):
        client.award("alice", 1, content_hash=b"\x01" * 32, request_id="r")
    with pytest.raises(ConfigurationError, match="32 bytes"):
        client.award(deployment.alice.address, 1, content_hash=b"\x01" * 31, request_id="r")
    with pytest.raises(ConfigurationError, match="32 bytes"):
        client.award(deployment.alice.address, 1, content_hash="0x" + "01" * 32, request_id="r")  # type: ignore[arg-type]
    assert nonce(chain, admin) == start


def test_a_refused_award_leaves_no_nonce_gap(deployment: Deployment):
    chain, client, admin = deployment.chain, deployment.client, deployment.admin
    start = nonce(chain, admin)
    with pytest.raises(InvalidRecipientError) as caught:
        client.award(ZERO_ADDRESS, 1, content_hash=b"\x01" * 32, request_id="to nobody")
    assert caught.value.error_name == "ERC721InvalidReceiver"
    assert caught.value.recipient == ZERO_ADDRESS
    assert nonce(chain, admin) == start
    token_id = award(client, deployment.alice.address)
    assert client.kudos(token_id).owner == deployment.alice.address
    assert nonce(chain, admin) == start + 1


def test_award_many_awards_each_kudos_in_its_own_transaction_in_order(deployment: Deployment):
    chain, client = deployment.chain, deployment.client
    recipients = [deployment.alice.address, deployment.bob.address, deployment.outsider.address] * 2
    awards = [make_award(r, kind=i, transferable=i % 2 == 0) for i, r in enumerate(recipients)]
    first = client.total_awarded() + 1
    start = nonce(chain, deployment.admin)

    results = client.award_many(awards)

    assert [r.token_id for r in results] == list(range(first, first + len(awards)))
    assert [r.recipient for r in results] == recipients
    assert [r.request_id for r in results] == [keccak(text=str(a.request_id)) for a in awards]
    assert len({r.tx_hash for r in results}) == len(awards)
    assert nonce(chain, deployment.admin) == start + len(awards)
    for a, r, k in zip(awards, results, client.kudos_many([r.token_id for r in results]), strict=True):
        assert k is not None
        assert (k.owner, k.kind, k.transferable, k.content_hash) == (
            a.recipient,
            a.kind,
            a.transferable,
            a.content_hash,
        )
        assert chain.w3.eth.get_transaction_receipt(r.tx_hash)["status"] == 1


def test_award_many_of_nothing_sends_nothing(deployment: Deployment):
    start = nonce(deployment.chain, deployment.admin)
    assert deployment.client.award_many([]) == []
    assert nonce(deployment.chain, deployment.admin) == start


def test_award_batch_sends_one_transaction_per_batch_size(deployment: Deployment):
    chain, client = deployment.chain, deployment.client
    recipients = [deployment.alice.address, deployment.bob.address] * 3 + [deployment.outsider.address]
    awards = [make_award(r, kind=100 + i, transferable=i == 3) for i, r in enumerate(recipients)]
    first = client.total_awarded() + 1
    start = nonce(chain, deployment.admin)

    results = client.award_batch(awards, batch_size=3)

    assert [r.token_id for r in results] == list(range(first, first + 7))
    assert [r.recipient for r in results] == recipients
    tx_hashes = [r.tx_hash for r in results]
    assert tx_hashes[0] == tx_hashes[1] == tx_hashes[2]
    assert tx_hashes[3] == tx_hashes[4] == tx_hashes[5]
    assert len(set(tx_hashes)) == 3
    assert nonce(chain, deployment.admin) == start + 3
    kudos = client.kudos_many([r.token_id for r in results])
    assert [k.kind for k in kudos if k is not None] == [100 + i for i in range(7)]
    assert [k.transferable for k in kudos if k is not None] == [i == 3 for i in range(7)]
    assert [k.content_hash for k in kudos if k is not None] == [a.content_hash for a in awards]


def test_award_batch_in_one_transaction_by_default(deployment: Deployment):
    awards = [make_award(deployment.alice.address) for _ in range(5)]
    results = deployment.client.award_batch(awards)
    assert len({r.tx_hash for r in results}) == 1
    assert len(results) == 5


def test_award_batch_refuses_an_empty_list_without_a_transaction(deployment: Deployment):
    start = nonce(deployment.chain, deployment.admin)
    with pytest.raises(InvalidBatchError) as caught:
        deployment.client.award_batch([])
    assert caught.value.error_name == "KudosEmptyBatch"
    assert nonce(deployment.chain, deployment.admin) == start


@pytest.mark.parametrize("batch_size", [0, -1, 201])
def test_award_batch_refuses_a_batch_size_out_of_range(deployment: Deployment, batch_size: int):
    with pytest.raises(ConfigurationError, match="batch_size"):
        deployment.client.award_batch([make_award(deployment.alice.address)], batch_size=batch_size)


def test_award_batch_with_a_zero_recipient_is_refused_and_awards_nothing(deployment: Deployment):
    client = deployment.client
    before = client.total_awarded()
    start = nonce(deployment.chain, deployment.admin)
    with pytest.raises(InvalidRecipientError):
        client.award_batch([make_award(deployment.alice.address), make_award(ZERO_ADDRESS)])
    assert client.total_awarded() == before
    assert nonce(deployment.chain, deployment.admin) == start


# ----------------------------------------------------------------------------------------------------------------
# Transfers, revokes, burns, recoveries
# ----------------------------------------------------------------------------------------------------------------


def test_the_owner_transfers_a_transferable_kudos(fresh: Deployment):
    client, alice, bob = fresh.client, fresh.alice, fresh.bob
    token_id = award(client, alice.address, transferable=True)
    result = client.transfer(token_id, bob.address, owner=alice)
    assert fresh.chain.w3.eth.get_transaction_receipt(result.tx_hash)["status"] == 1
    assert result.gas_used > 0
    assert client.kudos(token_id).owner == bob.address
    assert token_id in [k.token_id for k in client.wallet(bob.address)]
    assert token_id not in [k.token_id for k in client.wallet(alice.address)]


def test_a_soulbound_kudos_cannot_be_transferred(deployment: Deployment):
    client, alice = deployment.client, deployment.alice
    token_id = award(client, alice.address)
    start = nonce(deployment.chain, alice)
    with pytest.raises(SoulboundError) as caught:
        client.transfer(token_id, deployment.bob.address, owner=alice)
    assert caught.value.token_id == token_id
    assert caught.value.error_name == "KudosSoulbound"
    assert str(token_id) in str(caught.value)
    assert client.kudos(token_id).owner == alice.address
    assert nonce(deployment.chain, alice) == start


def test_revoke_burns_the_kudos_for_good(fresh: Deployment):
    client, alice = fresh.client, fresh.alice
    token_id = award(client, alice.address)
    kept = award(client, alice.address)
    balance = client.balance_of(alice.address)
    total = client.total_awarded()

    client.revoke(token_id, RevokeReason.MISTAKE)

    with pytest.raises(TokenNotFoundError) as caught:
        client.kudos(token_id)
    assert caught.value.token_id == token_id
    missing, present = client.kudos_many([token_id, kept])
    assert missing is None
    assert present is not None
    assert present.token_id == kept
    assert client.balance_of(alice.address) == balance - 1
    assert client.total_awarded() == total
    assert token_id not in [k.token_id for k in client.wallet(alice.address)]
    with pytest.raises(TokenNotFoundError):
        client.revoke(token_id)


def test_the_owner_burns_a_kudos(deployment: Deployment):
    client, alice = deployment.client, deployment.alice
    token_id = award(client, alice.address)
    client.burn(token_id, owner=alice)
    assert client.kudos_many([token_id]) == [None]


def test_recover_moves_a_soulbound_kudos_to_a_new_wallet(deployment: Deployment):
    client, alice, bob = deployment.client, deployment.alice, deployment.bob
    token_id = award(client, alice.address)
    client.recover(token_id, bob.address)
    kudos = client.kudos(token_id)
    assert kudos.owner == bob.address
    assert kudos.soulbound
    with pytest.raises(InvalidRecipientError):
        client.recover(token_id, ZERO_ADDRESS)
    with pytest.raises(TokenNotFoundError):
        client.recover(10**9, bob.address)


def test_set_base_uri_changes_every_token_uri(fresh: Deployment):
    client = fresh.client
    token_id = award(client, fresh.alice.address)
    client.set_base_uri("ipfs://bafy/")
    assert client.kudos(token_id).token_uri == f"ipfs://bafy/{token_id}"


# ----------------------------------------------------------------------------------------------------------------
# Pause and roles
# ----------------------------------------------------------------------------------------------------------------


def test_pause_stops_awards_and_transfers_until_unpaused(fresh: Deployment):
    client, alice = fresh.client, fresh.alice
    movable = award(client, alice.address, transferable=True)
    revocable = award(client, alice.address)

    client.pause()
    assert client.paused() is True
    with pytest.raises(ContractPausedError) as caught:
        award(client, alice.address)
    assert caught.value.error_name == "EnforcedPause"
    with pytest.raises(ContractPausedError):
        client.award_batch([make_award(alice.address)])
    with pytest.raises(ContractPausedError):
        client.transfer(movable, fresh.bob.address, owner=alice)
    with pytest.raises(ContractPausedError):
        client.recover(movable, fresh.bob.address)
    with pytest.raises(ContractPausedError):
        client.pause()
    client.revoke(revocable)  # revokes work while paused
    assert client.kudos_many([revocable]) == [None]

    client.unpause()
    assert client.paused() is False
    with pytest.raises(ContractNotPausedError) as not_paused:
        client.unpause()
    assert not_paused.value.error_name == "ExpectedPause"
    client.transfer(movable, fresh.bob.address, owner=alice)
    assert client.kudos(award(client, alice.address)).owner == alice.address


def test_only_minters_award_and_the_admin_grants_and_revokes_the_role(fresh: Deployment):
    chain, client, outsider = fresh.chain, fresh.client, fresh.outsider
    as_outsider = KudosClient.attach(chain, client.address, signer=outsider, from_block=client.from_block)

    with pytest.raises(MissingRoleError) as caught:
        award(as_outsider, fresh.alice.address)
    assert caught.value.account == outsider.address
    assert caught.value.role == "MINTER_ROLE"
    assert caught.value.error_name == "AccessControlUnauthorizedAccount"
    assert "MINTER_ROLE" in str(caught.value)

    client.grant_minter(outsider.address)
    assert client.is_minter(outsider.address)
    token_id = award(as_outsider, fresh.alice.address)
    assert client.kudos(token_id).owner == fresh.alice.address

    client.revoke_minter(outsider.address)
    assert not client.is_minter(outsider.address)
    with pytest.raises(MissingRoleError):
        award(as_outsider, fresh.alice.address)


@pytest.mark.parametrize(
    ("action", "role"),
    [
        ("pause", "PAUSER_ROLE"),
        ("revoke", "DEFAULT_ADMIN_ROLE"),
        ("recover", "DEFAULT_ADMIN_ROLE"),
        ("set_base_uri", "DEFAULT_ADMIN_ROLE"),
        ("grant_minter", "DEFAULT_ADMIN_ROLE"),
    ],
)
def test_admin_actions_need_their_role(deployment: Deployment, action: str, role: str):
    token_id = award(deployment.client, deployment.alice.address)
    outsider = deployment.outsider
    as_outsider = KudosClient(deployment.chain, deployment.client.address, signer=outsider)
    calls: dict[str, Callable[[], object]] = {
        "pause": as_outsider.pause,
        "revoke": lambda: as_outsider.revoke(token_id),
        "recover": lambda: as_outsider.recover(token_id, outsider.address),
        "set_base_uri": lambda: as_outsider.set_base_uri("https://evil.example/"),
        "grant_minter": lambda: as_outsider.grant_minter(outsider.address),
    }
    with pytest.raises(MissingRoleError) as caught:
        calls[action]()
    assert caught.value.role == role
    assert caught.value.account == outsider.address


# ----------------------------------------------------------------------------------------------------------------
# Reads
# ----------------------------------------------------------------------------------------------------------------


def test_wallet_lists_the_owners_kudos_newest_first(fresh: Deployment):
    client, alice, bob = fresh.client, fresh.alice, fresh.bob
    ids = [award(client, alice.address, kind=k) for k in (1, 2)]
    ids += [r.token_id for r in client.award_batch([make_award(alice.address, kind=3), make_award(bob.address)])]
    moved = award(client, alice.address, transferable=True)
    client.transfer(moved, bob.address, owner=alice)
    revoked = award(client, alice.address)
    client.revoke(revoked)

    wallet = client.wallet(alice.address)
    assert [k.token_id for k in wallet] == [ids[2], ids[1], ids[0]]
    assert [k.kind for k in wallet] == [3, 2, 1]
    assert all(k.owner == alice.address for k in wallet)
    assert [k.token_id for k in client.wallet(bob.address)] == [moved, ids[3]]
    assert client.balance_of(alice.address) == 3
    assert client.wallet(fresh.outsider.address) == []
    assert client.wallet(alice.address.lower()) == wallet


def test_kudos_many_answers_none_for_missing_ids_in_order(fresh: Deployment):
    client = fresh.client
    a = award(client, fresh.alice.address)
    b = award(client, fresh.bob.address)
    found = client.kudos_many([b, 10**12, a, 0])
    assert [k.token_id if k else None for k in found] == [b, None, a, None]
    assert client.kudos_many([]) == []
    with pytest.raises(TokenNotFoundError):
        client.kudos(0)


def test_total_awarded_counts_every_kudos_ever_awarded(fresh: Deployment):
    client = fresh.client
    assert client.total_awarded() == 0
    client.award_batch([make_award(fresh.alice.address) for _ in range(3)])
    client.revoke(1)
    assert client.total_awarded() == 3


def test_verify_checks_the_metadata_against_the_awarded_hash(fresh: Deployment):
    client = fresh.client
    meta = KudosMetadata(
        kind="Team Player",
        message="Danke für den Launch! 🚀",
        awarded_by="Ada",
        awarded_at="2026-11-26T10:00:00Z",
        image="https://kudos.example/1/image.svg",
        recipient_name="Grace",
    )
    as_dict = {"b": [1, 2, {"z": None, "a": True}], "a": "x"}
    with_object = client.award(fresh.alice.address, 1, content_hash=content_hash(meta), request_id="v1")
    with_dict = client.award(fresh.alice.address, 1, content_hash=content_hash(as_dict), request_id="v2")

    assert client.verify(with_object.token_id, meta)
    assert client.verify(with_object.token_id, meta.to_json())
    assert client.verify(with_dict.token_id, {"a": "x", "b": [1, 2, {"a": True, "z": None}]})  # key order is free
    assert not client.verify(with_dict.token_id, {"a": "y", "b": [1, 2, {"a": True, "z": None}]})
    assert not client.verify(with_object.token_id, as_dict)
    assert not client.verify(10**12, meta)
