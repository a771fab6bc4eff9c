"""Public reads in constant time: verifying a kudos's metadata never scans the chain.

``GET /v1/tokens/{id}`` and its badge read the content hash from the service's event index, or, for a kudos the
index has not reached yet, from the one block its award was mined in. These tests count the node requests a cold
read makes where every request of the embedded chain goes (the endpoints of web3's ``EthereumTesterProvider``),
at a few dozen kudos and again at a few thousand.

The service here runs without its worker thread, so that every node request counted is the read's own: the tests
deliver awards (and index them) by calling the worker themselves.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import pytest
from kudos_service.models import Award
from sqlalchemy import delete, select, text, update

from kudos_chain import Award as ChainAward
from kudos_chain import Chain, ChainError, content_hash
from kudos_chain.indexer import KudosIndexer, index_tokens
from tests.service.conftest import Service, assert_error, award_body, new_address, start_service

#: The gas limit of one bulk batch of 200 kudos (about 6 million are used). Set, not estimated: py-evm estimates
#: by executing the batch some twenty times over, which would make minting thousands take minutes.
BATCH_GAS = 12_000_000

BATCH = 200


@pytest.fixture(scope="module")
def idle(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    """A service without its delivery thread: nothing asks the node but the requests under test."""
    with start_service(tmp_path_factory.mktemp("kudos-public-reads"), run_worker=False) as running:
        yield running


# ----------------------------------------------------------------------------------------------------------------
# Counting node requests
# ----------------------------------------------------------------------------------------------------------------


@dataclass
class NodeRequests:
    """The JSON-RPC requests the embedded chain answered, in order, with their parameters."""

    calls: list[tuple[str, Any]] = field(default_factory=list)

    def summary(self) -> list[tuple[str, int | None]]:
        """Each request's method, with the number of blocks it spans for ``eth_getLogs`` (None for others)."""
        return [(method, _span(params) if method == "eth_getLogs" else None) for method, params in self.calls]


def _block(value: Any) -> int:
    return int(value, 16) if isinstance(value, str) else int(value)


def _span(params: Any) -> int:
    """How many blocks an ``eth_getLogs`` filter covers (what a node reads to answer it)."""
    log_filter = params[0]
    low = log_filter.get("from_block", log_filter.get("fromBlock"))
    high = log_filter.get("to_block", log_filter.get("toBlock"))
    return _block(high) - _block(low) + 1


@contextmanager
def counting(chain: Chain) -> Iterator[NodeRequests]:
    """Record every request ``chain`` sends: web3's eth-tester provider dispatches each one, its own middleware's
    included, through ``api_endpoints``."""
    provider: Any = chain.w3.provider
    endpoints = provider.api_endpoints
    seen = NodeRequests()

    def counted(method: str, endpoint: Any) -> Any:
        def call(tester: Any, params: Any) -> Any:
            seen.calls.append((method, params))
            return endpoint(tester, params)

        return call

    provider.api_endpoints = {
        namespace: {name: counted(f"{namespace}_{name}", endpoint) for name, endpoint in methods.items()}
        for namespace, methods in endpoints.items()
    }
    try:
        yield seen
    finally:
        provider.api_endpoints = endpoints


# ----------------------------------------------------------------------------------------------------------------
# Growing the chain, delivering awards
# ----------------------------------------------------------------------------------------------------------------


def deliver(service: Service) -> None:
    """What the worker thread would do: deliver every queued award, then bring the index up to date."""
    while service.state.worker.run_once():
        pass


def grow(service: Service, count: int, monkeypatch: pytest.MonkeyPatch) -> None:
    """``count`` more kudos on the service's chain, awarded through the library in batches of 200, and indexed.

    They have no award row (the service did not accept them): they are the chain and the index a busy service
    would have. The index reads their events as it always does, but not the kind, issue time and transferability
    from storage (one ``eth_call`` each on the embedded chain, a minute for 3,000), which no public read uses.
    """
    ctx = service.ctx
    tag = os.urandom(4).hex()
    holder = new_address()
    awards = [ChainAward(holder, 1, content_hash({"bulk": tag, "n": n}), f"bulk-{tag}-{n}") for n in range(count)]
    calls: list[Any] = [
        {"to": ctx.client.address, "data": ctx.client.award_batch_calldata(awards[i : i + BATCH])}
        for i in range(0, count, BATCH)
    ]
    with ctx.lock:
        manager = ctx.manager
        manager.resync_nonce()  # the service's outbox gives this key's nonces too: ask the chain
        signed = manager.sign_many(calls, gas=[BATCH_GAS] * len(calls))
        manager.wait_many(manager.broadcast_many(signed))
    with monkeypatch.context() as patch:
        patch.setattr(KudosIndexer, "_fill_kudos_data", lambda *_: None)
        service.state.worker.sync_index(ctx)


