"""The claim page in a real headless Chromium, from the email to the kudos on chain (issue 12's test).

The service runs over real HTTP (uvicorn on a loopback port, its public URL its real one) and sends its mail to a
real SMTP server (aiosmtpd on another loopback port). A person is thanked twice by email address; the test takes
the claim link from the email the server received, opens it in Chromium with a browser wallet injected
(EIP-1193 ``window.ethereum``, whose ``personal_sign`` calls back into Python to sign with a real eth-account
key), clicks "Claim with my browser wallet", and waits until the page says the kudos are in the wallet; then the
chain says the account owns them. The claim page's picture for the README goes to ``docs/claim-page.png``.

Also: a wallet that refuses to sign, or signs with another account, gets a sentence and claims nothing; without
JavaScript, the page's form claims and the page refreshes itself until the kudos are in the wallet; every state
of the page passes axe-core's WCAG 2.2 A and AA rules, light and dark, on a phone and a desktop; and no claim
token reaches a log line.
"""

from __future__ import annotations

import email
import email.policy
import json
import logging
import os
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from email.message import EmailMessage
from typing import TYPE_CHECKING, Any

import httpx2
import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session
from eth_account import Account
from eth_account.messages import encode_defunct
from eth_account.signers.local import LocalAccount
from kudos_service.claims.links import token_hash
from kudos_service.models import Award, Claim, Mail, MailStatus, Recipient, utcnow
from sqlalchemy import select

from tests.service.conftest import CONFIRM_TIMEOUT, LiveService, award_body, start_live_service
from tests.service.test_mail import free_port
from tests.utils.browser import ARTIFACTS, DESKTOP, DOCS, PHONE, axe_violations, chromium, launch

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page, Playwright

LINK = re.compile(r"(https?://[^\s\"<>]+)/claim/([A-Za-z0-9_-]{43})")

#: The browser wallet the tests inject: EIP-1193 ``request({method, params})``; ``personal_sign`` asks Python
#: (``kudosWalletSign``), which answers ``{"signature": "0x…"}`` or ``{"reject": true}`` (EIP-1193 code 4001).
WALLET = """account => {
  window.walletCalls = [];
  window.ethereum = {
    isKudosTestWallet: true,
    async request({ method, params }) {
      window.walletCalls.push({ method, params: params || [] });
      if (method === "eth_requestAccounts" || method === "eth_accounts") return [account];
      if (method === "personal_sign") {
        const answer = await window.kudosWalletSign(params[0], params[1]);
        if (answer.reject) {
          const error = new Error("User rejected the request.");
          error.code = 4001;
          throw error;
        }
        return answer.signature;
      }
      const error = new Error(`unsupported method ${method}`);
      error.code = 4200;
      throw error;
    },
  };
}"""


@dataclass
class Inbox:
    """The messages the SMTP server received."""

    port: int
    messages: list[EmailMessage] = field(default_factory=list)

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:  # noqa: N802
        parsed = email.message_from_bytes(envelope.original_content or b"", policy=email.policy.default)
        assert isinstance(parsed, EmailMessage)
        self.messages.append(parsed)
        return "250 Message accepted"


class Records(logging.Handler):
    """Every log record of the app and of uvicorn's access log, formatted."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())


@pytest.fixture(scope="module")
def inbox() -> Iterator[Inbox]:
    received = Inbox(port=free_port())
    controller = Controller(received, hostname="127.0.0.1", port=received.port)
    controller.start()
    yield received
    controller.stop()


@pytest.fixture(scope="module")
def records(live: LiveService) -> Iterator[Records]:
    """The log records from now on (uvicorn configured its loggers when the live service started)."""
    handler = Records()
    loggers = [logging.getLogger(), logging.getLogger("uvicorn.access"), logging.getLogger("uvicorn.error")]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)
    yield handler
    for logger, level in zip(loggers, levels, strict=True):
        logger.removeHandler(handler)
        logger.setLevel(level)


@pytest.fixture(scope="module")
def live(inbox: Inbox, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveService]:
    """The service over HTTP, mailing through the inbox's server (plain SMTP on loopback)."""
    with start_live_service(
        tmp_path_factory.mktemp("kudos-claim-browser"),
        smtp_host="127.0.0.1",
        smtp_port=inbox.port,
        smtp_security="none",
        mail_from="Kudos <kudos@example.com>",
    ) as running:
        assert running.state.settings.base_url == running.url  # the sign-in message names the real URL
        yield running


