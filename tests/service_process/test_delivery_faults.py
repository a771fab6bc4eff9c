"""Delivery on a chain that misbehaves as real networks do (issue 9): each fault on a fresh anvil node, with a real
``kudos serve`` process delivering to it, and each test ending with the chain itself read over JSON-RPC
(:mod:`tests.utils.chain_truth`): every accepted award on chain exactly once by its request id, the API's token id
the chain's, and no request id on chain that the service did not accept.

The faults (``../shared/ANVIL.md`` notes how anvil 1.7 behaves under each): interval mining with several clients;
a base-fee spike held over many blocks, under and over the fee cap; every pending transaction dropped; a reorg
that removes confirmed awards and gives their token ids to another minter; the signer's key used by another
client; an empty signer; anvil killed and started again from its state file; revocations through a drop and a
reorg; and anvil started again without its state, a chain the service must refuse to write to until the operator
re-delivers on a new contract.

Every test runs with fast settings (:data:`FAST`) and polls with deadlines; none sleeps long.
"""

from __future__ import annotations

import contextlib
import re
import threading
import time
from collections import Counter
from collections.abc import Callable, Collection, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx2
import pytest
from eth_abi.abi import encode as abi_encode
from eth_account import Account
from eth_utils.crypto import keccak

from kudos_chain.testing import AnvilNode, KudosServer, free_port, kudos_command
from tests.service_process.conftest import RECIPIENTS, NewServer, award_body, headers
from tests.service_process.test_real_chain import deploy
from tests.utils.chain_truth import (
    assert_exactly_once,
    awarded_on_chain,
    exactly_once_problems,
    owners_of,
    rpc,
)

pytestmark = pytest.mark.usefixtures("needs_anvil")

GWEI = 10**9

#: Settings that make the worker react within a second or two.
FAST = {
    "KUDOS_RESEND_AFTER_S": "1",
    "KUDOS_REPLACE_AFTER_BLOCKS": "2",
    "KUDOS_CHAIN_CHECK_S": "1",
    "KUDOS_WORKER_POLL_MS": "50",
    "KUDOS_BATCH_MAX_WAIT_MS": "100",
}

#: A 0-value transfer, and a generous gas limit for a contract call.
_TRANSFER_GAS = 21_000
_CALL_GAS = 300_000


# ----------------------------------------------------------------------------------------------------------------
# The rig: a node, a contract, a server, a key
# ----------------------------------------------------------------------------------------------------------------


