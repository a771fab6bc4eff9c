"""The claim page over HTTP: ``GET /claim/{token}`` in each state of its link, the claim without a browser wallet
(``POST /claim/{token}``, a form, no JavaScript) from the address to the kudos in the wallet on chain, hostile
forms, and the page's own policy (a script of its own, allowed on this page alone).

A person thanked by email has their kudos held; the mailer (no mail server here: the email is ``kept``) gives them
a claim link, read from ``GET /v1/mails`` as an admin would.
"""

from __future__ import annotations

import html
import os
import re
import time
from collections.abc import Iterator
from datetime import timedelta
from typing import Any
from urllib.parse import urlencode, urlsplit

import pytest
from eth_account import Account
from eth_account.messages import encode_defunct
from eth_account.signers.local import LocalAccount
from fastapi.testclient import TestClient
from kudos_service.api.routes.claim_page import CLAIM_CSP
from kudos_service.api.routes.pages import _HEADERS
from kudos_service.claims.links import token_hash
from kudos_service.models import Claim, Recipient, utcnow
from sqlalchemy import select

from tests.service.conftest import CONFIRM_TIMEOUT, Service, award_body, start_service

STRICT_CSP = _HEADERS["Content-Security-Policy"]
LINK = re.compile(r"https?://[^\s\"<>]+/claim/([A-Za-z0-9_-]{43})")
FORM = {"Content-Type": "application/x-www-form-urlencoded"}
#: Claim attempts one link or client may make per minute here (the tests make fewer, but for the limit's own).
ATTEMPTS = 12


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    with start_service(tmp_path_factory.mktemp("kudos-claim-page"), claim_attempts_per_minute=ATTEMPTS) as running:
        yield running


def held_link(service: Service, count: int = 2, *, name: str = "Ada") -> tuple[str, list[dict[str, Any]]]:
    """Thank a new person by email ``count`` times; their claim link (from the kept email) and the awards."""
    email = f"{os.urandom(5).hex()}@example.com"
    messages = ["Thank you for the patient code reviews.", "The launch happened because of you."]
    awards = []
    for n in range(count):
        body = award_body(recipient={"email": email, "name": name}, message=messages[n % 2], awarded_by="Grace")
        response = service.post_award(body)
        assert response.status_code == 202, response.text
        awards.append(service.wait_confirmed(response.json()["id"]))
    return latest_link(service, email), awards


def latest_link(service: Service, email: str) -> str:
    """The token of the newest claim email to ``email`` once every held kudos of theirs was announced."""
    deadline = time.monotonic() + CONFIRM_TIMEOUT
    while True:
        held = service.client.get("/v1/held", params={"limit": 200}, headers=service.auth("admin")).json()
        waiting = [h for h in held["items"] if h["email"] == email and h["announced_at"] is None]
        mails = service.client.get("/v1/mails", headers=service.auth("admin")).json()["items"]
        mine = [m for m in mails if m["to"] == email]
        if mine and not waiting:
            found = LINK.search(mine[0]["text"])  # newest first: the newest link ends the older ones
            assert found is not None, mine[0]["text"]
            return found[1]
        assert time.monotonic() < deadline, "no claim email"
        time.sleep(0.1)


def message_in(page: str) -> str:
    found = re.search(r'<textarea id="message" name="message" rows="11" readonly>(.*?)</textarea>', page, re.S)
    assert found is not None, page
    return html.unescape(found[1])


def sign(message: str, account: LocalAccount) -> str:
    return "0x" + bytes(account.sign_message(encode_defunct(text=message)).signature).hex()


def post_form(client: TestClient, token: str, fields: dict[str, str] | str | bytes, **headers: str) -> Any:
    body = fields if isinstance(fields, str | bytes) else urlencode(fields)
    return client.post(f"/claim/{token}", content=body, headers={**FORM, **headers}, follow_redirects=False)


def statuses(page: str) -> list[str]:
    return re.findall(r'data-status="([a-z_]+)"', page)


def wait_done(service: Service, token: str) -> str:
    """The page of a used link once it no longer refreshes itself: every kudos in the wallet (or failed)."""
    deadline = time.monotonic() + CONFIRM_TIMEOUT
    while True:
        page = service.client.get(f"/claim/{token}").text
        if 'http-equiv="refresh"' not in page:
            return page
        assert time.monotonic() < deadline, statuses(page)
        time.sleep(0.1)


