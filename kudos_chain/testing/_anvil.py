"""A local anvil node in a child process::

    with AnvilNode() as node:
        chain = Chain.connect(node.url, chain_id=node.chain_id)

The node listens on a free loopback port, mines every transaction as it arrives (or a block every
``block_time`` seconds), and funds the accounts of anvil's well-known test mnemonic; their keys are read from the
file anvil writes with ``--config-out``. The node runs in its own process group, which :meth:`AnvilNode.stop`
ends. :func:`find_anvil` says which anvil executable is used (an explicit path, ``KUDOS_ANVIL``, a kudos-chain
checkout's pinned copy, or ``anvil`` on ``PATH``).

For fault tests: :meth:`AnvilNode.kill` is a crash (SIGKILL) and :meth:`AnvilNode.restart` starts the node
again on the same port, from its state file when it has one (``persist=True``: a snapshot every
``state_interval`` seconds, in a directory that outlives the crash), else as a new chain; typed helpers call
anvil's fault methods (``anvil_reorg``, ``anvil_dropAllTransactions``, ``anvil_setNextBlockBaseFeePerGas``...),
and :meth:`AnvilNode.hold_base_fee` holds a fee spike over many blocks.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
import urllib.request
from collections.abc import Iterator, Sequence
from pathlib import Path
from types import TracebackType
from typing import IO, Any

from kudos_chain.exceptions import KudosError

__all__ = [
    "ANVIL_ENV_VAR",
    "CHECKOUT_ANVIL",
    "DEFAULT_CHAIN_ID",
    "AnvilError",
    "AnvilNode",
    "AnvilNotFoundError",
    "find_anvil",
    "free_port",
]

#: The environment variable that names the anvil executable to use.
ANVIL_ENV_VAR = "KUDOS_ANVIL"

#: Where ``npm ci --prefix contracts`` puts the pinned anvil (npm ``@foundry-rs/anvil``) in a kudos-chain checkout;
#: an installed package has no such file.
CHECKOUT_ANVIL = Path(__file__).resolve().parents[2] / "contracts" / "node_modules" / ".bin" / "anvil"

#: anvil's default chain id.
DEFAULT_CHAIN_ID = 31337

_HOST = "127.0.0.1"


class AnvilError(KudosError, RuntimeError):
    """anvil is missing, did not start, or did not answer."""


class AnvilNotFoundError(AnvilError):
    """No anvil executable where :func:`find_anvil` looks; the message names every place it tried and how to
    install one."""

    def __init__(self, tried: Sequence[str]) -> None:
        self.tried = list(tried)
        places = "; ".join(self.tried)
        super().__init__(
            f"anvil was not found (tried {places}): install Foundry's anvil (https://getfoundry.sh, or "
            f"`npm install @foundry-rs/anvil`) and put it on PATH or name it in {ANVIL_ENV_VAR}"
        )


def find_anvil(binary: str | os.PathLike[str] | None = None) -> Path:
    """The anvil executable to run, from the first of these that is given:

    1. ``binary``, a path;
    2. the ``KUDOS_ANVIL`` environment variable, a path;
    3. the pinned anvil of a kudos-chain checkout, ``contracts/node_modules/.bin/anvil`` (after
       ``npm ci --prefix contracts``), as this repository's own tests use it;
    4. ``anvil`` on ``PATH``.

    An explicit choice (1 or 2) that is not an executable file is an error, not a reason to look further.

    :raises AnvilNotFoundError: naming every place tried.
    """
    if binary is not None or os.environ.get(ANVIL_ENV_VAR):
        path = Path(binary) if binary is not None else Path(os.environ[ANVIL_ENV_VAR])
        source = "the path given" if binary is not None else ANVIL_ENV_VAR
        if _is_executable(path):
            return path
        raise AnvilNotFoundError([f"{path} ({source})"])
    if _is_executable(CHECKOUT_ANVIL):
        return CHECKOUT_ANVIL
    on_path = shutil.which("anvil")
    if on_path is not None:
        return Path(on_path)
    raise AnvilNotFoundError(
        [f"{ANVIL_ENV_VAR} (not set)", f"{CHECKOUT_ANVIL} (run `npm ci --prefix contracts` in a checkout)", "PATH"]
    )


def _is_executable(path: Path) -> bool:
    return path.is_file() and os.access(path, os.X_OK)


def free_port(host: str = _HOST) -> int:
    """A TCP port that was free a moment ago: the one the OS picks when a socket binds to port 0."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


