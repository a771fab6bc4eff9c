"""A ``kudos serve`` process, for tests that talk to the service over HTTP as an HR tool does::

    with KudosServer(data_dir) as server:
        key = server.create_key("award")
        httpx2.post(f"{server.url}/v1/awards", ...)

The server runs ``python -m kudos_service serve`` on a loopback port (a free one unless given, and the same one
on every start, so that a restart is where clients and token URIs expect it) in its own process group, with its
output in ``<data dir>/server-<n>.log``. The environment is this process's without any ``KUDOS_*`` variable, plus
the ``env`` given. :meth:`KudosServer.stop` ends it with SIGTERM (a graceful stop), :meth:`KudosServer.kill`
with SIGKILL (a crash).

The service is kudos-chain's optional part: ``pip install 'kudos-chain[service]'``. :func:`require_service`
checks, in this process, that it can be imported, and :meth:`KudosServer.start` calls it first, so that a missing
extra is one clear :class:`ServiceNotInstalledError` rather than a child's traceback.
"""

from __future__ import annotations

import contextlib
import functools
import importlib
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType
from typing import IO

from kudos_chain.exceptions import KudosError
from kudos_chain.testing._anvil import free_port

__all__ = [
    "SERVICE_EXTRA",
    "KudosServer",
    "ServerError",
    "ServiceNotInstalledError",
    "kudos_command",
    "require_service",
]

#: What installs the service: kudos-chain with its ``service`` extra.
SERVICE_EXTRA = "kudos-chain[service]"

#: What ``kudos serve`` imports: the command line, the app (FastAPI) and the server.
_SERVICE_MODULES = ("kudos_service.cli", "kudos_service.main", "uvicorn")

_HOST = "127.0.0.1"


class ServerError(KudosError, RuntimeError):
    """The server did not start, or a ``kudos`` command failed."""


class ServiceNotInstalledError(ServerError):
    """The service (``kudos_service``) cannot be imported: kudos-chain was installed without its ``service``
    extra. The message names the missing module and the command that installs it."""

    def __init__(self, missing: str) -> None:
        self.missing = missing
        super().__init__(
            f"kudos serve needs kudos-chain's service, whose dependencies are not installed (no module named "
            f"{missing!r}): pip install '{SERVICE_EXTRA}'"
        )


def require_service() -> None:
    """Check that the service can run here: import what ``kudos serve`` imports (its command line, its app,
    uvicorn) in this process, as ``python -m kudos_service`` would in the server's; once a process.

    :raises ServiceNotInstalledError: when one of them is missing.
    """
    _import_service()


@functools.cache
def _import_service() -> None:  # cached once it succeeds (a call that raises is not cached)
    try:
        for module in _SERVICE_MODULES:
            importlib.import_module(module)
    except ModuleNotFoundError as exc:
        raise ServiceNotInstalledError(exc.name or str(exc)) from None


def _environment(env: Mapping[str, str]) -> dict[str, str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("KUDOS_")}
    return clean | dict(env)


def kudos_command(
    *args: str, env: Mapping[str, str] | None = None, timeout: float = 60.0
) -> subprocess.CompletedProcess[str]:
    """Run ``python -m kudos_service <args>`` to the end, and return what it printed and its exit code."""
    return subprocess.run(
        [sys.executable, "-m", "kudos_service", *args],
        env=_environment(env or {}),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        stdin=subprocess.DEVNULL,
    )