@pytest.fixture(scope="module")
def driver() -> Iterator[Playwright]:
    with chromium() as playwright:
        yield playwright


@pytest.fixture(scope="module")
def browser(driver: Playwright) -> Iterator[Browser]:
    launched = launch(driver)
    yield launched
    launched.close()


def thank_by_email(live: LiveService, count: int, name: str = "Ada") -> tuple[str, list[dict[str, Any]]]:
    """Thank a new person ``count`` times by email address; their address and the confirmed awards."""
    address = f"{name.lower()}.{os.urandom(4).hex()}@example.com"
    texts = [
        ("mentor", "Thank you for the patient code reviews.", "Grace Hopper"),
        ("above-and-beyond", "The launch happened because of you.", "Tim"),
    ]
    headers = {"Authorization": f"Bearer {live.keys['award']}"}
    items = [
        award_body(recipient={"email": address, "name": name}, kind=kind, message=message, awarded_by=giver)
        | {"idempotency_key": os.urandom(8).hex()}
        for kind, message, giver in texts[:count]
    ]
    accepted = httpx2.post(f"{live.url}/v1/awards/batch", json={"awards": items}, headers=headers, timeout=30)
    assert accepted.status_code == 202, accepted.text
    awards = []
    for item in accepted.json():
        deadline = time.monotonic() + CONFIRM_TIMEOUT
        while True:
            award = httpx2.get(f"{live.url}/v1/awards/{item['id']}", params={"wait": 5}, headers=headers, timeout=30)
            if award.json()["status"] == "confirmed":
                awards.append(award.json())
                break
            assert award.json()["status"] != "failed", award.text
            assert time.monotonic() < deadline, award.text
    return address, awards


def emailed_link(live: LiveService, inbox: Inbox, to: str) -> tuple[str, EmailMessage]:
    """The claim link of the newest email the SMTP server received for ``to``, once every held kudos of theirs was
    announced and every mail to them sent (a later link ends the earlier ones)."""
    deadline = time.monotonic() + CONFIRM_TIMEOUT
    while True:
        with live.state.db.session() as session:
            person = session.scalars(select(Recipient).where(Recipient.email == to)).first()
            waiting = person is None or any(
                a.announced_at is None for a in session.scalars(select(Award).where(Award.held_for_id == person.id))
            )
            unsent = person is None or any(
                m.status != MailStatus.SENT for m in session.scalars(select(Mail).where(Mail.recipient_id == person.id))
            )
        mine = [m for m in inbox.messages if m["To"] == to]
        if mine and not waiting and not unsent:
            message = mine[-1]
            text = message.get_body(("plain",))
            assert text is not None
            found = LINK.search(text.get_content())
            assert found is not None, text.get_content()
            return f"{found[1]}/claim/{found[2]}", message
        assert time.monotonic() < deadline, "no claim email"
        time.sleep(0.1)


def wallet_context(browser: Browser, live: LiveService, account: LocalAccount, answer: Any, **options: Any) -> Any:
    """A browser context with the test wallet of ``account``; ``answer(message_text, address)`` gives what its
    ``personal_sign`` answers. The messages it was asked to sign are in the returned list."""
    context = browser.new_context(base_url=live.url, viewport=DESKTOP, **options)
    context.set_default_timeout(15_000)
    asked: list[tuple[str, str]] = []

    def sign(hex_message: str, address: str) -> dict[str, Any]:
        text = bytes.fromhex(hex_message.removeprefix("0x")).decode()
        asked.append((text, address))
        result: dict[str, Any] = answer(text, address, hex_message)
        return result

    context.expose_function("kudosWalletSign", sign)
    context.add_init_script(f"({WALLET})({json.dumps(account.address)})")
    return context, asked


