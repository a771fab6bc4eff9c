#!/usr/bin/env python3
"""Benchmark the library on one local anvil node, in one run, and print the results as Markdown tables.

    python scripts/bench_library.py [--n 300] [--batch-n 2000] [--wallet 1000] [--check]

Awards per second of
  (a) the loop tutorials write with web3.py: build the contract call, sign it, send it, wait for its receipt, next;
  (b) the library's pipelined single awards, ``KudosClient.award_many``;
  (c) the library's batch award, ``KudosClient.award_batch`` (200 kudos a transaction);
and the time to read the wallet of an owner of ``--wallet`` kudos with ``KudosClient.wallet``, against the naive
loop that asks ``balanceOf``, then ``kudos`` and ``tokenURI`` of each token id, one call at a time. Each phase's
JSON-RPC round trips are counted by the HTTP provider (one per request, one per batch).

Targets (in kudos per second): (b) at least 5 times (a), (c) at least 50 times (a).

anvil runs with its default block gas limit (30 M) unless ``--block-gas-limit`` says otherwise; the library
sends pipelined transactions in waves that fit one block.

Exit status: 0; with ``--check``, 1 when a target is missed.
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run as a file: make the repository's packages importable
    sys.path.insert(0, str(ROOT))

import web3  # noqa: E402
from eth_account import Account  # noqa: E402
from web3 import HTTPProvider, Web3  # noqa: E402
from web3.types import RPCEndpoint, RPCResponse  # noqa: E402

from kudos_chain import Award, Chain, KudosClient, Signer, content_hash  # noqa: E402
from kudos_chain.testing import AnvilNode, find_anvil  # noqa: E402

T = TypeVar("T")

#: What (b) and (c) must reach, as multiples of (a)'s kudos per second.
TARGETS = {"b": 5.0, "c": 50.0}


class CountingProvider(HTTPProvider):
    """web3's HTTP provider, counting its round trips to the node: one per request and one per batch."""

    def __init__(self, endpoint_uri: str) -> None:
        super().__init__(endpoint_uri)
        self.round_trips = 0

    def make_request(self, method: RPCEndpoint, params: Any) -> RPCResponse:
        self.round_trips += 1
        return super().make_request(method, params)

    def make_batch_request(self, requests: list[tuple[RPCEndpoint, Any]]) -> list[RPCResponse] | RPCResponse:
        self.round_trips += 1
        return super().make_batch_request(requests)


@dataclass(frozen=True, slots=True)
class Measure:
    """One timed phase."""

    name: str
    count: int
    seconds: float
    round_trips: int

    @property
    def per_second(self) -> float:
        return self.count / self.seconds


def timed(name: str, count: int, provider: CountingProvider, action: Callable[[], T]) -> tuple[Measure, T]:
    """Run ``action`` once, and measure its wall time and the provider's round trips."""
    before = provider.round_trips
    start = time.perf_counter()
    result = action()
    seconds = time.perf_counter() - start
    return Measure(name, count, seconds, provider.round_trips - before), result


def awards_to(recipients: Sequence[str], count: int, tag: str) -> list[Award]:
    """``count`` soulbound awards, round-robin over ``recipients``, each with its own content hash and request id."""
    return [
        Award(recipients[i % len(recipients)], 1 + i % 5, content_hash({"bench": tag, "i": i}), f"{tag}-{i}")
        for i in range(count)
    ]


# ----------------------------------------------------------------------------------------------------------------
# The phases
# ----------------------------------------------------------------------------------------------------------------


def naive_loop(node: AnvilNode, client: KudosClient, key: str, awards: Sequence[Award]) -> Measure:
    """(a): the tutorial loop, with web3.py's own defaults (gas estimate, fees, receipt polling)."""
    provider = CountingProvider(node.url)
    w3 = Web3(provider)
    account = Account.from_key(key)
    contract = w3.eth.contract(address=client.address, abi=client.artifact.abi)

    def run() -> None:
        for a in awards:
            call = contract.functions.award(
                a.recipient, a.kind, a.content_hash, Web3.keccak(text=str(a.request_id)), a.transferable
            )
            tx = call.build_transaction(
                {"from": account.address, "nonce": w3.eth.get_transaction_count(account.address)}
            )
            signed = account.sign_transaction(tx)
            tx_hash = w3.eth.send_raw_transaction(signed.raw_transaction)
            receipt = w3.eth.wait_for_transaction_receipt(tx_hash)
            if receipt["status"] != 1:
                raise RuntimeError(f"award {tx_hash.to_0x_hex()} failed")

    measure, _ = timed("(a) naive loop: build, sign, send, wait; next", len(awards), provider, run)
    return measure


def library_awards(client: KudosClient, provider: CountingProvider, n: int, batch_n: int) -> tuple[Measure, Measure]:
    """(b) and (c), on the client's own connection."""
    recipients = [Signer.create().address for _ in range(10)]
    singles = awards_to(recipients, n, "many")
    many, results = timed("(b) KudosClient.award_many (pipelined)", n, provider, lambda: client.award_many(singles))
    if len(results) != n:
        raise RuntimeError(f"award_many awarded {len(results)} kudos, not {n}")
    batch = awards_to(recipients, batch_n, "batch")
    batched, results = timed("(c) KudosClient.award_batch", batch_n, provider, lambda: client.award_batch(batch))
    if len(results) != batch_n:
        raise RuntimeError(f"award_batch awarded {len(results)} kudos, not {batch_n}")
    return many, batched