class KudosServer:
    """``kudos serve`` on ``data_dir``, started by :meth:`start` (or ``with``) and ended by :meth:`stop`.

    :param data_dir: the server's ``--data-dir``.
    :param port: the loopback port; by default a free one, kept across restarts.
    :param env: ``KUDOS_*`` settings (and anything else) for the server's environment.
    :param startup_timeout: seconds to wait for ``/healthz``.
    """

    def __init__(
        self,
        data_dir: str | os.PathLike[str],
        *,
        port: int | None = None,
        env: Mapping[str, str] | None = None,
        startup_timeout: float = 60.0,
    ) -> None:
        self.data_dir = Path(data_dir)
        self.port = port or free_port()
        self.env = dict(env or {})
        self.startup_timeout = startup_timeout
        self.starts = 0
        self._process: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None
        self.log_path: Path | None = None

    def __repr__(self) -> str:
        return f"KudosServer({self.url}, {'running' if self.running else 'stopped'})"

    @property
    def url(self) -> str:
        """The server's base URL."""
        return f"http://{_HOST}:{self.port}"

    @property
    def running(self) -> bool:
        """True while the server's process is alive."""
        return self._process is not None and self._process.poll() is None

    @property
    def pid(self) -> int:
        """The server's process id."""
        if self._process is None:
            raise ServerError("the server has not been started")
        return self._process.pid

    # ------------------------------------------------------------------------------------------------------
    # Life cycle
    # ------------------------------------------------------------------------------------------------------

    def start(self) -> KudosServer:
        """Start the server and wait until ``/healthz`` answers.

        :raises ServiceNotInstalledError: when the service's extra is not installed.
        :raises ServerError: when the process exits or does not answer in time (with the end of its log).
        """
        if self.running:
            return self
        require_service()
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.starts += 1
        self.log_path = self.data_dir / f"server-{self.starts}.log"
        self._log = self.log_path.open("wb")
        command = [sys.executable, "-m", "kudos_service", "serve", "--host", _HOST, "--port", str(self.port)]
        command += ["--data-dir", str(self.data_dir)]
        self._process = subprocess.Popen(
            command,
            env=_environment(self.env),
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + self.startup_timeout
        while True:
            if self._process.poll() is not None:
                code = self._process.returncode
                self._close_log()
                raise ServerError(f"kudos serve exited with code {code}: {self.log_tail()}")
            if self._healthy():
                return self
            if time.monotonic() > deadline:
                self.kill()
                raise ServerError(f"kudos serve did not answer within {self.startup_timeout:g} s: {self.log_tail()}")
            time.sleep(0.05)

    def _healthy(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.url}/healthz", timeout=1.0) as response:  # noqa: S310 - our own http URL
                return bool(response.status == 200)
        except (urllib.error.URLError, OSError):
            return False

    def _signal(self, sig: signal.Signals, timeout: float) -> int:
        process = self._process
        if process is None:
            raise ServerError("the server has not been started")
        if process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, sig)
            try:
                process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=10)
                self._close_log()
                raise ServerError(f"kudos serve did not stop within {timeout:g} s of {sig.name}") from None
        self._close_log()
        return process.returncode

    def stop(self, timeout: float = 20.0) -> int:
        """End the server with SIGTERM, as a service manager does, and return its exit code."""
        return self._signal(signal.SIGTERM, timeout)

    def kill(self) -> int:
        """End the server's process group with SIGKILL, a crash, and return its exit code."""
        return self._signal(signal.SIGKILL, 10.0)

    def _close_log(self) -> None:
        if self._log is not None:
            self._log.close()
            self._log = None

    def log_tail(self, lines: int = 30) -> str:
        """The end of the current (or last) run's output."""
        if self.log_path is None:
            return "(no log)"
        try:
            text = self.log_path.read_text("utf-8", errors="replace")
        except OSError:
            return "(no log)"
        return "\n".join(text.splitlines()[-lines:]) or "(empty log)"

    def __enter__(self) -> KudosServer:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self.running:
            self.kill()

    # ------------------------------------------------------------------------------------------------------
    # Keys
    # ------------------------------------------------------------------------------------------------------

    def create_key(self, *scopes: str) -> str:
        """A new API key with ``scopes`` (``award`` by default), made by ``kudos keys create`` on the data dir."""
        args = ["keys", "create", "--data-dir", str(self.data_dir)]
        for scope in scopes or ("award",):
            args += ["--scope", scope]
        done = kudos_command(*args, env=self.env)
        if done.returncode != 0:
            raise ServerError(f"kudos keys create exited with code {done.returncode}: {done.stderr.strip()}")
        return done.stdout.strip()