def signed_by(account: LocalAccount) -> Any:
    def answer(text: str, address: str, hex_message: str) -> dict[str, Any]:
        assert address == account.address
        signature = account.sign_message(encode_defunct(hexstr=hex_message)).signature
        assert signature == account.sign_message(encode_defunct(text=text)).signature  # the same bytes
        return {"signature": "0x" + bytes(signature).hex()}

    return answer


def check_axe(page: Page, where: str) -> list[str]:
    """axe-core's violations on ``page`` at both widths, light and dark, one line each with where they are."""
    found = []
    for scheme in ("light", "dark"):
        for size_name, size in (("phone", PHONE), ("desktop", DESKTOP)):
            page.set_viewport_size(size)
            page.emulate_media(color_scheme=scheme)
            widths = page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
            if widths[0] > widths[1]:
                found.append(f"{where} {scheme} {size_name}: scrolls sideways {widths}")
            found += [f"{where} {scheme} {size_name}: {v}" for v in axe_violations(page)]
    page.emulate_media(color_scheme="light")
    page.set_viewport_size(DESKTOP)
    return found


def test_the_emailed_link_claims_the_kudos_with_a_browser_wallet(
    browser: Browser, live: LiveService, inbox: Inbox, records: Records
):
    to, awards = thank_by_email(live, 2)
    link, message = emailed_link(live, inbox, to)
    assert link.startswith(f"{live.url}/claim/")
    token = link.rsplit("/", 1)[1]
    html_part = message.get_body(("html",))
    assert html_part is not None
    assert link in html_part.get_content()
    assert message["To"] == to

    account: LocalAccount = Account.create()
    context, asked = wallet_context(browser, live, account, signed_by(account))
    page = context.new_page()
    try:
        response = page.goto(link)
        assert response is not None
        assert response.status == 200
        assert "script-src 'self'" in response.headers["content-security-policy"]
        cards = page.locator("article.card")
        assert cards.count() == 2
        assert cards.locator("h2").all_inner_texts() == ["Mentor", "Above and Beyond"]
        assert cards.locator(".message").all_inner_texts() == [
            "Thank you for the patient code reviews.",
            "The launch happened because of you.",
        ]
        assert cards.locator(".from").all_inner_texts() == ["Grace Hopper", "Tim"]
        assert cards.locator(".status").all_inner_texts() == ["Held for you", "Held for you"]
        button = page.get_by_role("button", name="Claim with my browser wallet")
        button.wait_for(state="visible")  # the script found the wallet
        page.wait_for_load_state("load")
        assert page.evaluate("[...document.images].every(i => i.complete && i.naturalWidth > 0)")  # the badges
        DOCS.mkdir(exist_ok=True)
        page.screenshot(path=str(DOCS / "claim-page.png"), full_page=True)  # the README's picture
        violations = check_axe(page, "open")

        button.click()
        done = page.locator("#claim-done")
        done.wait_for(state="visible", timeout=CONFIRM_TIMEOUT * 1000)
        assert done.locator("h2").inner_text() == "The kudos are in your wallet"
        assert cards.locator(".status").all_inner_texts() == ["In your wallet", "In your wallet"]
        assert page.locator("#claim-status").inner_text() == "The kudos are in your wallet."
        assert page.locator("#claim-error").is_hidden()
        assert page.locator("#manual").is_hidden()
        wallet_link = page.get_by_role("link", name="See your wallet")
        assert wallet_link.get_attribute("href") == f"/wallet/{account.address}"
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "claim-done.png"), full_page=True)
        violations += check_axe(page, "claimed (script)")
        methods = page.evaluate("window.walletCalls.map(c => c.method)")
        assert methods == ["eth_requestAccounts", "personal_sign"]

        # the message the wallet signed: this service's real URL, this link's nonce, this account
        assert len(asked) == 1
        text, address = asked[0]
        assert address == account.address
        assert text.startswith(f"{live.url.removeprefix('http://')} wants you to sign in with your Ethereum account:")
        assert text.splitlines()[1] == account.address
        assert f"URI: {live.url}/claim" in text.splitlines()
        # on chain, each kudos is the account's
        client = live.state.chain.get().client
        for award in awards:
            assert client.kudos(award["token_id"]).owner == account.address

        wallet_link.click()
        page.wait_for_url(f"**/wallet/{account.address}")
        assert page.locator("article.card").count() == 2

        page.goto(link)  # the link, once used, shows where the kudos went
        assert page.locator("h1").inner_text() == "The kudos are in your wallet"
        assert page.locator("meta[http-equiv=refresh]").count() == 0
        violations += check_axe(page, "used")
        assert violations == []
    finally:
        context.close()
    # the link is a credential: no log line of the app or of its access log holds it
    assert records.lines, "no log line was captured"
    assert any("/claim/…" in line for line in records.lines)  # the access log saw the page, without the token
    assert not [line for line in records.lines if token in line]


