"""The wallet pages in a real headless Chromium: ``/`` to look a wallet up, ``/wallet/{address}`` to show it.

The app is served by a real uvicorn server on a free loopback port (a browser cannot reach a TestClient), and
Debian's ``chromium`` is driven by Python's ``playwright`` through ``executable_path`` (``playwright install``
downloads a browser build of its own, which is not used). ``scripts/test.sh`` installs both, fonts for Chinese,
Japanese, Hebrew and Arabic, and the pinned axe-core (:mod:`tests.utils.browser`). Screenshots go to
``test-artifacts/``; the README's picture of a wallet to ``docs/wallet.png``.

A second Chromium sees only the DejaVu fonts, as a server or a wallet without a colour-emoji font does: the badges
and pages must draw no character there as the missing-glyph box (their icons are vector paths, not emoji).

A wallet holds the texts of every script (:data:`tests.utils.browser.TEXTS`) and a revoked kudos: its page, at 375
and at 1280 pixels, light and dark, has no horizontal overflow, marks every piece of people's text ``dir="auto"``,
shows the person and their kudos before any hex, and has no axe-core violation of WCAG 2.2 A or AA.
"""

from __future__ import annotations

import json
import os
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx2
import pytest
import uvicorn
from kudos_service.api.routes.pages import PAGE_SIZE
from kudos_service.models import Award
from sqlalchemy import select

from tests.service.conftest import Service, award_body, new_address
from tests.utils.browser import (
    ARTIFACTS,
    DESKTOP,
    DOCS,
    PHONE,
    TEXTS,
    axe_violations,
    chromium,
    launch,
    require_fonts,
)
from tests.utils.ci import tool_missing

if TYPE_CHECKING:
    from playwright.sync_api import Browser, FloatRect, Page, Playwright

#: Where the badge (600 by 600) shows when a page opens its SVG.
BADGE_BOX: FloatRect = {"x": 0, "y": 0, "width": 600, "height": 600}
#: The text fonts that ``scripts/test.sh`` installs (``fonts-dejavu-core``); no emoji among them.
DEJAVU = Path("/usr/share/fonts/truetype/dejavu")

#: The characters of the open document's rendered text (an HTML page or an SVG picture) that Chromium draws as the
#: missing-glyph box ("tofu"), with the element that holds each. A character is drawn in its element's font beside
#: U+10FFFD, a private-use code point that no font has: the same pixels are the same box. Given ``probe``, the
#: answer for those characters instead (a check of the check).
FIND_TOFU = """probe => {
  const canvas = new OffscreenCanvas(96, 96);
  const context = canvas.getContext("2d", { willReadFrequently: true });
  const pixels = (text, font) => {
    context.clearRect(0, 0, 96, 96);
    context.font = font;
    context.textBaseline = "middle";
    context.fillText(text, 8, 48);
    return context.getImageData(0, 0, 96, 96).data.join();
  };
  const box = new Map();
  const isTofu = (character, font) => {
    if (!box.has(font)) box.set(font, pixels(String.fromCodePoint(0x10fffd), font));
    return pixels(character, font) === box.get(font);
  };
  if (probe) return probe.map(character => isTofu(character, "48px sans-serif"));
  const found = [];
  const walker = document.createTreeWalker(document.documentElement, NodeFilter.SHOW_TEXT);
  for (let node = walker.nextNode(); node; node = walker.nextNode()) {
    const parent = node.parentElement;
    if (!parent || parent.closest("head, style, script, title, desc, template, noscript")) continue;
    const style = getComputedStyle(parent);
    const font = `${style.fontStyle} ${style.fontWeight} 48px ${style.fontFamily || "serif"}`;
    for (const character of node.data) {
      if (/[\\s\\p{Cf}\\p{M}]/u.test(character) || !isTofu(character, font)) continue;
      const code = "U+" + character.codePointAt(0).toString(16).toUpperCase();
      found.push(`${character} ${code} in <${parent.localName} class="${parent.getAttribute("class") || ""}">`);
    }
  }
  return found;
}"""

