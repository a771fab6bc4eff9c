"""Small helpers of the library tests."""

from __future__ import annotations

import itertools

from kudos_chain import Award, Chain, KudosClient, Signer, content_hash

ZERO_ADDRESS = "0x0000000000000000000000000000000000000000"

_serial = itertools.count(1)


def make_award(recipient: str, *, kind: int = 1, transferable: bool = False) -> Award:
    """An award with a content hash and a request id no other award of the session has."""
    n = next(_serial)
    return Award(recipient, kind, content_hash({"n": n}), f"request-{n}", transferable)


def award(client: KudosClient, recipient: str, *, kind: int = 1, transferable: bool = False) -> int:
    """Award one kudos with :meth:`KudosClient.award` and return its id."""
    a = make_award(recipient, kind=kind, transferable=transferable)
    result = client.award(
        a.recipient, a.kind, content_hash=a.content_hash, request_id=a.request_id, transferable=a.transferable
    )
    return int(result.token_id)


def nonce(chain: Chain, signer: Signer) -> int:
    """The signer's nonce in the newest block."""
    return int(chain.w3.eth.get_transaction_count(signer.address))


def deploy_raw(chain: Chain, runtime: bytes) -> str:
    """Deploy a contract whose runtime code is ``runtime`` (sent from the faucet) and return its address."""
    size = len(runtime)
    assert size < 256
    # PUSH1 size, PUSH1 12, PUSH1 0, CODECOPY, PUSH1 size, PUSH1 0, RETURN: returns the code after these 12 bytes.
    init = bytes([0x60, size, 0x60, 0x0C, 0x60, 0x00, 0x39, 0x60, size, 0x60, 0x00, 0xF3]) + runtime
    faucet = chain.dev_accounts[-1].address
    receipt = chain.w3.eth.wait_for_transaction_receipt(chain.w3.eth.send_transaction({"from": faucet, "data": init}))
    address = receipt["contractAddress"]
    assert address is not None
    assert chain.w3.eth.get_code(address) == runtime
    return str(address)
