"""The custody address held kudos wait at: keyless, one per deployment, and moved only by the issuer's recover."""

from __future__ import annotations

from eth_account import Account
from eth_utils.crypto import keccak
from kudos_service.claims.custody import CUSTODY_TAG, custody_address

from kudos_chain import KudosClient

CONTRACT = "0x5FbDB2315678afecb367f032d93F642f64180aa3"


def test_it_is_one_address_per_chain_and_contract():
    assert custody_address(31337, CONTRACT) == custody_address(31337, CONTRACT.lower())
    others = {custody_address(1, CONTRACT), custody_address(31337, "0x" + "11" * 20), custody_address(31337, CONTRACT)}
    assert len(others) == 3


def test_it_is_the_tail_of_a_hash_of_the_tag_chain_and_contract_as_documented():
    digest = keccak(CUSTODY_TAG + (31337).to_bytes(32, "big") + bytes.fromhex(CONTRACT[2:]))
    assert custody_address(31337, CONTRACT).lower() == "0x" + digest[-20:].hex()


def test_no_well_known_key_signs_for_it():
    """Not a proof (that is the hash's preimage resistance), but the keys a test or a careless setup would use are
    not the custody's: anvil's and hardhat's dev keys, the private key 1, the key equal to the tag's hash."""
    well_known = [
        "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80",
        "0x" + "00" * 31 + "01",
        "0x" + "11" * 32,
    ]
    addresses = {Account.from_key(key).address for key in well_known}
    assert custody_address(31337, CONTRACT) not in addresses


def test_a_soulbound_kudos_held_in_custody_is_moved_to_the_person_by_recover(kudos_token: KudosClient):
    chain = kudos_token.chain
    custody = custody_address(chain.chain_id, kudos_token.address)
    held = kudos_token.award(custody, 1, content_hash=keccak(b"held"), request_id="held-1")
    assert kudos_token.kudos(held.token_id).owner == custody
    person = chain.dev_accounts[3]
    kudos_token.recover(held.token_id, person.address)
    assert kudos_token.kudos(held.token_id).owner == person.address
    assert kudos_token.balance_of(custody) == 0
