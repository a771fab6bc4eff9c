"""KudosToken issuer's powers and the holder's burn: pause, revoke, recover, burn."""

from __future__ import annotations

import pytest
from eth_utils.crypto import keccak

from .conftest import (
    DEFAULT_ADMIN_ROLE,
    MINTER_ROLE,
    PAUSER_ROLE,
    TRANSFER_FUNCTIONS,
    ZERO_ADDRESS,
    batch_args,
    decode_events,
    transfer_call,
)

# ----------------------------------------------------------------------------------------------------------------
# Pause
# ----------------------------------------------------------------------------------------------------------------


@pytest.fixture
def paused(chain, kudos, accounts):
    receipt = chain.send(kudos.functions.pause(), accounts.admin)
    assert decode_events(kudos, receipt) == [("Paused", {"account": accounts.admin})]
    assert kudos.functions.paused().call() is True
    return receipt


def test_pause_refuses_awards(kudos, accounts, paused, reverts):
    with reverts("EnforcedPause"):
        kudos.functions.award(accounts.alice, 1, keccak(b"c"), keccak(b"r"), False).transact({"from": accounts.admin})
    with reverts("EnforcedPause"):
        kudos.functions.awardBatch(*batch_args([accounts.alice])).transact({"from": accounts.admin})
    assert kudos.functions.totalAwarded().call() == 0


@pytest.mark.parametrize("how", TRANSFER_FUNCTIONS)
@pytest.mark.parametrize("by", ["owner", "approved", "operator"])
def test_pause_refuses_transfers(chain, kudos, accounts, award, reverts, how, by):
    a = award(accounts.alice, transferable=True)
    chain.send(kudos.functions.approve(accounts.bob, a.token_id), accounts.alice)
    chain.send(kudos.functions.setApprovalForAll(accounts.operator, True), accounts.alice)
    chain.send(kudos.functions.pause(), accounts.admin)
    sender = {"owner": accounts.alice, "approved": accounts.bob, "operator": accounts.operator}[by]
    with reverts("EnforcedPause"):
        transfer_call(kudos, how, accounts.alice, accounts.carol, a.token_id).transact({"from": sender})
    assert kudos.functions.ownerOf(a.token_id).call() == accounts.alice


def test_pause_refuses_recover(chain, kudos, accounts, award, reverts):
    a = award(accounts.alice)
    chain.send(kudos.functions.pause(), accounts.admin)
    with reverts("EnforcedPause"):
        kudos.functions.recover(a.token_id, accounts.bob).transact({"from": accounts.admin})
    assert kudos.functions.ownerOf(a.token_id).call() == accounts.alice


def test_revoke_and_owner_burn_work_while_paused(chain, kudos, accounts, award, reverts):
    revoked = award(accounts.alice)
    burnt = award(accounts.bob)
    chain.send(kudos.functions.pause(), accounts.admin)
    chain.send(kudos.functions.revoke(revoked.token_id, 2), accounts.admin)
    chain.send(kudos.functions.burn(burnt.token_id), accounts.bob)
    for token_id in (revoked.token_id, burnt.token_id):
        with reverts("ERC721NonexistentToken", token_id):
            kudos.functions.kudos(token_id).call()


def test_approvals_and_views_are_not_paused(chain, kudos, accounts, award):
    a = award(accounts.alice, transferable=True)
    chain.send(kudos.functions.pause(), accounts.admin)
    chain.send(kudos.functions.approve(accounts.bob, a.token_id), accounts.alice)
    chain.send(kudos.functions.setApprovalForAll(accounts.operator, True), accounts.alice)
    assert kudos.functions.getApproved(a.token_id).call() == accounts.bob
    assert kudos.functions.kudos(a.token_id).call()[0] == accounts.alice


def test_unpause_restores_awards_transfers_and_recover(chain, kudos, accounts, award, paused):
    receipt = chain.send(kudos.functions.unpause(), accounts.admin)
    assert decode_events(kudos, receipt) == [("Unpaused", {"account": accounts.admin})]
    assert kudos.functions.paused().call() is False
    a = award(accounts.alice, transferable=True)
    chain.send(kudos.functions.transferFrom(accounts.alice, accounts.bob, a.token_id), accounts.alice)
    chain.send(kudos.functions.recover(a.token_id, accounts.carol), accounts.admin)
    chain.send(kudos.functions.awardBatch(*batch_args([accounts.alice])), accounts.admin)
    assert kudos.functions.ownerOf(a.token_id).call() == accounts.carol
    assert kudos.functions.totalAwarded().call() == 2


def test_non_pauser_cannot_pause_or_unpause(chain, kudos, accounts, reverts):
    chain.send(kudos.functions.grantRole(MINTER_ROLE, accounts.minter), accounts.admin)
    for account in (accounts.minter, accounts.outsider):
        with reverts("AccessControlUnauthorizedAccount", account, PAUSER_ROLE):
            kudos.functions.pause().transact({"from": account})
    chain.send(kudos.functions.pause(), accounts.admin)
    for account in (accounts.minter, accounts.outsider):
        with reverts("AccessControlUnauthorizedAccount", account, PAUSER_ROLE):
            kudos.functions.unpause().transact({"from": account})
    assert kudos.functions.paused().call() is True


