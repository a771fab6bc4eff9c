"""KudosToken transfers: soulbound kudos never move nor get approved; transferable ones behave as ERC-721."""

from __future__ import annotations

import pytest

from .conftest import TRANSFER_FUNCTIONS, ZERO_ADDRESS, decode_events, transfer_call

# ----------------------------------------------------------------------------------------------------------------
# Soulbound
# ----------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("how", TRANSFER_FUNCTIONS)
def test_owner_cannot_transfer_a_soulbound_kudos(kudos, accounts, award, reverts, how):
    a = award(accounts.alice)
    with reverts("KudosSoulbound", a.token_id):
        transfer_call(kudos, how, accounts.alice, accounts.bob, a.token_id).transact({"from": accounts.alice})
    assert kudos.functions.ownerOf(a.token_id).call() == accounts.alice
    assert kudos.functions.balanceOf(accounts.bob).call() == 0


@pytest.mark.parametrize("approved", [pytest.param("bob", id="approve"), pytest.param("zero", id="clear")])
def test_a_soulbound_kudos_cannot_be_approved(kudos, accounts, award, reverts, approved):
    a = award(accounts.alice)
    account = accounts.bob if approved == "bob" else ZERO_ADDRESS
    with reverts("KudosSoulbound", a.token_id):
        kudos.functions.approve(account, a.token_id).transact({"from": accounts.alice})
    assert kudos.functions.getApproved(a.token_id).call() == ZERO_ADDRESS


@pytest.mark.parametrize("how", TRANSFER_FUNCTIONS)
def test_an_operator_cannot_move_a_soulbound_kudos(chain, kudos, accounts, award, reverts, how):
    a = award(accounts.alice)
    receipt = chain.send(kudos.functions.setApprovalForAll(accounts.operator, True), accounts.alice)
    assert decode_events(kudos, receipt) == [
        ("ApprovalForAll", {"owner": accounts.alice, "operator": accounts.operator, "isApproved": True})
    ]
    assert kudos.functions.isApprovedForAll(accounts.alice, accounts.operator).call() is True
    with reverts("KudosSoulbound", a.token_id):
        transfer_call(kudos, how, accounts.alice, accounts.bob, a.token_id).transact({"from": accounts.operator})
    # Nor approve on the owner's behalf.
    with reverts("KudosSoulbound", a.token_id):
        kudos.functions.approve(accounts.bob, a.token_id).transact({"from": accounts.operator})
    assert kudos.functions.ownerOf(a.token_id).call() == accounts.alice


def test_the_soulbound_check_precedes_the_approval_check(kudos, accounts, award, reverts):
    a = award(accounts.alice)
    with reverts("KudosSoulbound", a.token_id):
        kudos.functions.transferFrom(accounts.alice, accounts.bob, a.token_id).transact({"from": accounts.outsider})


def test_only_the_soulbound_kudos_of_a_holder_are_locked(chain, kudos, accounts, award, reverts):
    soulbound = award(accounts.alice)
    transferable = award(accounts.alice, transferable=True)
    assert kudos.functions.locked(soulbound.token_id).call() is True
    assert kudos.functions.locked(transferable.token_id).call() is False
    chain.send(kudos.functions.transferFrom(accounts.alice, accounts.bob, transferable.token_id), accounts.alice)
    with reverts("KudosSoulbound", soulbound.token_id):
        kudos.functions.transferFrom(accounts.alice, accounts.bob, soulbound.token_id).transact(
            {"from": accounts.alice}
        )