def awarded(service: Service, **overrides: Any) -> int:
    """The token id of a kudos accepted over the API, delivered and indexed."""
    response = service.post_award(award_body(**overrides))
    assert response.status_code == 202, response.text
    deliver(service)
    award = service.client.get(f"/v1/awards/{response.json()['id']}", headers=service.auth()).json()
    assert award["status"] == "confirmed", award
    token_id: int = award["token_id"]
    return token_id


def unindex(service: Service, token_id: int) -> None:
    """Take ``token_id`` out of the event index, as it is while the index lags behind the chain."""
    with service.state.db.engine.begin() as conn:
        removed = conn.execute(delete(index_tokens).where(index_tokens.c.token_id == token_id)).rowcount
    assert removed == 1


def cold_reads(service: Service, token_id: int) -> dict[str, list[tuple[str, int | None]]]:
    """The node requests of a first read of the metadata and of the badge of ``token_id``, each on its own."""
    out = {}
    for path in (f"/v1/tokens/{token_id}", f"/v1/tokens/{token_id}/image.svg"):
        with counting(service.ctx.chain) as requests:
            response = service.client.get(path)
        assert response.status_code == 200, response.text
        out[path.removeprefix(f"/v1/tokens/{token_id}") or "metadata"] = requests.summary()
    return out


def measure(service: Service) -> dict[str, dict[str, list[tuple[str, int | None]]]]:
    """The node requests of cold reads of a fresh kudos in the index, and of one the index has not reached."""
    indexed, lagging = awarded(service), awarded(service)
    unindex(service, lagging)
    return {"indexed": cold_reads(service, indexed), "lagging": cold_reads(service, lagging)}


# ----------------------------------------------------------------------------------------------------------------
# Tests
# ----------------------------------------------------------------------------------------------------------------


def test_a_cold_read_asks_the_node_as_much_at_3000_kudos_as_at_30(idle: Service, monkeypatch: pytest.MonkeyPatch):
    grow(idle, 30, monkeypatch)
    few = measure(idle)
    grow(idle, 3_000, monkeypatch)
    many = measure(idle)

    assert idle.ctx.client.total_awarded() >= 3_030
    assert many == few
    one_block = [("eth_getLogs", 1)]  # the award's own block, by the token id's topic
    assert few == {
        "indexed": {"metadata": [], "/image.svg": []},  # the index answers: no node request at all
        "lagging": {"metadata": one_block, "/image.svg": one_block},
    }


def test_a_kudos_the_index_has_not_reached_is_verified_from_its_block(idle: Service):
    token_id = awarded(idle, message="Straight from the chain.")
    unindex(idle, token_id)

    response = idle.client.get(f"/v1/tokens/{token_id}")

    assert response.status_code == 200, response.text
    assert response.headers["X-Content-Hash"] == "0x" + idle.ctx.client.kudos(token_id).content_hash.hex()
    assert b"Straight from the chain." in response.content


def tamper(service: Service, token_id: int) -> None:
    with service.state.db.engine.begin() as conn:
        row = conn.execute(select(Award.metadata_json).where(Award.token_id == token_id)).scalar_one()
        conn.execute(
            update(Award).where(Award.token_id == token_id).values(metadata_json=row.replace(b"Genuine", b"Forged!"))
        )


@pytest.mark.parametrize("in_index", [True, False], ids=["indexed", "index lagging"])
def test_altered_metadata_is_refused_from_the_index_and_from_the_chain(idle: Service, in_index: bool):
    token_id = awarded(idle, message="Genuine thanks.")
    if not in_index:
        unindex(idle, token_id)
    tamper(idle, token_id)

    assert_error(idle.client.get(f"/v1/tokens/{token_id}"), 409, "metadata_mismatch")
    assert_error(idle.client.get(f"/v1/tokens/{token_id}/image.svg"), 409, "metadata_mismatch")


def test_an_indexed_kudos_is_served_while_the_node_is_down(idle: Service, monkeypatch: pytest.MonkeyPatch):
    indexed, lagging = awarded(idle), awarded(idle)
    unindex(idle, lagging)

    def down(*_: Any, **__: Any) -> Any:
        raise ChainError("the node is down")

    monkeypatch.setattr(idle.ctx.chain, "get_logs", down)

    assert idle.client.get(f"/v1/tokens/{indexed}").status_code == 200
    assert_error(idle.client.get(f"/v1/tokens/{lagging}"), 503, "chain_unavailable")


def test_an_award_event_missing_from_its_block_is_404(idle: Service):
    token_id = awarded(idle)
    unindex(idle, token_id)
    with idle.state.db.engine.begin() as conn:  # as if a reorganization had moved the award to another block
        conn.execute(text("UPDATE awards SET block_number = block_number - 1 WHERE token_id = :t"), {"t": token_id})

    error = assert_error(idle.client.get(f"/v1/tokens/{token_id}"), 404, "token_not_found")
    assert "no award event" in error["message"]