@dataclass
class Rig:
    """An anvil node with a KudosToken deployed by its first key, and ``kudos serve`` delivering to it with that
    key; ``key`` has the ``award`` and ``revoke`` scopes. Every 500 any client of the rig saw is in ``errors``."""

    node: AnvilNode
    server: KudosServer
    key: str
    contract: str
    from_block: int
    keystore: Path
    password_file: Path
    errors: list[str] = field(default_factory=list)
    http: httpx2.Client = field(init=False)

    def __post_init__(self) -> None:
        self.http = self.client()

    @property
    def signer(self) -> str:
        """The service's signer (the node's first account), checksummed."""
        return str(Account.from_key(self.node.private_keys[0]).address)

    def client(self, timeout: float = 30.0) -> httpx2.Client:
        """An HTTP client of the server that records every 500 it gets."""

        def record(response: httpx2.Response) -> None:
            if response.status_code == 500:
                response.read()
                self.errors.append(f"{response.request.method} {response.request.url.path}: {response.text}")

        return httpx2.Client(base_url=self.server.url, timeout=timeout, event_hooks={"response": [record]})

    # Awards ---------------------------------------------------------------------------------------------------

    def post(self, indices: Iterable[int], tag: str, http: httpx2.Client | None = None) -> list[str]:
        """``POST /v1/awards`` each award ``i`` (Idempotency-Key ``tag-i``), one request each; their ids."""
        ids = []
        for i in indices:
            answer = (http or self.http).post(
                "/v1/awards", json=award_body(i, tag=tag), headers=headers(self.key, f"{tag}-{i}")
            )
            assert answer.status_code == 202, answer.text
            ids.append(answer.json()["id"])
        return ids

    def post_batch(self, indices: Iterable[int], tag: str) -> list[str]:
        """``POST /v1/awards/batch`` the awards ``i`` in one request; their ids."""
        items = [award_body(i, tag=tag) | {"idempotency_key": f"{tag}-{i}"} for i in indices]
        answer = self.http.post("/v1/awards/batch", json={"awards": items}, headers=headers(self.key))
        assert answer.status_code == 202, answer.text
        return [a["id"] for a in answer.json()]

    def award(self, award_id: str, http: httpx2.Client | None = None) -> dict[str, Any]:
        """The API's view of an award."""
        answer = (http or self.http).get(f"/v1/awards/{award_id}", headers=headers(self.key))
        assert answer.status_code == 200, answer.text
        view: dict[str, Any] = answer.json()
        return view

    def awards(self, ids: Iterable[str]) -> list[dict[str, Any]]:
        """The API's views of awards, in the order of ``ids``."""
        return [self.award(i) for i in ids]

    # Revocations ----------------------------------------------------------------------------------------------

    def revoke(self, token_id: int, idempotency_key: str) -> httpx2.Response:
        """``POST /v1/tokens/{token_id}/revoke`` with the reason ``mistake``."""
        return self.http.post(
            f"/v1/tokens/{token_id}/revoke", json={"reason": "mistake"}, headers=headers(self.key, idempotency_key)
        )

    def operation(self, op_id: int) -> dict[str, Any]:
        """The API's view of an operation."""
        answer = self.http.get(f"/v1/operations/{op_id}", headers=headers(self.key))
        assert answer.status_code == 200, answer.text
        view: dict[str, Any] = answer.json()
        return view

    # Health ---------------------------------------------------------------------------------------------------

    def metric(self, name: str) -> float | None:
        """The value of an unlabelled metric in ``/metrics``, or None when it is not there."""
        answer = self.http.get("/metrics")
        assert answer.status_code == 200, answer.text
        found = re.search(rf"^{re.escape(name)} (\S+)$", answer.text, re.MULTILINE)
        return float(found.group(1)) if found else None

    def readyz(self) -> httpx2.Response:
        """``GET /readyz``."""
        return self.http.get("/readyz")

    def log_lines(self) -> list[str]:
        """The server's output so far (this run)."""
        assert self.server.log_path is not None
        return self.server.log_path.read_text("utf-8", errors="replace").splitlines()

    # Waiting --------------------------------------------------------------------------------------------------

    def wait_for(self, what: str, check: Callable[[], bool], *, timeout: float, every: float = 0.2) -> None:
        """Poll ``check`` until it holds; fail naming ``what`` (and the end of the server's log) after ``timeout``."""
        deadline = time.monotonic() + timeout
        while not check():
            if time.monotonic() > deadline:
                pytest.fail(f"{what}: not within {timeout:g} s\n--- server log ---\n{self.server.log_tail(15)}")
            time.sleep(every)

    def wait_status(self, ids: Collection[str], statuses: Collection[str], *, timeout: float) -> list[dict[str, Any]]:
        """Wait until every award's status is one of ``statuses``; never ``failed`` on the way."""
        views: list[dict[str, Any]] = []

        def reached() -> bool:
            nonlocal views
            views = self.awards(ids)
            failed = [v for v in views if v["status"] == "failed"]
            assert not failed, f"{len(failed)} awards failed, the first: {failed[0]}"
            return all(v["status"] in statuses for v in views)

        deadline = time.monotonic() + timeout
        while not reached():
            if time.monotonic() > deadline:
                pytest.fail(
                    f"awards not {'/'.join(statuses)} within {timeout:g} s: {summary(views)}\n"
                    f"--- server log ---\n{self.server.log_tail(15)}"
                )
            time.sleep(0.2)
        return views

    def settle(
        self,
        ids: Collection[str],
        *,
        timeout: float,
        revoked: Collection[int] = (),
        foreign: Collection[bytes] = (),
        contract: str | None = None,
    ) -> list[dict[str, Any]]:
        """Wait until the API and the chain agree on every award (:func:`exactly_once_problems` finds nothing), and
        return the API's views; fail with every disagreement left when ``timeout`` runs out."""
        address = contract or self.contract
        deadline = time.monotonic() + timeout
        while True:
            views = self.awards(ids)
            failed = [v for v in views if v["status"] == "failed"]
            assert not failed, f"{len(failed)} awards failed, the first: {failed[0]}"
            if all(v["status"] == "confirmed" for v in views):
                problems = exactly_once_problems(self.node.url, address, views, revoked=revoked, foreign=foreign)
                if not problems:
                    return views
            if time.monotonic() > deadline:
                break
            time.sleep(0.3)
        print(f"--- server log ---\n{self.server.log_tail(40)}")  # shown by pytest with the failure
        print(f"awards: {summary(views)}")
        assert_exactly_once(self.node.url, address, views, revoked=revoked, foreign=foreign)
        pytest.fail(f"the chain agrees, but not every award is confirmed after {timeout:g} s: {summary(views)}")

    def tracebacks(self) -> list[str]:
        """Each exception the server logged with its traceback (in every run): its log line and the exception."""
        found = []
        for log in sorted(self.server.data_dir.glob("server-*.log")):
            lines = log.read_text("utf-8", errors="replace").splitlines()
            for n, line in enumerate(lines[1:], start=1):
                if line == "Traceback (most recent call last):":
                    cause = next((x for x in lines[n + 1 :] if x and not x[0].isspace()), "")
                    found.append(f"{lines[n - 1]} -> {cause}")
        return found

    def close(self) -> None:
        """The end of a test: no client of the rig got a 500, and the server logged no traceback."""
        self.http.close()
        assert not self.errors, f"the server answered 500: {self.errors[:5]}"
        logged = self.tracebacks()
        assert not logged, f"the server logged {len(logged)} tracebacks; the first: {logged[0]}"


