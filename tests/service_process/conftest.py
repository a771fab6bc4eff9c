"""Fixtures and helpers of the process-level tests: real ``kudos serve`` processes and what to send them.

Every server a test starts through :func:`servers` is killed at the end of the test if it still runs. anvil is
needed by the real-chain tests only; where it is missing they are skipped, except in CI, where they fail.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import httpx2
import pytest

from kudos_chain import Chain, KudosClient, Signer
from kudos_chain.client import KUDOS_AWARDED_TOPIC
from kudos_chain.testing import KudosServer

#: A few recipients, the same in every run.
RECIPIENTS = [Signer.from_key(bytes([7 + i]) * 32).address for i in range(3)]

NewServer = Callable[..., KudosServer]


@pytest.fixture
def servers() -> Iterator[NewServer]:
    """A factory of :class:`KudosServer` (not started); each is killed at teardown if it still runs."""
    made: list[KudosServer] = []

    def make(data_dir: Path, **kwargs: Any) -> KudosServer:
        server = KudosServer(data_dir, **kwargs)
        made.append(server)
        return server

    yield make
    for server in made:
        if server.running:
            server.kill()


@pytest.fixture
def needs_anvil(kudos_anvil_binary: Path) -> None:
    """Skip (or fail, in CI) when anvil is not found (see ``kudos_anvil_binary`` in ``tests/conftest.py``)."""


def award_body(i: int, *, tag: str = "t") -> dict[str, Any]:
    """The ``i``-th award of a test: round-robin over :data:`RECIPIENTS` and the first three kinds."""
    return {
        "recipient": RECIPIENTS[i % len(RECIPIENTS)],
        "kind": 1 + i % 3,
        "message": f"thanks for #{i} ({tag})",
        "awarded_by": "process tests",
    }


def headers(key: str, idempotency_key: str | None = None) -> dict[str, str]:
    """Authorization (and an Idempotency-Key) for ``key``."""
    out = {"Authorization": f"Bearer {key}"}
    if idempotency_key is not None:
        out["Idempotency-Key"] = idempotency_key
    return out


def post_award(http: httpx2.Client, key: str, idempotency_key: str, body: dict[str, Any]) -> httpx2.Response:
    """POST /v1/awards with its Idempotency-Key."""
    return http.post("/v1/awards", json=body, headers=headers(key, idempotency_key))


def wait_confirmed(http: httpx2.Client, key: str, award_ids: Iterable[str], *, timeout: float) -> dict[str, Any]:
    """Wait until every award is ``confirmed`` and return each one's API view, by id.

    :raises AssertionError: when one fails, or time runs out (naming how many are left).
    """
    pending = set(award_ids)
    done: dict[str, Any] = {}
    deadline = time.monotonic() + timeout
    while pending:
        for award_id in sorted(pending):
            wait = 0 if len(pending) > 1 else min(5.0, max(deadline - time.monotonic(), 0.0))
            answer = http.get(f"/v1/awards/{award_id}", params={"wait": wait}, headers=headers(key))
            assert answer.status_code == 200, answer.text
            award = answer.json()
            assert award["status"] != "failed", award
            if award["status"] == "confirmed":
                done[award_id] = award
                pending.discard(award_id)
            else:
                break  # awards are delivered in order of acceptance: the next ones are not confirmed either
        if pending:
            assert time.monotonic() < deadline, f"{len(pending)} awards are not confirmed after {timeout:g} s"
            time.sleep(0.2)
    return done


def awarded_events(chain: Chain, client: KudosClient) -> list[tuple[int, bytes]]:
    """``(token id, request id)`` of every ``KudosAwarded`` event of the contract, in chain order."""
    logs = chain.get_logs(address=client.address, topic_sets=[[KUDOS_AWARDED_TOPIC]], from_block=client.from_block)
    return [(int.from_bytes(log.topics[1], "big"), log.topics[2]) for log in logs]