def test_granted_pauser_pauses_and_unpauses(chain, kudos, accounts):
    chain.send(kudos.functions.grantRole(PAUSER_ROLE, accounts.operator), accounts.admin)
    receipt = chain.send(kudos.functions.pause(), accounts.operator)
    assert decode_events(kudos, receipt) == [("Paused", {"account": accounts.operator})]
    receipt = chain.send(kudos.functions.unpause(), accounts.operator)
    assert decode_events(kudos, receipt) == [("Unpaused", {"account": accounts.operator})]


def test_pause_twice_and_unpause_unpaused_revert(kudos, accounts, reverts):
    with reverts("ExpectedPause"):
        kudos.functions.unpause().transact({"from": accounts.admin})
    kudos.functions.pause().transact({"from": accounts.admin})
    with reverts("EnforcedPause"):
        kudos.functions.pause().transact({"from": accounts.admin})


# ----------------------------------------------------------------------------------------------------------------
# Revoke
# ----------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("transferable", [False, True])
def test_admin_revokes_a_kudos(chain, kudos, accounts, award, reverts, transferable):
    a = award(accounts.alice, transferable=transferable)
    award(accounts.alice)
    receipt = chain.send(kudos.functions.revoke(a.token_id, 2), accounts.admin)
    assert decode_events(kudos, receipt) == [
        ("Transfer", {"from": accounts.alice, "to": ZERO_ADDRESS, "id": a.token_id}),
        ("KudosRevoked", {"tokenId": a.token_id, "reason": 2}),
    ]
    assert kudos.functions.balanceOf(accounts.alice).call() == 1
    # The id no longer exists, and is never reused.
    for view in ("kudos", "tokenURI", "locked"):
        with reverts("ERC721NonexistentToken", a.token_id):
            kudos.functions[view](a.token_id).call()
    with reverts("TokenDoesNotExist"):
        kudos.functions.ownerOf(a.token_id).call()
    with reverts("ERC721NonexistentToken", a.token_id):
        kudos.functions.revoke(a.token_id, 2).transact({"from": accounts.admin})
    with reverts("ERC721NonexistentToken", a.token_id):
        kudos.functions.recover(a.token_id, accounts.bob).transact({"from": accounts.admin})
    with reverts("ERC721NonexistentToken", a.token_id):
        kudos.functions.transferFrom(accounts.alice, accounts.bob, a.token_id).transact({"from": accounts.alice})
    assert kudos.functions.totalAwarded().call() == 2
    assert award(accounts.alice).token_id == 3


def test_revoke_clears_the_approval(chain, kudos, accounts, award, reverts):
    a = award(accounts.alice, transferable=True)
    chain.send(kudos.functions.approve(accounts.bob, a.token_id), accounts.alice)
    chain.send(kudos.functions.revoke(a.token_id, 1), accounts.admin)
    with reverts("TokenDoesNotExist"):
        kudos.functions.getApproved(a.token_id).call()


def test_reason_is_any_uint32(chain, kudos, accounts, award):
    a = award(accounts.alice)
    receipt = chain.send(kudos.functions.revoke(a.token_id, 2**32 - 1), accounts.admin)
    assert decode_events(kudos, receipt)[-1] == ("KudosRevoked", {"tokenId": a.token_id, "reason": 2**32 - 1})


@pytest.mark.parametrize("who", ["minter", "holder", "outsider"])
def test_non_admin_cannot_revoke(chain, kudos, accounts, award, reverts, who):
    a = award(accounts.alice)
    chain.send(kudos.functions.grantRole(MINTER_ROLE, accounts.minter), accounts.admin)
    account = {"minter": accounts.minter, "holder": accounts.alice, "outsider": accounts.outsider}[who]
    with reverts("AccessControlUnauthorizedAccount", account, DEFAULT_ADMIN_ROLE):
        kudos.functions.revoke(a.token_id, 1).transact({"from": account})
    assert kudos.functions.ownerOf(a.token_id).call() == accounts.alice


def test_revoke_of_a_nonexistent_id_reverts(kudos, accounts, reverts):
    with reverts("ERC721NonexistentToken", 1):
        kudos.functions.revoke(1, 1).transact({"from": accounts.admin})