def summary(views: Iterable[dict[str, Any]]) -> str:
    """Awards by status, and the reasons given for those that wait."""
    views = list(views)
    reasons = Counter(v.get("status_reason") for v in views if v.get("status_reason"))
    return f"{dict(Counter(v['status'] for v in views))}; status reasons: {dict(reasons) or 'none'}"


MakeRig = Callable[..., Rig]


@pytest.fixture
def rig(servers: NewServer, tmp_path: Path) -> Iterator[MakeRig]:
    """A factory of :class:`Rig`: ``rig(env={...}, block_time=1, persist=True...)`` starts a node with those
    arguments, deploys, and starts the server with :data:`FAST` and ``env``, and waits until it is ready."""
    made: list[Rig] = []
    nodes: list[AnvilNode] = []

    def make(*, env: dict[str, str] | None = None, **node_args: Any) -> Rig:
        node = AnvilNode(accounts=3, port=free_port(), **node_args)
        nodes.append(node)
        node.start()
        server = servers(tmp_path / "data", port=free_port())
        real = deploy(node, tmp_path, server.url)
        server.env = real.env | FAST | (env or {})
        server.start()
        new = Rig(
            node,
            server,
            server.create_key("award", "revoke"),
            real.address,
            real.from_block,
            tmp_path / "minter.json",
            tmp_path / "minter.password",
        )
        made.append(new)
        new.wait_for("the server is ready", lambda: new.readyz().status_code == 200, timeout=20)
        return new

    yield make
    for made_rig in made:
        made_rig.http.close()
    for node in nodes:
        node.stop()


# ----------------------------------------------------------------------------------------------------------------
# Transactions the tests sign themselves
# ----------------------------------------------------------------------------------------------------------------


def sign(
    node: AnvilNode,
    key: str,
    *,
    to: str,
    nonce: int,
    data: bytes = b"",
    gas: int = _CALL_GAS,
    max_fee: int = 100 * GWEI,
    tip: int = 2 * GWEI,
) -> str:
    """A signed EIP-1559 transaction, as the hex ``eth_sendRawTransaction`` and ``anvil_reorg`` take."""
    tx = {
        "type": 2,
        "chainId": node.chain_id,
        "nonce": nonce,
        "to": to,
        "value": 0,
        "data": data,
        "gas": gas,
        "maxFeePerGas": max_fee,
        "maxPriorityFeePerGas": tip,
    }
    return "0x" + bytes(Account.sign_transaction(tx, key).raw_transaction).hex()


def nonce_of(node: AnvilNode, address: str, block: str = "latest") -> int:
    return int(node.rpc("eth_getTransactionCount", [address, block]), 16)


def grant_minter(node: AnvilNode, contract: str, account: str) -> None:
    """``grantRole(MINTER_ROLE, account)``, signed by the admin (the node's first key) and mined."""
    admin = node.private_keys[0]
    data = keccak(text="grantRole(bytes32,address)")[:4] + abi_encode(
        ["bytes32", "address"], [keccak(text="MINTER_ROLE"), account]
    )
    raw = sign(node, admin, to=contract, nonce=nonce_of(node, Account.from_key(admin).address, "pending"), data=data)
    tx_hash = node.rpc("eth_sendRawTransaction", [raw])
    deadline = time.monotonic() + 10
    while (receipt := node.rpc("eth_getTransactionReceipt", [tx_hash])) is None:
        assert time.monotonic() < deadline, "the grant was not mined"
        time.sleep(0.1)
    assert receipt["status"] == "0x1", receipt


def award_calldata(recipient: str, request: bytes) -> bytes:
    """``award(to, kind 1, contentHash, requestId, soulbound)``."""
    return keccak(text="award(address,uint32,bytes32,bytes32,bool)")[:4] + abi_encode(
        ["address", "uint32", "bytes32", "bytes32", "bool"], [recipient, 1, keccak(text="rival"), request, False]
    )


def blocks_of(views: Iterable[dict[str, Any]]) -> dict[int, set[str]]:
    """Block number → the distinct transactions of ``views`` mined in it."""
    out: dict[int, set[str]] = {}
    for view in views:
        out.setdefault(view["block_number"], set()).add(view["tx_hash"])
    return out


# ----------------------------------------------------------------------------------------------------------------
# a. Interval mining, several clients, several batches in flight
# ----------------------------------------------------------------------------------------------------------------


