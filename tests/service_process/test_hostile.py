"""Hostile input against a real ``kudos serve``: each is refused with a documented 4xx in the envelope, and the
process goes on answering.

These are the inputs that could take the process down, which the in-process tests cannot risk: a JSON body
nested 100,000 levels deep (it overflowed the C stack of the JSON decoder once py-evm had raised the recursion
limit), bodies of tens of megabytes, chunked or announced, with and without an API key. The field-by-field rules
are in ``tests/service/test_hardening.py``; a sample of them is sent here too, over real HTTP.
"""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx2
import pytest

from kudos_chain.testing import KudosServer
from tests.service_process.conftest import RECIPIENTS, award_body, headers

SLACK_SECRET = "hostile-test-signing-secret"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KudosServer]:
    data_dir: Path = tmp_path_factory.mktemp("hostile")
    with KudosServer(data_dir, env={"KUDOS_SLACK_SIGNING_SECRET": SLACK_SECRET}) as running:
        running.start()
        yield running


@pytest.fixture(scope="module")
def key(server: KudosServer) -> str:
    return server.create_key("award", "revoke", "admin")


def assert_alive(server: KudosServer) -> None:
    assert server.running, server.log_tail()
    with httpx2.Client(base_url=server.url, timeout=10) as http:
        assert http.get("/healthz").status_code == 200
        assert http.get("/v1/kinds").status_code == 200


def assert_refused(response: httpx2.Response, status: int, code: str) -> None:
    assert response.status_code == status, response.text[:500]
    assert response.headers["content-type"].startswith("application/json")
    assert response.headers["x-content-type-options"] == "nosniff"
    error = response.json()["error"]
    assert error["code"] == code, error
    assert error["message"]


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")


@pytest.mark.parametrize("authenticated", [False, True], ids=["no key", "key"])
@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        (b"[" * 60_000, "application/json"),
        (b'{"a":' * 12_000, "application/json"),
        (b"[" * 60_000, None),  # FastAPI parses a body without a content type as JSON
        (b'{"recipient": ' + b"[" * 50_000, "application/merge-patch+json"),
    ],
    ids=["arrays", "objects", "no content type", "+json"],
)
def test_a_deeply_nested_body_is_a_413_and_the_process_lives(
    server: KudosServer, key: str, authenticated: bool, body: bytes, content_type: str | None
):
    sent = {"Idempotency-Key": "deep"} | (headers(key) if authenticated else {})
    if content_type:
        sent["Content-Type"] = content_type
    with httpx2.Client(base_url=server.url, timeout=30) as http:
        response = http.post("/v1/awards", content=body, headers=sent)
    assert_refused(response, 413, "payload_too_deep")
    assert_alive(server)


def test_the_body_that_killed_the_process_is_refused_without_being_read(server: KudosServer, key: str):
    """100,000 levels, 140 KB, no key: over the limit without a key, refused by its size; with a key, by depth."""
    body = b"[" * 100_000 + b"]" * 40_000
    with httpx2.Client(base_url=server.url, timeout=30) as http:
        assert_refused(
            http.post("/v1/awards", content=body, headers={"Content-Type": "application/json"}),
            413,
            "payload_too_large",
        )
        sent = headers(key, "deep-100k") | {"Content-Type": "application/json"}
        assert_refused(http.post("/v1/awards", content=body, headers=sent), 413, "payload_too_deep")
        assert_refused(http.post("/integrations/slack/commands", content=body), 413, "payload_too_large")
    assert_alive(server)


