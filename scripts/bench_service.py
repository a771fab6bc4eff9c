#!/usr/bin/env python3
"""Benchmark the service on local anvil nodes, in one run, and print the results as Markdown tables.

    python scripts/bench_service.py [--part all|instant|real-chain] [--check]
        instant:    [--awards 5000] [--clients 200] [--naive-n 200] [--batch-size 500] [--down-awards 200]
        real-chain: [--block-time 1] [--real-awards 20000] [--real-clients 4] [--real-batch-size 500]
                    [--real-singles 0] [--real-naive-n 10] [--fee-cap-gwei 20] [--spike-gwei 50]
                    [--spike-seconds 15] [--spike-awards 1000] [--spike-end restore|decay]

Each part starts its own fresh anvil node (``--block-gas-limit``, 30,000,000 by default), deploys a KudosToken,
writes the minter's key to a keystore, and starts ``kudos serve`` on that chain (``KUDOS_RPC_URL`` ...) as a child
process on a loopback port with a temporary data directory. ``--part all`` (the default) runs both, one after the
other, and prints each part's table as soon as it is done.

Part ``instant``: anvil mines every transaction as it arrives.

  (a) the baseline: the loop tutorials write with web3.py (build, sign, send, wait; next) on the same node, from
      ``scripts/bench_library.py``, before the service has anything to do;
  (b) the load: ``--clients`` concurrent HTTP clients (asyncio, aiohttp, one connection each) post ``--awards``
      single awards (``POST /v1/awards``, each with its own Idempotency-Key), each client posting its next award
      as soon as its last one is accepted; the script waits until the service has confirmed every one;
  (c) for comparison, the same number of awards posted ``--batch-size`` a request to ``/v1/awards/batch`` by four
      clients: what the delivery worker confirms when accepting is not the limit.
  (h) the node down: anvil is stopped and ``--down-awards`` awards are posted by 20 clients; their time to accept
      (p50, p95, max) shows that accepting never waits for the chain, and they must all read ``queued``.

  It reports the confirmed kudos per second through the API (awards / time from the first POST to the last
  confirmation), the 50th, 95th and 99th percentiles of the time to accept an award (POST to 202, as the client
  sees it), and the 95th percentile of the time from acceptance to confirmation (the service's own ``created_at``
  and ``confirmed_at`` of each award). Targets: (b) at least 20 times (a) in kudos per second; p95 time to accept
  at most 50 ms.

Part ``real-chain``: anvil with ``--block-time`` (1 s) and the block gas limit, a block every second, empty or not,
as real chains make them (instant mining hides every timing bug). The service runs with ``KUDOS_CONFIRMATIONS=1``,
``KUDOS_RESEND_AFTER_S=2``, ``KUDOS_REPLACE_AFTER_BLOCKS=3`` and ``KUDOS_MAX_FEE_PER_GAS`` at ``--fee-cap-gwei``
(``--setting`` overrides any of them; a service that does not know a setting ignores it). Every kudos goes to an
address that holds none yet, as the capacity assumes.

  (d) the chain's capacity for batched kudos: the gas one ``KudosClient.award_batch`` transaction of 200 kudos
      uses, per kudos; capacity = block gas limit / gas per batched kudos / block time (about 575/s);
  (e) the naive loop of (a), ``--real-naive-n`` kudos (each waits for its block);
  (f) the load: ``--real-awards`` awards posted ``--real-batch-size`` a request to ``/v1/awards/batch`` by
      ``--real-clients`` clients (and ``--real-singles`` of them as single awards by ``--real-single-clients``
      more): confirmed kudos/s (awards / time from the first acceptance to the last confirmation, the service's
      ``created_at`` and ``confirmed_at``) as a fraction of the capacity, and the latency in blocks from
      acceptance to the award's block and to its confirmation. The chain's head is polled every 50 ms in a
      thread, so the block that was newest when an award was accepted is known (to one poll);
  (g) a fee spike: the base fee held at ``--spike-gwei`` (``anvil_setNextBlockBaseFeePerGas`` before every
      block) for ``--spike-seconds``, above the service's fee cap, while ``--spike-awards`` awards are posted;
      then the spike ends (``restore``: the next block's base fee is what it was before; ``decay``: it falls by
      EIP-1559's 12.5 % a block) and the time until every award is confirmed is measured, in seconds and blocks.

  Target: (f) at least 0.8 of the capacity. Each accepted award must also be on chain exactly once (by its request
  id, with the token id and block the API reports).

Ctrl-C (or SIGTERM) stops anvil and the service before the script exits.

Exit status: 0; with ``--check``, 1 when a target is missed.
"""

from __future__ import annotations

import argparse
import asyncio
import bisect
import contextlib
import importlib.util
import json
import os
import platform
import re
import secrets
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run as a file: make the repository's packages importable
    sys.path.insert(0, str(ROOT))

import aiohttp  # noqa: E402
import httpx2  # noqa: E402
import uvicorn  # noqa: E402
from eth_utils.address import to_checksum_address  # noqa: E402
from eth_utils.crypto import keccak  # noqa: E402

from kudos_chain import Award, Chain, KudosClient, Signer, content_hash  # noqa: E402
from kudos_chain.client import KUDOS_AWARDED_TOPIC, MAX_BATCH_SIZE, request_id_bytes  # noqa: E402
from kudos_chain.testing import AnvilNode, KudosServer  # noqa: E402
from scripts.bench_library import Measure, anvil_version, awards_to, naive_loop  # noqa: E402

#: What (b) must reach, in multiples of (a)'s kudos per second, and the p95 time to accept, in seconds.
TARGET_RATIO = 20.0
TARGET_P95_ACCEPT = 0.050

#: The keystore's password, new in each run.
PASSWORD = secrets.token_urlsafe(16)

#: Attempts of one POST: a connection error is followed by the same request, with the same Idempotency-Key.
_ATTEMPTS = 5

_CONFIRMED = re.compile(r'^kudos_awards\{status="confirmed"\} ([0-9.e+]+)$', re.MULTILINE)
_FAILED = re.compile(r'^kudos_awards\{status="failed"\} ([0-9.e+]+)$', re.MULTILINE)


@dataclass(frozen=True, slots=True)
class Load:
    """What the clients saw: when the load began (wall clock), each award's id and its time to 202 (from the first
    attempt), and the connection errors after which a POST was sent again."""

    started_at: float
    seconds: float
    award_ids: list[str]
    accept_seconds: list[float]
    transport_errors: list[str]


@dataclass(frozen=True, slots=True)
class Delivery:
    """What the service did: when each award was accepted and confirmed (its own clock)."""

    created_at: list[float]
    confirmed_at: list[float]


def cpu_seconds(pid: int) -> float | None:
    """The CPU time (user and system) process ``pid`` has used, from ``/proc`` (None elsewhere)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q``-th percentile (0-100) of ``values``, interpolated."""
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=1000, method="inclusive")[round(q * 10) - 1]


