"""The wallet pages in a real headless Chromium: ``/`` to look a wallet up, ``/wallet/{address}`` to show it.

The app is served by a real uvicorn server on a free loopback port (a browser cannot reach a TestClient), and
Debian's ``chromium`` is driven by Python's ``playwright`` through ``executable_path`` (``playwright install``
downloads a browser build of its own, which is not used). ``scripts/test.sh`` installs both. Screenshots go to
``test-artifacts/``.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import pytest
import uvicorn
from kudos_service.api.routes.pages import PAGE_SIZE
from kudos_service.models import Award
from sqlalchemy import select

from tests.service.conftest import Service, award_body, new_address
from tests.utils.ci import tool_missing

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

CHROMIUM = os.environ.get("KUDOS_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """Debian's Chromium, headless."""
    if shutil.which(CHROMIUM) is None:
        tool_missing(f"no Chromium at {CHROMIUM}: apt-get install chromium")
    try:
        from playwright.sync_api import sync_playwright  # noqa: PLC0415
    except ImportError:
        tool_missing("the playwright package is not installed: pip install -e '.[test]'")
    with sync_playwright() as p:
        launched = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield launched
        launched.close()


@pytest.fixture(scope="module")
def base_url(service: Service) -> Iterator[str]:
    """The service's app behind a real uvicorn server on a free loopback port.

    The app's lifespan already runs in the ``service`` fixture (chain open, worker started), so the server runs
    with ``lifespan="off"`` and serves the same app and state."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(service.client.app, lifespan="off", log_level="warning", access_log=False)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert thread.is_alive(), "uvicorn stopped at start"
        assert time.monotonic() < deadline, "uvicorn did not start in 10 s"
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()


@dataclass
class People:
    """Wallets with known kudos, and directory entries."""

    ada: str  # three kudos, in the directory as @ada.page who allows her name to be shown
    grace: str  # one kudos, in the directory as @grace.page who does not
    tampered: str  # one kudos whose stored text no longer matches its hash on chain
    many: str  # PAGE_SIZE + 2 kudos


def _batch(service: Service, items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    batch = [item | {"idempotency_key": os.urandom(8).hex()} for item in items]
    response = service.post_batch(batch)
    assert response.status_code == 202, response.text
    accepted: list[dict[str, Any]] = response.json()
    return [service.wait_confirmed(a["id"]) for a in accepted]


def _add_person(service: Service, handle: str, name: str, wallet: str | None, *, show_name: bool) -> None:
    body = {"handle": handle, "external_id": f"hr-{handle}", "display_name": name, "show_name": show_name}
    if wallet is not None:
        body["wallet_address"] = wallet
    response = service.client.post("/v1/recipients", json=body, headers=service.auth("admin"))
    assert response.status_code == 201, response.text


@pytest.fixture(scope="module")
def people(service: Service) -> People:
    ada, grace, tampered, many = (new_address() for _ in range(4))
    _add_person(service, "ada.page", "Ada Lovelace", ada, show_name=True)
    _add_person(service, "grace.page", "Grace Hopper", grace, show_name=False)
    _add_person(service, "no.wallet", "Nobody Walletless", None, show_name=True)
    _batch(
        service,
        [
            award_body(
                recipient=ada, kind="mentor", message="Thank you for the patient code reviews.", awarded_by="Tim"
            ),
            award_body(recipient=ada, kind="above-and-beyond", message="The launch happened because of you."),
            award_body(recipient=ada, kind="loyal-customer", message="Ten years with us!", awarded_by="Acme Sales"),
            award_body(recipient=grace, kind="team-player", message="For the compiler.", awarded_by="Navy"),
            award_body(recipient=tampered, kind="team-player", message="The original words."),
        ]
        + [award_body(recipient=many, message=f"Kudos number {n}.") for n in range(PAGE_SIZE + 2)],
    )
    for address, total in ((ada, 3), (grace, 1), (tampered, 1), (many, PAGE_SIZE + 2)):
        service.wait_wallet(address, total)
    with service.state.db.session() as session:  # the text changed after the award: its hash no longer matches
        award = session.scalars(select(Award).where(Award.recipient == tampered)).one()
        metadata = json.loads(award.metadata_json)
        metadata["message"] = "Words someone changed later."
        award.metadata_json = json.dumps(metadata).encode()
    return People(ada=ada, grace=grace, tampered=tampered, many=many)


@pytest.fixture
def page(browser: Browser, base_url: str) -> Iterator[Page]:
    """A fresh desktop-sized page (1280 by 900)."""
    context = browser.new_context(base_url=base_url, viewport={"width": 1280, "height": 900})
    context.set_default_timeout(10_000)
    yield context.new_page()
    context.close()


def screenshot(page: Page, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / name), full_page=True)


def chain_text(service: Service) -> tuple[str, str]:
    ctx = service.ctx
    return str(ctx.chain_id), ctx.client.address


def test_the_wallet_page_shows_each_kudos_as_a_card(page: Page, people: People, service: Service):
    response = page.goto(f"/wallet/{people.ada}")
    assert response is not None
    assert response.status == 200
    assert response.headers["content-type"].startswith("text/html")

    cards = page.locator("article.card")
    assert cards.count() == 3
    # newest first
    assert cards.locator("h2").all_inner_texts() == ["🏅 Loyal Customer", "🚀 Above and Beyond", "🌱 Mentor"]
    assert cards.locator(".message").all_inner_texts() == [
        "Ten years with us!",
        "The launch happened because of you.",
        "Thank you for the patient code reviews.",
    ]
    assert cards.locator(".from").all_inner_texts() == ["Acme Sales", "Ada Lovelace", "Tim"]
    assert cards.locator(".mark.verified").count() == 3
    assert cards.locator(".mark.unverified").count() == 0
    assert [c.locator(".mark.transferable, .mark.soulbound").inner_text() for c in cards.all()] == [
        "Transferable",
        "Soulbound",
        "Soulbound",
    ]
    ids = [int(c.get_attribute("data-token-id") or 0) for c in cards.all()]
    assert ids == sorted(ids, reverse=True)
    links = [c.get_by_role("link", name="Metadata (JSON)").get_attribute("href") for c in cards.all()]
    assert links == [f"/v1/tokens/{i}" for i in ids]
    images = cards.locator("img")
    assert images.count() == 3
    assert [images.nth(n).get_attribute("alt") for n in range(3)] == [
        f"Loyal Customer badge, kudos #{ids[0]}",
        f"Above and Beyond badge, kudos #{ids[1]}",
        f"Mentor badge, kudos #{ids[2]}",
    ]
    page.wait_for_load_state("load")
    assert page.evaluate("[...document.images].every(i => i.complete && i.naturalWidth > 0)")  # the badges load
    assert cards.first.locator("time").get_attribute("datetime")
    # Ada's directory entry allows her name; the handle never shows
    assert page.locator("h1").inner_text() == "Kudos of Ada Lovelace"
    assert people.ada in page.locator("#address").inner_text()
    assert "ada.page" not in page.content()
    screenshot(page, "wallet-desktop.png")

    metadata = httpx.get(page.url.split("/wallet/")[0] + str(links[0]))
    assert metadata.json()["message"] == "Ten years with us!"


def test_every_page_names_the_chain_and_contract(page: Page, people: People, service: Service):
    chain_id, contract = chain_text(service)
    for path in ("/", f"/wallet/{people.ada}", f"/wallet/{new_address()}", "/wallet/0x1234", "/lookup?q=@nobody"):
        page.goto(path)
        network = page.locator("#network").inner_text()
        assert chain_id in network, path
        assert contract in network, path
        assert "Embedded chain" in network, path
        facts = page.locator("#chain-facts").inner_text()
        assert chain_id in facts, path
        assert contract in facts, path


def test_a_wallet_without_kudos_has_a_friendly_empty_state(page: Page, service: Service):
    chain_id, contract = chain_text(service)
    address = new_address()
    response = page.goto(f"/wallet/{address.lower()}")
    assert response is not None
    assert response.status == 200
    assert page.locator("article.card").count() == 0
    empty = page.locator("#empty")
    assert empty.get_by_role("heading").inner_text() == "No kudos here yet"
    text = empty.inner_text()
    assert chain_id in text
    assert contract in text
    assert "one chain only" in text
    assert page.locator("#address").inner_text() == address  # shown checksummed
    screenshot(page, "wallet-empty.png")


@pytest.mark.parametrize("address", ["0x1234", "not-an-address", "0x52908400098527886e0F7030069857D2E4169EE7"])
def test_an_invalid_address_gets_a_clear_page(page: Page, address: str):
    response = page.goto(f"/wallet/{address}")
    assert response is not None
    assert response.status == 400
    assert response.headers["content-type"].startswith("text/html")
    assert page.locator("h1").inner_text() == "That is not a wallet address"
    assert f"“{address}” is not a valid wallet address" in page.get_by_role("alert").inner_text()
    assert page.get_by_role("link", name="Look up a wallet").count() == 1
    if address == "0x1234":
        screenshot(page, "wallet-invalid.png")


def test_the_api_keeps_its_json_errors(base_url: str):
    response = httpx.get(f"{base_url}/v1/wallets/0x1234")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_address"


def test_the_page_is_readable_at_phone_width(browser: Browser, base_url: str, people: People):
    context = browser.new_context(
        base_url=base_url, viewport={"width": 375, "height": 812}, device_scale_factor=2, is_mobile=True
    )
    phone = context.new_page()
    try:
        for path in (f"/wallet/{people.ada}", "/", f"/wallet/{new_address()}", "/wallet/0x1234"):
            phone.goto(path)
            widths = phone.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
            assert widths[0] <= widths[1], f"{path} scrolls sideways: {widths}"
        phone.goto(f"/wallet/{people.ada}")
        cards = phone.locator("article.card")
        boxes = [cards.nth(n).bounding_box() for n in range(3)]
        assert all(b is not None and b["width"] <= 375 for b in boxes)
        assert len({b["x"] for b in boxes if b}) == 1  # one column
        font_size = phone.evaluate("parseFloat(getComputedStyle(document.querySelector('.message')).fontSize)")
        assert font_size >= 16
        screenshot(phone, "wallet-phone.png")
    finally:
        context.close()


def test_a_handle_from_the_landing_page_opens_the_wallet(page: Page, people: People):
    page.goto("/")
    assert page.locator("h1").inner_text() == "Look up a wallet\u2019s kudos"
    screenshot(page, "landing.png")
    page.get_by_label("Wallet address or @handle").fill("@Ada.Page")
    page.get_by_role("button", name="Show kudos").click()
    page.wait_for_url(f"**/wallet/{people.ada}")
    assert page.locator("article.card").count() == 3

    page.goto("/")
    page.get_by_label("Wallet address or @handle").fill(people.grace.lower())
    page.get_by_role("button", name="Show kudos").click()
    page.wait_for_url(f"**/wallet/{people.grace}")
    assert page.locator("article.card").count() == 1


def test_an_unknown_handle_and_a_person_without_wallet_read_the_same(page: Page):
    texts = []
    for handle in ("nobody.here", "no.wallet"):
        response = page.goto(f"/lookup?q=%40{handle}")
        assert response is not None
        assert response.status == 404
        alert = page.get_by_role("alert").inner_text()
        assert alert == f"No wallet is known for @{handle}. Check the spelling, or look the person up by their address."
        texts.append(alert.replace(handle, "…"))
        assert "Walletless" not in page.content()
        assert page.get_by_label("Wallet address or @handle").input_value() == f"@{handle}"
    assert texts[0] == texts[1]
    response = page.goto("/lookup?q=0xnothex")
    assert response is not None
    assert response.status == 400
    assert "is not a valid wallet address" in page.get_by_role("alert").inner_text()


def test_the_display_name_shows_only_where_the_directory_allows(page: Page, people: People):
    page.goto(f"/wallet/{people.grace}")
    assert page.locator("h1").inner_text() == f"Kudos of {people.grace[:6]}…{people.grace[-4:]}"
    assert "Grace Hopper" not in page.content()
    assert page.title().startswith(f"Kudos of {people.grace[:6]}")
    page.goto(f"/wallet/{people.ada}")
    assert page.title().startswith("Kudos of Ada Lovelace")


def test_a_kudos_whose_text_no_longer_matches_the_chain_is_marked_not_verified(page: Page, people: People):
    page.goto(f"/wallet/{people.tampered}")
    card = page.locator("article.card")
    assert card.count() == 1
    assert card.locator(".mark.unverified").inner_text() == "✗ Not verified"
    assert card.locator(".mark.verified").count() == 0
    assert "does not match" in card.locator(".message").inner_text()
    assert "Words someone changed later." not in page.content()
    assert card.locator("img").count() == 0  # the badge is drawn only from verified text
    assert (
        card.get_by_role("img").get_attribute("aria-label") == "Team Player badge, not shown: its text is not verified"
    )


def test_a_large_wallet_is_paged_newest_first(page: Page, people: People):
    page.goto(f"/wallet/{people.many}")
    assert page.locator("article.card").count() == PAGE_SIZE
    first_page = [int(c.get_attribute("data-token-id") or 0) for c in page.locator("article.card").all()]
    assert f"{PAGE_SIZE + 2} kudos" in page.locator("#total").inner_text()
    assert page.locator(".message").first.inner_text() == f"Kudos number {PAGE_SIZE + 1}."
    page.get_by_role("navigation", name="Pages").get_by_role("link", name="Older kudos →").click()
    page.wait_for_url("**?page=2")
    second_page = [int(c.get_attribute("data-token-id") or 0) for c in page.locator("article.card").all()]
    assert len(second_page) == 2
    assert first_page + second_page == sorted(first_page + second_page, reverse=True)
    assert page.get_by_role("link", name="← Newer kudos").count() == 1
    response = page.goto(f"/wallet/{people.many}?page=0")
    assert response is not None
    assert response.status == 400


def test_the_pages_are_accessible(page: Page, people: People):
    for path in ("/", f"/wallet/{people.ada}", f"/wallet/{new_address()}", "/wallet/0x1234"):
        page.goto(path)
        assert page.locator("html").get_attribute("lang") == "en"
        assert page.locator("h1").count() == 1, path
        for landmark in ("banner", "main", "contentinfo"):
            assert page.get_by_role(landmark).count() == 1, (path, landmark)
        assert page.evaluate("[...document.images].every(i => (i.getAttribute('alt') || '').trim().length > 0)")
        # the first Tab reaches the skip link, which then shows on screen
        page.keyboard.press("Tab")
        skip = page.get_by_role("link", name="Skip to main content")
        assert skip.evaluate("e => e === document.activeElement")
        box = skip.bounding_box()
        assert box is not None
        assert box["y"] >= 0
        outline = skip.evaluate("e => getComputedStyle(e).outlineStyle")
        assert outline != "none"
