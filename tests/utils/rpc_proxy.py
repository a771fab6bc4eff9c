"""A loopback JSON-RPC proxy in front of a node that refuses large ``eth_getLogs`` as public providers do::

    with RpcProxy(node.url, max_blocks=5, message="Log response size exceeded.") as proxy:
        chain = Chain.connect(proxy.url)

Everything is forwarded to ``upstream`` as it came, single requests and JSON-RPC batches (lists) alike, except an
``eth_getLogs`` that asks for more than ``max_blocks`` blocks, or whose answer holds more than ``max_results``
logs: that one is answered with the error ``{"code": code, "message": message}``, in its place in the batch,
with its id. The proxy counts what it saw (:attr:`RpcProxy.log_requests`, :attr:`RpcProxy.refused`), so a test
can tell that the refusals happened.

The server is a :class:`http.server.ThreadingHTTPServer` on ``127.0.0.1``, port 0 (the OS picks a free one), in a
daemon thread that :meth:`RpcProxy.stop` ends.
"""

from __future__ import annotations

import json
import threading
import urllib.request
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any

__all__ = ["LogRequest", "RpcProxy"]

_HOST = "127.0.0.1"


@dataclass(frozen=True)
class LogRequest:
    """One ``eth_getLogs`` the proxy saw: its block range, and whether it was refused."""

    from_block: int
    to_block: int
    refused: bool

    @property
    def blocks(self) -> int:
        """How many blocks it asked for."""
        return self.to_block - self.from_block + 1


class RpcProxy:
    """A JSON-RPC proxy of ``upstream`` on a loopback port (see the module's docstring).

    :param upstream: the node's URL.
    :param max_blocks: refuse an ``eth_getLogs`` over more blocks than this (None: any range).
    :param max_results: refuse an ``eth_getLogs`` whose answer holds more logs than this (None: any number).
    :param code: the JSON-RPC error code of a refusal.
    :param message: the error message of a refusal.
    """

    def __init__(
        self,
        upstream: str,
        *,
        max_blocks: int | None = None,
        max_results: int | None = None,
        code: int = -32005,
        message: str = "query returned more than 10000 results",
    ) -> None:
        self.upstream = upstream
        self.max_blocks = max_blocks
        self.max_results = max_results
        self.code = code
        self.message = message
        self.log_requests: list[LogRequest] = []
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        """The proxy's URL."""
        if self._server is None:
            raise RuntimeError("the proxy has not been started")
        return f"http://{_HOST}:{self._server.server_address[1]}"

    @property
    def refused(self) -> list[LogRequest]:
        """The ``eth_getLogs`` requests the proxy refused."""
        with self._lock:
            return [r for r in self.log_requests if r.refused]

    # ------------------------------------------------------------------------------------------------------
    # Life cycle
    # ------------------------------------------------------------------------------------------------------

    def start(self) -> RpcProxy:
        """Listen on a free loopback port and serve in a daemon thread."""
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length))
                answer = json.dumps(proxy.handle(body)).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, format: str, *args: Any) -> None:
                pass  # quiet: the tests' output is for their failures

        self._server = ThreadingHTTPServer((_HOST, 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, name="rpc-proxy", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and close the port."""
        server, self._server = self._server, None
        if server is not None:
            server.shutdown()
            server.server_close()
        if self._thread is not None:
            self._thread.join(5)
            self._thread = None

    def __enter__(self) -> RpcProxy:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    # ------------------------------------------------------------------------------------------------------
    # Requests
    # ------------------------------------------------------------------------------------------------------

    def handle(self, body: Any) -> Any:
        """The answer to a request or a batch (a list of requests), in the order asked."""
        requests = body if isinstance(body, list) else [body]
        answers: list[dict[str, Any] | None] = [None] * len(requests)
        forward: list[int] = []
        for i, request in enumerate(requests):
            if request.get("method") == "eth_getLogs" and self._too_wide(request):
                answers[i] = self._refusal(request)
            else:
                forward.append(i)
        if forward:
            upstream = self._post([requests[i] for i in forward])
            by_id = {json.dumps(a.get("id")): a for a in upstream}
            for i in forward:
                request = requests[i]
                answer = by_id[json.dumps(request.get("id"))]
                if request.get("method") == "eth_getLogs":
                    answer = self._count(request, answer)
                answers[i] = answer
        return answers if isinstance(body, list) else answers[0]

    def _post(self, requests: list[dict[str, Any]]) -> list[dict[str, Any]]:
        data = json.dumps(requests).encode()
        request = urllib.request.Request(self.upstream, data=data, headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=30) as response:
            answer = json.loads(response.read())
        return answer if isinstance(answer, list) else [answer]

    def _range(self, request: dict[str, Any]) -> tuple[int, int]:
        (params,) = request["params"]
        bounds = []
        for key in ("fromBlock", "toBlock"):
            value = params.get(key, "latest")
            if value in ("latest", "pending", "safe", "finalized"):
                (head,) = self._post([{"jsonrpc": "2.0", "id": 0, "method": "eth_blockNumber", "params": []}])
                value = head["result"]
            elif value == "earliest":
                value = "0x0"
            bounds.append(int(value, 16))
        return bounds[0], bounds[1]

    def _too_wide(self, request: dict[str, Any]) -> bool:
        lo, hi = self._range(request)
        refused = self.max_blocks is not None and hi - lo + 1 > self.max_blocks
        if refused:
            self._note(LogRequest(lo, hi, refused=True))
        return refused

    def _count(self, request: dict[str, Any], answer: dict[str, Any]) -> dict[str, Any]:
        lo, hi = self._range(request)
        result = answer.get("result")
        refused = self.max_results is not None and isinstance(result, list) and len(result) > self.max_results
        self._note(LogRequest(lo, hi, refused=refused))
        return self._refusal(request) if refused else answer

    def _refusal(self, request: dict[str, Any]) -> dict[str, Any]:
        return {"jsonrpc": "2.0", "id": request.get("id"), "error": {"code": self.code, "message": self.message}}

    def _note(self, seen: LogRequest) -> None:
        with self._lock:
            self.log_requests.append(seen)
