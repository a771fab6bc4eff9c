"""``kudos_service.badge`` drawn by a real headless Chromium, with fonts for every script of the matrix
(:data:`tests.utils.browser.TEXTS`: long Latin, a 200-character giver, Japanese, Chinese, Arabic, Hebrew, Latin
mixed with Arabic): every text stays inside the badge's frame, and the footer keeps its token number, at the end a
reader expects, whatever the giver's name and script.

The run also draws the two badges the README shows (``docs/badge-long-name.png``, ``docs/badge-rtl.png``).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from kudos_service.badge import badge_svg

from tests.utils.browser import ARTIFACTS, DOCS, TEXTS, Text, chromium, launch, require_fonts

if TYPE_CHECKING:
    from playwright.sync_api import Page

TOKEN = "#3"
#: The badges the README shows, by the name of their text in the matrix.
README_BADGES = {"long-giver": "badge-long-name.png", "arabic": "badge-rtl.png"}

#: The frame's inner edge (the stroke's inside), and the box of every ``<text>`` and ``<tspan>`` as drawn.
MEASURE = """() => {
  const frame = document.querySelector("rect.frame");
  const number = name => parseFloat(frame.getAttribute(name));
  const half = number("stroke-width") / 2;
  const inner = {
    left: number("x") + half, top: number("y") + half,
    right: number("x") + number("width") - half, bottom: number("y") + number("height") - half,
  };
  const boxes = [...document.querySelectorAll("text, tspan")].map(element => {
    const box = element.getBoundingClientRect();
    return {
      element: element.localName + (element.getAttribute("class") ? "." + element.getAttribute("class") : ""),
      text: element.textContent, left: box.left, top: box.top, right: box.right, bottom: box.bottom,
    };
  });
  return { inner, boxes };
}"""

#: Where the footer's parts are drawn: the boxes of the footer, the giver's name and the token number, and where the
#: "#" and the "3" of the token number start.
FOOTER = """() => {
  const footer = document.querySelector("text.footer");
  const box = element => {
    const b = element.getBoundingClientRect();
    return { left: b.left, right: b.right };
  };
  const label = footer.querySelector(".token").textContent;
  const start = footer.textContent.lastIndexOf(label);
  const x = character => footer.getStartPositionOfChar(start + label.indexOf(character)).x;
  const giver = footer.querySelector(".giver");
  return {
    footer: box(footer), giver: giver ? box(giver) : null, token: box(footer.querySelector(".token")),
    tokenText: label, hashX: x("#"), digitX: x("3"),
  };
}"""


@pytest.fixture(scope="module")
def page(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Page]:
    """One page of Debian's Chromium for the whole module, 600 by 600 like the badge."""
    require_fonts()
    with chromium() as playwright:
        browser = launch(playwright)
        context = browser.new_context(viewport={"width": 600, "height": 600})
        context.set_default_timeout(10_000)
        yield context.new_page()
        browser.close()


def open_badge(page: Page, folder: Path, text: Text) -> str:
    """Draw ``text``'s badge in ``page`` (as its own SVG document, as a wallet opens it); its SVG."""
    svg = badge_svg(
        kind_name=text.kind_name,
        emoji="🤝",
        color="#0d9488",
        message=text.message,
        awarded_by=text.awarded_by,
        token_label=TOKEN,
    )
    path = folder / f"badge-{text.name}.svg"
    path.write_text(svg, encoding="utf-8")
    page.goto(path.as_uri())
    page.wait_for_load_state("load")
    return svg


@pytest.mark.parametrize("text", TEXTS, ids=[t.name for t in TEXTS])
def test_every_text_of_the_badge_is_inside_its_frame(page: Page, text: Text, tmp_path: Path):
    open_badge(page, tmp_path, text)
    measured: dict[str, Any] = page.evaluate(MEASURE)
    inner = measured["inner"]
    assert inner == {"left": 18, "top": 18, "right": 582, "bottom": 582}
    boxes = measured["boxes"]
    assert {b["element"] for b in boxes} >= {"text.kind", "text.footer", "tspan.token"}
    outside = [
        box
        for box in boxes
        if box["right"] > box["left"]  # drawn (an empty line has no box)
        and not (
            inner["left"] <= box["left"]
            and box["right"] <= inner["right"]
            and inner["top"] <= box["top"]
            and box["bottom"] <= inner["bottom"]
        )
    ]
    assert outside == [], f"{text.name}: text outside the frame {inner}"
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"badge-{text.name}.png"), clip={"x": 0, "y": 0, "width": 600, "height": 600})
    if text.name in README_BADGES:
        page.screenshot(path=str(DOCS / README_BADGES[text.name]), clip={"x": 0, "y": 0, "width": 600, "height": 600})


@pytest.mark.parametrize("text", TEXTS, ids=[t.name for t in TEXTS])
def test_the_footer_reads_from_the_giver_then_the_token_number(page: Page, text: Text, tmp_path: Path):
    """The footer, "from <giver> · #3", is a left-to-right sentence: "from" first, then the name (which reads in its own
    direction inside its isolate), then "#3" at the right end, drawn "#" then "3" (not "3#"), whatever the script
    of the name and however long it is."""
    svg = open_badge(page, tmp_path, text)
    footer: dict[str, Any] = page.evaluate(FOOTER)
    assert footer["tokenText"] == f"\u2068{TOKEN}\u2069"
    giver, token = footer["giver"], footer["token"]
    assert giver is not None
    assert footer["footer"]["left"] < giver["left"]  # "from " before the name
    assert giver["right"] <= token["left"] + 0.5  # the number after it
    assert token["right"] == pytest.approx(footer["footer"]["right"], abs=0.5)  # at the end
    assert token["left"] - 0.5 <= footer["hashX"] < footer["digitX"] <= token["right"]  # "#3", not "3#"
    if text.awarded_by == text.awarded_by[:40]:
        assert text.awarded_by in svg  # a short name whole
    else:
        assert "…" in svg.split('class="giver"')[1].split("</tspan>")[0]  # a long one shortened