def test_an_open_link_shows_the_kudos_and_both_ways_to_claim(service: Service):
    token, awards = held_link(service, 2)
    response = service.client.get(f"/claim/{token}")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert response.headers["content-security-policy"] == CLAIM_CSP
    assert CLAIM_CSP == STRICT_CSP + "; script-src 'self'; connect-src 'self'"
    assert response.headers["cache-control"] == "no-store"
    assert response.headers["referrer-policy"] == "no-referrer"
    page = response.text
    assert "You have been thanked with 2 kudos" in page
    assert page.count('<article class="card"') == 2
    assert statuses(page) == ["held", "held"]
    for award in awards:
        assert f'data-award-id="{award["id"]}"' in page
        assert f'src="/v1/awards/{award["id"]}/image.svg"' in page
    assert '<p class="message" dir="auto">Thank you for the patient code reviews.</p>' in page
    assert '<dd class="from" dir="auto">Grace</dd>' in page
    # the browser wallet's button, shown by the script only when there is a wallet; the script is a file
    assert '<div id="wallet-claim" hidden>' in page
    assert "Claim with my browser wallet" in page
    assert f'data-token="{token}"' in page
    scripts = re.findall(r"<script[^>]*>", page)
    assert len(scripts) == 1
    assert re.fullmatch(r'<script src="/static/claim\.js\?v=[0-9a-f]{16}" defer>', scripts[0])
    assert re.search(r"<script[^>]*>[^<]", page) is None  # no inline script
    assert 'http-equiv="refresh"' not in page
    # the way without a browser wallet: how to get one, and a form
    assert "No browser wallet?" in page
    assert f'<form class="claim-form" method="post" action="/claim/{token}">' in page
    assert 'name="address"' in page


def test_the_script_is_a_cacheable_static_file(service: Service):
    page = service.client.get(f"/claim/{held_link(service, 1)[0]}").text
    src = re.search(r'<script src="([^"]+)"', page)
    assert src is not None
    response = service.client.get(html.unescape(src[1]))
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/javascript; charset=utf-8"
    assert response.headers["cache-control"] == "public, max-age=31536000, immutable"
    assert response.headers["x-content-type-options"] == "nosniff"
    assert "personal_sign" in response.text
    assert "eth_requestAccounts" in response.text
    assert "content-security-policy" not in response.headers


def test_every_other_page_keeps_the_strict_policy(service: Service):
    for path in ("/", "/lookup?q=", f"/wallet/{award_body()['recipient']}", "/wallet/0x1234", "/claim/" + "A" * 43):
        response = service.client.get(path)
        assert response.headers["content-security-policy"] == STRICT_CSP, path
        assert "script-src" not in response.headers["content-security-policy"]


@pytest.mark.parametrize(
    "token",
    ["A" * 43, "short", "A" * 44, "%00" * 3, "A" * 42 + "!", "é" * 43, "A" * 42 + "%0A"],
)
def test_an_unknown_or_malformed_link_gets_one_404_page_that_tells_nothing(service: Service, token: str):
    response = service.client.get(f"/claim/{token}")
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("text/html")
    assert response.headers["content-security-policy"] == STRICT_CSP
    assert "This link does not work" in response.text
    assert 'role="alert"' in response.text
    body = response.text
    # the same page, whatever the token: nothing tells whether a link was ever issued
    assert body == service.client.get("/claim/" + "B" * 43).text
    posted = post_form(service.client, token, {"step": "address", "address": "0x" + "1" * 40})
    assert posted.status_code == 404
    assert posted.text == body