def test_a_wallet_that_refuses_or_signs_with_another_account_claims_nothing(browser: Browser, live: LiveService,
                                                                           inbox: Inbox):  # fmt: skip
    to, _ = thank_by_email(live, 1, "Grace")
    link, _ = emailed_link(live, inbox, to)
    account, other = Account.create(), Account.create()
    answers = iter([{"reject": True}])

    def answer(text: str, address: str, hex_message: str) -> dict[str, Any]:
        return next(answers, None) or signed_by(other)(text, other.address, hex_message)

    context, asked = wallet_context(browser, live, account, answer)
    page = context.new_page()
    try:
        page.goto(link)
        button = page.get_by_role("button", name="Claim with my browser wallet")
        error = page.locator("#claim-error")
        button.click()
        error.wait_for(state="visible")
        assert error.get_attribute("role") == "alert"
        assert error.inner_text() == (
            "You did not approve the request in your wallet, so nothing was claimed. You can try again whenever you "
            "like."
        )
        assert button.is_enabled()
        assert page.locator("#claim-done").is_hidden()

        button.click()  # now the wallet signs with another account than the one it gave: the API refuses
        page.wait_for_function(
            "() => document.getElementById('claim-error').textContent.includes('not signed by the address')"
        )
        assert error.inner_text() == "The sign-in message was not signed by the address it names."
        assert button.is_enabled()
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "claim-refused.png"), full_page=True)
        assert check_axe(page, "refused") == []
        assert len(asked) == 2
    finally:
        context.close()
    token = link.rsplit("/", 1)[1]
    assert httpx2.get(f"{live.url}/v1/claims/{token}").json()["state"] == "open"


def test_closed_and_unknown_links_read_clearly_and_pass_axe(browser: Browser, live: LiveService, inbox: Inbox):
    to, _ = thank_by_email(live, 1, "Alan")
    expired, _ = emailed_link(live, inbox, to)
    with live.state.db.session() as session:
        claim = session.scalars(select(Claim).where(Claim.token_hash == token_hash(expired.rsplit("/", 1)[1]))).one()
        claim.expires_at = utcnow() - timedelta(seconds=1)
    to, _ = thank_by_email(live, 1, "Barbara")
    revoked, _ = emailed_link(live, inbox, to)
    with live.state.db.session() as session:
        claim = session.scalars(select(Claim).where(Claim.token_hash == token_hash(revoked.rsplit("/", 1)[1]))).one()
        claim.revoked_at = utcnow()
    context = browser.new_context(base_url=live.url, viewport=DESKTOP)
    page = context.new_page()
    violations = []
    try:
        for url, status, title in (
            (expired, 200, "This claim link has expired"),
            (revoked, 200, "This claim link no longer works"),
            (f"{live.url}/claim/{'Q' * 43}", 404, "This link does not work"),
        ):
            response = page.goto(url)
            assert response is not None
            assert response.status == status
            assert page.locator("h1").inner_text() == title
            assert page.get_by_role("alert").is_visible()
            assert page.locator("article.card").count() == 0
            violations += check_axe(page, title)
    finally:
        context.close()
    assert violations == []


