"""Fixtures of the service tests: the API on an embedded chain in a temporary data directory, and API keys.

``service`` is one running app per test module: ``create_app(Settings(data_dir=...))`` inside a
:class:`~fastapi.testclient.TestClient` used as a context manager, so the lifespan runs (the embedded chain is
opened, the contract deployed, the delivery worker started). Its keys are made with ``kudos keys create``, the
CLI's own code path, one per scope. Tests that need an app of their own (no worker, say) use
:func:`start_service`.

``db`` is a migrated SQLite database of the test's own, for tests of the storage alone.

``live_service`` is the same app served over real HTTP by uvicorn in a thread, on a free loopback port, for
clients that need a URL (the ``kudos`` commands that talk to the API); see :func:`start_live_service`.
"""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx2
import pytest
import uvicorn
from eth_utils.address import to_checksum_address
from fastapi.testclient import TestClient
from kudos_service.chain_access import ChainContext
from kudos_service.cli import app as cli_app
from kudos_service.core.config import Settings
from kudos_service.core.db import Database
from kudos_service.main import create_app
from kudos_service.models import Award
from kudos_service.state import AppState
from sqlalchemy import func, select
from typer.testing import CliRunner

SCOPES = ("award", "revoke", "admin")

#: How long a test waits for the worker to confirm an award on the embedded chain.
CONFIRM_TIMEOUT = 20.0


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Database]:
    """A migrated SQLite database in the test's temporary directory."""
    database = Database(f"sqlite:///{tmp_path / 'kudos.db'}")
    database.migrate()
    try:
        yield database
    finally:
        database.dispose()


def new_address() -> str:
    """A fresh random wallet address, checksummed."""
    return to_checksum_address("0x" + os.urandom(20).hex())


def create_key(data_dir: Path, *scopes: str, name: str | None = None) -> str:
    """An API key made by ``kudos keys create``, the CLI's own code path; the key is its stdout."""
    args = ["keys", "create", "--data-dir", str(data_dir)]
    for scope in scopes:
        args += ["--scope", scope]
    if name is not None:
        args += ["--name", name]
    result = CliRunner().invoke(cli_app, args)
    assert result.exit_code == 0, result.stderr
    return result.stdout.strip()


def award_body(**overrides: Any) -> dict[str, Any]:
    """A valid award request body (a fresh recipient each time), with ``overrides``."""
    body: dict[str, Any] = {
        "recipient": new_address(),
        "kind": "team-player",
        "message": "Thank you for unblocking the release.",
        "awarded_by": "Ada Lovelace",
    }
    body.update(overrides)
    return body


def assert_error(response: httpx2.Response, status: int, code: str) -> dict[str, Any]:
    """Assert the response is the API's refusal ``{"error": {code, message, details}}`` with ``status``;
    return the error."""
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"}, body
    error: dict[str, Any] = body["error"]
    assert error["code"] == code, error
    assert isinstance(error["message"], str)
    assert error["message"]
    assert isinstance(error["details"], list)
    return error


