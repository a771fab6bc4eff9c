"""The service's outer layer (pure ASGI): limits on request bodies, ``OPTIONS``, and headers on every answer.

A request body is read here, up to a limit, *before* FastAPI parses it and before any route checks the API key:

- **Size.** A body longer than the limit is refused with 413 ``payload_too_large`` as soon as its
  ``Content-Length`` (or, when chunked, the bytes read so far) says so; nothing more is read or kept. Requests
  that carry no ``Authorization`` header (the public pages, Slack's signed commands) get a small limit; requests
  with a key get room for a full batch of awards.
- **Depth.** A JSON body nested deeper than the limit is refused with 413 ``payload_too_deep``. py-evm and py_ecc
  raise Python's recursion limit to 100,000 when imported, so the C JSON decoder would follow a
  ``[[[[...`` body of 140 KB until the C stack overflows and the process dies; counting the nesting first, in
  :func:`json_depth`, which does not recurse, means the decoder never meets such a body.

``OPTIONS`` is answered here with every method the path takes (Starlette would name only the first route that
matches the path), and every answer gets ``X-Content-Type-Options: nosniff``.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Callable, Iterable, Mapping
from itertools import accumulate, repeat
from operator import sub
from typing import Any

from starlette.routing import BaseRoute, Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["RequestLimits", "RequestLimitsMiddleware", "allowed_methods", "json_depth"]

#: JSON strings, whose brackets are text, not structure (an escaped quote does not end one).
_JSON_STRING = re.compile(rb'"(?:[^"\\]++|\\.)*+"', re.DOTALL)
_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")
#: ``[`` and ``{`` to 2, ``]`` and ``}`` to 0: minus one, each byte is the step of the nesting depth.
_STEPS = bytes.maketrans(b"[]{}", b"\x02\x00\x02\x00")
_CHUNK = 1 << 16
_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE")


def json_depth(body: bytes, limit: int) -> int:
    """How deep the arrays and objects of a JSON document nest (0 for a scalar), counted without recursion, so
    that any body can be measured. Counting stops early once the depth passes ``limit``.

    Brackets inside strings are skipped; a body that is not JSON gets some number, and its parser refuses it
    before reaching any depth the count missed.

    >>> json_depth(b'{"awards": [{"message": "[[[not structure"}]}', 32)
    3
    """
    structure = _JSON_STRING.sub(b"", body).translate(None, delete=_NOT_BRACKETS)
    if len(structure) <= limit:  # it cannot nest deeper than it has brackets: the usual body ends here
        return max(accumulate(map(sub, structure.translate(_STEPS), repeat(1))), default=0)
    steps = structure.translate(_STEPS)
    depth = deepest = 0
    for start in range(0, len(steps), _CHUNK):  # C-speed sums, a chunk at a time, to stop early
        levels = list(accumulate(map(sub, steps[start : start + _CHUNK], repeat(1)), initial=depth))
        highest, depth = max(levels), levels[-1]
        deepest = max(deepest, highest)
        if deepest > limit:
            break
    return deepest


class RequestLimits:
    """The limits :class:`RequestLimitsMiddleware` enforces."""

    def __init__(self, *, max_body_bytes: int, max_anonymous_body_bytes: int, max_json_depth: int) -> None:
        self.max_body_bytes = max_body_bytes
        self.max_anonymous_body_bytes = max_anonymous_body_bytes
        self.max_json_depth = max_json_depth


_Refusal = tuple[int, bytes, dict[str, str]]


def allowed_methods(
    routes: Iterable[BaseRoute], scope: Scope, documented: Mapping[str, Mapping[str, Any]] | None = None
) -> set[str]:
    """Every method the request's path takes (empty when no route has the path).

    A path of the OpenAPI document (``documented``: its ``paths``) takes the methods the document gives it, and a
    fixed path (``/v1/awards/batch``) is matched before a template (``/v1/awards/{award_id}``) as OpenAPI says.
    Other paths (the HTML pages) take every method some route fully matches.
    """
    path = scope["path"]
    if documented:
        operations = documented.get(path)
        if operations is None:
            templates = ((t, ops) for t, ops in documented.items() if "{" in t)
            operations = next((ops for t, ops in templates if _template(t).fullmatch(path)), None)
        if operations is not None:
            return {method.upper() for method in operations if method.upper() in _METHODS}
    found: set[str] = set()
    for method in _METHODS:
        probe = {**scope, "type": "http", "method": method}
        if any(route.matches(probe)[0] is Match.FULL for route in routes):
            found.add(method)
    return found


@functools.cache
def _template(template: str) -> re.Pattern[str]:
    return re.compile("/".join("[^/]+" if p.startswith("{") else re.escape(p) for p in template.split("/")))


def _error(status: int, code: str, message: str, headers: dict[str, str] | None = None) -> _Refusal:
    body = json.dumps({"error": {"code": code, "message": message, "details": []}}).encode()
    return status, body, {"content-type": "application/json", **(headers or {})}


class RequestLimitsMiddleware:
    """See the module's docstring. ``routes`` and ``documented`` give the application's routes and its OpenAPI
    ``paths``, for ``OPTIONS``."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        limits: RequestLimits,
        routes: Callable[[], Iterable[BaseRoute]],
        documented: Callable[[], Mapping[str, Mapping[str, Any]]] | None = None,
    ) -> None:
        self.app = app
        self.limits = limits
        self.routes = routes
        self.documented = documented

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        send = _nosniff(send)
        if scope["method"] == "OPTIONS":
            await self._options(scope, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        limit = self.limits.max_body_bytes if "authorization" in headers else self.limits.max_anonymous_body_bytes
        refusal = self._refuse_length(headers.get("content-length"), limit)
        if refusal is not None:
            await _answer(send, *refusal)
            return
        body, more, disconnected = b"", True, False
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                disconnected = True
                break
            body += message.get("body", b"")
            more = message.get("more_body", False)
            if len(body) > limit:
                await _answer(send, *_too_large(limit, "authorization" in headers))
                return
        if disconnected:
            return
        if body and _is_json(headers.get("content-type")):
            depth = json_depth(body, self.limits.max_json_depth)
            if depth > self.limits.max_json_depth:
                await _answer(
                    send,
                    *_error(
                        413,
                        "payload_too_deep",
                        f"the JSON body nests more than {self.limits.max_json_depth} levels deep",
                    ),
                )
                return
        await self.app(scope, _replay(body, receive), send)

    def _refuse_length(self, value: str | None, limit: int) -> _Refusal | None:
        if value is None:
            return None
        if not value.isascii() or not value.isdigit():
            return _error(400, "bad_request", "Content-Length is not a number of bytes")
        if int(value) > limit:
            return _too_large(limit, limit == self.limits.max_body_bytes)
        return None

    async def _options(self, scope: Scope, send: Send) -> None:
        methods = allowed_methods(self.routes(), scope, self.documented() if self.documented else None)
        if not methods:
            await _answer(send, *_error(404, "not_found", "Not Found"))
            return
        allow = ", ".join(sorted(methods | {"OPTIONS"}))
        await _answer(send, 204, b"", {"allow": allow})


def _too_large(limit: int, authenticated: bool) -> _Refusal:
    who = "" if authenticated else " without an API key"
    return _error(413, "payload_too_large", f"the request body is larger than {limit:,} bytes, the limit{who}")


def _is_json(content_type: str | None) -> bool:
    """FastAPI parses a body as JSON when it has no content type or a JSON one (``application/*+json`` too)."""
    if not content_type:
        return True
    media = content_type.split(";")[0].strip().lower()
    return media == "application/json" or (media.startswith("application/") and media.endswith("+json"))


def _replay(body: bytes, receive: Receive) -> Receive:
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()  # after the body: the disconnect, when it comes

    return replay


def _nosniff(send: Send) -> Send:
    async def with_headers(message: Message) -> None:
        if message["type"] == "http.response.start":
            headers = list(message.get("headers", []))
            if not any(k.lower() == b"x-content-type-options" for k, _ in headers):
                headers.append((b"x-content-type-options", b"nosniff"))
            message = {**message, "headers": headers}
        await send(message)

    return with_headers


async def _answer(send: Send, status: int, body: bytes, headers: dict[str, str]) -> None:
    raw = [(k.encode(), str(v).encode()) for k, v in headers.items()]
    raw.append((b"content-length", str(len(body)).encode()))
    if status == 413:
        raw.append((b"connection", b"close"))  # the rest of the body is not read
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": body})