# ----------------------------------------------------------------------------------------------------------------
# Transferable: ERC-721 as usual
# ----------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("how", TRANSFER_FUNCTIONS)
def test_owner_transfers_a_transferable_kudos(chain, kudos, accounts, award, how):
    a = award(accounts.alice, kind=5, transferable=True)
    before = kudos.functions.kudos(a.token_id).call()
    receipt = chain.send(transfer_call(kudos, how, accounts.alice, accounts.bob, a.token_id), accounts.alice)
    assert decode_events(kudos, receipt) == [
        ("Transfer", {"from": accounts.alice, "to": accounts.bob, "id": a.token_id})
    ]
    assert kudos.functions.ownerOf(a.token_id).call() == accounts.bob
    assert kudos.functions.balanceOf(accounts.alice).call() == 0
    assert kudos.functions.balanceOf(accounts.bob).call() == 1
    # The kind, issue time and transferability travel with the token.
    assert kudos.functions.kudos(a.token_id).call() == [accounts.bob, *before[1:]]
    assert kudos.functions.locked(a.token_id).call() is False
    # And the new owner may pass it on.
    chain.send(transfer_call(kudos, how, accounts.bob, accounts.carol, a.token_id), accounts.bob)
    assert kudos.functions.ownerOf(a.token_id).call() == accounts.carol


@pytest.mark.parametrize("how", TRANSFER_FUNCTIONS)
def test_approved_account_transfers_and_the_approval_is_cleared(chain, kudos, accounts, award, reverts, how):
    a = award(accounts.alice, transferable=True)
    receipt = chain.send(kudos.functions.approve(accounts.bob, a.token_id), accounts.alice)
    assert decode_events(kudos, receipt) == [
        ("Approval", {"owner": accounts.alice, "account": accounts.bob, "id": a.token_id})
    ]
    assert kudos.functions.getApproved(a.token_id).call() == accounts.bob

    chain.send(transfer_call(kudos, how, accounts.alice, accounts.carol, a.token_id), accounts.bob)
    assert kudos.functions.ownerOf(a.token_id).call() == accounts.carol
    assert kudos.functions.getApproved(a.token_id).call() == ZERO_ADDRESS
    with reverts("NotOwnerNorApproved"):
        kudos.functions.transferFrom(accounts.carol, accounts.bob, a.token_id).transact({"from": accounts.bob})


def test_approval_can_be_cleared(chain, kudos, accounts, award, reverts):
    a = award(accounts.alice, transferable=True)
    chain.send(kudos.functions.approve(accounts.bob, a.token_id), accounts.alice)
    receipt = chain.send(kudos.functions.approve(ZERO_ADDRESS, a.token_id), accounts.alice)
    assert decode_events(kudos, receipt) == [
        ("Approval", {"owner": accounts.alice, "account": ZERO_ADDRESS, "id": a.token_id})
    ]
    with reverts("NotOwnerNorApproved"):
        kudos.functions.transferFrom(accounts.alice, accounts.carol, a.token_id).transact({"from": accounts.bob})


@pytest.mark.parametrize("how", TRANSFER_FUNCTIONS)
def test_operator_transfers_a_transferable_kudos(chain, kudos, accounts, award, reverts, how):
    a = award(accounts.alice, transferable=True)
    chain.send(kudos.functions.setApprovalForAll(accounts.operator, True), accounts.alice)
    chain.send(transfer_call(kudos, how, accounts.alice, accounts.bob, a.token_id), accounts.operator)
    assert kudos.functions.ownerOf(a.token_id).call() == accounts.bob

    # The operator is the previous owner's, not the new owner's.
    with reverts("NotOwnerNorApproved"):
        kudos.functions.transferFrom(accounts.bob, accounts.alice, a.token_id).transact({"from": accounts.operator})

    # Revoking the operator ends its power.
    b = award(accounts.alice, transferable=True)
    receipt = chain.send(kudos.functions.setApprovalForAll(accounts.operator, False), accounts.alice)
    assert decode_events(kudos, receipt) == [
        ("ApprovalForAll", {"owner": accounts.alice, "operator": accounts.operator, "isApproved": False})
    ]
    with reverts("NotOwnerNorApproved"):
        kudos.functions.transferFrom(accounts.alice, accounts.bob, b.token_id).transact({"from": accounts.operator})


