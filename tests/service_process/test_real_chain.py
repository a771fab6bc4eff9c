"""``kudos serve`` on a real chain (an anvil node) chosen by settings, and refused when the settings are incomplete;
and on a chain that goes down: awards are still accepted, readiness names the chain, and they are delivered when
the node is back."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import httpx2
import pytest

from kudos_chain import Chain, KudosClient, Signer
from kudos_chain.client import request_id_bytes
from kudos_chain.testing import AnvilNode, free_port, kudos_command
from tests.service_process.conftest import (
    RECIPIENTS,
    NewServer,
    award_body,
    awarded_events,
    headers,
    post_award,
    wait_confirmed,
)

PASSWORD = "correct horse battery staple"

#: An API key in the RPC URL, as providers hand them out: it must never be shown.
RPC_SECRET = "rpc-api-key-3f9a1c"


@dataclass
class RealChain:
    """A KudosToken deployed on an anvil node by its first dev account, whose key is in a keystore file."""

    node: AnvilNode
    address: str
    from_block: int
    env: dict[str, str]


def deploy(node: AnvilNode, tmp_path: Path, base_url: str, *, rpc_url: str | None = None) -> RealChain:
    """Deploy with anvil's first key, write it to a keystore (pbkdf2, cheap) and its password to a file; the
    service reaches the node at ``rpc_url`` (by default the node's URL)."""
    signer = Signer.from_key(node.private_keys[0])
    chain = Chain.connect(node.url, chain_id=node.chain_id)
    client = KudosClient.deploy(chain, signer, base_uri=f"{base_url}/v1/tokens/")
    keystore = signer.to_keystore(tmp_path / "minter.json", PASSWORD, kdf="pbkdf2", iterations=2)
    password_file = tmp_path / "minter.password"
    password_file.write_text(PASSWORD + "\n", "utf-8")
    env = {
        "KUDOS_RPC_URL": rpc_url or node.url,
        "KUDOS_CHAIN_ID": str(node.chain_id),
        "KUDOS_CONTRACT_ADDRESS": client.address,
        "KUDOS_CONTRACT_FROM_BLOCK": str(client.from_block),
        "KUDOS_SIGNER_KEYSTORE": str(keystore),
        "KUDOS_SIGNER_PASSWORD_FILE": str(password_file),
    }
    return RealChain(node, client.address, client.from_block, env)


def read_chain(real: RealChain) -> tuple[list[tuple[int, bytes]], int]:
    """The contract's ``KudosAwarded`` events and ``totalAwarded``, read from the node by this process."""
    chain = Chain.connect(real.node.url, chain_id=real.node.chain_id)
    client = KudosClient.attach(chain, real.address, from_block=real.from_block)
    return awarded_events(chain, client), client.total_awarded()


def wait_ready(http: httpx2.Client, *, timeout: float) -> dict[str, object]:
    """Poll /readyz until it answers 200, and return its body."""
    deadline = time.monotonic() + timeout
    while True:
        answer = http.get("/readyz")
        if answer.status_code == 200:
            body: dict[str, object] = answer.json()
            return body
        assert time.monotonic() < deadline, f"not ready after {timeout:g} s: {answer.text}"
        time.sleep(0.2)


def wait_not_delivering(http: httpx2.Client, *, timeout: float) -> httpx2.Response:
    """Poll /readyz until its delivery check fails (the worker tried, and recorded why it could not deliver)."""
    deadline = time.monotonic() + timeout
    while True:
        answer = http.get("/readyz")
        if answer.status_code == 503 and answer.json()["checks"]["delivery"]["ok"] is False:
            return answer
        assert time.monotonic() < deadline, f"delivery never reported a failure in {timeout:g} s: {answer.text}"
        time.sleep(0.1)


# ----------------------------------------------------------------------------------------------------------------
# A real chain by settings
# ----------------------------------------------------------------------------------------------------------------


@pytest.mark.usefixtures("needs_anvil")
def test_a_real_chain_named_by_settings_gets_the_awards(servers: NewServer, tmp_path: Path):
    with AnvilNode(accounts=2) as node:
        server = servers(tmp_path / "data", port=free_port())
        real = deploy(node, tmp_path, server.url)
        server.env = real.env
        server.start()
        key = server.create_key("award")
        with httpx2.Client(base_url=server.url, timeout=30) as http:
            ready = wait_ready(http, timeout=20)
            ids = [post_award(http, key, f"real-{i}", award_body(i)).json()["id"] for i in range(5)]
            batch = http.post(
                "/v1/awards/batch",
                json={"awards": [award_body(i) | {"idempotency_key": f"batch-{i}"} for i in range(5, 25)]},
                headers=headers(key),
            )
            assert batch.status_code == 202, batch.text
            ids += [a["id"] for a in batch.json()]
            confirmed = wait_confirmed(http, key, ids, timeout=30)
            token_id = confirmed[ids[0]]["token_id"]
            metadata = http.get(f"/v1/tokens/{token_id}")
        events, total = read_chain(real)

    assert ready["checks"]["chain"]["contract_address"] == real.address  # type: ignore[index]
    assert ready["checks"]["chain"]["chain_id"] == node.chain_id  # type: ignore[index]
    assert {a["contract_address"] for a in confirmed.values()} == {real.address}
    assert total == len(events) == 25
    assert {r: t for t, r in events} == {request_id_bytes(a["id"]): a["token_id"] for a in confirmed.values()}
    assert metadata.status_code == 200
    assert metadata.json()["message"] == award_body(0)["message"]


@pytest.mark.parametrize(
    ("settings", "named", "not_named"),
    [
        pytest.param(
            {"KUDOS_RPC_URL": "http://127.0.0.1:9"},
            ["KUDOS_CONTRACT_ADDRESS", "KUDOS_SIGNER_KEYSTORE", "KUDOS_SIGNER_PASSWORD"],
            [],
            id="rpc-url-alone",
        ),
        pytest.param(
            {
                "KUDOS_RPC_URL": "http://127.0.0.1:9",
                "KUDOS_CONTRACT_ADDRESS": "0x...",
                "KUDOS_SIGNER_KEYSTORE": "/keys/minter.json",
                "KUDOS_SIGNER_PASSWORD": "changeme",
            },
            ["KUDOS_CONTRACT_ADDRESS", "KUDOS_SIGNER_PASSWORD"],
            ["KUDOS_SIGNER_KEYSTORE"],
            id="placeholders",
        ),
    ],
)
def test_incomplete_real_chain_settings_are_refused_at_start(tmp_path: Path, settings, named, not_named):
    done = kudos_command("serve", "--port", str(free_port()), "--data-dir", str(tmp_path), env=settings, timeout=60)
    assert done.returncode != 0
    assert "Traceback" not in done.stderr + done.stdout
    message = " ".join(done.stderr.split())  # rich may wrap the line
    assert "error:" in message
    for setting in named:
        assert setting in message
    for setting in not_named:
        assert setting not in message
    assert not (tmp_path / "chain.db").exists()


def test_a_keystore_the_password_does_not_open_is_named_by_readiness(servers: NewServer, tmp_path: Path):
    signer = Signer.create()
    keystore = signer.to_keystore(tmp_path / "minter.json", PASSWORD, kdf="pbkdf2", iterations=2)
    wrong = "not the password"
    env = {
        "KUDOS_RPC_URL": f"http://127.0.0.1:{free_port()}",
        "KUDOS_CONTRACT_ADDRESS": "0x5FbDB2315678afecb367f032d93F642f64180aa3",
        "KUDOS_SIGNER_KEYSTORE": str(keystore),
        "KUDOS_SIGNER_PASSWORD": wrong,
    }
    server = servers(tmp_path / "data", env=env).start()
    with httpx2.Client(base_url=server.url, timeout=30) as http:
        answer = http.get("/readyz")
    assert answer.status_code == 503
    error = answer.json()["checks"]["chain"]["error"]
    assert f"cannot use keystore {keystore}" in error
    assert "password does not decrypt it" in error
    assert wrong not in answer.text


# ----------------------------------------------------------------------------------------------------------------
# The chain goes down
# ----------------------------------------------------------------------------------------------------------------


@pytest.mark.usefixtures("needs_anvil")
def test_awards_accepted_while_the_chain_is_down_are_delivered_when_it_is_back(servers: NewServer, tmp_path: Path):
    """anvil keeps its state in a file (``--state``: loaded at start, written at exit), on a fixed port, so that
    stopping and starting it again is the node going down and coming back."""
    node = AnvilNode(accounts=2, port=free_port(), args=["--state", str(tmp_path / "anvil-state.json")])
    try:
        node.start()
        server = servers(tmp_path / "data", port=free_port())
        real = deploy(node, tmp_path, server.url, rpc_url=f"{node.url}/?apikey={RPC_SECRET}")
        server.env = real.env
        server.start()
        key = server.create_key("award")
        with httpx2.Client(base_url=server.url, timeout=30) as http:
            wait_ready(http, timeout=20)
            before = [post_award(http, key, f"up-{i}", award_body(i)).json()["id"] for i in range(3)]
            confirmed = wait_confirmed(http, key, before, timeout=30)

            node.stop()  # the state is written as the node exits
            # At once, before the worker has noticed: the service still holds its connection to the node.
            first_not_ready = http.get("/readyz")
            first_token = http.get(f"/v1/tokens/{confirmed[before[0]]['token_id']}")
            down = []
            for i in range(3, 23):
                answer = post_award(http, key, f"down-{i}", award_body(i))
                assert answer.status_code == 202, answer.text
                down.append(answer.json()["id"])
            # The worker has tried, and failed, to deliver them: /readyz's delivery check carries its error.
            not_ready = wait_not_delivering(http, timeout=20)
            token_while_down = http.get(f"/v1/tokens/{confirmed[before[0]]['token_id']}")
            queued = [http.get(f"/v1/awards/{i}", headers=headers(key)).json()["status"] for i in down]

            node.start()
            confirmed |= wait_confirmed(http, key, down, timeout=40)
            ready = wait_ready(http, timeout=20)
            wallet = http.get(f"/v1/wallets/{RECIPIENTS[0]}").json()
        events, total = read_chain(real)
    finally:
        node.stop()

    assert first_not_ready.status_code == 503
    assert first_token.status_code == 200, first_token.text  # verified from the event index: no node needed
    assert RPC_SECRET not in first_not_ready.text + first_token.text
    assert not_ready.status_code == 503
    chain_check = not_ready.json()["checks"]["chain"]
    assert chain_check["ok"] is False
    assert "chain cannot be reached" in chain_check["error"]
    assert f"127.0.0.1:{node.port}" in chain_check["error"]
    assert RPC_SECRET not in not_ready.text
    assert RPC_SECRET not in token_while_down.text
    assert server.log_path is not None
    assert RPC_SECRET not in server.log_path.read_text("utf-8")
    assert set(queued) == {"queued"}
    delivery_check = not_ready.json()["checks"]["delivery"]
    assert delivery_check["queue_depth"] == 20
    assert RPC_SECRET not in delivery_check["error"]
    assert token_while_down.status_code == 200, token_while_down.text
    assert ready["ready"] is True
    assert total == len(events) == 23
    assert {r: t for t, r in events} == {request_id_bytes(a["id"]): a["token_id"] for a in confirmed.values()}
    assert wallet["total"] == len([i for i in range(23) if award_body(i)["recipient"] == RECIPIENTS[0]])


@pytest.mark.usefixtures("needs_anvil")
def test_readyz_is_green_as_soon_as_the_node_is_back_though_no_award_waits(servers: NewServer, tmp_path: Path):
    """The worker's error from while the node was down must not outlive the outage: with an empty queue no batch
    is delivered to clear it, and a load balancer honouring /readyz would keep the service out for good."""
    node = AnvilNode(accounts=2, port=free_port(), args=["--state", str(tmp_path / "anvil-state.json")])
    try:
        node.start()
        server = servers(tmp_path / "data", port=free_port())
        real = deploy(node, tmp_path, server.url)
        server.env = real.env
        server.start()
        with httpx2.Client(base_url=server.url, timeout=30) as http:
            wait_ready(http, timeout=20)
            node.stop()
            deadline = time.monotonic() + 20
            while "error" not in (down := http.get("/readyz").json())["checks"]["delivery"]:
                assert time.monotonic() < deadline, f"the worker never noticed the node is gone: {down}"
                time.sleep(0.2)
            node.start()
            ready = wait_ready(http, timeout=20)
    finally:
        node.stop()
    assert down["ready"] is False
    checks = ready["checks"]
    assert isinstance(checks, dict)
    assert checks["delivery"] == {"ok": True, "queue_depth": 0}
