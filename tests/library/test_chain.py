"""Chain: connecting (and failing to, without leaking the URL's secrets), batched requests and paged logs."""

from __future__ import annotations

import http.server
import threading
import traceback

import pytest
from eth_utils.crypto import keccak

from kudos_chain import Chain, ChainIdMismatchError, NodeUnreachableError
from kudos_chain.chain import redact_url
from kudos_chain.testing import AnvilNode, free_port

from .conftest import Deployment
from .helpers import award, make_award

SECRET = "c0ffee0123456789deadbeefSECRET"
TRANSFER_TOPIC = keccak(text="Transfer(address,address,uint256)")


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("http://127.0.0.1:8545", "http://127.0.0.1:8545"),
        ("http://127.0.0.1:8545/", "http://127.0.0.1:8545"),
        ("https://eth-mainnet.example/v2/" + SECRET, "https://eth-mainnet.example/…"),
        ("https://user:" + SECRET + "@rpc.example:8443", "https://rpc.example:8443/…"),
        ("https://rpc.example/?apikey=" + SECRET, "https://rpc.example/…"),
        ("wss://rpc.example/ws/" + SECRET, "wss://rpc.example/…"),
    ],
)
def test_redact_url_keeps_only_scheme_host_and_port(url: str, shown: str):
    assert redact_url(url) == shown
    assert SECRET not in redact_url(url)


@pytest.mark.parametrize(
    "path",
    ["/v3/" + SECRET, "/?apikey=" + SECRET, "", "/"],
    ids=["key in the path", "key in the query", "no path", "root"],
)
def test_connect_to_a_closed_port_names_only_the_redacted_url(path: str):
    port = free_port()  # nothing listens there
    url = f"http://127.0.0.1:{port}{path}"
    with pytest.raises(NodeUnreachableError) as caught:
        Chain.connect(url, timeout=2)
    error = caught.value
    expected = f"http://127.0.0.1:{port}" + ("/…" if path not in ("", "/") else "")
    assert error.url == expected
    assert str(error).startswith(f"the node at {expected} cannot be reached")
    text = "".join(traceback.format_exception(error)) + repr(error) + error.reason
    assert SECRET not in text
    assert error.__cause__ is None


def test_connect_with_credentials_in_the_url_does_not_show_them():
    port = free_port()
    with pytest.raises(NodeUnreachableError) as caught:
        Chain.connect(f"http://kudos:{SECRET}@127.0.0.1:{port}/rpc", timeout=2)
    assert SECRET not in "".join(traceback.format_exception(caught.value))
    assert caught.value.url == f"http://127.0.0.1:{port}/…"


class _Answer(http.server.BaseHTTPRequestHandler):
    """Answers every POST with the server's ``body``: a web page, or JSON that is not a JSON-RPC answer."""

    def do_POST(self) -> None:
        body: bytes = self.server.body  # type: ignore[attr-defined]
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.mark.parametrize(
    "body",
    [
        b"<html>Welcome to nginx!</html>",
        b"[]",
        b'{"jsonrpc": "2.0", "id": 0}',
        b'{"jsonrpc": "2.0", "id": 0, "error": {"code": -32001, "message": "unauthorized"}}',
    ],
    ids=["a web page", "a JSON list", "no result", "an error"],
)
def test_connect_to_something_that_is_not_a_node_is_unreachable(body: bytes):
    server = http.server.HTTPServer(("127.0.0.1", 0), _Answer)
    server.body = body  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True)
    thread.start()
    try:
        with pytest.raises(NodeUnreachableError) as caught:
            Chain.connect(f"http://127.0.0.1:{server.server_port}/v3/{SECRET}", timeout=2)
    finally:
        server.shutdown()
        server.server_close()
    assert caught.value.url == f"http://127.0.0.1:{server.server_port}/…"
    assert SECRET not in "".join(traceback.format_exception(caught.value))