#: The rendered text's characters that are drawn as emoji by default (Unicode's Emoji_Presentation): they need a
#: colour-emoji font, which many servers and wallets lack.
FIND_EMOJI = """() => {
  const found = [];
  const walker = document.createTreeWalker(document.documentElement, NodeFilter.SHOW_TEXT);
  for (let node = walker.nextNode(); node; node = walker.nextNode()) {
    const parent = node.parentElement;
    if (!parent || parent.closest("head, style, script, title, desc, template, noscript")) continue;
    found.push(...(node.data.match(/\\p{Emoji_Presentation}/gu) || []));
  }
  return found;
}"""


@pytest.fixture(scope="module")
def driver() -> Iterator[Playwright]:
    """Python's playwright, which drives Debian's Chromium (one per module: it cannot run twice at once)."""
    with chromium() as playwright:
        yield playwright


@pytest.fixture(scope="module")
def browser(driver: Playwright) -> Iterator[Browser]:
    """Debian's Chromium, headless, with the machine's fonts."""
    launched = launch(driver)
    yield launched
    launched.close()


@pytest.fixture(scope="module")
def fontless_browser(driver: Playwright, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Browser]:
    """Chromium that sees the DejaVu fonts alone (``fonts-dejavu-core``), as a server or a wallet does that has no
    colour-emoji font: its fontconfig file names that one folder, whatever else the machine has installed, and
    keeps the system's rules (``sans-serif`` is DejaVu Sans)."""
    if not any(DEJAVU.glob("DejaVuSans*.ttf")):
        tool_missing(f"no DejaVu fonts in {DEJAVU}: apt-get install fonts-dejavu-core")
    folder = tmp_path_factory.mktemp("fontconfig")
    config = folder / "fonts.conf"
    config.write_text(
        '<?xml version="1.0"?>\n<!DOCTYPE fontconfig SYSTEM "urn:fontconfig:fonts.dtd">\n'
        f"<fontconfig><dir>{DEJAVU}</dir><cachedir>{folder / 'cache'}</cachedir>"
        '<include ignore_missing="yes">/etc/fonts/conf.d</include></fontconfig>\n'
    )
    environment: dict[str, str | float | bool] = {**os.environ, "FONTCONFIG_FILE": str(config)}
    launched = launch(driver, env=environment)
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

    ada: str  # three kudos, in the directory as @ada.page who allows her name to be shown and is listed
    grace: str  # one kudos, in the directory as @grace.page who does not
    tampered: str  # one kudos whose stored text no longer matches its hash on chain
    many: str  # PAGE_SIZE + 2 kudos