def test_interval_mining_with_several_clients_fills_blocks_with_several_batches(rig: MakeRig):
    """300 awards from 6 clients on 1-second blocks, batches of 25: the next batches are signed while earlier ones
    wait to be mined, so blocks hold several of the service's transactions; nothing reads confirmed before two
    blocks are built on its block (``KUDOS_CONFIRMATIONS=2``)."""
    r = rig(block_time=1, env={"KUDOS_CONFIRMATIONS": "2", "KUDOS_BATCH_MAX_SIZE": "25"})
    clients, per_client = 6, 50
    in_flight: list[float] = []
    sampling = threading.Event()

    def sample() -> None:
        with r.client() as http:
            while not sampling.is_set():
                found = re.search(r"^kudos_transactions_in_flight (\S+)$", http.get("/metrics").text, re.MULTILINE)
                if found:
                    in_flight.append(float(found.group(1)))
                sampling.wait(0.2)

    def post(c: int) -> list[str]:
        with r.client() as http:
            return r.post(range(c * per_client, (c + 1) * per_client), "a", http)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    with ThreadPoolExecutor(clients) as pool:
        ids = [award_id for chunk in pool.map(post, range(clients)) for award_id in chunk]

    early: list[str] = []  # confirmed before 2 blocks were built on their block
    pending = set(ids)
    deadline = time.monotonic() + 40
    while pending and time.monotonic() < deadline:
        for award_id in sorted(pending):
            view = r.award(award_id)
            assert view["status"] != "failed", view
            if view["status"] == "confirmed":
                pending.discard(award_id)
                if r.node.block_number() < view["block_number"] + 2:  # the head now: at least the service's then
                    early.append(f"{award_id} in block {view['block_number']}")
        time.sleep(0.2)
    sampling.set()
    sampler.join(5)

    views = r.settle(ids, timeout=10)
    blocks = blocks_of(views)
    assert len(ids) == clients * per_client
    assert not early, f"confirmed less than 2 blocks deep, with KUDOS_CONFIRMATIONS=2: {early[:5]}"
    assert max(len(txs) for txs in blocks.values()) >= 2, (
        f"never two of the service's transactions in one block: {blocks}; in flight seen: {max(in_flight, default=0)}"
    )
    assert r.metric("kudos_transactions_in_flight") is not None
    r.close()


# ----------------------------------------------------------------------------------------------------------------
# b. A base-fee spike
# ----------------------------------------------------------------------------------------------------------------


@contextlib.contextmanager
def fee_spike(r: Rig, base_fee: int, first: Callable[[], list[str]]) -> Iterator[list[str]]:
    """Mining paused while the awards ``first`` posts are sent (at the low fees of before the spike), then the
    base fee held at ``base_fee`` with a block every second: anvil drops those transactions at the next block, as
    priced out, and refuses their bytes again, so only new signatures get them mined."""
    r.node.set_interval_mining(0)
    ids = first()
    r.wait_status(ids, {"submitted"}, timeout=10)
    with r.node.hold_base_fee(base_fee):
        r.node.set_interval_mining(1)
        yield ids


def test_a_fee_spike_under_the_cap_is_paid_and_every_award_delivered_during_it(rig: MakeRig):
    """A 50-gwei base fee held for 20 s under a 200-gwei cap: the transactions sent before the spike are signed
    again with higher fees, and awards accepted during it are delivered during it."""
    r = rig(block_time=1, env={"KUDOS_MAX_FEE_PER_GAS": str(200 * GWEI)})
    spike = 50 * GWEI
    during: list[str] = []
    with fee_spike(r, spike, lambda: r.post_batch(range(20), "b1-before")) as before, r.client() as http:
        started = time.monotonic()
        i = 100
        while time.monotonic() - started < 15:
            during += r.post([i], "b1-during", http)
            i += 1
            time.sleep(0.4)
        r.wait_status(before + during, {"confirmed"}, timeout=max(20 - (time.monotonic() - started), 3))
        spike_seconds = time.monotonic() - started

    views = r.settle(before + during, timeout=10)
    base_fees = {
        number: int(rpc(r.node.url, "eth_getBlockByNumber", [hex(number), False])["baseFeePerGas"], 16)
        for number in blocks_of(views)
    }
    assert spike_seconds >= 15
    assert all(fee >= spike for fee in base_fees.values()), f"mined outside the spike: {base_fees}"
    assert (r.metric("kudos_transaction_replacements_total") or 0) >= 1
    r.close()


def test_a_fee_spike_over_the_cap_holds_awards_with_the_reason_until_it_ends(rig: MakeRig):
    """A 50-gwei base fee over a 30-gwei cap: awards sent before it and accepted during it wait (never failed),
    each saying why, and /readyz says so too; when the base fee falls to 20 gwei (still above what the first
    transactions offered) every award is delivered, once."""
    r = rig(block_time=1, env={"KUDOS_MAX_FEE_PER_GAS": str(30 * GWEI)})
    with fee_spike(r, 50 * GWEI, lambda: r.post_batch(range(10), "b2-before")) as before:
        ids = before + r.post(range(100, 110), "b2-during")

        def held_with_reason() -> bool:
            views = r.awards(ids)
            assert all(v["status"] in ("queued", "submitted") for v in views), summary(views)
            return all("above the cap" in (v.get("status_reason") or "") for v in views)

        r.wait_for("every award says it is above the cap", held_with_reason, timeout=15)
        first = time.monotonic()
        while not ((not_ready := r.readyz()).status_code == 503 and "above the cap" in not_ready.text):
            assert time.monotonic() - first < 5, f"/readyz does not say the fees are above the cap: {not_ready.text}"
            time.sleep(0.2)
        readiness = []  # while held, /readyz must say so at every look, not now and then
        for _ in range(10):
            time.sleep(0.2)
            answer = r.readyz()
            readiness.append((answer.status_code, "above the cap" in answer.text, answer.text))
        head_during = r.node.block_number()
        base_fee = int(rpc(r.node.url, "eth_getBlockByNumber", ["latest", False])["baseFeePerGas"], 16)
        held = summary(r.awards(ids))
    r.node.set_next_base_fee(20 * GWEI)

    r.settle(ids, timeout=25)
    wrong = [text for status, above, text in readiness if status != 503 or not above]
    assert not wrong, (
        f"{len(wrong)} of 10 looks at /readyz while the base fee was {base_fee // GWEI} gwei did not say so, "
        f"the awards being {held}; the first: {wrong[0]}"
    )
    assert r.node.block_number() > head_during
    assert (r.metric("kudos_transaction_replacements_total") or 0) >= 1
    r.wait_for("/readyz is green after the spike", lambda: r.readyz().status_code == 200, timeout=10)
    r.close()