def test_connect_checks_the_chain_id(anvil: AnvilNode):
    with pytest.raises(ChainIdMismatchError) as caught:
        Chain.connect(anvil.url, chain_id=1)
    assert (caught.value.expected, caught.value.actual) == (1, anvil.chain_id)
    assert str(caught.value) == f"expected chain id 1, but the node is on chain {anvil.chain_id}"
    chain = Chain.connect(anvil.url, chain_id=anvil.chain_id)
    assert chain.chain_id == anvil.chain_id
    assert repr(chain) == f"Chain({anvil.url!r})"
    assert chain.supports_batching
    assert Chain.connect(anvil.url).chain_id == anvil.chain_id


def test_the_embedded_chain_has_funded_dev_accounts_and_no_batching():
    chain = Chain.embedded(accounts=3)
    assert repr(chain) == "Chain('embedded')"
    assert len(chain.dev_accounts) == 3
    assert all(chain.balance(s.address) > 10**18 for s in chain.dev_accounts)
    assert not chain.supports_batching
    assert chain.block_number() == 0


def test_call_many_returns_each_answer_or_its_error_in_order(deployment: Deployment):
    client = deployment.client
    token_id = award(client, deployment.alice.address)
    owner_of = keccak(text="ownerOf(uint256)")[:4]
    answers = deployment.chain.call_many(
        [(client.address, owner_of + token_id.to_bytes(32, "big")), (client.address, owner_of + bytes(32))] * 2
    )
    assert answers[0] == answers[2] == bytes(12) + bytes.fromhex(deployment.alice.address[2:])
    assert isinstance(answers[1], Exception)
    assert isinstance(answers[3], Exception)


def test_get_logs_pages_the_block_range(deployment: Deployment):
    client, chain = deployment.client, deployment.chain
    for _ in range(3):
        award(client, deployment.bob.address)
    owner_topic = bytes(12) + bytes.fromhex(deployment.bob.address[2:])
    topic_sets = [[TRANSFER_TOPIC, None, owner_topic]]
    whole = chain.get_logs(address=client.address, topic_sets=topic_sets, from_block=client.from_block)
    paged = chain.get_logs(address=client.address, topic_sets=topic_sets, from_block=client.from_block, max_range=1)
    assert paged == whole
    as_hex = [["0x" + TRANSFER_TOPIC.hex(), None, "0x" + owner_topic.hex()]]  # topics as JSON-RPC writes them
    assert chain.get_logs(address=client.address, topic_sets=as_hex, from_block=client.from_block) == whole
    assert len(whole) >= 3
    assert [(log.block_number, log.log_index) for log in whole] == sorted(
        (log.block_number, log.log_index) for log in whole
    )
    assert {log.address for log in whole} == {client.address}
    one = make_award(deployment.bob.address)
    mined = client.award(one.recipient, one.kind, content_hash=one.content_hash, request_id=one.request_id)
    (its_log,) = chain.get_logs(address=client.address, topic_sets=topic_sets, from_block=mined.block_number)
    assert its_log.tx_hash == mined.tx_hash
    assert its_log.tx_hash[:2] == "0x"  # JSON-RPC's form of a hash, as every node and web3 write it
    assert len(its_log.tx_hash) == 66


def test_send_raw_many_answers_each_transaction_s_hash_or_its_refusal_in_order(deployment: Deployment):
    chain, alice = deployment.chain, deployment.alice
    nonce = chain.pending_nonce(alice.address)
    _, _, base_fee, _ = chain.head()

    def transfer(at: int, value: int = 1) -> bytes:
        tx = {
            "to": deployment.bob.address,
            "value": value,
            "gas": 21_000,
            "maxFeePerGas": 2 * base_fee + 10**9,
            "maxPriorityFeePerGas": 10**9,
            "nonce": at,
            "chainId": chain.chain_id,
        }
        return bytes(alice.sign_transaction(tx).raw_transaction)

    first, broke, second = transfer(nonce), transfer(nonce + 1, value=10**30), transfer(nonce + 1)
    answers = chain.send_raw_many([first, broke, second])
    assert answers[0] == "0x" + keccak(first).hex()  # JSON-RPC's form of a hash: 0x and 64 lower-case digits
    assert isinstance(answers[1], Exception)  # more than alice has
    assert answers[2] == "0x" + keccak(second).hex()
