"""A small typed client of the kudos HTTP API, for the ``kudos`` commands that talk to a running service
(httpx2, synchronous).

Every failure is an :class:`ApiRequestError` whose message is one sentence for people: the service unreachable, the
API key refused, a request refused (with the API's ``code``, ``status`` and ``details``). The API key is sent in
the ``Authorization`` header only; it never appears in a message, nor does any user name, password or query of
the service's URL.
"""

from __future__ import annotations

import os
import ssl
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, TypeVar
from urllib.parse import urlsplit

import httpx2
from pydantic import TypeAdapter, ValidationError

from kudos_service.core.limits import MAX_WAIT, MAX_WALLET_PAGE
from kudos_service.schemas import AwardOut, KindOut, WalletOut

__all__ = ["ApiRequestError", "BatchResult", "KudosApi", "display_url"]

_T = TypeVar("_T")

_AWARDS: TypeAdapter[list[AwardOut]] = TypeAdapter(list[AwardOut])
_KINDS: TypeAdapter[list[KindOut]] = TypeAdapter(list[KindOut])


def display_url(url: str) -> str:
    """``url`` without user name, password, query or fragment: safe to print."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    port = f":{parts.port}" if parts.port is not None else ""
    return f"{parts.scheme}://{host}{port}{parts.path}".rstrip("/")


class ApiRequestError(Exception):
    """A request to the kudos API that did not succeed; ``str()`` is one line for people.

    :ivar status: the HTTP status, or None when no answer came.
    :ivar code: the API's error code (``unauthorized``, ``invalid_request``...), or None.
    :ivar details: the API's error details (items of a refused batch carry their ``index``).
    :ivar sent: False when the request certainly did not reach the service (so it changed nothing).
    """

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        code: str | None = None,
        details: list[dict[str, Any]] | None = None,
        sent: bool = True,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.details = details or []
        self.sent = sent


@dataclass(frozen=True)
class BatchResult:
    """The awards of an accepted batch, in the order sent, and how many of them existed before (idempotent
    replays; None when the service does not say)."""

    awards: list[AwardOut]
    replayed: int | None = field(default=None)

    @property
    def created(self) -> int | None:
        """How many awards this batch created."""
        return None if self.replayed is None else len(self.awards) - self.replayed


class KudosApi:
    """The kudos API at ``url``, with ``api_key`` for the endpoints that need one.

    Use it as a context manager, or call :meth:`close`.
    """

    def __init__(self, url: str, api_key: str | None = None, *, timeout: float = 30.0) -> None:
        self.url = url.rstrip("/")
        self.where = display_url(self.url)
        headers = {"Accept": "application/json", "User-Agent": "kudos-cli"}
        self._auth = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._http = httpx2.Client(base_url=self.url, headers=headers, timeout=timeout, verify=_tls_for(self.url))

    def close(self) -> None:
        """Close the connections."""
        self._http.close()

    def __enter__(self) -> KudosApi:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    # ------------------------------------------------------------------------------------------------------
    # Endpoints
    # ------------------------------------------------------------------------------------------------------

    def kinds(self) -> list[KindOut]:
        """``GET /v1/kinds``: every kudos type."""
        return self._parse(_KINDS, self._request("GET", "/v1/kinds"))

    def create_award(self, body: dict[str, Any], idempotency_key: str, *, wait: float = 0) -> AwardOut:
        """``POST /v1/awards``: accept one award (the same key never awards twice); ``wait`` up to 60 s."""
        params = {"wait": min(wait, MAX_WAIT)} if wait > 0 else None
        headers = self._auth | {"Idempotency-Key": idempotency_key}
        response = self._request("POST", "/v1/awards", json=body, headers=headers, params=params, wait=wait)
        return self._parse(AwardOut, response)

    def create_batch(self, items: list[dict[str, Any]]) -> BatchResult:
        """``POST /v1/awards/batch``: up to 1,000 awards, each with its ``idempotency_key``, all or none."""
        response = self._request("POST", "/v1/awards/batch", json={"awards": items}, headers=self._auth)
        replayed = response.headers.get("Idempotent-Replayed-Count")
        count = int(replayed) if replayed is not None and replayed.isdigit() else None
        return BatchResult(self._parse(_AWARDS, response), count)

    def award(self, award_id: str, *, wait: float = 0) -> AwardOut:
        """``GET /v1/awards/{id}``: where an award is; ``wait`` up to 60 s for it to be final."""
        params = {"wait": min(wait, MAX_WAIT)} if wait > 0 else None
        response = self._request("GET", f"/v1/awards/{award_id}", headers=self._auth, params=params, wait=wait)
        return self._parse(AwardOut, response)

    def wallet(self, address: str, *, limit: int = 50, offset: int = 0) -> WalletOut:
        """``GET /v1/wallets/{address}``: a page of the kudos an address (or ``@handle`` of a listed person) holds,
        newest first; ``limit`` at most :data:`~kudos_service.core.limits.MAX_WALLET_PAGE`."""
        if not 1 <= limit <= MAX_WALLET_PAGE:
            raise ValueError(f"limit must be 1 to {MAX_WALLET_PAGE}, not {limit}")
        response = self._request("GET", f"/v1/wallets/{address}", params={"limit": limit, "offset": offset})
        return self._parse(WalletOut, response)

    # ------------------------------------------------------------------------------------------------------
    # Plumbing
    # ------------------------------------------------------------------------------------------------------

    def _request(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        headers: dict[str, str] | None = None,
        params: dict[str, Any] | None = None,
        wait: float = 0,
    ) -> httpx2.Response:
        timeout = self._http.timeout if wait <= 0 else httpx2.Timeout(self._http.timeout.read or 30.0, read=wait + 30)
        try:
            response = self._http.request(method, path, json=json, headers=headers, params=params, timeout=timeout)
        except (httpx2.ConnectError, httpx2.ConnectTimeout) as exc:
            raise ApiRequestError(
                f"cannot reach the kudos service at {self.where}: {_reason(exc)}", sent=False
            ) from None
        except httpx2.TimeoutException:
            raise ApiRequestError(f"the kudos service at {self.where} did not answer in time") from None
        except httpx2.TransportError as exc:
            raise ApiRequestError(
                f"the connection to the kudos service at {self.where} failed: {_reason(exc)}"
            ) from None
        if response.is_success:
            return response
        raise self._refusal(response)

    def _refusal(self, response: httpx2.Response) -> ApiRequestError:
        status = response.status_code
        error = _error_body(response)
        if error is None:
            return ApiRequestError(
                f"{self.where} answered {status} {response.reason_phrase} with no kudos API error: is it the kudos "
                "service?",
                status=status,
                sent=status >= 500,
            )
        code = str(error.get("code") or "")
        message = str(error.get("message") or response.reason_phrase)
        raw = error.get("details")
        details = [d for d in raw if isinstance(d, dict)] if isinstance(raw, list) else []
        if status == 401:
            if "Authorization" not in self._auth:
                message = "an API key is needed: set KUDOS_API_KEY or pass --api-key"
            else:
                message = "the API key was refused (revoked, mistyped, or made for another service)"
        elif status == 403:
            message = f"the API key is not allowed to do this: {message}"
        else:
            message = f"the service refused the request ({code or status}): {message}{_detail_text(details, message)}"
        return ApiRequestError(message, status=status, code=code or None, details=details, sent=status >= 500)

    def _parse(self, adapter: TypeAdapter[_T] | type[_T], response: httpx2.Response) -> _T:
        checker = adapter if isinstance(adapter, TypeAdapter) else TypeAdapter(adapter)
        try:
            return checker.validate_json(response.content)
        except ValidationError:
            raise ApiRequestError(
                f"{self.where} answered {response.status_code} with something that is not the kudos API"
            ) from None


def _tls_for(url: str) -> ssl.SSLContext | bool:
    """How to check TLS certificates: with the system's CA store (True), unless no TLS can happen at all (an
    ``http://`` service, no ``*_PROXY`` variable set). Then a context that trusts no certificate, so that any TLS
    handshake would fail: it spares loading the CA store, a tenth of the command's start-up."""
    proxied = any(name.lower().endswith("_proxy") and value for name, value in os.environ.items())
    if urlsplit(url).scheme == "https" or proxied:
        return True
    return ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)  # verify_mode CERT_REQUIRED, check_hostname on, no CA


def _error_body(response: httpx2.Response) -> dict[str, Any] | None:
    try:
        body = response.json()
    except ValueError:
        return None
    error = body.get("error") if isinstance(body, dict) else None
    return error if isinstance(error, dict) else None


def _detail_text(details: list[dict[str, Any]], message: str) -> str:
    """The first details, each ``field: message``, unless the message says it already."""
    details = [d for d in details if str(d.get("message")) != message]
    parts = [f"{d['field']}: {d['message']}" if d.get("field") else str(d.get("message")) for d in details[:3]]
    more = f" (and {len(details) - 3} more)" if len(details) > 3 else ""
    return f" ({'; '.join(parts)}{more})" if parts else ""


def _reason(exc: httpx2.TransportError) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0]