def wallet_reads(node: AnvilNode, chain: Chain, admin: Signer, size: int) -> tuple[Measure, Measure]:
    """The wallet of an owner of ``size`` kudos, on a contract of its own: the library, then the naive loop."""
    client = KudosClient.deploy(chain, admin, base_uri="https://kudos.example/v1/tokens/")
    owner = Signer.create().address
    client.award_batch(awards_to([owner], size, "wallet"))

    provider = CountingProvider(node.url)
    reader = KudosClient(Chain(Web3(provider)), client.address, from_block=client.from_block)
    library, wallet = timed("KudosClient.wallet", size, provider, lambda: reader.wallet(owner))
    if len(wallet) != size:
        raise RuntimeError(f"the wallet holds {len(wallet)} kudos, not {size}")

    naive_provider = CountingProvider(node.url)
    contract = Web3(naive_provider).eth.contract(address=client.address, abi=client.artifact.abi)

    def naive() -> list[tuple[int, str]]:
        balance = contract.functions.balanceOf(owner).call()
        found: list[tuple[int, str]] = []
        token_id = contract.functions.totalAwarded().call()
        while len(found) < balance and token_id > 0:  # newest first, as the wallet is shown
            holder, _kind, _issued_at, _transferable = contract.functions.kudos(token_id).call()
            if holder == owner:
                found.append((token_id, contract.functions.tokenURI(token_id).call()))
            token_id -= 1
        return found

    loop, found = timed("naive loop: balanceOf, then kudos and tokenURI per id", size, naive_provider, naive)
    if [t for t, _ in found] != [k.token_id for k in wallet]:
        raise RuntimeError("the naive loop and KudosClient.wallet disagree")
    return library, loop


# ----------------------------------------------------------------------------------------------------------------
# Report
# ----------------------------------------------------------------------------------------------------------------


def award_table(naive: Measure, many: Measure, batched: Measure) -> tuple[list[str], bool]:
    lines = [
        "| awards | kudos | seconds | kudos/s | x (a) | RPC round trips | target | met |",
        "|---|---:|---:|---:|---:|---:|---|---|",
        f"| {naive.name} | {naive.count} | {naive.seconds:.2f} | {naive.per_second:,.0f} | 1.0 | "
        f"{naive.round_trips:,} | | |",
    ]
    all_met = True
    for key, m in (("b", many), ("c", batched)):
        ratio = m.per_second / naive.per_second
        met = ratio >= TARGETS[key]
        all_met &= met
        lines.append(
            f"| {m.name} | {m.count} | {m.seconds:.2f} | {m.per_second:,.0f} | {ratio:,.1f} | {m.round_trips:,} | "
            f"≥ {TARGETS[key]:g} x (a) | {'yes' if met else '**NO**'} |"
        )
    return lines, all_met


def wallet_table(library: Measure, loop: Measure) -> list[str]:
    return [
        f"| read the wallet of an owner of {library.count:,} kudos | seconds | RPC round trips |",
        "|---|---:|---:|",
        f"| {library.name} | {library.seconds:.3f} | {library.round_trips:,} |",
        f"| {loop.name} | {loop.seconds:.3f} | {loop.round_trips:,} |",
        f"| speed-up | {loop.seconds / library.seconds:,.0f} x | {loop.round_trips / library.round_trips:,.0f} x |",
    ]


def anvil_version() -> str:
    answer = subprocess.run([str(find_anvil()), "--version"], capture_output=True, text=True, check=False)
    return answer.stdout.splitlines()[0] if answer.stdout else "anvil (unknown version)"


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--n", type=int, default=300, help="kudos awarded by (a) and by (b) (default 300)")
    parser.add_argument("--batch-n", type=int, default=2000, help="kudos awarded by (c) (default 2000)")
    parser.add_argument("--wallet", type=int, default=1000, help="kudos in the wallet that is read (default 1000)")
    parser.add_argument(
        "--block-gas-limit", type=int, default=30_000_000, help="anvil's block gas limit (default 30,000,000)"
    )
    parser.add_argument("--check", action="store_true", help="exit with status 1 when a target is missed")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    with AnvilNode(accounts=3, args=["--gas-limit", str(args.block_gas_limit)]) as node:
        provider = CountingProvider(node.url)
        chain = Chain(Web3(provider), name=node.url)
        admin, tutorial = (Signer.from_key(key) for key in node.private_keys[:2])
        client = KudosClient.deploy(chain, admin, base_uri="https://kudos.example/v1/tokens/")
        client.grant_minter(tutorial.address)
        client.award_many(awards_to([tutorial.address], 5, "warm-up"))  # connections, caches, fee history

        naive = naive_loop(node, client, node.private_keys[1], awards_to([admin.address], args.n, "naive"))
        many, batched = library_awards(client, provider, args.n, args.batch_n)
        library, loop = wallet_reads(node, chain, admin, args.wallet)

    awards, all_met = award_table(naive, many, batched)
    print(f"## kudos-chain library benchmark: one anvil node, {time.strftime('%Y-%m-%d %H:%M:%S %Z')}")
    print()
    print(
        f"{anvil_version()}, block gas limit {args.block_gas_limit:,}; Python {platform.python_version()}, "
        f"web3.py {web3.__version__}; {platform.machine()}, {os.cpu_count()} CPUs"
    )
    print()
    print("\n".join(awards))
    print()
    print("\n".join(wallet_table(library, loop)))
    print()
    print(
        "Round trips are counted by the HTTP provider: one per request, one per JSON-RPC batch. The naive loops use"
        " web3.py's defaults, whose validation middleware asks `eth_chainId` around each call and transaction."
    )
    print()
    print("Targets " + ("met." if all_met else "**missed**."))
    return 1 if args.check and not all_met else 0


if __name__ == "__main__":
    sys.exit(main())