def test_without_javascript_the_form_claims_and_the_page_refreshes_until_done(browser: Browser, live: LiveService,
                                                                              inbox: Inbox):  # fmt: skip
    to, awards = thank_by_email(live, 2, "Linus")
    link, _ = emailed_link(live, inbox, to)
    account: LocalAccount = Account.create()
    # with JavaScript but no wallet: no button, the form (axe-core runs here: it needs JavaScript)
    with_js = browser.new_context(base_url=live.url, viewport=PHONE)
    with_js.set_default_timeout(15_000)
    try:
        page = with_js.new_page()
        page.goto(link)
        page.wait_for_load_state("load")
        assert page.get_by_role("button", name="Claim with my browser wallet").is_hidden()
        assert page.get_by_role("heading", name="No browser wallet?").is_visible()
        page.get_by_label("Your wallet's address").fill("0x1234")
        page.get_by_role("button", name="Show the message to sign").click()
        assert "not a wallet address" in page.get_by_role("alert").inner_text()
        violations = check_axe(page, "bad address")
        page.get_by_label("Your wallet's address").fill(account.address)
        page.get_by_role("button", name="Show the message to sign").click()
        page.get_by_label("The message to sign").wait_for()
        violations += check_axe(page, "sign")
    finally:
        with_js.close()
    # without JavaScript: the form claims, and the page refreshes itself until the kudos are in the wallet
    context = browser.new_context(base_url=live.url, viewport=PHONE, java_script_enabled=False)
    context.set_default_timeout(15_000)
    page = context.new_page()
    try:
        page.goto(link)
        assert page.get_by_role("button", name="Claim with my browser wallet").is_hidden()
        page.get_by_label("Your wallet's address").fill(account.address.lower())
        page.get_by_role("button", name="Show the message to sign").click()
        message = page.get_by_label("The message to sign")
        assert message.get_attribute("readonly") is not None
        text = message.input_value()
        assert text.splitlines()[1] == account.address
        signature = account.sign_message(encode_defunct(text=text)).signature
        page.get_by_label("The signature").fill("0x" + bytes(signature).hex())
        worker = live.state.worker
        worker.stop()  # the kudos stay on their way until this test delivers them (so this test runs last)
        page.get_by_role("button", name="Claim my kudos").click()
        page.wait_for_url(link)
        assert page.locator(".status").all_inner_texts() == ["Moving…", "Moving…"]
        assert page.locator("h1").inner_text() == "Your kudos are on their way to your wallet"
        assert page.locator("meta[http-equiv=refresh]").get_attribute("content") == "3"
        with page.expect_navigation(timeout=10_000):  # the page reloads itself, without any script
            pass
        assert page.locator(".status").all_inner_texts() == ["Moving…", "Moving…"]
        token = link.rsplit("/", 1)[1]
        deadline = time.monotonic() + CONFIRM_TIMEOUT
        while not httpx2.get(f"{live.url}/v1/claims/{token}").json()["done"]:  # deliver, as the worker would
            assert time.monotonic() < deadline, "the kudos did not reach the wallet"
            worker.run_once()
            time.sleep(0.02)
        page.get_by_role("heading", name="The kudos are in your wallet", level=1).wait_for(timeout=10_000)
        assert page.locator(".status").all_inner_texts() == ["In your wallet", "In your wallet"]
        assert page.get_by_role("link", name="See your wallet").get_attribute("href") == f"/wallet/{account.address}"
        assert violations == []
    finally:
        context.close()
    client = live.state.chain.get().client
    for award in awards:
        assert client.kudos(award["token_id"]).owner == account.address