def _batch(service: Service, items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    batch = [item | {"idempotency_key": os.urandom(8).hex()} for item in items]
    response = service.post_batch(batch)
    assert response.status_code == 202, response.text
    accepted: list[dict[str, Any]] = response.json()
    return [service.wait_confirmed(a["id"]) for a in accepted]


def _add_person(
    service: Service, handle: str, name: str, wallet: str | None, *, show_name: bool, listed: bool = False
) -> None:
    body = {
        "handle": handle,
        "external_id": f"hr-{handle}",
        "display_name": name,
        "show_name": show_name,
        "listed": listed,
    }
    if wallet is not None:
        body["wallet_address"] = wallet
    response = service.client.post("/v1/recipients", json=body, headers=service.auth("admin"))
    assert response.status_code == 201, response.text


@pytest.fixture(scope="module")
def people(service: Service) -> People:
    ada, grace, tampered, many = (new_address() for _ in range(4))
    _add_person(service, "ada.page", "Ada Lovelace", ada, show_name=True, listed=True)  # found by @ada.page
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
    assert cards.locator("h2").all_inner_texts() == ["Loyal Customer", "Above and Beyond", "Mentor"]
    # each kind's emoji drawn as its icon, in vector paths
    assert [c.locator("h2 svg.icon").get_attribute("data-icon") for c in cards.all()] == ["medal", "rocket", "sprout"]
    assert cards.locator("h2 svg.icon path").count() >= 3
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
    page.screenshot(path=str(DOCS / "wallet.png"), full_page=True)  # the README's picture

    metadata = httpx2.get(page.url.split("/wallet/")[0] + str(links[0]))
    assert metadata.json()["message"] == "Ten years with us!"


def test_every_page_names_the_chain_and_contract(page: Page, people: People, service: Service):
    """The header names the chain; its id and the contract are lower on every page (in the footer, or in the
    wallet's "About this wallet"), not in the first lines a phone shows."""
    chain_id, contract = chain_text(service)
    for path in ("/", f"/wallet/{people.ada}", f"/wallet/{new_address()}", "/wallet/0x1234", "/lookup?q=@nobody"):
        page.goto(path)
        network = page.locator("#network").inner_text()
        assert "Embedded chain" in network, path
        assert contract not in network, path
        facts = page.locator("#chain-facts").inner_text()
        assert chain_id in facts, path
        assert contract in facts, path
        assert page.locator("#chain-facts").count() == 1, path


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
    alert = page.get_by_role("alert").inner_text()
    assert f"\u2068“{address}”\u2069 is not a valid wallet address" in alert  # the address isolated
    assert page.get_by_role("link", name="Look up a wallet").count() == 1
    if address == "0x1234":
        screenshot(page, "wallet-invalid.png")


def test_the_api_keeps_its_json_errors(base_url: str):
    response = httpx2.get(f"{base_url}/v1/wallets/0x1234")
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


def test_badges_and_pages_draw_no_missing_glyph_box_without_an_emoji_font(
    fontless_browser: Browser, base_url: str, people: People, service: Service
):
    """The badge of every kind (the starter kinds and one whose emoji no icon is mapped to) and the pages, in a
    Chromium without a colour-emoji font: none of their characters falls back to the missing-glyph box, and none is
    an emoji at all."""
    created = service.client.post(
        "/v1/kinds",
        json={"slug": "good-echo", "name": "Good Echo", "emoji": "🦜", "color": "#fde047"},
        headers=service.auth("admin"),
    )
    assert created.status_code == 201, created.text
    paths = []
    for kind in service.client.get("/v1/kinds").json():
        award = service.post_award(award_body(kind=kind["slug"], message=f"Thanks, from the {kind['slug']} test."))
        assert award.status_code == 202, award.text
        paths.append(f"/v1/awards/{award.json()['id']}/image.svg")  # drawn before its token exists
    paths += ["/", f"/wallet/{people.ada}", f"/wallet/{people.tampered}", f"/wallet/{new_address()}", "/wallet/0x1"]

    context = fontless_browser.new_context(base_url=base_url, viewport={"width": 1280, "height": 900})
    page = context.new_page()
    try:
        page.goto("/")
        assert page.evaluate(FIND_TOFU, ["🏅", "A"]) == [True, False]  # an emoji is a box in this browser
        boxes, emoji = {}, {}
        for path in paths:
            response = page.goto(path)
            assert response is not None
            assert response.status == (400 if path == "/wallet/0x1" else 200), path
            boxes[path] = page.evaluate(FIND_TOFU, None)
            emoji[path] = page.evaluate(FIND_EMOJI)
            if path == f"/wallet/{people.ada}":
                page.wait_for_load_state("load")
                screenshot(page, "wallet-without-emoji-font.png")
            elif path.endswith(".svg") and "Good Echo" in page.content():
                ARTIFACTS.mkdir(exist_ok=True)  # a full-page screenshot of an SVG document never ends
                page.screenshot(path=str(ARTIFACTS / "badge-without-emoji-font.png"), clip=BADGE_BOX)
    finally:
        context.close()
    assert {path: found for path, found in boxes.items() if found} == {}
    assert {path: found for path, found in emoji.items() if found} == {}


#: The directory name of the wallet that holds every script: Arabic, shown on its page.
MATRIX_NAME = "فاطمة الزهراء"


@dataclass
class Matrix:
    """A wallet holding a kudos of every text of ``TEXTS``, one more, and one revoked."""

    address: str
    revoked: int  # the token id of the kudos revoked from it (awarded by mistake)
    long: int  # the token id of the kudos with the long message
    strings: list[str]  # every piece of people's text its page shows


@pytest.fixture(scope="module")
def matrix(service: Service) -> Matrix:
    require_fonts()
    address = new_address()
    _add_person(service, "matrix.page", MATRIX_NAME, address, show_name=True)
    for text in TEXTS:
        kind = {"slug": f"matrix-{text.name}", "name": text.kind_name, "emoji": "🤝", "color": "#0d9488"}
        created = service.client.post("/v1/kinds", json=kind, headers=service.auth("admin"))
        assert created.status_code == 201, created.text
    awards = _batch(
        service,
        [
            award_body(recipient=address, kind=f"matrix-{t.name}", message=t.message, awarded_by=t.awarded_by)
            for t in TEXTS
        ]
        + [
            award_body(recipient=address, kind="mentor", message="Ten years with us!", awarded_by="Acme Sales"),
            award_body(recipient=address, message="<script>alert('gone')</script> Not for you.", awarded_by="Typo"),
        ],
    )
    service.wait_wallet(address, len(TEXTS) + 2)
    revoked = awards[-1]["token_id"]
    response = service.client.post(
        f"/v1/tokens/{revoked}/revoke", json={"reason": "mistake"}, headers=service.auth("revoke")
    )
    assert response.status_code == 202, response.text
    done = service.client.get(
        f"/v1/operations/{response.json()['id']}", params={"wait": 30}, headers=service.auth("revoke")
    )
    assert done.json()["status"] == "confirmed", done.text
    service.wait_wallet(address, len(TEXTS) + 1)
    strings = [MATRIX_NAME, *(s for t in TEXTS for s in (t.kind_name, t.message, t.awarded_by))]
    return Matrix(address=address, revoked=revoked, long=awards[0]["token_id"], strings=strings)


#: For each string, the direction attribute of the element nearest the text that holds it whole (the text node's
#: element, or the nearest holding it across inline children), and its computed direction.
DIRECTIONS = """strings => strings.map(text => {
  const holders = [...document.body.querySelectorAll("*")].filter(e => e.textContent.includes(text));
  const holder = holders.find(e => ![...e.children].some(c => c.textContent.includes(text)));
  if (!holder) return { text, found: false };
  const marked = holder.closest("[dir]");
  const direction = getComputedStyle(holder).direction;
  return { text, found: true, dir: marked && marked.getAttribute("dir"), direction };
})"""


@pytest.fixture(scope="module")
def phone_page(browser: Browser, base_url: str) -> Iterator[Page]:
    """A page the size of a phone's (375 by 812 CSS pixels), reused by the tests of this module."""
    context = browser.new_context(base_url=base_url, viewport=PHONE, device_scale_factor=2, is_mobile=True)
    context.set_default_timeout(10_000)
    yield context.new_page()
    context.close()


@pytest.fixture(scope="module")
def desktop_page(browser: Browser, base_url: str) -> Iterator[Page]:
    """A desktop page (1280 by 900), reused by the tests of this module."""
    context = browser.new_context(base_url=base_url, viewport=DESKTOP)
    context.set_default_timeout(10_000)
    yield context.new_page()
    context.close()


def _box(page: Page, selector: str) -> FloatRect:
    box = page.locator(selector).first.bounding_box()
    assert box is not None, selector
    return box


@pytest.mark.parametrize("size", ["phone", "desktop"])
def test_every_script_fits_the_wallet_page_and_keeps_its_direction(
    size: str, phone_page: Page, desktop_page: Page, matrix: Matrix
):
    page = phone_page if size == "phone" else desktop_page
    response = page.goto(f"/wallet/{matrix.address}")
    assert response is not None
    assert response.status == 200
    widths = page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
    assert widths[0] <= widths[1], f"the page scrolls sideways: {widths}"
    found = page.evaluate(DIRECTIONS, matrix.strings)
    assert [f["text"][:20] for f in found if not f["found"]] == []
    assert {f["text"][:30]: f["dir"] for f in found if f["dir"] != "auto"} == {}
    directions = {f["text"]: f["direction"] for f in found}
    for text in TEXTS:  # dir="auto" takes the direction of the first strong letter
        expected = "rtl" if text.name in ("arabic", "hebrew") else "ltr"
        assert directions[text.message] == expected, text.name
    assert directions[MATRIX_NAME] == "rtl"
    assert page.locator("h1").inner_text() == f"Kudos of {MATRIX_NAME}"
    height = page.evaluate("document.documentElement.scrollHeight")
    print(f"wallet page of {len(TEXTS) + 1} kudos and 1 revoked at {size} width: {height} px tall")
    screenshot(page, f"wallet-scripts-{size}.png")


def test_a_phone_shows_the_person_and_their_kudos_before_any_hex(phone_page: Page, matrix: Matrix, service: Service):
    page = phone_page
    page.goto(f"/wallet/{matrix.address}")
    chain_id, contract = chain_text(service)
    screen = PHONE["height"]
    assert _box(page, "h1")["y"] < screen
    first_card = _box(page, "article.card")
    assert first_card["y"] < screen / 2  # the first kudos starts in the first half of the first screen
    first_screen = page.evaluate(
        """height => [...document.body.querySelectorAll("*")]
          .filter(e => e.children.length === 0 && e.getBoundingClientRect().top < height)
          .map(e => e.textContent).join(" ")""",
        screen,
    )
    assert contract not in first_screen
    assert matrix.address not in first_screen
    assert f"chain id {chain_id}" not in first_screen
    # the address, the chain and the contract are in "About this wallet", after the kudos and the revoked ones
    about = page.get_by_role("region", name="About this wallet")
    assert about.get_by_role("heading").inner_text() == "About this wallet"
    text = about.inner_text()
    assert matrix.address in text.replace("\n", "")
    assert contract in text.replace("\n", "")
    assert chain_id in text
    assert _box(page, "#about")["y"] > _box(page, "#revoked")["y"] > _box(page, "ul.cards")["y"]
    # the address is one tap to select whole, and breaks only between its groups of four
    address = page.locator("#address")
    assert address.inner_text() == matrix.address
    assert address.evaluate("e => getComputedStyle(e).userSelect") == "all"
    groups = address.evaluate(
        "e => [...e.querySelectorAll('span')].map(s => [s.textContent, s.getClientRects().length])"
    )
    assert "".join(g for g, _ in groups) == matrix.address
    assert all(len(g) == 4 for g, _ in groups[1:])
    assert all(lines == 1 for _, lines in groups)  # no group broken across lines
    assert address.evaluate("e => e.getClientRects().length") > 1  # and it does wrap at 375 px
    assert _box(page, "#address")["x"] + _box(page, "#address")["width"] <= PHONE["width"]
    # every link and control in the cards and the revoked list is a tap target of 44 by 44 or more
    targets = page.locator("article.card a, article.card summary, #revoked a")
    assert targets.count() >= len(TEXTS) + 2
    small = [
        (t.inner_text(), b["width"], b["height"])
        for t in targets.all()
        if (b := t.bounding_box()) is not None and (b["width"] < 44 or b["height"] < 44)
    ]
    assert small == []


def test_a_long_message_is_clamped_and_cards_keep_their_own_heights(desktop_page: Page, matrix: Matrix):
    page = desktop_page
    page.goto(f"/wallet/{matrix.address}")
    card = page.locator(f"article.card[data-token-id='{matrix.long}']")
    message = card.locator(".message")
    line = message.evaluate("e => parseFloat(getComputedStyle(e).lineHeight)")
    closed = message.bounding_box()
    assert closed is not None
    assert closed["height"] <= 5 * line + 1  # five lines shown
    assert message.evaluate("e => e.scrollHeight > e.clientHeight")  # and more to read
    summary = card.locator("details.more summary")
    shown = "e => [...e.querySelectorAll('span')].filter(s => s.checkVisibility()).map(s => s.textContent).join('')"
    assert summary.evaluate(shown) == f"Read the whole message of kudos #{matrix.long}"
    assert page.locator("details.more").count() == 1  # only the long message has one
    # no card is stretched to its row's height: each ends where its content ends
    stretched = page.evaluate(
        """() => [...document.querySelectorAll("article.card")].map(card => {
          const style = getComputedStyle(card);
          const padding = parseFloat(style.paddingBottom) + parseFloat(style.borderBottomWidth);
          return card.getBoundingClientRect().bottom - card.lastElementChild.getBoundingClientRect().bottom - padding;
        }).filter(gap => gap > 1)"""
    )
    assert stretched == []
    summary.click()
    opened = message.bounding_box()
    assert opened is not None
    assert opened["height"] > closed["height"] + 2 * line
    assert message.evaluate("e => e.scrollHeight <= e.clientHeight")  # all of it shows
    assert summary.evaluate(shown) == f"Show less of kudos #{matrix.long}"
    summary.click()
    assert summary.evaluate(shown) == f"Read the whole message of kudos #{matrix.long}"
    # the keyboard reaches it in reading order (after the message, before the card's link), with the focus ring
    page.goto(f"/wallet/{matrix.address}")
    order = []
    for _ in range(40):
        page.keyboard.press("Tab")
        order.append(page.evaluate("document.activeElement.localName"))
        if order[-1] == "summary":
            break
    assert order[:2] == ["a", "a"]  # the skip link and the brand first, as before
    assert order[-1] == "summary"
    assert summary.evaluate("e => e === document.activeElement")
    assert summary.evaluate("e => getComputedStyle(e).outlineStyle") == "solid"
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.closest('article').dataset.tokenId") == str(matrix.long)
    assert page.evaluate("document.activeElement.textContent").startswith("Metadata (JSON)")


def test_a_revoked_kudos_is_listed_with_its_reason_and_date_and_its_badge_reads_in_a_browser(
    desktop_page: Page, matrix: Matrix, base_url: str
):
    page = desktop_page
    page.goto(f"/wallet/{matrix.address}")
    held = len(TEXTS) + 1
    assert page.locator("#total").inner_text() == f"{held} kudos"
    assert page.locator("#revoked-total").inner_text() == f"({held + 1} awarded, 1 revoked)"
    assert page.locator("article.card").count() == held
    assert page.locator(f"article.card[data-token-id='{matrix.revoked}']").count() == 0
    revoked = page.get_by_role("region", name="Revoked kudos")
    items = revoked.locator("li")
    assert items.count() == 1
    assert items.get_attribute("data-token-id") == str(matrix.revoked)
    today = datetime.now(UTC)
    text = items.inner_text()
    assert f"kudos #{matrix.revoked}" in text
    assert "awarded by mistake" in text
    assert f"{today:%d %b %Y}".lstrip("0") in text
    assert items.locator("time").get_attribute("datetime", timeout=1000)
    assert "Not for you" not in page.content()  # a revoked kudos's words are no longer shown
    assert "1 kudos awarded to this wallet was revoked" in revoked.inner_text()

    # its badge and its metadata, opened in the browser, are a page a person can read
    revoked.get_by_role("link", name=f"Details of revoked kudos #{matrix.revoked}").click()
    page.wait_for_url(f"**/v1/tokens/{matrix.revoked}")
    for path in (f"/v1/tokens/{matrix.revoked}", f"/v1/tokens/{matrix.revoked}/image.svg"):
        response = page.goto(path)
        assert response is not None
        assert response.status == 410
        assert response.headers["content-type"].startswith("text/html")
        assert "accept" in response.headers["vary"].lower()
        assert page.locator("h1").inner_text() == f"Kudos #{matrix.revoked} was revoked"
        alert = page.get_by_role("alert").inner_text()
        assert "awarded by mistake" in alert
        assert "Team Player" in alert
    screenshot(page, "revoked-page.png")
    # an API client, and an <img>, get the JSON 410
    for accept in ("application/json", "*/*", "image/svg+xml,image/*;q=0.8"):
        api = httpx2.get(f"{base_url}/v1/tokens/{matrix.revoked}/image.svg", headers={"Accept": accept})
        assert api.status_code == 410
        assert api.json()["error"]["code"] == "token_revoked"
        assert "accept" in api.headers["vary"].lower()


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_axe_finds_no_violation_on_any_page_at_either_width(
    scheme: str, phone_page: Page, desktop_page: Page, people: People, matrix: Matrix
):
    """axe-core's WCAG 2.0, 2.1 and 2.2 rules (A and AA, colour contrast among them) on every page, on a phone
    and a desktop, light and dark; in dark, the page is dark."""
    paths = (
        "/",
        "/lookup?q=@nobody.here",
        f"/wallet/{matrix.address}",
        f"/wallet/{people.tampered}",
        f"/wallet/{new_address()}",
        "/wallet/0x1234",
        f"/v1/tokens/{matrix.revoked}",
    )
    found: dict[str, list[str]] = {}
    for name, page in (("phone", phone_page), ("desktop", desktop_page)):
        page.emulate_media(color_scheme=scheme)  # type: ignore[arg-type]
        try:
            for path in paths:
                response = page.goto(path)
                assert response is not None
                background = page.evaluate("getComputedStyle(document.body).backgroundColor")
                assert background == ("rgb(3, 7, 18)" if scheme == "dark" else "rgb(243, 244, 246)"), path
                if path == f"/wallet/{matrix.address}":
                    page.locator("details.more summary").click()  # the opened message too
                if violations := axe_violations(page):
                    found[f"{name} {path}"] = violations
            if scheme == "dark":
                page.goto(f"/wallet/{matrix.address}")
                screenshot(page, f"wallet-dark-{name}.png")
        finally:
            page.emulate_media(color_scheme="light")
    assert found == {}
