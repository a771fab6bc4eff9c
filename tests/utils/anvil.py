"""A local anvil node in a child process, for the tests and the benchmarks::

    with AnvilNode() as node:
        chain = Chain.connect(node.url, chain_id=node.chain_id)

The node listens on a free loopback port, mines every transaction as it arrives, and funds the accounts of
anvil's well-known test mnemonic; their keys are read from the file anvil writes with ``--config-out``. The
node runs in its own process group, which :meth:`AnvilNode.stop` ends.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import tempfile
import time
import urllib.request
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType
from typing import IO, Any

__all__ = ["ANVIL_BINARY", "DEFAULT_CHAIN_ID", "AnvilError", "AnvilNode", "free_port"]

REPO_ROOT = Path(__file__).resolve().parents[2]

#: The pinned anvil of ``contracts/package.json`` (npm ``@foundry-rs/anvil``), as ``npm ci`` installs it.
ANVIL_BINARY = REPO_ROOT / "contracts" / "node_modules" / ".bin" / "anvil"

#: anvil's default chain id.
DEFAULT_CHAIN_ID = 31337

_HOST = "127.0.0.1"


class AnvilError(RuntimeError):
    """anvil is missing, did not start, or did not answer."""


def free_port(host: str = _HOST) -> int:
    """A TCP port that was free a moment ago: the one the OS picks when a socket binds to port 0."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


class AnvilNode:
    """An anvil node on a free loopback port, started by :meth:`start` (or ``with``) and ended by :meth:`stop`.

    :param binary: the anvil executable; by default the pinned one in ``contracts/node_modules``.
    :param accounts: how many funded dev accounts to create.
    :param chain_id: the chain id the node reports.
    :param args: more command-line arguments for anvil.
    :param startup_timeout: seconds to wait for the node's first answer.
    :param port: listen on this loopback port (to start a node again where clients expect it); by default a
        free one.
    """

    def __init__(
        self,
        *,
        binary: str | os.PathLike[str] | None = None,
        accounts: int = 10,
        chain_id: int = DEFAULT_CHAIN_ID,
        args: Sequence[str] = (),
        startup_timeout: float = 30.0,
        port: int | None = None,
    ) -> None:
        self.binary = Path(binary) if binary is not None else ANVIL_BINARY
        self.accounts = accounts
        self.chain_id = chain_id
        self.args = list(args)
        self.startup_timeout = startup_timeout
        self.port: int | None = port
        self._fixed_port = port
        self.private_keys: list[str] = []
        self._process: subprocess.Popen[bytes] | None = None
        self._workdir: tempfile.TemporaryDirectory[str] | None = None
        self._log: IO[bytes] | None = None

    def __repr__(self) -> str:
        state = "running" if self.running else "stopped"
        return f"AnvilNode({self.url if self.port else 'no port'}, {state})"

    @property
    def url(self) -> str:
        """The node's HTTP JSON-RPC URL."""
        if self.port is None:
            raise AnvilError("the node has not been started")
        return f"http://{_HOST}:{self.port}"

    @property
    def running(self) -> bool:
        """True while the node's process is alive."""
        return self._process is not None and self._process.poll() is None

    # ------------------------------------------------------------------------------------------------------
    # Life cycle
    # ------------------------------------------------------------------------------------------------------

    def start(self, *, attempts: int = 3) -> AnvilNode:
        """Start the node and wait until it answers ``eth_chainId``; try another port if the first is taken
        (or the fixed port again).

        :raises AnvilError: when the binary is missing, or the node does not answer in time.
        """
        if self.running:
            return self
        if not self.binary.exists():
            raise AnvilError(f"anvil is not installed at {self.binary}: run `npm ci --prefix contracts`")
        self._workdir = tempfile.TemporaryDirectory(prefix="kudos-anvil-")
        error: AnvilError | None = None
        for _ in range(attempts):
            try:
                self._launch(self._fixed_port or free_port())
            except AnvilError as exc:
                error = exc
                self._terminate()
                continue
            return self
        self.stop()
        assert error is not None
        raise error

    def _launch(self, port: int) -> None:
        assert self._workdir is not None
        workdir = Path(self._workdir.name)
        config = workdir / f"config-{port}.json"
        log_path = workdir / f"anvil-{port}.log"
        command = [
            str(self.binary),
            "--host",
            _HOST,
            "--port",
            str(port),
            "--accounts",
            str(self.accounts),
            "--chain-id",
            str(self.chain_id),
            "--config-out",
            str(config),
            *self.args,
        ]
        self.port = port
        self._log = log_path.open("wb")
        self._process = subprocess.Popen(
            command, stdin=subprocess.DEVNULL, stdout=self._log, stderr=subprocess.STDOUT, start_new_session=True
        )
        deadline = time.monotonic() + self.startup_timeout
        while True:
            if self._process.poll() is not None:
                raise AnvilError(f"anvil exited with code {self._process.returncode}: {self._log_tail(log_path)}")
            try:
                answer = self.rpc("eth_chainId", [], timeout=1.0)
            except (OSError, ValueError):
                answer = None
            if answer is not None and config.exists():
                break
            if time.monotonic() > deadline:
                raise AnvilError(f"anvil did not answer within {self.startup_timeout:g} s: {self._log_tail(log_path)}")
            time.sleep(0.05)
        if int(answer, 16) != self.chain_id:
            raise AnvilError(f"anvil answers chain id {int(answer, 16)}, not {self.chain_id}")
        self.private_keys = list(json.loads(config.read_text("utf-8"))["private_keys"])

    @staticmethod
    def _log_tail(path: Path, lines: int = 20) -> str:
        try:
            text = path.read_text("utf-8", errors="replace")
        except OSError:
            return "(no log)"
        return "\n".join(text.splitlines()[-lines:]) or "(empty log)"

    def _terminate(self) -> None:
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            try:
                os.killpg(process.pid, signal.SIGTERM)
                process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=5)
            except ProcessLookupError:
                pass
        elif process is not None:
            process.wait()
        if self._log is not None:
            self._log.close()
            self._log = None

    def stop(self) -> None:
        """End the node's process group and remove its files."""
        self._terminate()
        if self._workdir is not None:
            self._workdir.cleanup()
            self._workdir = None

    def __enter__(self) -> AnvilNode:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    # ------------------------------------------------------------------------------------------------------
    # JSON-RPC
    # ------------------------------------------------------------------------------------------------------

    def rpc(self, method: str, params: Sequence[Any] = (), *, timeout: float = 30.0) -> Any:
        """Call one JSON-RPC method (``anvil_mine``, ``evm_snapshot``...) and return its result.

        :raises AnvilError: when the node answers with an error.
        """
        body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": method, "params": list(params)}).encode()
        request = urllib.request.Request(self.url, data=body, headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=timeout) as response:
            answer = json.loads(response.read())
        if "error" in answer:
            raise AnvilError(f"{method} failed: {answer['error']}")
        return answer["result"]