# ----------------------------------------------------------------------------------------------------------------
# c. Every pending transaction dropped
# ----------------------------------------------------------------------------------------------------------------


def test_transactions_the_node_dropped_are_sent_again(rig: MakeRig):
    """Mining paused, awards sent, and the node's pool emptied (``anvil_dropAllTransactions``): when mining goes on,
    the service sends its stored transactions again, and every award is delivered once."""
    r = rig(block_time=1, env={"KUDOS_BATCH_MAX_SIZE": "10"})
    r.node.set_interval_mining(0)
    ids = r.post_batch(range(25), "c") + r.post(range(100, 110), "c-single")
    r.wait_status(ids, {"submitted"}, timeout=10)
    r.wait_for("the transactions are in the pool", lambda: r.node.pending_transactions() > 0, timeout=5)
    r.node.drop_all_transactions()
    emptied = r.node.pending_transactions()
    r.node.set_interval_mining(1)

    r.settle(ids, timeout=25)
    assert emptied == 0
    r.close()


# ----------------------------------------------------------------------------------------------------------------
# d. A reorg
# ----------------------------------------------------------------------------------------------------------------


def test_a_reorg_that_removes_confirmed_awards_and_gives_their_token_ids_away_is_healed(rig: MakeRig):
    """Confirmed awards' blocks replaced by a block holding another minter's award (``anvil_reorg``): that award
    takes the first token id, so the service's awards, sent again, get other token ids; the API must follow the
    chain, and the wallet index roll back."""
    r = rig(block_time=1, env={"KUDOS_CONFIRMATIONS": "1", "KUDOS_BATCH_MAX_SIZE": "10"})
    rival = r.node.private_keys[1]
    grant_minter(r.node, r.contract, Account.from_key(rival).address)
    ids = r.post_batch(range(30), "d")
    before = {v["id"]: v for v in r.settle(ids, timeout=20)}
    first_block = min(v["block_number"] for v in before.values())
    rival_request = keccak(text="rival award")
    rival_award = sign(r.node, rival, to=r.contract, nonce=0, data=award_calldata(RECIPIENTS[0], rival_request))

    depth = r.node.block_number() - first_block + 1
    r.node.reorg(depth, [[rival_award, 0]])
    on_chain = awarded_on_chain(r.node.url, r.contract)

    after = {v["id"]: v for v in r.settle(ids, timeout=25, foreign=[rival_request])}
    moved = [i for i in ids if after[i]["token_id"] != before[i]["token_id"]]
    assert on_chain.get(rival_request) == [min(v["token_id"] for v in before.values())]
    assert moved, "no token id changed: the reorg proved nothing"
    assert (r.metric("kudos_reorgs_total") or 0) >= 1

    chain_tokens = awarded_on_chain(r.node.url, r.contract)
    owners = owners_of(r.node.url, r.contract, [t for tokens in chain_tokens.values() for t in tokens])

    def wallets_follow_the_chain() -> bool:
        for recipient in RECIPIENTS:
            wallet = r.http.get(f"/v1/wallets/{recipient}", params={"limit": 100}).json()
            held = {t for t, owner in owners.items() if owner == recipient.lower()}
            if {item["token_id"] for item in wallet["items"]} != held or wallet["total"] != len(held):
                return False
        return True

    r.wait_for("the wallet index holds what the chain holds", wallets_follow_the_chain, timeout=10)
    r.close()


# ----------------------------------------------------------------------------------------------------------------
# e. The signer's key used by another client
# ----------------------------------------------------------------------------------------------------------------