def test_an_operator_may_approve_a_transferable_kudos(chain, kudos, accounts, award):
    a = award(accounts.alice, transferable=True)
    chain.send(kudos.functions.setApprovalForAll(accounts.operator, True), accounts.alice)
    receipt = chain.send(kudos.functions.approve(accounts.bob, a.token_id), accounts.operator)
    assert decode_events(kudos, receipt) == [
        ("Approval", {"owner": accounts.alice, "account": accounts.bob, "id": a.token_id})
    ]


@pytest.mark.parametrize("how", TRANSFER_FUNCTIONS)
def test_unapproved_account_cannot_transfer(kudos, accounts, award, reverts, how):
    a = award(accounts.alice, transferable=True)
    with reverts("NotOwnerNorApproved"):
        transfer_call(kudos, how, accounts.alice, accounts.bob, a.token_id).transact({"from": accounts.outsider})


def test_non_owner_cannot_approve(kudos, accounts, award, reverts):
    a = award(accounts.alice, transferable=True)
    with reverts("NotOwnerNorApproved"):
        kudos.functions.approve(accounts.outsider, a.token_id).transact({"from": accounts.outsider})


def test_approve_of_a_nonexistent_id_reverts(kudos, accounts, reverts):
    with reverts("ERC721NonexistentToken", 1):
        kudos.functions.approve(accounts.bob, 1).transact({"from": accounts.alice})


def test_transfer_from_the_wrong_owner_reverts(kudos, accounts, award, reverts):
    a = award(accounts.alice, transferable=True)
    with reverts("TransferFromIncorrectOwner"):
        kudos.functions.transferFrom(accounts.bob, accounts.carol, a.token_id).transact({"from": accounts.bob})


def test_transfer_of_a_nonexistent_id_reverts(kudos, accounts, reverts):
    with reverts("ERC721NonexistentToken", 1):
        kudos.functions.transferFrom(accounts.alice, accounts.bob, 1).transact({"from": accounts.alice})


@pytest.mark.parametrize("how", ["safeTransferFrom", "safeTransferFrom+data"])
def test_safe_transfer_to_a_non_receiver_contract_reverts(kudos, accounts, award, reverts, how):
    a = award(accounts.alice, transferable=True)
    with reverts("TransferToNonERC721ReceiverImplementer"):
        transfer_call(kudos, how, accounts.alice, kudos.address, a.token_id).transact({"from": accounts.alice})
    # transferFrom does not ask the recipient.
    transfer_call(kudos, "transferFrom", accounts.alice, kudos.address, a.token_id).transact({"from": accounts.alice})
    assert kudos.functions.ownerOf(a.token_id).call() == kudos.address


# ----------------------------------------------------------------------------------------------------------------
# The hook lets mints and burns through early (from or to the zero address): no transfer may use that door
# ----------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("paused", [False, True])
@pytest.mark.parametrize("transferable", [False, True])
def test_a_transfer_to_the_zero_address_is_no_burn(chain, kudos, accounts, award, reverts, paused, transferable):
    a = award(accounts.alice, transferable=transferable)
    if paused:
        chain.send(kudos.functions.pause(), accounts.admin)
    with reverts("TransferToZeroAddress"):
        kudos.functions.transferFrom(accounts.alice, ZERO_ADDRESS, a.token_id).transact({"from": accounts.alice})
    assert kudos.functions.ownerOf(a.token_id).call() == accounts.alice


@pytest.mark.parametrize("paused", [False, True])
@pytest.mark.parametrize("transferable", [False, True])
def test_a_transfer_from_the_zero_address_is_no_mint(chain, kudos, accounts, award, reverts, paused, transferable):
    a = award(accounts.alice, transferable=transferable)
    chain.send(kudos.functions.setApprovalForAll(accounts.operator, True), accounts.alice)
    if paused:
        chain.send(kudos.functions.pause(), accounts.admin)
    for sender in (accounts.alice, accounts.operator, accounts.outsider):
        with reverts("TransferFromIncorrectOwner"):
            kudos.functions.transferFrom(ZERO_ADDRESS, accounts.bob, a.token_id).transact({"from": sender})
    assert kudos.functions.ownerOf(a.token_id).call() == accounts.alice