class AnvilNode:
    """An anvil node on a free loopback port, started by :meth:`start` (or ``with``) and ended by :meth:`stop`.

    :param binary: the anvil executable; by default the one :func:`find_anvil` finds when the node starts.
    :param accounts: how many funded dev accounts to create.
    :param chain_id: the chain id the node reports.
    :param args: more command-line arguments for anvil.
    :param startup_timeout: seconds to wait for the node's first answer.
    :param port: listen on this loopback port (to start a node again where clients expect it); by default a
        free one.
    :param block_time: mine a block every this many seconds (``--block-time``), empty or not, instead of one
        block per transaction.
    :param gas_limit: the block gas limit (``--gas-limit``).
    :param persist: keep the chain in ``state.json`` in the node's directory (``--state``, a snapshot every
        ``state_interval`` seconds and at exit), which :meth:`kill` keeps and :meth:`restart` loads.
    :param state_interval: seconds between snapshots when ``persist``.
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
        block_time: float | None = None,
        gas_limit: int | None = None,
        persist: bool = False,
        state_interval: float = 1.0,
    ) -> None:
        self._binary = binary
        #: The anvil executable, once :meth:`start` has found it.
        self.binary: Path | None = None
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
        self._launches = 0
        self.block_time = block_time
        self.gas_limit = gas_limit
        self.persist = persist
        self.state_interval = state_interval

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

    @property
    def workdir(self) -> Path:
        """The node's directory (its config, logs and state file), kept until :meth:`stop`."""
        if self._workdir is None:
            raise AnvilError("the node has not been started")
        return Path(self._workdir.name)

    @property
    def state_path(self) -> Path:
        """The state file of a node started with ``persist=True``."""
        return self.workdir / "state.json"

    @property
    def log_path(self) -> Path | None:
        """The output of the node's latest launch."""
        if self._workdir is None or self.port is None:
            return None
        return self.workdir / f"anvil-{self.port}-{self._launches}.log"

    # ------------------------------------------------------------------------------------------------------
    # Life cycle
    # ------------------------------------------------------------------------------------------------------

    def start(self, *, attempts: int = 3) -> AnvilNode:
        """Start the node and wait until it answers ``eth_chainId``; try another port if the first is taken
        (or the fixed port again).

        :raises AnvilNotFoundError: when there is no anvil executable (see :func:`find_anvil`).
        :raises AnvilError: when the node does not answer in time.
        """
        if self.running:
            return self
        self.binary = find_anvil(self._binary)
        if self._workdir is None:
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
        assert self.binary is not None
        workdir = Path(self._workdir.name)
        config = workdir / f"config-{port}.json"
        config.unlink(missing_ok=True)
        self._launches += 1
        log_path = workdir / f"anvil-{port}-{self._launches}.log"
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
            *self._fault_args(workdir),
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

    def _fault_args(self, workdir: Path) -> list[str]:
        args: list[str] = []
        if self.block_time is not None:
            args += ["--block-time", f"{self.block_time:g}"]
        if self.gas_limit is not None:
            args += ["--gas-limit", str(self.gas_limit)]
        if self.persist:
            args += ["--state", str(workdir / "state.json"), "--state-interval", f"{self.state_interval:g}"]
        return args

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

    def kill(self) -> None:
        """End the node's process group with SIGKILL, a crash: nothing is written at exit, and the node's directory
        (its state file and logs) is kept for :meth:`restart`."""
        process, self._process = self._process, None
        if process is not None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)
        if self._log is not None:
            self._log.close()
            self._log = None

    def restart(self) -> AnvilNode:
        """Start the node again on the same port, after :meth:`kill` (or kill it first): from its state file when
        it was started with ``persist=True``, else an empty chain with the same genesis accounts.

        :raises AnvilError: when the node was never started, or does not answer in time.
        """
        if self.port is None or self._workdir is None:
            raise AnvilError("the node has not been started")
        if self.running:
            self.kill()
        try:
            self._launch(self.port)
        except AnvilError:
            self._terminate()
            raise
        return self

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
        # The URL is the node's own http://127.0.0.1:<port>, never a caller's.
        request = urllib.request.Request(self.url, data=body, headers={"Content-Type": "application/json"})  # noqa: S310
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
            answer = json.loads(response.read())
        if "error" in answer:
            raise AnvilError(f"{method} failed: {answer['error']}")
        return answer["result"]

    # ------------------------------------------------------------------------------------------------------
    # Faults
    # ------------------------------------------------------------------------------------------------------

    def block_number(self) -> int:
        """The number of the newest block."""
        return int(self.rpc("eth_blockNumber"), 16)

    def mine(self, blocks: int = 1) -> None:
        """Mine ``blocks`` blocks now (``anvil_mine``), whatever the mining mode."""
        self.rpc("anvil_mine", [hex(blocks)])

    def set_automine(self, enabled: bool) -> None:
        """Mine each transaction as it arrives, or not at all (``evm_setAutomine``)."""
        self.rpc("evm_setAutomine", [enabled])

    def set_interval_mining(self, seconds: int) -> None:
        """Mine a block every ``seconds``; 0 stops interval mining (``evm_setIntervalMining``)."""
        self.rpc("evm_setIntervalMining", [seconds])

    def set_next_base_fee(self, wei: int) -> None:
        """The base fee of the next block only (``anvil_setNextBlockBaseFeePerGas``)."""
        self.rpc("anvil_setNextBlockBaseFeePerGas", [hex(wei)])

    def set_balance(self, address: str, wei: int) -> None:
        """Set an account's balance (``anvil_setBalance``)."""
        self.rpc("anvil_setBalance", [address, hex(wei)])

    def drop_all_transactions(self) -> None:
        """Forget every transaction in the pool (``anvil_dropAllTransactions``): their nonces are free again."""
        self.rpc("anvil_dropAllTransactions")

    def pending_transactions(self) -> int:
        """How many transactions wait in the pool (``txpool_status``)."""
        status = self.rpc("txpool_status")
        return int(status["pending"], 16) + int(status["queued"], 16)

    def reorg(self, depth: int, transactions: Sequence[Any] = ()) -> None:
        """Replace the last ``depth`` blocks by new ones holding ``transactions`` (``anvil_reorg``)."""
        self.rpc("anvil_reorg", [depth, list(transactions)])

    @contextlib.contextmanager
    def hold_base_fee(self, wei: int, *, every: float = 0.05) -> Iterator[None]:
        """Hold every block's base fee at ``wei`` while the ``with`` block runs: anvil's setting holds for the
        next block only, so it is set again every ``every`` seconds (for interval mining; with instant mining a
        transaction may slip between two settings)."""
        stop = threading.Event()

        def hold() -> None:
            while not stop.is_set():
                with contextlib.suppress(OSError, ValueError, AnvilError):
                    self.set_next_base_fee(wei)
                stop.wait(every)

        self.set_next_base_fee(wei)
        thread = threading.Thread(target=hold, name="anvil-base-fee", daemon=True)
        thread.start()
        try:
            yield
        finally:
            stop.set()
            thread.join(5)