def test_the_form_claims_without_javascript_and_the_page_follows_the_kudos_into_the_wallet(service: Service):
    token, awards = held_link(service, 2)
    account: LocalAccount = Account.create()
    step1 = post_form(service.client, token, {"step": "address", "address": account.address.lower()})
    assert step1.status_code == 200, step1.text
    assert step1.headers["content-security-policy"] == CLAIM_CSP
    message = message_in(step1.text)
    assert message.splitlines()[1] == account.address  # checksummed
    assert "Receive the kudos held for me in this wallet." in message
    assert f'<input type="hidden" name="address" value="{account.address}">' in step1.text
    assert 'name="signature"' in step1.text
    # a browser sends a textarea's lines as CRLF; the page takes them back as the message signed
    fields = {"step": "sign", "address": account.address, "message": message.replace("\n", "\r\n")}
    claimed = post_form(service.client, token, fields | {"signature": sign(message, account)})
    assert claimed.status_code == 303, claimed.text
    assert claimed.headers["location"] == f"/claim/{token}"

    moving = service.client.get(f"/claim/{token}")
    assert moving.status_code == 200
    assert moving.headers["content-security-policy"] == CLAIM_CSP
    assert set(statuses(moving.text)) <= {"moving", "in_wallet"}
    assert "<script" not in moving.text  # the used page needs no script
    if "moving" in statuses(moving.text):
        assert '<meta http-equiv="refresh" content="3">' in moving.text
        assert "Moving…" in moving.text
        assert "Your kudos are on their way to your wallet" in moving.text
    done = wait_done(service, token)
    assert statuses(done) == ["in_wallet", "in_wallet"]
    assert "In your wallet" in done
    assert "The kudos are in your wallet" in done
    assert f'href="/wallet/{account.address}"' in done
    assert 'http-equiv="refresh"' not in done
    # on chain: each kudos is the account's
    client = service.ctx.client
    for award in awards:
        assert client.kudos(award["token_id"]).owner == account.address
    # the link is used: the form says so, and the API agrees
    again = post_form(service.client, token, {"step": "address", "address": account.address})
    assert again.status_code == 410
    assert "The kudos are in your wallet" in again.text
    assert service.client.get(f"/v1/claims/{token}").json()["state"] == "used"


def test_an_expired_link_says_to_ask_for_a_new_one_and_shows_no_kudos(service: Service):
    token, _ = held_link(service, 1)
    with service.state.db.session() as session:
        claim = session.scalars(select(Claim).where(Claim.token_hash == token_hash(token))).one()
        claim.expires_at = utcnow() - timedelta(minutes=1)
    response = service.client.get(f"/claim/{token}")
    assert response.status_code == 200
    assert "This claim link has expired" in response.text
    assert "Ask the person who sent it to you for a new link." in " ".join(response.text.split())
    assert '<article class="card"' not in response.text
    assert "<form" not in response.text
    posted = post_form(service.client, token, {"step": "address", "address": Account.create().address})
    assert posted.status_code == 410
    assert "This claim link has expired" in posted.text


def test_a_replaced_link_no_longer_works_and_the_new_one_does(service: Service):
    token, _ = held_link(service, 1)
    with service.state.db.session() as session:
        claim = session.scalars(select(Claim).where(Claim.token_hash == token_hash(token))).one()
        handle = session.get_one(Recipient, claim.recipient_id).handle
    new = service.client.post(
        f"/v1/recipients/{handle}/claim-link", json={"send_email": False}, headers=service.auth("admin")
    )
    assert new.status_code == 201, new.text
    old = service.client.get(f"/claim/{token}")
    assert old.status_code == 200
    assert "This claim link no longer works" in old.text
    assert "ask the person who sent it to you" in " ".join(old.text.split())
    assert '<article class="card"' not in old.text
    assert old.headers["content-security-policy"] == CLAIM_CSP
    fresh = service.client.get(urlsplit(new.json()["url"]).path)
    assert fresh.status_code == 200
    assert "You have been thanked with a kudos" in fresh.text


@pytest.fixture(scope="module")
def open_token(service: Service) -> str:
    """A link the hostile forms are sent to (none of them claims with it)."""
    return held_link(service, 1)[0]


ADDRESS = "0x52908400098527886E0F7030069857D2E4169EE7"


