#!/usr/bin/env python3
"""How long the ``kudos`` command takes to start: ``kudos --help``, and ``kudos wallet`` of a service that is not
there (a command over HTTP, up to its first request, which fails at once on a closed port).

    python scripts/bench_cli_startup.py [--runs 5]

Prints, for each, the best wall-clock time of ``--runs`` runs of the installed ``kudos`` script (beside this
interpreter), and the cumulative ``python -X importtime`` of ``import kudos_service.cli``. Run it on an idle
machine: the best of several runs is the figure least disturbed by other processes. The README's command-line
section quotes it; ``tests/service/test_cli_startup.py`` checks the imports, not the time.
"""

from __future__ import annotations

import argparse
import os
import re
import socket
import subprocess
import sys
import time
from pathlib import Path

KUDOS = Path(sys.executable).parent / "kudos"
ALICE = "0x2B5AD5c4795c026514f8317c7a215E218DcCD6cF"


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def best_wall_time(command: list[str], runs: int) -> float:
    env = {k: v for k, v in os.environ.items() if not k.startswith("KUDOS_")}
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(command, capture_output=True, env=env, check=False, timeout=120)
        times.append(time.perf_counter() - start)
    return min(times)


def import_time(runs: int) -> float:
    """The best cumulative ``-X importtime`` of ``kudos_service.cli``, in seconds."""
    best = float("inf")
    for _ in range(runs):
        done = subprocess.run(
            [sys.executable, "-X", "importtime", "-c", "import kudos_service.cli"],
            capture_output=True,
            text=True,
            check=True,
            timeout=120,
        )
        found = re.search(r"^import time:\s+\d+ \|\s+(\d+) \| kudos_service\.cli$", done.stderr, flags=re.MULTILINE)
        assert found, done.stderr[-500:]
        best = min(best, int(found.group(1)) / 1e6)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    runs = parser.parse_args().runs
    url = f"http://127.0.0.1:{closed_port()}"
    print(f"load average before: {os.getloadavg()[0]:.2f}; {runs} runs each, best shown")
    print(f"kudos --help:                       {best_wall_time([str(KUDOS), '--help'], runs):.2f} s")
    wallet = [str(KUDOS), "wallet", ALICE, "--url", url]
    print(f"kudos wallet (service not there):   {best_wall_time(wallet, runs):.2f} s")
    print(f"import kudos_service.cli (-X importtime): {import_time(runs):.3f} s")


if __name__ == "__main__":
    main()