@dataclass
class Service:
    """A running app, its state, its data directory and one API key per scope."""

    client: TestClient
    state: AppState
    data_dir: Path
    keys: dict[str, str]

    @property
    def ctx(self) -> ChainContext:
        """The embedded chain, the KudosToken and the signer the service uses."""
        return self.state.chain.get()

    def auth(self, scope: str = "award", **extra: str) -> dict[str, str]:
        """Headers with the key of ``scope`` (and ``extra`` headers)."""
        return {"Authorization": f"Bearer {self.keys[scope]}", **extra}

    def post_award(
        self,
        body: Mapping[str, Any] | None = None,
        *,
        key: str | None = None,
        scope: str = "award",
        wait: float | None = None,
    ) -> httpx2.Response:
        """POST /v1/awards with ``body`` (a fresh valid one by default) and an idempotency key."""
        headers = self.auth(scope, **{"Idempotency-Key": key or os.urandom(8).hex()})
        params = {} if wait is None else {"wait": wait}
        response: httpx2.Response = self.client.post(
            "/v1/awards", json=dict(body or award_body()), headers=headers, params=params
        )
        return response

    def post_batch(self, items: list[dict[str, Any]], *, scope: str = "award") -> httpx2.Response:
        """POST /v1/awards/batch with ``items``."""
        response: httpx2.Response = self.client.post(
            "/v1/awards/batch", json={"awards": items}, headers=self.auth(scope)
        )
        return response

    def award_count(self) -> int:
        """How many awards the database holds."""
        with self.state.db.session() as session:
            return int(session.scalar(select(func.count()).select_from(Award)) or 0)

    def wait_final(self, award_id: str, *, scope: str = "award", timeout: float = CONFIRM_TIMEOUT) -> dict[str, Any]:
        """The award once ``confirmed`` or ``failed`` (``GET ?wait=``, polled until ``timeout``)."""
        deadline = time.monotonic() + timeout
        while True:
            response = self.client.get(f"/v1/awards/{award_id}", params={"wait": 5}, headers=self.auth(scope))
            assert response.status_code == 200, response.text
            award: dict[str, Any] = response.json()
            if award["status"] in ("confirmed", "failed") or time.monotonic() > deadline:
                return award

    def wait_confirmed(self, award_id: str, *, scope: str = "award") -> dict[str, Any]:
        """The award once confirmed (fails the test if it failed or timed out)."""
        award = self.wait_final(award_id, scope=scope)
        assert award["status"] == "confirmed", award
        return award

    def award_confirmed(self, body: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """Award one kudos and wait for its confirmation; the award's view, with its token id."""
        response = self.post_award(body)
        assert response.status_code == 202, response.text
        return self.wait_confirmed(response.json()["id"])

    def wait_wallet(self, address: str, total: int, *, timeout: float = CONFIRM_TIMEOUT) -> dict[str, Any]:
        """The first page of ``address``'s wallet once the index shows ``total`` kudos."""
        deadline = time.monotonic() + timeout
        while True:
            response = self.client.get(f"/v1/wallets/{address}")
            assert response.status_code == 200, response.text
            wallet: dict[str, Any] = response.json()
            if wallet["total"] == total:
                return wallet
            assert time.monotonic() < deadline, f"the wallet shows {wallet['total']} kudos, not {total}"
            time.sleep(0.05)


@contextmanager
def start_service(data_dir: Path, **settings: Any) -> Iterator[Service]:
    """Keys for each scope, then the app on ``data_dir`` with its lifespan running; the embedded chain's file is
    released at the end."""
    keys = {scope: create_key(data_dir, scope) for scope in SCOPES}
    values: dict[str, Any] = {"batch_max_wait_ms": 0, "worker_poll_ms": 10} | settings
    app = create_app(Settings(data_dir=data_dir, rpc_url=None, database_url=None, **values))
    state: AppState = app.state.kudos
    try:
        with TestClient(app) as client:
            yield Service(client=client, state=state, data_dir=data_dir, keys=keys)
    finally:
        ctx = state.chain.peek()
        if ctx is not None:
            ctx.chain.close()
        state.db.dispose()


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    """One running service per test module, with its delivery worker."""
    with start_service(tmp_path_factory.mktemp("kudos-service")) as running:
        yield running


@dataclass
class LiveService:
    """A running app served over HTTP at ``url``, its state, its data directory and one API key per scope."""

    url: str
    state: AppState
    data_dir: Path
    keys: dict[str, str]

    def award_count(self) -> int:
        """How many awards the database holds."""
        with self.state.db.session() as session:
            return int(session.scalar(select(func.count()).select_from(Award)) or 0)


@contextmanager
def start_live_service(data_dir: Path, **settings: Any) -> Iterator[LiveService]:
    """Keys for each scope, then the app on ``data_dir`` served by uvicorn in a thread on a free loopback port
    (bound before the server starts, so no other process can take it); stopped and released at the end."""
    keys = {scope: create_key(data_dir, scope) for scope in SCOPES}
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    port = int(sock.getsockname()[1])
    values: dict[str, Any] = {"batch_max_wait_ms": 0, "worker_poll_ms": 10, "port": port} | settings
    app = create_app(Settings(data_dir=data_dir, rpc_url=None, database_url=None, **values))
    state: AppState = app.state.kudos
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, name="live-service", daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 60
        while not server.started:
            assert thread.is_alive(), "the live service stopped while starting"
            assert time.monotonic() < deadline, "the live service did not start within 60 s"
            time.sleep(0.02)
        yield LiveService(url=f"http://127.0.0.1:{port}", state=state, data_dir=data_dir, keys=keys)
    finally:
        server.should_exit = True
        thread.join(timeout=30)
        sock.close()
        ctx = state.chain.peek()
        if ctx is not None:
            ctx.chain.close()
        state.db.dispose()


@pytest.fixture(scope="module")
def live_service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveService]:
    """One service per test module served over HTTP on a loopback port, with its delivery worker."""
    with start_live_service(tmp_path_factory.mktemp("kudos-live-service")) as running:
        yield running