def recipients(count: int) -> list[str]:
    """Addresses that receive the kudos: the same in every run."""
    return [Signer.from_key(bytes([i % 250 + 1, i // 250 + 1]) * 16).address for i in range(count)]


# ----------------------------------------------------------------------------------------------------------------
# Set up
# ----------------------------------------------------------------------------------------------------------------


def deploy(node: AnvilNode, workdir: Path, base_url: str) -> tuple[KudosClient, dict[str, str]]:
    """Deploy with anvil's first key (the service's minter) and make its second a minter too (the naive loop's);
    write the first key to a keystore. Returns the client and the service's settings."""
    admin = Signer.from_key(node.private_keys[0])
    chain = Chain.connect(node.url, chain_id=node.chain_id)
    client = KudosClient.deploy(chain, admin, base_uri=f"{base_url}/v1/tokens/")
    client.grant_minter(Signer.from_key(node.private_keys[1]).address)
    keystore = admin.to_keystore(workdir / "minter.json", PASSWORD, kdf="pbkdf2", iterations=2)
    password_file = workdir / "minter.password"
    password_file.write_text(PASSWORD, "utf-8")
    env = {
        "KUDOS_RPC_URL": node.url,
        "KUDOS_CHAIN_ID": str(node.chain_id),
        "KUDOS_CONTRACT_ADDRESS": client.address,
        "KUDOS_CONTRACT_FROM_BLOCK": str(client.from_block),
        "KUDOS_SIGNER_KEYSTORE": str(keystore),
        "KUDOS_SIGNER_PASSWORD_FILE": str(password_file),
    }
    return client, env


# ----------------------------------------------------------------------------------------------------------------
# The load
# ----------------------------------------------------------------------------------------------------------------


def award_body(i: int, to: Sequence[str]) -> dict[str, Any]:
    """The ``i``-th award of the run."""
    return {"recipient": to[i % len(to)], "kind": 1 + i % 5, "message": f"thanks #{i}", "awarded_by": "bench"}


async def post_awards(url: str, key: str, bodies: Sequence[dict[str, Any]], clients: int, tag: str) -> Load:
    """``clients`` concurrent clients post ``bodies``; each posts its next award once its last one is accepted.

    The clients are aiohttp's (web3's own HTTP client): httpx's AsyncClient spends more CPU than the service
    itself at 200 connections, and the clients share the machine with the service.
    """
    ids: list[str] = [""] * len(bodies)
    accept: list[float] = [0.0] * len(bodies)
    errors: list[str] = []
    next_index = iter(range(len(bodies)))
    auth = {"Authorization": f"Bearer {key}"}
    connector = aiohttp.TCPConnector(limit=clients)
    async with aiohttp.ClientSession(url, connector=connector, timeout=aiohttp.ClientTimeout(total=120)) as http:

        async def post(i: int) -> tuple[int, str]:
            headers = auth | {"Idempotency-Key": f"{tag}-{i}"}
            for attempt in range(_ATTEMPTS):
                try:
                    async with http.post("/v1/awards", json=bodies[i], headers=headers) as answer:
                        return answer.status, await answer.text()
                except aiohttp.ClientConnectionError as exc:  # the same key again: the service accepts it once
                    errors.append(f"{exc.__class__.__name__}: {exc}")
                    if attempt == _ATTEMPTS - 1:
                        raise
            raise AssertionError("unreachable")

        async def client() -> None:
            for i in next_index:
                start = time.perf_counter()
                status, text = await post(i)
                accept[i] = time.perf_counter() - start
                if status != 202:
                    raise RuntimeError(f"award {i} was refused: {status} {text}")
                ids[i] = json.loads(text)["id"]

        started_at = time.time()
        start = time.perf_counter()
        await asyncio.gather(*(client() for _ in range(clients)))
        seconds = time.perf_counter() - start
    return Load(started_at, seconds, ids, accept, errors)


async def post_batches(url: str, key: str, bodies: Sequence[dict[str, Any]], size: int, clients: int, tag: str) -> Load:
    """``clients`` concurrent clients post ``bodies`` to ``/v1/awards/batch``, ``size`` awards a request; each
    award's time to accept is its request's."""
    ids: list[str] = [""] * len(bodies)
    accept: list[float] = [0.0] * len(bodies)
    chunks = iter([range(i, min(i + size, len(bodies))) for i in range(0, len(bodies), size)])
    auth = {"Authorization": f"Bearer {key}"}
    async with aiohttp.ClientSession(url, headers=auth, timeout=aiohttp.ClientTimeout(total=300)) as http:

        async def client() -> None:
            for chunk in chunks:
                items = [bodies[i] | {"idempotency_key": f"{tag}-{i}"} for i in chunk]
                start = time.perf_counter()
                async with http.post("/v1/awards/batch", json={"awards": items}) as answer:
                    status, text = answer.status, await answer.text()
                seconds = time.perf_counter() - start
                if status != 202:
                    raise RuntimeError(f"a batch was refused: {status} {text[:500]}")
                for i, award in zip(chunk, json.loads(text), strict=True):
                    ids[i] = award["id"]
                    accept[i] = seconds

        started_at = time.time()
        start = time.perf_counter()
        await asyncio.gather(*(client() for _ in range(clients)))
        seconds = time.perf_counter() - start
    return Load(started_at, seconds, ids, accept, [])


def wait_confirmed(url: str, expected: int, timeout: float) -> None:
    """Poll /metrics until the service has confirmed ``expected`` awards in all."""
    deadline = time.monotonic() + timeout
    with httpx2.Client(base_url=url, timeout=30) as http:
        while True:
            text = http.get("/metrics").text
            confirmed = int(float(_CONFIRMED.findall(text)[0]))
            failed = int(float(_FAILED.findall(text)[0]))
            if failed:
                raise RuntimeError(f"{failed} awards failed")
            if confirmed >= expected:
                return
            if time.monotonic() > deadline:
                raise RuntimeError(f"{confirmed} of {expected} awards confirmed after {timeout:g} s")
            time.sleep(0.05)


async def fetch_delivery(url: str, key: str, award_ids: Sequence[str]) -> Delivery:
    """Each award's ``created_at`` and ``confirmed_at``, as the service recorded them."""
    created: list[float] = [0.0] * len(award_ids)
    confirmed: list[float] = [0.0] * len(award_ids)
    positions = iter(range(len(award_ids)))
    async with aiohttp.ClientSession(url, headers={"Authorization": f"Bearer {key}"}) as http:

        async def reader() -> None:
            for i in positions:
                async with http.get(f"/v1/awards/{award_ids[i]}") as answer:
                    award = await answer.json()
                if award["status"] != "confirmed":
                    raise RuntimeError(f"award {award_ids[i]} is {award['status']}")
                created[i] = datetime.fromisoformat(award["created_at"]).timestamp()
                confirmed[i] = datetime.fromisoformat(award["confirmed_at"]).timestamp()

        await asyncio.gather(*(reader() for _ in range(20)))
    return Delivery(created, confirmed)


@contextlib.contextmanager
def report_failure(server: KudosServer) -> Iterator[None]:
    """On an error, show the end of the service's log (it goes with the temporary directory)."""
    try:
        yield
    except BaseException:
        print(f"kudos serve's log ends with:\n{server.log_tail(60)}", file=sys.stderr)
        raise


def start_profiler(pid: int, path: Path) -> subprocess.Popen[bytes]:
    """py-spy recording what the service's threads do on the CPU until :func:`stop_profiler`."""
    output_format = "flamegraph" if path.suffix == ".svg" else "raw"
    command = ["py-spy", "record", "--pid", str(pid), "--output", str(path), "--format", output_format]
    profiler = subprocess.Popen([*command, "--threads", "--nonblocking", "--rate", "100"], stdout=subprocess.DEVNULL)
    time.sleep(1.0)  # py-spy attaches
    return profiler


def stop_profiler(profiler: subprocess.Popen[bytes]) -> None:
    """End the recording: py-spy writes its output on SIGINT."""
    profiler.send_signal(signal.SIGINT)
    profiler.wait(timeout=60)


# ----------------------------------------------------------------------------------------------------------------
# Report
# ----------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Phase:
    """Awards posted, and when the service confirmed them."""

    load: Load
    delivery: Delivery

    @property
    def awards(self) -> int:
        return len(self.load.award_ids)

    @property
    def confirmed_seconds(self) -> float:
        """From the first POST to the last confirmation."""
        return max(self.delivery.confirmed_at) - self.load.started_at

    @property
    def confirmed_per_second(self) -> float:
        return self.awards / self.confirmed_seconds

    @property
    def to_confirm(self) -> list[float]:
        return [c - a for a, c in zip(self.delivery.created_at, self.delivery.confirmed_at, strict=True)]


def verdict(ok: bool) -> str:
    return "yes" if ok else "**missed**"


@dataclass(frozen=True, slots=True)
class NodeDown:
    """Awards posted while the node is stopped: each one's time to 202, and their status afterwards."""

    clients: int
    accept_seconds: list[float]
    statuses: dict[str, int]

    def row(self) -> str:
        accept, ms = self.accept_seconds, 1000.0
        statuses = ", ".join(f"{n:,} {status}" for status, n in sorted(self.statuses.items()))
        return (
            f"| (h) time to accept an award while the node is down (anvil stopped), {len(accept):,} awards from "
            f"{self.clients} clients, p50 / p95 / max; the awards' status after | "
            f"{percentile(accept, 50) * ms:,.1f} / {percentile(accept, 95) * ms:,.1f} / {max(accept) * ms:,.1f} ms;"
            f" {statuses} | | |"
        )


def node_down(node: AnvilNode, url: str, key: str, to: Sequence[str], count: int) -> NodeDown:
    """Stop the node, then post ``count`` awards from 20 clients: accepting must not wait for the chain."""
    node.stop()
    clients = min(20, count)
    load = asyncio.run(post_awards(url, key, [award_body(i, to) for i in range(count)], clients, "node-down"))
    awards = asyncio.run(fetch_awards(url, key, load.award_ids))
    statuses: dict[str, int] = {}
    for award in awards:
        statuses[award["status"]] = statuses.get(award["status"], 0) + 1
    return NodeDown(clients, load.accept_seconds, statuses)


def table(
    naive: Measure, single: Phase, clients: int, batch: Phase | None, batch_size: int, cpu: float | None
) -> tuple[list[str], bool]:
    """The Markdown table, and whether both targets are met; ``cpu``: the service's CPU seconds while (b) posted."""
    accept = single.load.accept_seconds
    ms = 1000.0
    ratio = single.confirmed_per_second / naive.per_second
    p95 = percentile(accept, 95)
    ratio_ok, p95_ok = ratio >= TARGET_RATIO, p95 <= TARGET_P95_ACCEPT
    lines = [
        "| measure | value | target | met |",
        "|---|---:|---|---|",
        f"| (a) naive loop (web3.py: build, sign, send, wait; next), {naive.count} kudos | "
        f"{naive.per_second:,.0f} kudos/s | | |",
        f"| (b) confirmed kudos/s through the API: {single.awards:,} single awards (`POST /v1/awards`) from "
        f"{clients} concurrent clients, first POST to last confirmation {single.confirmed_seconds:.2f} s | "
        f"{single.confirmed_per_second:,.0f} kudos/s = {ratio:,.1f} x (a) | ≥ {TARGET_RATIO:g} x (a) | "
        f"{verdict(ratio_ok)} |",
        f"| (b) awards accepted per second (202s / {single.load.seconds:.2f} s to post them all) | "
        f"{single.awards / single.load.seconds:,.0f} /s | | |",
        f"| (b) time to accept an award (POST to 202), p50 | {percentile(accept, 50) * ms:,.1f} ms | | |",
        f"| (b) time to accept an award, p95 | {p95 * ms:,.1f} ms | ≤ {TARGET_P95_ACCEPT * ms:g} ms | "
        f"{verdict(p95_ok)} |",
        f"| (b) time to accept an award, p99 | {percentile(accept, 99) * ms:,.1f} ms | | |",
        f"| (b) time from accepted to confirmed, p50 | {percentile(single.to_confirm, 50) * ms:,.0f} ms | | |",
        f"| (b) time from accepted to confirmed, p95 | {percentile(single.to_confirm, 95) * ms:,.0f} ms | | |",
        f"| (b) POSTs sent again after a connection error (same Idempotency-Key) | "
        f"{len(single.load.transport_errors)} | | |",
    ]
    if cpu is not None:
        lines.append(
            f"| (b) the service's CPU time per accepted award (all its threads, the delivery worker's too), and its "
            f"CPU use while the clients posted | {cpu / single.awards * ms:.1f} ms, {cpu / single.load.seconds:.0%} "
            "of one CPU | | |"
        )
    if batch is not None:
        lines += [
            f"| (c) for comparison, confirmed kudos/s when the same number of awards come {batch_size:,} a request "
            f"(`POST /v1/awards/batch`), first POST to last confirmation {batch.confirmed_seconds:.2f} s | "
            f"{batch.confirmed_per_second:,.0f} kudos/s = {batch.confirmed_per_second / naive.per_second:,.1f} x (a)"
            " | | |",
            f"| (c) time from accepted to confirmed, p95 | {percentile(batch.to_confirm, 95) * ms:,.0f} ms | | |",
        ]
    return lines, ratio_ok and p95_ok


# ----------------------------------------------------------------------------------------------------------------
# Part "real-chain": anvil with a block every second
# ----------------------------------------------------------------------------------------------------------------

GWEI = 10**9

#: What the service's confirmed kudos/s must reach in part "real-chain", as a fraction of the chain's capacity.
TARGET_FRACTION = 0.8

#: The service's settings in part "real-chain" (``--setting`` overrides them; the fee cap is ``--fee-cap-gwei``).
#: ``KUDOS_MAX_IN_FLIGHT`` keeps the service's default unless ``--setting`` gives it.
REAL_CHAIN_SETTINGS = {"KUDOS_CONFIRMATIONS": "1", "KUDOS_RESEND_AFTER_S": "2", "KUDOS_REPLACE_AFTER_BLOCKS": "3"}

_AWARDS_GAUGE = re.compile(r'^kudos_awards\{status="(\w+)"\} ([0-9.e+]+)$', re.MULTILINE)
_REPLACEMENTS = re.compile(r"^kudos_transaction_replacements_total ([0-9.e+]+)$", re.MULTILINE)


def fresh_recipients(count: int, salt: str) -> list[str]:
    """``count`` addresses that hold no kudos yet, so each award pays for a new holder as the capacity assumes."""
    return [to_checksum_address(keccak(text=f"{salt}-{i}")[-20:]) for i in range(count)]


def rpc_batch(url: str, calls: Sequence[tuple[str, Sequence[Any]]], *, per_request: int = 100) -> list[Any]:
    """The results of ``calls`` (method, params), sent as JSON-RPC batches of ``per_request``."""
    results: list[Any] = []
    with httpx2.Client(timeout=60) as http:
        for start in range(0, len(calls), per_request):
            part = calls[start : start + per_request]
            body = [{"jsonrpc": "2.0", "id": i, "method": m, "params": list(p)} for i, (m, p) in enumerate(part)]
            answers = {a["id"]: a for a in http.post(url, json=body).raise_for_status().json()}
            for i, (method, _) in enumerate(part):
                if "error" in answers[i]:
                    raise RuntimeError(f"{method} failed: {answers[i]['error']}")
                results.append(answers[i]["result"])
    return results


def latest_block(node: AnvilNode) -> dict[str, Any]:
    block: dict[str, Any] = node.rpc("eth_getBlockByNumber", ["latest", False])
    return block


class HeadWatch:
    """The chain's head, polled in a thread every ``interval`` seconds from ``with`` to its end: when each block
    number was first seen (``time.time()``), to tell which block was the newest at any moment of the run."""

    def __init__(self, url: str, interval: float = 0.05) -> None:
        self.url = url
        self.interval = interval
        self.times: list[float] = []
        self.numbers: list[int] = []
        self.errors = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def __enter__(self) -> HeadWatch:
        self._thread = threading.Thread(target=self._run, name="head-watch", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self.numbers:
            if time.monotonic() > deadline:
                raise RuntimeError(f"the node at {self.url} did not answer eth_blockNumber within 10 s")
            time.sleep(0.01)
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)

    def _run(self) -> None:
        body = {"jsonrpc": "2.0", "id": 1, "method": "eth_blockNumber", "params": []}
        with httpx2.Client(timeout=2.0) as http:
            while not self._stop.is_set():
                try:
                    number = int(http.post(self.url, json=body).json()["result"], 16)
                except (httpx2.HTTPError, KeyError, ValueError):
                    self.errors += 1
                else:
                    if not self.numbers or number > self.numbers[-1]:
                        self.times.append(time.time())
                        self.numbers.append(number)
                self._stop.wait(self.interval)

    def head_at(self, moment: float) -> int:
        """The newest block seen at ``moment`` (a ``time.time()``)."""
        i = bisect.bisect_right(self.times, moment)
        if i == 0:
            raise RuntimeError(f"no block was seen before {moment:.3f}: the clocks of the service and the script?")
        return self.numbers[i - 1]


def metrics_text(url: str) -> str:
    return httpx2.get(f"{url}/metrics", timeout=30).raise_for_status().text


def replacements(url: str) -> float | None:
    """Transactions the service signed again with higher fees so far (None: a service without the metric)."""
    found = _REPLACEMENTS.findall(metrics_text(url))
    return float(found[0]) if found else None


def less(after: float | None, before: float | None) -> float | None:
    return None if after is None or before is None else after - before


def award_counts(text: str) -> dict[str, int]:
    """Awards by status, from the service's ``kudos_awards`` gauge."""
    return {status: int(float(value)) for status, value in _AWARDS_GAUGE.findall(text)}


def wait_settled(url: str, expected: int, timeout: float) -> tuple[bool, dict[str, int]]:
    """Poll /metrics until ``expected`` awards in all are confirmed, one has failed, or ``timeout`` seconds passed;
    returns whether they were all confirmed, and the counts by status."""
    deadline = time.monotonic() + timeout
    while True:
        counts = award_counts(metrics_text(url))
        if counts.get("confirmed", 0) >= expected:
            return True, counts
        if counts.get("failed", 0) or time.monotonic() > deadline:
            return False, counts
        time.sleep(0.05)


async def fetch_awards(url: str, key: str, award_ids: Sequence[str], readers: int = 32) -> list[dict[str, Any]]:
    """Each award as ``GET /v1/awards/{id}`` answers (the API has no list of awards), ``readers`` at a time."""
    found: list[dict[str, Any]] = [{} for _ in award_ids]
    positions = iter(range(len(award_ids)))
    timeout = aiohttp.ClientTimeout(total=120)
    async with aiohttp.ClientSession(url, headers={"Authorization": f"Bearer {key}"}, timeout=timeout) as http:

        async def reader() -> None:
            for i in positions:
                async with http.get(f"/v1/awards/{award_ids[i]}") as answer:
                    if answer.status != 200:
                        raise RuntimeError(f"GET /v1/awards/{award_ids[i]}: {answer.status} {await answer.text()}")
                    found[i] = await answer.json()

        await asyncio.gather(*(reader() for _ in range(readers)))
    return found


def keyed(tag: str, bodies: Sequence[dict[str, Any]]) -> list[tuple[str, dict[str, Any]]]:
    """``bodies`` with the idempotency keys :func:`post_awards` and :func:`post_batches` give them under ``tag``."""
    return [(f"{tag}-{i}", body) for i, body in enumerate(bodies)]


async def read_awards(
    url: str, key: str, items: Sequence[tuple[str, dict[str, Any]]], award_ids: Sequence[str], size: int = 500
) -> list[dict[str, Any]]:
    """Each award as it stands now, by replaying its POST: the API has no list of awards, and ``GET
    /v1/awards/{id}`` one at a time takes minutes for 20,000, while an idempotent replay of the same batch
    (``items``: idempotency key and body, as first posted) answers each stored award, ``size`` a request.

    The replay also checks exactly-once acceptance: each answer must be the award first accepted (``award_ids``),
    and ``Idempotent-Replayed-Count`` the whole batch. A batch refused as a reused key (a single award whose body
    hashes otherwise as a batch item) is read with GET instead.

    :raises RuntimeError: when a replay created an award or answered another one.
    """
    found: list[dict[str, Any]] = [{} for _ in items]
    starts = iter(range(0, len(items), size))
    timeout = aiohttp.ClientTimeout(total=300)
    async with aiohttp.ClientSession(url, headers={"Authorization": f"Bearer {key}"}, timeout=timeout) as http:

        async def client() -> None:
            for start in starts:
                part = items[start : start + size]
                payload = {"awards": [body | {"idempotency_key": k} for k, body in part]}
                async with http.post("/v1/awards/batch", json=payload) as answer:
                    status, text = answer.status, await answer.text()
                    replayed = answer.headers.get("Idempotent-Replayed-Count")
                if status == 409:
                    ids = award_ids[start : start + size]
                    found[start : start + len(part)] = await fetch_awards(url, key, ids, readers=4)
                    continue
                if status != 202:
                    raise RuntimeError(f"replaying a batch: {status} {text[:500]}")
                if replayed != str(len(part)):
                    raise RuntimeError(f"a replay of {len(part)} accepted awards replayed {replayed}: one was new")
                for j, award in enumerate(json.loads(text)):
                    if award["id"] != award_ids[start + j]:
                        raise RuntimeError(f"key {part[j][0]} answered {award['id']}, not {award_ids[start + j]}")
                    found[start + j] = award

        await asyncio.gather(*(client() for _ in range(2)))
    return found


def timestamp(value: str) -> float:
    return datetime.fromisoformat(value).timestamp()


async def post_mixed(
    url: str,
    key: str,
    bodies: Sequence[dict[str, Any]],
    batch_size: int,
    clients: int,
    singles: int,
    single_clients: int,
    tag: str,
) -> tuple[Load, list[tuple[str, dict[str, Any]]]]:
    """The first ``len(bodies) - singles`` awards posted ``batch_size`` a request by ``clients`` clients, and at the
    same time the last ``singles`` one a request by ``single_clients`` clients; with each award's idempotency key
    and body, in the order of the load's ``award_ids``."""
    split = len(bodies) - singles
    items = keyed(f"{tag}-b", bodies[:split]) + keyed(f"{tag}-s", bodies[split:])
    parts = []
    if split:
        parts.append(post_batches(url, key, bodies[:split], batch_size, clients, f"{tag}-b"))
    if singles:
        parts.append(post_awards(url, key, bodies[split:], single_clients, f"{tag}-s"))
    loads = await asyncio.gather(*parts)
    load = Load(
        started_at=min(load.started_at for load in loads),
        seconds=max(load.seconds for load in loads),
        award_ids=[i for load in loads for i in load.award_ids],
        accept_seconds=[s for load in loads for s in load.accept_seconds],
        transport_errors=[e for load in loads for e in load.transport_errors],
    )
    return load, items


def batch_gas(node: AnvilNode, client: KudosClient) -> tuple[int, int, int]:
    """One full ``award_batch`` transaction (200 kudos to new holders) with the library: (kudos, gas used, the
    transaction's gas limit)."""
    awards = [
        Award(to, 1 + i % 5, content_hash({"bench": "capacity", "i": i}), f"capacity-{i}")
        for i, to in enumerate(fresh_recipients(MAX_BATCH_SIZE, "capacity"))
    ]
    results = client.award_batch(awards)
    tx_hashes = {r.tx_hash for r in results}
    if len(results) != MAX_BATCH_SIZE or len(tx_hashes) != 1:
        raise RuntimeError(f"award_batch awarded {len(results)} kudos in {len(tx_hashes)} transactions")
    receipt = node.rpc("eth_getTransactionReceipt", [tx_hashes.pop()])
    tx = node.rpc("eth_getTransactionByHash", [receipt["transactionHash"]])
    return len(results), int(receipt["gasUsed"], 16), int(tx["gas"], 16)


def awarded_events(node: AnvilNode, contract: str, first: int, last: int) -> dict[bytes, list[tuple[int, int]]]:
    """Every ``KudosAwarded`` event of the contract in blocks ``first`` to ``last``: request id -> [(token id,
    block)]."""
    topic = "0x" + KUDOS_AWARDED_TOPIC.hex()
    calls = [
        (
            "eth_getLogs",
            [{"fromBlock": hex(b), "toBlock": hex(min(b + 49, last)), "address": contract, "topics": [topic]}],
        )
        for b in range(first, last + 1, 50)
    ]
    events: dict[bytes, list[tuple[int, int]]] = {}
    for logs in rpc_batch(node.url, calls, per_request=10):
        for log in logs:
            request_id = bytes.fromhex(log["topics"][2][2:])
            events.setdefault(request_id, []).append((int(log["topics"][1], 16), int(log["blockNumber"], 16)))
    return events


def exactly_once(
    events: Mapping[bytes, list[tuple[int, int]]], awards: Sequence[Mapping[str, Any]], others: int
) -> tuple[bool, str]:
    """Whether each award is on chain exactly once with the token id and block the API reports, and no kudos was
    minted beyond them and the ``others`` the script awarded itself."""
    problems = []
    for award in awards:
        found = events.get(request_id_bytes(award["id"]), [])
        if len(found) != 1:
            problems.append(f"{award['id']} on chain {len(found)} times")
        elif found[0] != (award["token_id"], award["block_number"]):
            problems.append(
                f"{award['id']}: API token {award['token_id']} in block {award['block_number']}, chain {found[0]}"
            )
    minted = sum(len(v) for v in events.values())
    if minted != len(awards) + others:
        problems.append(f"{minted} kudos minted, {len(awards) + others} awarded")
    if problems:
        return False, f"**no**: {len(problems)} problems, e.g. {'; '.join(problems[:3])}"
    return True, f"yes ({len(awards):,} awards through the API, {minted:,} kudos on chain in all)"


@dataclass(frozen=True, slots=True)
class Blocks:
    """The blocks that hold an award of the load: their transactions to the contract and their gas."""

    numbers: list[int]
    kudos: list[int]
    txs: list[int]
    tx_gas_limits: list[int]
    tx_kudos: list[int]
    gas_used: list[int]
    gas_limit_sums: list[int]


def load_blocks(node: AnvilNode, contract: str, block_of: Sequence[int]) -> Blocks:
    first, last = min(block_of), max(block_of)
    per_block: dict[int, int] = {}
    for b in block_of:
        per_block[b] = per_block.get(b, 0) + 1
    blocks = rpc_batch(node.url, [("eth_getBlockByNumber", [hex(n), True]) for n in range(first, last + 1)])
    txs, limits, used, sums = [], [], [], []
    tx_limits: list[int] = []
    for block in blocks:
        ours = [tx for tx in block["transactions"] if (tx.get("to") or "").lower() == contract.lower()]
        txs.append(len(ours))
        tx_limits += [int(tx["gas"], 16) for tx in ours]
        sums.append(sum(int(tx["gas"], 16) for tx in ours))
        used.append(int(block["gasUsed"], 16))
        limits.append(int(block["gasLimit"], 16))
    numbers = list(range(first, last + 1))
    kudos = [per_block.get(n, 0) for n in numbers]
    tx_kudos = [k // t for k, t in zip(kudos, txs, strict=True) for _ in range(t)] if any(txs) else []
    return Blocks(numbers, kudos, txs, tx_limits, tx_kudos, used, sums)


@dataclass(slots=True)
class Spike:
    """Part (g): the fee spike and the recovery after it."""

    base_fee: int
    cap: int
    end_mode: str
    pre_fee: int
    held_seconds: float = 0.0
    held_blocks: int = 0
    block_fees: list[int] = field(default_factory=list)
    awards: int = 0
    confirmed_during: int = 0
    waiting_status: str = ""
    readyz: str = ""
    recovered: bool = False
    counts: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0
    blocks: int = 0
    blocks_to_last_award: int = 0
    replacements: float | None = None


@dataclass(slots=True)
class RealChain:
    """What part "real-chain" measured."""

    block_time: float
    gas_limit: int
    settings: dict[str, str]
    batch_kudos: int = 0
    batch_gas_used: int = 0
    batch_gas_limit: int = 0
    naive: Measure | None = None
    awards: int = 0
    load_desc: str = ""
    post_seconds: float = 0.0
    post_end_block: int = 0
    replacements: float | None = None
    confirmed_seconds: float = 0.0
    to_block: list[int] = field(default_factory=list)
    to_confirmed: list[int] = field(default_factory=list)
    to_confirmed_ms: list[float] = field(default_factory=list)
    blocks_seen: int = 0
    blocks: Blocks | None = None
    exactly_once: tuple[bool, str] = (False, "not checked")
    spike: Spike | None = None
    transport_errors: list[str] = field(default_factory=list)

    @property
    def gas_per_kudos(self) -> float:
        return self.batch_gas_used / self.batch_kudos

    @property
    def capacity(self) -> float:
        """Batched kudos per second the chain holds."""
        return self.gas_limit / self.gas_per_kudos / self.block_time

    @property
    def confirmed_per_second(self) -> float:
        return self.awards / self.confirmed_seconds

    @property
    def fraction(self) -> float:
        return self.confirmed_per_second / self.capacity


def run_real_chain(args: argparse.Namespace, user_settings: Mapping[str, str]) -> RealChain:
    """Part "real-chain", on its own anvil node with ``--block-time``."""
    cap = round(args.fee_cap_gwei * GWEI)
    settings = REAL_CHAIN_SETTINGS | {"KUDOS_MAX_FEE_PER_GAS": str(cap)} | dict(user_settings)
    result = RealChain(args.block_time, args.block_gas_limit, settings)
    anvil_args = ["--block-time", f"{args.block_time:g}", "--gas-limit", str(args.block_gas_limit)]
    with (
        tempfile.TemporaryDirectory(prefix="kudos-bench-chain-") as tmp,
        AnvilNode(accounts=3, args=anvil_args) as node,
    ):
        workdir = Path(tmp)
        server = KudosServer(workdir / "data")
        client, env = deploy(node, workdir, server.url)
        naive_key = node.private_keys[1]
        naive_loop(node, client, naive_key, awards_to(fresh_recipients(1, "naive-warm-up"), 1, "naive-warm-up"))
        result.naive = naive_loop(
            node, client, naive_key, awards_to(fresh_recipients(args.real_naive_n, "naive"), args.real_naive_n, "naive")
        )
        result.batch_kudos, result.batch_gas_used, result.batch_gas_limit = batch_gas(node, client)
        others = 1 + args.real_naive_n + result.batch_kudos
        log(f"gas per batched kudos {result.gas_per_kudos:,.1f}: capacity {result.capacity:,.0f} kudos/s")

        server.env = env | settings
        with server, report_failure(server), HeadWatch(node.url) as heads:
            key = server.create_key("award")
            warm_bodies = [award_body(i, [to]) for i, to in enumerate(fresh_recipients(20, "warm-up"))]
            warm = asyncio.run(post_awards(server.url, key, warm_bodies, 10, "warm-up"))
            done = len(warm.award_ids)
            wait_confirmed(server.url, done, args.timeout)
            fetched = asyncio.run(fetch_awards(server.url, key, warm.award_ids))

            # (f) the load
            n = args.real_awards
            bodies = [award_body(i, [to]) for i, to in enumerate(fresh_recipients(n, "load"))]
            replaced = replacements(server.url)
            log(f"posting {n:,} awards")
            load, items = asyncio.run(
                post_mixed(
                    server.url,
                    key,
                    bodies,
                    args.real_batch_size,
                    args.real_clients,
                    args.real_singles,
                    args.real_single_clients,
                    "load",
                )
            )
            log(f"posted in {load.seconds:.1f} s; waiting for every confirmation")
            done += n
            wait_confirmed(server.url, done, args.timeout)
            log("all confirmed; reading each award")
            awards = asyncio.run(read_awards(server.url, key, items, load.award_ids))
            log("read")
            fetched += awards
            measure_load(result, args, load, awards, heads)
            result.replacements = less(replacements(server.url), replaced)
            result.blocks = load_blocks(node, client.address, [a["block_number"] for a in awards])
            log(f"{result.confirmed_per_second:,.0f} confirmed kudos/s = {result.fraction:.2f} of capacity")

            # (g) the fee spike
            if args.spike_seconds > 0 and args.spike_awards > 0:
                result.spike, spike_awards = fee_spike(args, node, server, key, heads, cap, done)
                fetched += spike_awards
            result.exactly_once = exactly_once(
                awarded_events(node, client.address, client.from_block, int(node.rpc("eth_blockNumber"), 16)),
                fetched,
                others,
            )
            server.stop()
    return result


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def measure_load(
    result: RealChain, args: argparse.Namespace, load: Load, awards: Sequence[Mapping[str, Any]], heads: HeadWatch
) -> None:
    """Fill ``result`` with (f)'s figures."""
    if any(a["status"] != "confirmed" for a in awards):
        raise RuntimeError("an award of the load is not confirmed")
    created = [timestamp(a["created_at"]) for a in awards]
    confirmed = [timestamp(a["confirmed_at"]) for a in awards]
    if abs(min(created) - load.started_at) > 60:  # the service's clock is read as this script's
        raise RuntimeError(f"the first award was accepted at {min(created)}, the load began at {load.started_at}")
    accept_heads = [heads.head_at(t) for t in created]
    result.awards = len(awards)
    singles = f" and {args.real_singles:,} single (`POST /v1/awards`, {args.real_single_clients} clients)"
    result.load_desc = (
        f"{len(awards) - args.real_singles:,} awards {args.real_batch_size} a request (`POST /v1/awards/batch`, "
        f"{args.real_clients} clients){singles if args.real_singles else ''}"
    )
    result.post_seconds = load.seconds
    result.post_end_block = heads.head_at(load.started_at + load.seconds)
    result.confirmed_seconds = max(confirmed) - min(created)
    result.to_block = [a["block_number"] - h for a, h in zip(awards, accept_heads, strict=True)]
    result.to_confirmed = [heads.head_at(c) - h for c, h in zip(confirmed, accept_heads, strict=True)]
    result.to_confirmed_ms = [(c - a) * 1000 for a, c in zip(created, confirmed, strict=True)]
    result.blocks_seen = heads.head_at(max(confirmed)) - heads.head_at(min(created))
    result.transport_errors = load.transport_errors


def fee_spike(
    args: argparse.Namespace, node: AnvilNode, server: KudosServer, key: str, heads: HeadWatch, cap: int, done: int
) -> tuple[Spike, list[dict[str, Any]]]:
    """(g): hold the base fee above the cap while awards are posted, end the spike, time until all are confirmed."""
    spike_wei = round(args.spike_gwei * GWEI)
    spike = Spike(
        base_fee=spike_wei, cap=cap, end_mode=args.spike_end, pre_fee=int(latest_block(node)["baseFeePerGas"], 16)
    )
    spike.replacements = replacements(server.url)
    n = args.spike_awards
    bodies = [award_body(i, [to]) for i, to in enumerate(fresh_recipients(n, "spike"))]
    chunks = [range(i * n // 4, (i + 1) * n // 4) for i in range(4)]
    ids: list[str] = []
    items: list[tuple[str, dict[str, Any]]] = []
    log(f"holding the base fee at {args.spike_gwei:g} gwei for {args.spike_seconds:g} s")
    with node.hold_base_fee(spike_wei):
        deadline = time.monotonic() + 10 * args.block_time + 10
        while int((block := latest_block(node))["baseFeePerGas"], 16) < spike_wei:
            if time.monotonic() > deadline:
                raise RuntimeError("anvil did not take the spike's base fee")
            time.sleep(0.05)
        began, first_block = time.monotonic(), int(block["number"], 16)
        for i, chunk in enumerate(chunks):  # at 0, 20, 40 and 60 % of the spike
            time.sleep(max(0.0, began + i * 0.2 * args.spike_seconds - time.monotonic()))
            part = [bodies[j] for j in chunk]
            if part:
                ids += asyncio.run(post_batches(server.url, key, part, 500, 1, f"spike-{i}")).award_ids
                items += keyed(f"spike-{i}", part)
        time.sleep(max(0.0, began + args.spike_seconds - time.monotonic()))
        counts = award_counts(metrics_text(server.url))
        spike.confirmed_during = counts.get("confirmed", 0) - done
        spike.waiting_status, spike.readyz = why_waiting(server.url, key, ids[-1])
    if args.spike_end == "restore":
        node.rpc("anvil_setNextBlockBaseFeePerGas", [hex(spike.pre_fee)])
    ended, end_block = time.time(), int(node.rpc("eth_blockNumber"), 16)
    spike.held_seconds = time.monotonic() - began
    spike.held_blocks = end_block - first_block + 1
    spike.awards = len(ids)
    log(f"spike over at block {end_block}; waiting for the queue to empty")
    spike.recovered, spike.counts = wait_settled(server.url, done + len(ids), args.spike_timeout)
    awards = asyncio.run(read_awards(server.url, key, items, ids))
    fees = rpc_batch(node.url, [("eth_getBlockByNumber", [hex(b), False]) for b in range(first_block, end_block + 1)])
    spike.block_fees = [int(b["baseFeePerGas"], 16) for b in fees]
    if spike.recovered:
        last = max(timestamp(a["confirmed_at"]) for a in awards)
        spike.seconds = last - ended
        spike.blocks = heads.head_at(last) - end_block
        spike.blocks_to_last_award = max(a["block_number"] for a in awards) - end_block
    else:
        spike.seconds = time.time() - ended
    spike.replacements = less(replacements(server.url), spike.replacements)
    return spike, [a for a in awards if a["status"] == "confirmed"]


def why_waiting(url: str, key: str, award_id: str) -> tuple[str, str]:
    """What the service says of a waiting award (its status and why), and what ``/readyz`` says of delivery."""
    with httpx2.Client(base_url=url, headers={"Authorization": f"Bearer {key}"}, timeout=30) as http:
        waiting = http.get(f"/v1/awards/{award_id}").json()
        ready = http.get("/readyz")
    reason = waiting.get("status_reason") or waiting.get("failure_reason")
    status = f"`{waiting['status']}`" + (f": “{reason}”" if reason else " (no reason given)")
    delivery = ready.json().get("checks", {}).get("delivery", {})
    return status, f"{ready.status_code}" + (f", delivery: “{delivery['error']}”" if delivery.get("error") else "")


def fee(wei: int) -> str:
    """A fee per gas: in gwei, or in wei below a thousandth of a gwei."""
    return f"{wei / GWEI:,.3g} gwei" if wei >= GWEI // 1000 else f"{wei:,} wei"


def real_chain_table(r: RealChain) -> tuple[list[str], bool]:
    """Part "real-chain"'s Markdown table, and whether its targets are met."""
    assert r.naive is not None
    met = r.fraction >= TARGET_FRACTION
    gas = f"{r.gas_limit:,}"
    lines = [
        "| measure | value | target | met |",
        "|---|---:|---|---|",
        f"| (d) gas per batched kudos: one `KudosClient.award_batch` transaction of {r.batch_kudos} kudos to new "
        f"holders, gas used {r.batch_gas_used:,} (gas limit {r.batch_gas_limit:,}) / {r.batch_kudos} | "
        f"{r.gas_per_kudos:,.1f} gas | | |",
        f"| (d) the chain's capacity for batched kudos: {gas} gas a block / {r.gas_per_kudos:,.1f} gas / "
        f"{r.block_time:g} s | {r.capacity:,.0f} kudos/s | | |",
        f"| (e) naive loop (web3.py: build, sign, send, wait; next), {r.naive.count} kudos | "
        f"{r.naive.per_second:,.2f} kudos/s = {r.naive.per_second / r.capacity:.4f} of capacity | | |",
        f"| (f) confirmed kudos/s through the API: {r.load_desc}, first acceptance to last confirmation "
        f"{r.confirmed_seconds:.1f} s | {r.confirmed_per_second:,.0f} kudos/s | | |",
        f"| (f) as a fraction of the chain's capacity | {r.fraction:.2f} | ≥ {TARGET_FRACTION:g} | "
        f"{'PASS' if met else '**FAIL**'} |",
        f"| (f) awards accepted per second (202s / {r.post_seconds:.1f} s to post them all) | "
        f"{r.awards / r.post_seconds:,.0f} /s | | |",
    ]
    if r.blocks is not None and r.blocks_seen:
        b = r.blocks
        per_block_capacity = r.gas_limit / r.gas_per_kudos
        with_awards = [t for t in b.txs if t]
        lines += [
            f"| (f) blocks mined from first acceptance to last confirmation, and the seconds between them | "
            f"{r.blocks_seen} blocks, {r.confirmed_seconds / r.blocks_seen:.2f} s a block | | |",
            f"| (f) kudos a block, blocks {b.numbers[0]} to {b.numbers[-1]} (the load's first and last), against "
            f"{per_block_capacity:,.0f} that fit | mean {statistics.fmean(b.kudos):,.0f}, max {max(b.kudos):,} "
            f"= {statistics.fmean(b.kudos) / per_block_capacity:.2f} of a full block | | |",
            f"| (f) the service's transactions a block (blocks with one) | median {statistics.median(with_awards):g}, "
            f"max {max(with_awards)}; {sum(1 for t in b.txs if not t)} of {len(b.txs)} blocks without | | |",
            f"| (f) a batch transaction: kudos, gas limit, and the gas limits of a block's batches against its "
            f"{gas} | median {statistics.median(b.tx_kudos):g} kudos, {statistics.median(b.tx_gas_limits):,.0f} gas; "
            f"at most {max(b.gas_limit_sums) / r.gas_limit:.0%} of the block's gas in limits, "
            f"{max(b.gas_used) / r.gas_limit:.0%} used | | |",
        ]
        during = [k for n, k in zip(b.numbers, b.kudos, strict=True) if n <= r.post_end_block]
        after = [k for n, k in zip(b.numbers, b.kudos, strict=True) if n > r.post_end_block]
        if during and after:
            lines.append(
                f"| (f) kudos a block while the clients posted (blocks to {r.post_end_block}) / after | mean "
                f"{statistics.fmean(during):,.0f} / {statistics.fmean(after):,.0f} | | |"
            )
    if r.replacements is not None:
        lines.append(
            f"| (f) transactions signed again with higher fees during the load (`kudos_transaction_replacements`) | "
            f"{r.replacements:,.0f} | | |"
        )
    lines += [
        f"| (f) blocks from acceptance to the award's block (the award's `block_number` minus the head when it was "
        f"accepted), p50 | {percentile(r.to_block, 50):.0f} | | |",
        f"| (f) blocks from acceptance to the award's block, p95 | {percentile(r.to_block, 95):.0f} | | |",
        f"| (f) blocks from acceptance to confirmed (the head at `confirmed_at` minus the head at `created_at`), p50 / "
        f"p95 | {percentile(r.to_confirmed, 50):.0f} / {percentile(r.to_confirmed, 95):.0f} | | |",
        f"| (f) time from acceptance to confirmed, p50 / p95 | {percentile(r.to_confirmed_ms, 50):,.0f} ms / "
        f"{percentile(r.to_confirmed_ms, 95):,.0f} ms | | |",
    ]
    s = r.spike
    if s is not None:
        fees = f"{fee(min(s.block_fees))} to {fee(max(s.block_fees))}" if s.block_fees else "?"
        end = (
            f"the next block's base fee set back to {fee(s.pre_fee)}, as before it"
            if s.end_mode == "restore"
            else "the base fee left to fall by 12.5 % a block"
        )
        if s.recovered:
            recovery = f"{s.seconds:.1f} s = {s.blocks} blocks (last award mined {s.blocks_to_last_award} blocks after)"
        else:
            counts = ", ".join(f"{k} {v:,}" for k, v in sorted(s.counts.items()))
            recovery = f"**not empty** after {s.seconds:.0f} s (awards by status: {counts})"
        lines += [
            f"| (g) fee spike: base fee held at {s.base_fee / GWEI:g} gwei for {s.held_seconds:.1f} s "
            f"({s.held_blocks} blocks, their base fees {fees}), above the service's cap of {s.cap / GWEI:g} gwei; "
            f"awards posted during it, and confirmed during it | {s.awards:,} posted, {s.confirmed_during:,} "
            f"confirmed | | |",
            f"| (g) the newest award at the end of the spike; `/readyz` then | {s.waiting_status}; {s.readyz} | | |",
            f"| (g) from the end of the spike ({end}) to an empty queue | {recovery} | | |",
        ]
        if s.replacements is not None:
            lines.append(
                f"| (g) transactions signed again with higher fees (`kudos_transaction_replacements`) during the "
                "spike and until the queue was empty | "
                f"{s.replacements:,.0f} | | |"
            )
    once, detail = r.exactly_once
    lines.append(f"| every accepted award on chain exactly once, with the API's token id and block | {detail} | | |")
    return lines, met and once


# ----------------------------------------------------------------------------------------------------------------
# Command line
# ----------------------------------------------------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0] if __doc__ else None,
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument(
        "--part",
        choices=("all", "instant", "real-chain"),
        default="all",
        help="instant: anvil mining each transaction at once, (a) to (c); real-chain: a fresh anvil making a block "
        "every --block-time, (d) to (g); all: both, one after the other",
    )
    parser.add_argument(
        "--block-gas-limit", type=int, default=30_000_000, help="anvil's block gas limit, in both parts"
    )
    parser.add_argument(
        "--setting",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="a KUDOS_* setting for the service, e.g. KUDOS_BATCH_MAX_SIZE=200 (repeatable; in both parts, over "
        "part real-chain's own)",
    )
    parser.add_argument("--timeout", type=float, default=600, help="seconds to wait for every confirmation")
    parser.add_argument("--check", action="store_true", help="exit with status 1 when a target is missed")

    instant = parser.add_argument_group("part instant")
    instant.add_argument("--awards", type=int, default=5000, help="awards posted through the API")
    instant.add_argument("--clients", type=int, default=200, help="concurrent HTTP clients")
    instant.add_argument("--naive-n", type=int, default=200, help="kudos awarded by the naive loop")
    instant.add_argument("--recipients", type=int, default=100, help="distinct recipients")
    instant.add_argument(
        "--profile",
        type=Path,
        metavar="PATH",
        help="record the service with py-spy during the load into PATH (.svg: a flame graph; .txt: collapsed stacks)",
    )
    instant.add_argument(
        "--batch-size",
        type=int,
        default=500,
        help="awards a request in the comparison (c) through /v1/awards/batch; 0 skips it",
    )
    parser.add_argument(
        "--down-awards",
        type=int,
        default=200,
        help="awards posted in (h), after anvil is stopped (accepting must not wait for the node); 0 skips it",
    )

    real = parser.add_argument_group("part real-chain")
    real.add_argument("--block-time", type=float, default=1.0, help="seconds between blocks (anvil --block-time)")
    real.add_argument(
        "--real-awards", type=int, default=20_000, help="awards of the load (f); 20,000 last 35 s at 575/s"
    )
    real.add_argument("--real-batch-size", type=int, default=500, help="awards a POST /v1/awards/batch in (f)")
    real.add_argument("--real-clients", type=int, default=4, help="clients posting batches in (f)")
    real.add_argument(
        "--real-singles", type=int, default=0, help="how many of the load's awards are posted one a request"
    )
    real.add_argument("--real-single-clients", type=int, default=20, help="clients posting single awards in (f)")
    real.add_argument("--real-naive-n", type=int, default=10, help="kudos awarded by the naive loop (e), a block each")
    real.add_argument("--fee-cap-gwei", type=float, default=20, help="the service's KUDOS_MAX_FEE_PER_GAS, in gwei")
    real.add_argument("--spike-gwei", type=float, default=50, help="the base fee held during the spike (g)")
    real.add_argument("--spike-seconds", type=float, default=15, help="how long the spike lasts; 0 skips (g)")
    real.add_argument("--spike-awards", type=int, default=1000, help="awards posted during the spike")
    real.add_argument(
        "--spike-end",
        choices=("restore", "decay"),
        default="restore",
        help="restore: the block after the spike has the base fee of before; decay: EIP-1559 lowers it 12.5 %% a block",
    )
    real.add_argument(
        "--spike-timeout", type=float, default=300, help="seconds to wait for the queue to empty after the spike"
    )
    args = parser.parse_args(argv)
    for setting in args.setting:
        if "=" not in setting:
            parser.error(f"--setting takes NAME=VALUE, not {setting!r}")
    if args.fee_cap_gwei >= args.spike_gwei:
        parser.error("--spike-gwei must be above --fee-cap-gwei: the spike holds the awards back")
    return args


def print_instant_header(
    args: argparse.Namespace, settings: Mapping[str, str], load_before: float, load_after: float
) -> None:
    shown = ", ".join(f"{k}={v}" for k, v in sorted(settings.items())) or "defaults"
    print(f"## kudos-chain service benchmark: one anvil node, {time.strftime('%Y-%m-%d %H:%M:%S %Z')}")
    print()
    print(
        f"{anvil_version()}, block gas limit {args.block_gas_limit:,}; `kudos serve` (uvicorn {uvicorn.__version__}, "
        f"one process; settings: {shown}); Python {platform.python_version()}; {platform.machine()}, "
        f"{os.cpu_count()} CPUs shared by anvil, the service and the clients (load average "
        f"{load_before:.1f} before the service started, {load_after:.1f} after)"
    )
    print()


def run_instant(args: argparse.Namespace, settings: Mapping[str, str]) -> bool:
    """Part "instant": (a) to (c), and (h), on anvil mining each transaction at once; prints its table, returns
    whether its targets are met."""
    to = recipients(args.recipients)
    with (
        tempfile.TemporaryDirectory(prefix="kudos-bench-") as tmp,
        AnvilNode(accounts=3, args=["--gas-limit", str(args.block_gas_limit)]) as node,
    ):
        workdir = Path(tmp)
        server = KudosServer(workdir / "data")
        client, env = deploy(node, workdir, server.url)
        naive_key = node.private_keys[1]
        naive_loop(node, client, naive_key, awards_to([to[0]], 5, "naive-warm-up"))
        naive = naive_loop(node, client, naive_key, awards_to(to, args.naive_n, "naive"))

        server.env = env | dict(settings)
        load_before = os.getloadavg()
        with server, report_failure(server):
            key = server.create_key("award")
            warm = asyncio.run(post_awards(server.url, key, [award_body(i, to) for i in range(20)], 10, "warm-up"))
            done = len(warm.award_ids)
            wait_confirmed(server.url, done, args.timeout)
            bodies = [award_body(i, to) for i in range(args.awards)]
            profiler = start_profiler(server.pid, args.profile) if args.profile else None
            cpu_before = cpu_seconds(server.pid)
            load = asyncio.run(post_awards(server.url, key, bodies, args.clients, "single"))
            cpu_after = cpu_seconds(server.pid)
            if profiler is not None:
                stop_profiler(profiler)
            done += args.awards
            wait_confirmed(server.url, done, args.timeout)
            single = Phase(load, asyncio.run(fetch_delivery(server.url, key, load.award_ids)))
            cpu = None if cpu_before is None or cpu_after is None else cpu_after - cpu_before
            batch = None
            if args.batch_size > 0:
                load = asyncio.run(post_batches(server.url, key, bodies, args.batch_size, 4, "batch"))
                done += args.awards
                wait_confirmed(server.url, done, args.timeout)
                batch = Phase(load, asyncio.run(fetch_delivery(server.url, key, load.award_ids)))
            down = node_down(node, server.url, key, to, args.down_awards) if args.down_awards > 0 else None
            server.stop()
        load_after = os.getloadavg()

    lines, met = table(naive, single, args.clients, batch, args.batch_size, cpu)
    if down is not None:
        lines.append(down.row())
    print_instant_header(args, settings, load_before[0], load_after[0])
    print("\n".join(lines))
    print()
    if single.load.transport_errors:
        print(f"Connection errors: {', '.join(sorted(set(single.load.transport_errors)))}.")
        print()
    print("Targets " + ("met." if met else "**missed**."))
    print(flush=True)
    return met


def code_description() -> str:
    """Which service code runs: the repository's commit, and which delivery worker it has."""
    spec = importlib.util.find_spec("kudos_service")
    where = Path(spec.origin).parent if spec is not None and spec.origin else None
    pipelined = where is not None and (where / "delivery").is_dir()
    worker = "`kudos_service.delivery` worker" if pipelined else "`kudos_service.worker` (one batch in flight)"
    git = ["git", "-C", str(ROOT)]
    head = subprocess.run([*git, "log", "-1", "--format=%h %s"], capture_output=True, text=True, check=False)
    if head.returncode != 0:
        return f"{worker}, from {where}"
    dirty = subprocess.run(
        [*git, "status", "--porcelain", "--untracked-files=no"], capture_output=True, text=True, check=False
    )
    changes = " with uncommitted changes" if dirty.stdout.strip() else ""
    return f"{worker}, commit {head.stdout.strip()!r}{changes}"


def run_real_chain_and_print(args: argparse.Namespace, settings: Mapping[str, str]) -> bool:
    """Part "real-chain": prints its table, returns whether its targets are met."""
    load_before = os.getloadavg()
    result = run_real_chain(args, settings)
    load_after = os.getloadavg()
    lines, met = real_chain_table(result)
    shown = ", ".join(f"{k}={v}" for k, v in sorted(result.settings.items()))
    print(
        f"## kudos-chain service benchmark: anvil with {args.block_time:g}-second blocks, "
        f"{time.strftime('%Y-%m-%d %H:%M:%S %Z')}"
    )
    print()
    print(
        f"{anvil_version()}, `--block-time {args.block_time:g} --gas-limit {args.block_gas_limit}`; `kudos serve` "
        f"(uvicorn {uvicorn.__version__}, one process, {code_description()}; settings: {shown}); Python "
        f"{platform.python_version()}; {platform.machine()}, {os.cpu_count()} CPUs shared by anvil, the service and "
        f"the clients (load average {load_before[0]:.1f} before, {load_after[0]:.1f} after)"
    )
    print()
    print("\n".join(lines))
    print()
    print(
        "Blocks are counted from the chain's head as polled every 50 ms: the head at an instant can read one block "
        "behind, so a latency in blocks can read one more than it was."
    )
    if result.blocks is not None:
        b = result.blocks
        print()
        print(
            f"Kudos (transactions) a block of the load, blocks {b.numbers[0]} to {b.numbers[-1]}; the clients posted "
            f"until block {result.post_end_block}: "
            + " ".join(f"{k}({t})" for k, t in zip(b.kudos, b.txs, strict=True))
        )
    if result.transport_errors:
        print(f"Connection errors: {', '.join(sorted(set(result.transport_errors)))}.")
    print()
    print("Targets " + ("met." if met else "**missed**."))
    print(flush=True)
    return met


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt(signal.Signals(signum).name)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    settings = dict(s.split("=", 1) for s in args.setting)
    previous = {sig: signal.signal(sig, _interrupt) for sig in (signal.SIGTERM, signal.SIGHUP)}
    met = True
    try:  # every node and server is stopped by its `with` on the way out
        if args.part in ("all", "instant"):
            met &= run_instant(args, settings)
        if args.part in ("all", "real-chain"):
            met &= run_real_chain_and_print(args, settings)
    except KeyboardInterrupt:
        print("interrupted: anvil and the service are stopped", file=sys.stderr)
        return 130
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return 1 if args.check and not met else 0


if __name__ == "__main__":
    sys.exit(main())