@pytest.mark.parametrize(
    ("body", "content_type", "status"),
    [
        ('{"address": "' + ADDRESS + '"}', "application/json", 415),
        ("address=" + ADDRESS, "multipart/form-data; boundary=x", 415),
        ("address=" + ADDRESS, "", 415),
        ("step=address&address=" + "0x" + "a" * 5000, FORM["Content-Type"], 400),  # too long for the field
        ("step=address&address=0x" + "%00" * 40, FORM["Content-Type"], 400),  # control characters
        ("step=address&address=0x%1b%5b31m", FORM["Content-Type"], 400),  # a terminal escape
        ("step=address&address=" + ADDRESS + "&address=" + ADDRESS, FORM["Content-Type"], 400),  # twice
        ("step=address&address=" + ADDRESS + "&admin=1", FORM["Content-Type"], 400),  # unknown field
        ("&".join(f"step={n}" for n in range(50)), FORM["Content-Type"], 400),  # too many fields
        (b"step=address&address=\xff\xfe", FORM["Content-Type"], 400),  # not UTF-8
        ("%%%=%%%&&&", FORM["Content-Type"], 400),  # nonsense: a field that is not one
        ("", FORM["Content-Type"], 422),  # empty: no address
        ("step=address&address=0x1234", FORM["Content-Type"], 422),
        ("step=address&address=" + ADDRESS.replace("E", "e", 1), FORM["Content-Type"], 422),  # bad checksum
        ("step=address&address=0x" + "0" * 40, FORM["Content-Type"], 422),  # the zero address
        ("step=sign&address=" + ADDRESS, FORM["Content-Type"], 400),  # no message or signature
        ("step=sign&address=" + ADDRESS + "&message=hello&signature=0xzz", FORM["Content-Type"], 422),
        ("step=elsewhere&address=" + ADDRESS + "&message=m&signature=s", FORM["Content-Type"], 400),
    ],
)
def test_a_hostile_form_gets_a_4xx_page_and_the_page_keeps_serving(
    service: Service, open_token: str, body: str | bytes, content_type: str, status: int
):
    response = service.client.post(
        f"/claim/{open_token}", content=body, headers={"Content-Type": content_type}, follow_redirects=False
    )
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("text/html")
    assert response.headers["content-security-policy"] == CLAIM_CSP
    assert re.search(r'<p class="alert" role="alert" id="form-error">[^<]+</p>', response.text), response.text
    assert "\x00" not in response.text
    assert "\x1b" not in response.text
    after = service.client.get(f"/claim/{open_token}")
    assert after.status_code == 200
    assert statuses(after.text) == ["held"]  # nothing was claimed


def test_a_body_too_large_is_refused_before_it_is_read(service: Service, open_token: str):
    response = post_form(service.client, open_token, "address=" + "a" * 100_000)
    assert response.status_code == 413
    assert service.client.get(f"/claim/{open_token}").status_code == 200


def test_refused_signatures_show_the_form_again_with_the_reason(service: Service):
    token, _ = held_link(service, 1)
    account, other = Account.create(), Account.create()
    message = message_in(post_form(service.client, token, {"step": "address", "address": account.address}).text)
    fields = {"step": "sign", "address": account.address, "message": message}
    cases = [
        (sign(message, other), message, "not signed by the address it names"),  # another wallet signed
        (sign(message, account)[:-2] + "05", message, "not a valid Ethereum signature"),  # a damaged signature
        (sign(message, account), message.replace("Nonce: ", "Nonce: x"), "nonce"),  # the message altered
        (sign(message, account), message + "\n", "EIP-4361"),  # not the message signed
        (sign(message, account), message.replace(account.address, other.address), "not signed by the address"),
    ]
    for signature, sent, reason in cases:
        response = post_form(service.client, token, fields | {"message": sent, "signature": signature})
        assert response.status_code == 422, (reason, response.status_code, response.headers)
        error = re.search(r'<p class="alert" role="alert" id="form-error">([^<]+)</p>', response.text)
        assert error is not None
        assert reason in html.unescape(error[1]), error[1]
        assert error[1][0].isupper()
        assert error[1].endswith(".")
        assert 'name="signature"' in response.text  # the form to sign again, with a new message
        assert message_in(response.text).splitlines()[1] == account.address
    assert service.client.get(f"/v1/claims/{token}").json()["state"] == "open"
    # a signature pasted without its 0x is taken
    no_prefix = sign(message, account).removeprefix("0x")
    claimed = post_form(service.client, token, fields | {"signature": no_prefix})
    assert claimed.status_code == 303, claimed.text


def test_claim_attempts_by_form_are_limited_like_the_api(service: Service):
    token, _ = held_link(service, 1)
    account = Account.create()
    elsewhere = TestClient(service.client.app, client=("203.0.113.7", 40000))  # its own client address
    message = message_in(post_form(elsewhere, token, {"step": "address", "address": account.address}).text)
    wrong = {"step": "sign", "address": account.address, "message": message, "signature": "0x" + "11" * 65}
    answers = [post_form(elsewhere, token, wrong).status_code for _ in range(ATTEMPTS + 1)]
    assert answers == [422] * ATTEMPTS + [429]
    limited = post_form(elsewhere, token, wrong | {"signature": sign(message, account)})
    assert limited.status_code == 429
    assert int(limited.headers["retry-after"]) >= 1
    assert "Too many claim attempts" in limited.text
    assert service.client.get(f"/v1/claims/{token}").json()["state"] == "open"
