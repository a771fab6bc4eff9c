#!/usr/bin/env python3
"""Benchmark the service on one local anvil node, in one run, and print the results as a Markdown table.

    python scripts/bench_service.py [--awards 5000] [--clients 200] [--naive-n 200] [--check]

The script starts anvil, deploys a KudosToken, writes the minter's key to a keystore, and starts ``kudos serve``
on that chain (``KUDOS_RPC_URL`` ...) as a child process on a loopback port with a temporary data directory. Then

  (a) the baseline: the loop tutorials write with web3.py (build, sign, send, wait; next) on the same node, from
      ``scripts/bench_library.py``, before the service has anything to do;
  (b) the load: ``--clients`` concurrent HTTP clients (asyncio, aiohttp, one connection each) post ``--awards``
      single awards (``POST /v1/awards``, each with its own Idempotency-Key), each client posting its next award
      as soon as its last one is accepted; the script waits until the service has confirmed every one;
  (c) for comparison, the same number of awards posted ``--batch-size`` a request to ``/v1/awards/batch`` by four
      clients: what the delivery worker confirms when accepting is not the limit.

It reports the confirmed kudos per second through the API (awards / time from the first POST to the last
confirmation), the 50th, 95th and 99th percentiles of the time to accept an award (POST to 202, as the client
sees it), and the 95th percentile of the time from acceptance to confirmation (the service's own ``created_at``
and ``confirmed_at`` of each award).

Targets: (b) at least 20 times (a) in kudos per second; p95 time to accept at most 50 ms.

Exit status: 0; with ``--check``, 1 when a target is missed.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
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
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run as a file: make the repository's packages importable
    sys.path.insert(0, str(ROOT))

import aiohttp  # noqa: E402
import httpx  # noqa: E402
import uvicorn  # noqa: E402

from kudos_chain import Chain, KudosClient, Signer  # noqa: E402
from scripts.bench_library import Measure, anvil_version, awards_to, naive_loop  # noqa: E402
from tests.utils.anvil import AnvilNode  # noqa: E402
from tests.utils.service import KudosServer  # noqa: E402

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
    with httpx.Client(base_url=url, timeout=30) as http:
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


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--awards", type=int, default=5000, help="awards posted through the API (default 5000)")
    parser.add_argument("--clients", type=int, default=200, help="concurrent HTTP clients (default 200)")
    parser.add_argument("--naive-n", type=int, default=200, help="kudos awarded by the naive loop (default 200)")
    parser.add_argument("--recipients", type=int, default=100, help="distinct recipients (default 100)")
    parser.add_argument(
        "--block-gas-limit", type=int, default=30_000_000, help="anvil's block gas limit (default 30,000,000)"
    )
    parser.add_argument(
        "--setting",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="a KUDOS_* setting for the service, e.g. KUDOS_BATCH_MAX_SIZE=200 (repeatable)",
    )
    parser.add_argument(
        "--profile",
        type=Path,
        metavar="PATH",
        help="record the service with py-spy during the load into PATH (.svg: a flame graph; .txt: collapsed stacks)",
    )
    parser.add_argument(
        "--batch-size",
        type=int,
        default=500,
        help="awards a request in the comparison (c) through /v1/awards/batch; 0 skips it (default 500)",
    )
    parser.add_argument("--timeout", type=float, default=600, help="seconds to wait for every confirmation")
    parser.add_argument("--check", action="store_true", help="exit with status 1 when a target is missed")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    settings = dict(s.split("=", 1) for s in args.setting)
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

        server.env = env | settings
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
            server.stop()
        load_after = os.getloadavg()

    lines, met = table(naive, single, args.clients, batch, args.batch_size, cpu)
    shown = ", ".join(f"{k}={v}" for k, v in sorted(settings.items())) or "defaults"
    print(f"## kudos-chain service benchmark: one anvil node, {time.strftime('%Y-%m-%d %H:%M:%S %Z')}")
    print()
    print(
        f"{anvil_version()}, block gas limit {args.block_gas_limit:,}; `kudos serve` (uvicorn {uvicorn.__version__}, "
        f"one process; settings: {shown}); Python {platform.python_version()}; {platform.machine()}, "
        f"{os.cpu_count()} CPUs shared by anvil, the service and the clients (load average "
        f"{load_before[0]:.1f} before the service started, {load_after[0]:.1f} after)"
    )
    print()
    print("\n".join(lines))
    print()
    if single.load.transport_errors:
        print(f"Connection errors: {', '.join(sorted(set(single.load.transport_errors)))}.")
        print()
    print("Targets " + ("met." if met else "**missed**."))
    return 1 if args.check and not met else 0


if __name__ == "__main__":
    sys.exit(main())