# ----------------------------------------------------------------------------------------------------------------
# Recover
# ----------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("how", TRANSFER_FUNCTIONS)
def test_admin_recovers_a_soulbound_kudos_which_stays_soulbound(chain, kudos, accounts, award, reverts, how):
    a = award(accounts.alice, kind=9)
    before = kudos.functions.kudos(a.token_id).call()
    receipt = chain.send(kudos.functions.recover(a.token_id, accounts.bob), accounts.admin)
    assert decode_events(kudos, receipt) == [
        ("Transfer", {"from": accounts.alice, "to": accounts.bob, "id": a.token_id}),
        ("KudosRecovered", {"tokenId": a.token_id, "from": accounts.alice, "to": accounts.bob}),
    ]
    assert kudos.functions.ownerOf(a.token_id).call() == accounts.bob
    assert kudos.functions.balanceOf(accounts.alice).call() == 0
    assert kudos.functions.balanceOf(accounts.bob).call() == 1
    assert kudos.functions.kudos(a.token_id).call() == [accounts.bob, *before[1:]]
    assert kudos.functions.locked(a.token_id).call() is True

    # The recovery lasted one call: the new owner is bound as the old one was.
    with reverts("KudosSoulbound", a.token_id):
        transfer_call(kudos, how, accounts.bob, accounts.carol, a.token_id).transact({"from": accounts.bob})
    with reverts("KudosSoulbound", a.token_id):
        kudos.functions.approve(accounts.carol, a.token_id).transact({"from": accounts.bob})
    # The admin can move it again (back, say).
    chain.send(kudos.functions.recover(a.token_id, accounts.alice), accounts.admin)
    assert kudos.functions.ownerOf(a.token_id).call() == accounts.alice


def test_recover_of_a_transferable_kudos_clears_its_approval(chain, kudos, accounts, award, reverts):
    a = award(accounts.alice, transferable=True)
    chain.send(kudos.functions.approve(accounts.carol, a.token_id), accounts.alice)
    chain.send(kudos.functions.recover(a.token_id, accounts.bob), accounts.admin)
    assert kudos.functions.getApproved(a.token_id).call() == ZERO_ADDRESS
    assert kudos.functions.locked(a.token_id).call() is False
    with reverts("NotOwnerNorApproved"):
        kudos.functions.transferFrom(accounts.bob, accounts.carol, a.token_id).transact({"from": accounts.carol})


def test_recover_to_the_zero_address_is_refused(kudos, accounts, award, reverts):
    a = award(accounts.alice)
    with reverts("ERC721InvalidReceiver", ZERO_ADDRESS):
        kudos.functions.recover(a.token_id, ZERO_ADDRESS).transact({"from": accounts.admin})


@pytest.mark.parametrize("who", ["minter", "holder", "outsider"])
def test_non_admin_cannot_recover(chain, kudos, accounts, award, reverts, who):
    a = award(accounts.alice)
    chain.send(kudos.functions.grantRole(MINTER_ROLE, accounts.minter), accounts.admin)
    account = {"minter": accounts.minter, "holder": accounts.alice, "outsider": accounts.outsider}[who]
    with reverts("AccessControlUnauthorizedAccount", account, DEFAULT_ADMIN_ROLE):
        kudos.functions.recover(a.token_id, account).transact({"from": account})
    assert kudos.functions.ownerOf(a.token_id).call() == accounts.alice


def test_recover_of_a_nonexistent_id_reverts(kudos, accounts, reverts):
    with reverts("ERC721NonexistentToken", 1):
        kudos.functions.recover(1, accounts.bob).transact({"from": accounts.admin})


# ----------------------------------------------------------------------------------------------------------------
# The owner's burn
# ----------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("transferable", [False, True])
def test_owner_burns_own_kudos(chain, kudos, accounts, award, reverts, transferable):
    a = award(accounts.alice, transferable=transferable)
    receipt = chain.send(kudos.functions.burn(a.token_id), accounts.alice)
    assert decode_events(kudos, receipt) == [
        ("Transfer", {"from": accounts.alice, "to": ZERO_ADDRESS, "id": a.token_id}),
    ]
    assert kudos.functions.balanceOf(accounts.alice).call() == 0
    with reverts("ERC721NonexistentToken", a.token_id):
        kudos.functions.kudos(a.token_id).call()
    with reverts("ERC721NonexistentToken", a.token_id):
        kudos.functions.burn(a.token_id).transact({"from": accounts.alice})
    assert kudos.functions.totalAwarded().call() == 1


@pytest.mark.parametrize("who", ["admin", "approved", "operator", "outsider"])
def test_only_the_owner_burns(chain, kudos, accounts, award, reverts, who):
    a = award(accounts.alice, transferable=True)
    chain.send(kudos.functions.approve(accounts.bob, a.token_id), accounts.alice)
    chain.send(kudos.functions.setApprovalForAll(accounts.operator, True), accounts.alice)
    account = {
        "admin": accounts.admin,
        "approved": accounts.bob,
        "operator": accounts.operator,
        "outsider": accounts.outsider,
    }[who]
    with reverts("ERC721IncorrectOwner", account, a.token_id, accounts.alice):
        kudos.functions.burn(a.token_id).transact({"from": account})
    assert kudos.functions.ownerOf(a.token_id).call() == accounts.alice


def test_burn_of_a_nonexistent_id_reverts(kudos, accounts, reverts):
    with reverts("ERC721NonexistentToken", 1):
        kudos.functions.burn(1).transact({"from": accounts.alice})