def test_a_huge_body_is_a_413_announced_or_chunked_and_memory_stays_flat(server: KudosServer, key: str):
    before = rss_kib(server.pid)
    big = b" " * (20 * 1024 * 1024)

    def chunks() -> Iterator[bytes]:
        for _ in range(20):
            yield b" " * (1024 * 1024)

    with httpx2.Client(base_url=server.url, timeout=60) as http:
        sent = headers(key, "huge") | {"Content-Type": "application/json"}
        assert_refused(http.post("/v1/awards/batch", content=big, headers=sent), 413, "payload_too_large")
        assert_refused(http.post("/v1/awards/batch", content=chunks(), headers=sent), 413, "payload_too_large")
        assert_refused(
            http.post("/v1/awards", content=big, headers={"Content-Type": "application/json"}), 413, "payload_too_large"
        )

    # Four clients sending 51 MB at once each: refused as they come, none of it kept.
    answers: list[int] = []

    def send() -> None:
        with httpx2.Client(base_url=server.url, timeout=60) as http:
            try:
                answers.append(
                    http.post("/v1/awards/batch", content=b" " * (51 * 1024 * 1024), headers=sent).status_code
                )
            except httpx2.TransportError:  # the server may close the connection before all is sent
                answers.append(413)

    threads = [threading.Thread(target=send) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert answers == [413] * 4
    grown_mib = (rss_kib(server.pid) - before) / 1024
    assert grown_mib < 40, f"the server grew by {grown_mib:.0f} MiB while refusing the bodies"
    assert_alive(server)


def test_a_lying_content_length_does_not_hang_or_kill_the_process(server: KudosServer):
    host, port = server.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as raw:
        raw.sendall(
            b"POST /v1/awards HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Content-Length: 99999999999\r\n\r\n[1]"
        )
        answer = raw.recv(4096)
    assert answer.startswith(b"HTTP/1.1 413"), answer[:200]
    assert_alive(server)


HOSTILE_AWARDS: list[tuple[str, dict[str, Any], str]] = [
    ("NUL in message", {"message": "thanks\u0000"}, "invalid_request"),
    ("ESC in awarded_by", {"awarded_by": "\u001b[31mGrace"}, "invalid_request"),
    ("BEL in recipient_name", {"recipient_name": "Ada\u0007"}, "invalid_request"),
    ("lone surrogate", {"message": "\ud800"}, "invalid_request"),
    ("no 0x", {"recipient": RECIPIENTS[0][2:]}, "invalid_request"),
    ("0X", {"recipient": "0X" + RECIPIENTS[0][2:]}, "invalid_request"),
    ("precompile", {"recipient": "0x" + "0" * 39 + "1"}, "invalid_request"),
    ("zero address", {"recipient": "0x" + "0" * 40}, "invalid_request"),
    ("transferable yes", {"transferable": "yes"}, "invalid_request"),
    ("message a number", {"message": 5}, "invalid_request"),
    ("kind a list", {"kind": [1]}, "invalid_request"),
    ("message 1 MB", {"message": "x" * 1_000_000}, "invalid_request"),
    ("unknown field", {"admin": True}, "invalid_request"),
]


@pytest.mark.parametrize(
    ("change", "code"), [(c, code) for _, c, code in HOSTILE_AWARDS], ids=[n for n, _, _ in HOSTILE_AWARDS]
)
def test_hostile_awards_are_refused_and_nothing_is_stored(
    server: KudosServer, key: str, change: dict[str, Any], code: str
):
    body = award_body(0) | change
    with httpx2.Client(base_url=server.url, timeout=30) as http:
        response = http.post(
            "/v1/awards",
            content=json.dumps(body),
            headers=headers(key, "hostile-" + json.dumps(change)[:40].encode().hex())
            | {"Content-Type": "application/json"},
        )
        assert_refused(response, 422, code)
        # The key was not spent: it has no award behind it.
        assert response.json()["error"]["details"]
    assert_alive(server)


@pytest.mark.parametrize(
    ("method", "path", "status", "code"),
    [
        ("POST", "/v1/tokens/1.0/revoke", 422, "invalid_request"),
        ("GET", "/v1/tokens/%C2%B2", 422, "invalid_request"),
        ("GET", "/v1/wallets/0x" + "g" * 40, 400, "invalid_address"),
        ("GET", "/v1/wallets/" + RECIPIENTS[0] + "?limit=1.0", 422, "invalid_request"),
        ("GET", "/v1/awards/%00", 404, "award_not_found"),
        ("DELETE", "/v1/awards", 405, "method_not_allowed"),
    ],
)
def test_hostile_paths_are_refused(server: KudosServer, key: str, method: str, path: str, status: int, code: str):
    with httpx2.Client(base_url=server.url, timeout=30) as http:
        response = http.request(
            method, path, headers=headers(key), json={"reason": "mistake"} if method == "POST" else None
        )
    assert_refused(response, status, code)
    assert_alive(server)


def test_a_wallet_page_with_a_unicode_digit_is_a_400_page(server: KudosServer):
    with httpx2.Client(base_url=server.url, timeout=30) as http:
        response = http.get(f"/wallet/{RECIPIENTS[0]}", params={"page": "²"})
    assert response.status_code == 400
    assert response.headers["content-type"].startswith("text/html")
    assert_alive(server)


def test_data_files_are_private(server: KudosServer):
    assert (server.data_dir.stat().st_mode & 0o777) == 0o700
    for name in ("kudos.db", "chain.db"):
        assert ((server.data_dir / name).stat().st_mode & 0o777) == 0o600, name
