"""Where a kudos waits for a person without a wallet: one custody address per deployment, with no key.

A held kudos is minted at once, through the outbox like any other, to the deployment's custody address; the
service records for whom it is held; a claim moves it with the contract's ``recover`` (admin only), through the
outbox too. The custody address is the last 20 bytes of a Keccak-256 hash of a fixed tag, the chain id and the
contract address, as an Ethereum address is the last 20 bytes of the hash of a public key. Finding a private key
for it would take about 2\\ :sup:`160` tries, so **no key for it exists**:

- it can never sign: it cannot mint, transfer, approve or burn, so custody is never a second way to mint or to
  move a kudos; only the issuer's ``recover`` (to the person, once they sign in) and ``revoke`` move a held kudos,
  and the service holds no custody secret that could leak;
- **nothing on chain says for whom a kudos is held**: every held kudos of the deployment sits at the same
  address, so the chain does not even tell which held kudos belong to the same person (one address per person
  would, and a person named in one message would then be named for all); who each is for is only in the
  service's directory, which is admin-only;
- anyone can derive it (:func:`custody_address`) and see how many kudos are held, never for whom; nothing needs
  a backup beyond the database that already says who each kudos is for;
- awards to it cost least gas: its balance slot is already written after the first, where a fresh address per
  person or per kudos would pay for a new storage slot (20,000 gas) on its first.

    >>> custody_address(31337, "0x5FbDB2315678afecb367f032d93F642f64180aa3")
    '0x838a597a42C52Efe6031BB96fcB283f6C07728e7'
"""

from __future__ import annotations

from eth_typing import ChecksumAddress
from eth_utils.address import to_canonical_address, to_checksum_address
from eth_utils.crypto import keccak

__all__ = ["CUSTODY_TAG", "custody_address"]

#: What the custody address is derived from besides the chain and the contract (a new tag, a new address).
CUSTODY_TAG = b"kudos-chain custody v1"


def custody_address(chain_id: int, contract: str) -> ChecksumAddress:
    """The custody address of the KudosToken ``contract`` on chain ``chain_id``: keyless (see the module)."""
    digest = keccak(CUSTODY_TAG + chain_id.to_bytes(32, "big") + to_canonical_address(contract))
    return to_checksum_address(digest[-20:])