def test_transfers_sent_with_the_signers_key_elsewhere_do_not_jam_delivery(rig: MakeRig):
    """Another client signs plain transfers with the service's key, at the nonce the chain says is next and with
    higher fees, so they replace the service's transactions in the pool or take nonces it had given: every award
    is still delivered once, and delivery goes on afterwards."""
    r = rig(block_time=1, env={"KUDOS_BATCH_MAX_SIZE": "10"})
    key = r.node.private_keys[0]
    elsewhere = Account.from_key(r.node.private_keys[2]).address
    sent: list[str] = []
    refused: list[str] = []
    stop = threading.Event()

    def outsider() -> None:
        while not stop.is_set():
            nonce = nonce_of(r.node, r.signer, "latest" if len(sent) % 2 == 0 else "pending")
            raw = sign(r.node, key, to=elsewhere, nonce=nonce, gas=_TRANSFER_GAS, max_fee=100 * GWEI, tip=20 * GWEI)
            try:
                sent.append(r.node.rpc("eth_sendRawTransaction", [raw]))
            except Exception as exc:  # underpriced, nonce too low: the race is the point
                refused.append(str(exc))
            stop.wait(0.3)

    thread = threading.Thread(target=outsider, daemon=True)
    thread.start()
    ids: list[str] = []
    started = time.monotonic()
    i = 0
    while time.monotonic() - started < 8:
        ids += r.post(range(i, i + 3), "e")
        i += 3
        time.sleep(0.15)
    stop.set()
    thread.join(5)

    r.settle(ids, timeout=30)
    later = r.post(range(1000, 1005), "e-after")
    r.settle(ids + later, timeout=15)
    mined = [h for h in sent if r.node.rpc("eth_getTransactionReceipt", [h]) is not None]
    assert len(mined) >= 3, f"the outsider's transfers were not mined: {len(sent)} sent, refusals {refused[:3]}"
    r.close()


# ----------------------------------------------------------------------------------------------------------------
# f. An empty signer
# ----------------------------------------------------------------------------------------------------------------


def test_an_empty_signer_holds_awards_queued_and_readyz_names_it_until_funded(rig: MakeRig):
    """The signer's balance set to 0: awards accepted stay ``queued`` (never ``failed``), /readyz names the signer
    and its balance; funded again, they are delivered."""
    r = rig(block_time=1)
    r.node.set_balance(r.signer, 0)
    r.wait_for("the worker sees the empty signer", lambda: r.metric("kudos_signer_balance_wei") == 0, timeout=10)
    ids = r.post_batch(range(10), "f") + r.post(range(100, 105), "f-single")
    statuses: Counter[str] = Counter()
    watched = time.monotonic()
    while time.monotonic() - watched < 4:
        statuses.update(v["status"] for v in r.awards(ids))
        time.sleep(0.3)
    not_ready = r.readyz()
    r.node.set_balance(r.signer, 10**22)

    r.settle(ids, timeout=20)
    assert set(statuses) == {"queued"}, statuses
    assert not_ready.status_code == 503
    text = not_ready.text
    assert r.signer.lower() in text.lower(), text
    assert re.search(r"\b0(\.0+)? ?(wei|ETH|eth)\b", text), f"the balance is not named: {text}"
    r.wait_for("/readyz is green once funded", lambda: r.readyz().status_code == 200, timeout=10)
    r.close()


# ----------------------------------------------------------------------------------------------------------------
# g. anvil killed and started again from its state file
# ----------------------------------------------------------------------------------------------------------------


def test_a_node_crash_that_loses_the_newest_blocks_is_healed(rig: MakeRig):
    """anvil writes its state every 3 s; it is SIGKILLed 1.6 s after a write, while awards flow, and started again
    from that file: the blocks after it are gone (among them awards the API had reported confirmed), and the
    service delivers every award once."""
    r = rig(block_time=1, persist=True, state_interval=3)
    ids: list[str] = []
    stop = threading.Event()

    def post() -> None:
        with r.client() as http:
            i = 0
            while not stop.is_set():
                try:
                    ids.extend(r.post(range(i, i + 2), "g", http))
                except httpx2.TransportError:
                    continue  # posted again with the same key: accepted once whatever happened
                i += 2
                stop.wait(0.2)

    poster = threading.Thread(target=post, daemon=True)
    poster.start()
    r.wait_for("anvil writes its state", r.node.state_path.exists, timeout=10, every=0.05)
    written = r.node.state_path.stat().st_mtime
    r.wait_for(
        "anvil writes its state again", lambda: r.node.state_path.stat().st_mtime != written, timeout=5, every=0.02
    )
    snapshot = time.monotonic()
    time.sleep(1.6)
    seen = r.awards(ids[-20:])  # the newest: those in the blocks the crash will lose
    head_before = r.node.block_number()
    r.node.kill()
    killed_after = time.monotonic() - snapshot
    time.sleep(0.5)
    r.node.restart()
    head_after = r.node.block_number()
    time.sleep(3)
    stop.set()
    poster.join(10)

    assert killed_after < 2.9, f"killed {killed_after:.1f} s after the snapshot: the next one may have been written"
    lost = [v["id"] for v in seen if v["status"] == "confirmed" and v["block_number"] > head_after]
    assert head_after < head_before, f"the crash lost no block ({head_before} -> {head_after})"
    assert lost, f"no confirmed award was in the lost blocks {head_after + 1}..{head_before}: {summary(seen)}"
    r.settle(ids, timeout=30)
    r.close()


