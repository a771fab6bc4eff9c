"""``kudos serve`` killed (SIGKILL) while awards are in flight, then started again: every award accepted before or
after the crash is minted exactly once.

Clients post :data:`AWARDS` awards from :data:`CLIENTS` threads, each with its own idempotency key, and keep every
202. The server is killed at one of :data:`KILL_POINTS`; it is started again on the same data directory and
port, every award is posted again with its key (those that had a 202 must be replayed as the same award), and
once all are confirmed the chain file is read in this process: one ``KudosAwarded`` event per award, each
request id once.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable
from pathlib import Path

import httpx2
import pytest

from kudos_chain import Chain, KudosClient
from kudos_chain.client import request_id_bytes
from tests.service_process.conftest import NewServer, award_body, awarded_events, post_award, wait_confirmed

AWARDS = 300
CLIENTS = 4

_GAUGE = re.compile(r'^kudos_awards\{status="(\w+)"\} ([0-9.e+]+)$', re.MULTILINE)


def award_counts(http: httpx2.Client) -> dict[str, int]:
    """The awards by status, from /metrics."""
    answer = http.get("/metrics")
    answer.raise_for_status()
    return {status: int(float(value)) for status, value in _GAUGE.findall(answer.text)}


#: When to kill, given the 202s so far and the awards by status.
KILL_POINTS: dict[str, Callable[[int, dict[str, int]], bool]] = {
    "after-100-accepted": lambda accepted, counts: accepted >= 100,
    "while-a-batch-is-submitted": lambda accepted, counts: counts.get("submitted", 0) > 0,
    "after-the-first-confirmations": lambda accepted, counts: counts.get("confirmed", 0) > 0,
}


class Clients:
    """:data:`CLIENTS` threads posting the awards ``0 .. AWARDS-1``, keeping each 202's award id by key."""

    def __init__(self, url: str, key: str) -> None:
        self.url = url
        self.key = key
        self.accepted: dict[str, str] = {}
        self.unexpected: list[tuple[str, int, str]] = []
        self._lock = threading.Lock()
        self._threads = [threading.Thread(target=self._post, args=(t,), daemon=True) for t in range(CLIENTS)]

    def _post(self, first: int) -> None:
        with httpx2.Client(base_url=self.url, timeout=15) as http:
            for i in range(first, AWARDS, CLIENTS):
                idempotency_key = f"award-{i}"
                try:
                    answer = post_award(http, self.key, idempotency_key, award_body(i))
                except httpx2.TransportError:
                    continue  # the server is gone: this award is posted again after the restart
                with self._lock:
                    if answer.status_code == 202:
                        self.accepted[idempotency_key] = answer.json()["id"]
                    else:
                        self.unexpected.append((idempotency_key, answer.status_code, answer.text))

    def start(self) -> None:
        for thread in self._threads:
            thread.start()

    def join(self) -> None:
        for thread in self._threads:
            thread.join(60)
            assert not thread.is_alive()

    @property
    def count(self) -> int:
        with self._lock:
            return len(self.accepted)


def kill_when(server_url: str, clients: Clients, ready: Callable[[int, dict[str, int]], bool]) -> dict[str, int]:
    """Poll until ``ready``, and return the awards by status seen last."""
    deadline = time.monotonic() + 30
    with httpx2.Client(base_url=server_url, timeout=5) as http:
        while True:
            counts = award_counts(http)
            if ready(clients.count, counts):
                return counts
            assert time.monotonic() < deadline, f"the kill point was not reached: {counts}"
            time.sleep(0.01)


@pytest.mark.parametrize("kill_point", list(KILL_POINTS))
def test_a_killed_server_delivers_every_accepted_award_exactly_once(servers: NewServer, tmp_path: Path, kill_point):
    server = servers(tmp_path).start()
    key = server.create_key("award")
    clients = Clients(server.url, key)
    clients.start()
    counts = kill_when(server.url, clients, KILL_POINTS[kill_point])
    assert server.kill() == -9
    clients.join()
    accepted_before = dict(clients.accepted)
    assert clients.unexpected == []
    assert counts.get("confirmed", 0) < AWARDS, "the server was killed after it had delivered everything"

    server.start()
    ids: dict[str, str] = {}
    with httpx2.Client(base_url=server.url, timeout=30) as http:
        for i in range(AWARDS):
            idempotency_key = f"award-{i}"
            answer = post_award(http, key, idempotency_key, award_body(i))
            assert answer.status_code == 202, answer.text
            ids[idempotency_key] = answer.json()["id"]
            if idempotency_key in accepted_before:
                assert answer.headers.get("Idempotent-Replayed") == "true"
        assert {k: ids[k] for k in accepted_before} == accepted_before  # a 202 before the crash is the same award
        confirmed = wait_confirmed(http, key, ids.values(), timeout=90)
    assert server.stop() in (0, -15)

    token_ids = [a["token_id"] for a in confirmed.values()]
    assert len(confirmed) == AWARDS
    assert len(set(token_ids)) == AWARDS
    address = next(iter(confirmed.values()))["contract_address"]
    with Chain.embedded(path=tmp_path / "chain.db") as chain:
        client = KudosClient.attach(chain, address)
        events = awarded_events(chain, client)
        total = client.total_awarded()
    on_chain = {request_id: token_id for token_id, request_id in events}
    assert total == len(events) == AWARDS
    assert len(on_chain) == len(events), "a request id was minted twice"
    assert on_chain == {request_id_bytes(a["id"]): a["token_id"] for a in confirmed.values()}
