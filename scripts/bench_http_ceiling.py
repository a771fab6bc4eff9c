#!/usr/bin/env python3
"""What one uvicorn process on this machine can accept at all: the ceiling under ``scripts/bench_service.py``.

    python scripts/bench_http_ceiling.py [--awards 5000] [--clients 200]

The same clients as the service benchmark's (b) (``--clients`` aiohttp clients, each posting its next award as
soon as the last is answered) post to a FastAPI app served like ``kudos serve`` (one uvicorn process), which

  (1) ``bare``: answers 202 with an id and does nothing else (no validation of the body);
  (2) ``validate``: validates the body as an ``AwardCreate`` (the service's schema, checksummed address) first;
  (3) ``insert``: validates, then inserts one row into SQLite (WAL, ``synchronous=NORMAL``) and commits, in a
      thread, one transaction a request (no group commit).

It prints accepted requests per second and the p50/p95 time to accept of each, as a Markdown table.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import httpx2  # noqa: E402
from fastapi import FastAPI, Request  # noqa: E402
from fastapi.concurrency import run_in_threadpool  # noqa: E402
from fastapi.responses import JSONResponse  # noqa: E402
from kudos_service.schemas import AwardCreate  # noqa: E402

from scripts.bench_service import award_body, percentile, post_awards, recipients  # noqa: E402

MODES = ("bare", "validate", "insert")


def app(mode: str, database: str) -> FastAPI:
    """The FastAPI app of ``mode``."""
    api = FastAPI()
    local = threading.local()

    def connect() -> sqlite3.Connection:
        connection = sqlite3.connect(database, isolation_level=None, timeout=30)
        connection.execute("PRAGMA journal_mode=WAL")
        connection.execute("PRAGMA synchronous=NORMAL")
        connection.execute("CREATE TABLE IF NOT EXISTS awards (id TEXT PRIMARY KEY, body TEXT)")
        return connection

    def insert(body: AwardCreate) -> str:
        if not hasattr(local, "connection"):
            local.connection = connect()
        award_id = str(uuid.uuid4())
        local.connection.execute("BEGIN IMMEDIATE")
        local.connection.execute("INSERT INTO awards VALUES (?, ?)", (award_id, body.model_dump_json()))
        local.connection.execute("COMMIT")
        return award_id

    if mode == "bare":

        @api.post("/v1/awards", status_code=202)
        async def bare(request: Request) -> JSONResponse:
            await request.body()
            return JSONResponse({"id": "0"}, status_code=202)

    elif mode == "validate":

        @api.post("/v1/awards", status_code=202)
        async def validate(body: AwardCreate) -> dict[str, str]:
            return {"id": "0"}

    else:

        @api.post("/v1/awards", status_code=202)
        async def insert_one(body: AwardCreate) -> dict[str, str]:
            return {"id": await run_in_threadpool(insert, body)}

    return api


def serve(mode: str, port: int, database: str) -> None:
    import uvicorn  # noqa: PLC0415

    uvicorn.run(app(mode, database), host="127.0.0.1", port=port, log_level="warning")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def measure(mode: str, awards: int, clients: int, workdir: Path) -> tuple[float, float, float]:
    """Accepted per second, p50 and p95 seconds to accept, of ``mode``."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    command = [sys.executable, __file__, "--serve", mode, str(port), str(workdir / f"{mode}.db")]
    server = subprocess.Popen(command, env=os.environ | {"PYTHONPATH": str(ROOT)})
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                httpx2.get(f"{url}/docs", timeout=1)
                break
            except httpx2.TransportError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        to = recipients(100)
        asyncio.run(post_awards(url, "-", [award_body(i, to) for i in range(100)], 10, "warm-up"))
        load = asyncio.run(post_awards(url, "-", [award_body(i, to) for i in range(awards)], clients, mode))
    finally:
        server.terminate()
        server.wait(10)
    accept = load.accept_seconds
    return awards / load.seconds, percentile(accept, 50), percentile(accept, 95)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--awards", type=int, default=5000)
    parser.add_argument("--clients", type=int, default=200)
    parser.add_argument("--serve", nargs=3, metavar=("MODE", "PORT", "DATABASE"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve:
        serve(args.serve[0], int(args.serve[1]), args.serve[2])
        return 0
    print(f"| endpoint (one uvicorn process, {args.clients} clients, {args.awards:,} POSTs) | accepted/s | p50 | p95 |")
    print("|---|---:|---:|---:|")
    with tempfile.TemporaryDirectory(prefix="kudos-ceiling-") as tmp:
        for mode in MODES:
            per_second, p50, p95 = measure(mode, args.awards, args.clients, Path(tmp))
            print(f"| {mode} | {per_second:,.0f} | {p50 * 1000:,.1f} ms | {p95 * 1000:,.1f} ms |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