# ----------------------------------------------------------------------------------------------------------------
# h. Revocations through a drop and a reorg
# ----------------------------------------------------------------------------------------------------------------


def _wait_operations(r: Rig, op_ids: Iterable[int], status: str, *, timeout: float) -> list[dict[str, Any]]:
    views: list[dict[str, Any]] = []

    def reached() -> bool:
        nonlocal views
        views = [r.operation(i) for i in op_ids]
        assert all(v["status"] != "failed" for v in views), views
        return all(v["status"] == status for v in views)

    r.wait_for(f"operations {status}", reached, timeout=timeout)
    return views


def _operations_match_the_chain(r: Rig, ops: Iterable[dict[str, Any]]) -> list[str]:
    problems = []
    for op in ops:
        receipt = r.node.rpc("eth_getTransactionReceipt", [op["tx_hash"]])
        if receipt is None or receipt["status"] != "0x1" or int(receipt["blockNumber"], 16) != op["block_number"]:
            problems.append(f"operation {op['id']} (tx {op['tx_hash']}, block {op['block_number']}): {receipt}")
    return problems


def test_revocations_survive_a_dropped_pool_and_a_reorg_and_revoke_each_kudos_once(rig: MakeRig):
    """Revocations are asynchronous operations in the outbox: two are sent while mining is paused and dropped from
    the pool, two are mined and then removed by a reorg; each kudos is revoked on chain once, each operation
    confirmed with the transaction the chain holds, and the same Idempotency-Key returns the same operation."""
    r = rig(block_time=1)
    ids = r.post_batch(range(8), "h")
    awards = r.settle(ids, timeout=20)
    tokens = [a["token_id"] for a in awards]

    r.node.set_interval_mining(0)
    dropped = [r.revoke(t, f"revoke-{t}") for t in tokens[:2]]
    assert [a.status_code for a in dropped] == [202, 202], [a.text for a in dropped]
    dropped_ids = [a.json()["id"] for a in dropped]
    _wait_operations(r, dropped_ids, "submitted", timeout=10)
    r.wait_for("the revocations are in the pool", lambda: r.node.pending_transactions() > 0, timeout=5)
    r.node.drop_all_transactions()
    r.node.set_interval_mining(1)
    _wait_operations(r, dropped_ids, "confirmed", timeout=20)

    reorged = [r.revoke(t, f"revoke-{t}") for t in tokens[2:4]]
    assert [a.status_code for a in reorged] == [202, 202], [a.text for a in reorged]
    reorged_ids = [a.json()["id"] for a in reorged]
    mined = _wait_operations(r, reorged_ids, "confirmed", timeout=15)
    r.node.reorg(r.node.block_number() - min(op["block_number"] for op in mined) + 1)
    removed = [r.node.rpc("eth_getTransactionReceipt", [op["tx_hash"]]) for op in mined]

    def healed() -> bool:
        ops = [r.operation(i) for i in dropped_ids + reorged_ids]
        return all(op["status"] == "confirmed" for op in ops) and not _operations_match_the_chain(r, ops)

    r.wait_for("the revocations are confirmed again", healed, timeout=20)
    ops = [r.operation(i) for i in dropped_ids + reorged_ids]
    replay = r.revoke(tokens[0], f"revoke-{tokens[0]}")

    assert removed == [None, None], "the reorg did not remove the revocations"
    assert [op["token_id"] for op in ops] == tokens[:4]
    assert all(op["kind"] == "revoke" for op in ops)
    assert replay.status_code == 202, replay.text
    assert replay.json()["id"] == dropped_ids[0]
    assert replay.headers.get("Idempotent-Replayed") == "true"
    r.settle(ids, timeout=5, revoked=tokens[:4])
    r.close()


# ----------------------------------------------------------------------------------------------------------------
# i. anvil started again without its state: another chain
# ----------------------------------------------------------------------------------------------------------------


def _deploy_with_the_cli(r: Rig) -> tuple[str, int]:
    """``kudos deploy`` on the node with the service's keystore; the contract address and block it prints."""
    done = kudos_command(
        "deploy",
        "--rpc-url",
        r.node.url,
        "--keystore",
        str(r.keystore),
        "--password-file",
        str(r.password_file),
        "--base-uri",
        f"{r.server.url}/v1/tokens/",
        timeout=60,
    )
    output = done.stdout + done.stderr
    assert done.returncode == 0, f"kudos deploy exited with {done.returncode}: {output}"
    address = re.search(r"KUDOS_CONTRACT_ADDRESS\W+(0x[0-9a-fA-F]{40})", output)
    from_block = re.search(r"KUDOS_CONTRACT_FROM_BLOCK\W+(\d+)", output)
    assert address is not None, f"kudos deploy did not print KUDOS_CONTRACT_ADDRESS: {output}"
    return address.group(1), int(from_block.group(1)) if from_block else 0


@dataclass
class Replaced:
    """Awards delivered on a node that was then started again empty: ``old`` were confirmed before (the first one
    revoked since, its kudos ``revoked_token``), ``later`` accepted after."""

    old: list[dict[str, Any]]
    later: list[str]
    revoked_award: str

    @property
    def ids(self) -> list[str]:
        return [a["id"] for a in self.old] + self.later


def _replace_the_chain(r: Rig) -> Replaced:
    """Deliver 10 awards and revoke the first; start anvil again without its state on the same port; accept 5
    more awards; wait until /readyz says the node answers for another chain."""
    ids = r.post_batch(range(10), "i")
    old = r.settle(ids, timeout=15)
    revoked = r.revoke(old[0]["token_id"], "revoke-i")
    assert revoked.status_code == 202, revoked.text
    _wait_operations(r, [revoked.json()["id"]], "confirmed", timeout=15)
    r.node.kill()
    r.node.restart()
    later = r.post(range(100, 105), "i-later")

    def another_chain() -> bool:
        answer = r.readyz()
        return answer.status_code == 503 and "another chain" in answer.text

    r.wait_for("/readyz says the node answers for another chain", another_chain, timeout=10)
    return Replaced(old, later, old[0]["id"])


#: anvil's genesis block is made from its settings and the second it starts: a node started again in another
#: second has another genesis hash, but one started with a fixed ``--timestamp`` (or within the same second) has
#: the same, and only the contract's missing code tells the chains apart.
GENESIS = {"new-genesis": [], "same-genesis": ["--timestamp", "1790000000"]}


@pytest.mark.parametrize("genesis", list(GENESIS))
def test_a_node_restarted_without_its_state_is_another_chain_and_nothing_is_written_to_it(rig: MakeRig, genesis):
    """anvil started again empty on the same port answers for another chain: /readyz says so, no award changes
    (the confirmed stay confirmed with their token ids, the new stay queued), nothing is written to the new chain,
    reads never fail with a 500, and the worker does not spin on errors."""
    r = rig(args=GENESIS[genesis])
    genesis_hash = r.node.rpc("eth_getBlockByNumber", ["0x0", False])["hash"]
    replaced = _replace_the_chain(r)
    held = r.awards(replaced.ids)
    log_before = len(r.log_lines())
    watched = time.monotonic()
    while time.monotonic() - watched < 4:
        r.http.get(f"/v1/tokens/{replaced.old[1]['token_id']}")
        r.http.get(f"/v1/wallets/{RECIPIENTS[0]}")
        r.http.get("/metrics")
        assert r.readyz().status_code == 503
        time.sleep(0.5)
    still = r.awards(replaced.ids)
    new_lines = r.log_lines()[log_before:]
    readiness = r.readyz().text

    assert [(v["status"], v["token_id"]) for v in still] == [(v["status"], v["token_id"]) for v in held]
    assert {v["status"] for v in still[: len(replaced.old)]} == {"confirmed"}
    assert {v["status"] for v in still[len(replaced.old) :]} == {"queued"}
    assert nonce_of(r.node, r.signer) == 0, "the service wrote to the other chain"
    assert len(new_lines) <= 12, "the worker loops on errors:\n" + "\n".join(new_lines[-12:])
    assert "another chain" in readiness
    assert (r.node.rpc("eth_getBlockByNumber", ["0x0", False])["hash"] == genesis_hash) == (genesis == "same-genesis")
    r.close()


def test_after_a_chain_is_replaced_the_operator_redelivers_every_award_not_revoked_once(rig: MakeRig):
    """On the chain that replaced the old one the operator deploys a new contract (``kudos deploy``) and, with the
    server stopped, runs ``kudos chain redeliver`` (a listing that writes nothing) and ``--yes``; started again on
    the new contract, the server delivers every award that was not revoked, once, with the new token ids."""
    r = rig()
    replaced = _replace_the_chain(r)

    contract, from_block = _deploy_with_the_cli(r)
    assert r.server.stop() in (0, -15)  # uvicorn ends by raising SIGTERM again once it has shut down
    env = r.server.env | {
        "KUDOS_CONTRACT_ADDRESS": contract,
        "KUDOS_CONTRACT_FROM_BLOCK": str(from_block),
        "KUDOS_DATA_DIR": str(r.server.data_dir),
    }
    listing = kudos_command("chain", "redeliver", env=env)
    shown = listing.stdout + listing.stderr
    assert listing.returncode == 0, f"kudos chain redeliver exited with {listing.returncode}: {shown}"
    assert re.search(rf"\b{len(replaced.old)}\b", shown), f"the listing does not count the old awards: {shown}"
    assert awarded_on_chain(r.node.url, contract) == {}, "the listing wrote to the chain"
    done = kudos_command("chain", "redeliver", "--yes", env=env)
    assert done.returncode == 0, (
        f"kudos chain redeliver --yes exited with {done.returncode}: {done.stdout}{done.stderr}"
    )

    r.server.env = env
    r.server.start()
    r.settle([i for i in replaced.ids if i != replaced.revoked_award], timeout=20, contract=contract)
    r.wait_for("/readyz is green on the new contract", lambda: r.readyz().status_code == 200, timeout=10)
    r.close()
