"""``kudos_service.badge``: the badge SVG draws its kind's icon in vector paths (no emoji as text), escapes every
text, references nothing outside itself and stays small."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

import pytest
from kudos_service.badge import badge_svg, icon_ink
from kudos_service.icons import FALLBACK, icon_for_emoji

SVG = "{http://www.w3.org/2000/svg}"
#: Emoji and pictographs: the blocks a colour-emoji font draws (and a text font lacks).
EMOJI = re.compile("[\u2600-\u27bf\u2b00-\u2bff\U0001f000-\U0001faff\ufe0f\u200d]")


def badge(**overrides: str) -> str:
    fields = {
        "kind_name": "Mentor",
        "emoji": "🌱",
        "color": "#0d9488",
        "message": "Thank you for the patient code reviews.",
        "awarded_by": "Tim",
        "token_label": "#7",
    }
    return badge_svg(**(fields | overrides))


@pytest.mark.parametrize(("emoji", "name"), [("🌱", "sprout"), ("🏅", "medal"), ("⭐", "star"), ("🦜", "award")])
def test_the_kinds_emoji_is_drawn_as_its_icon_in_paths_not_as_text(emoji: str, name: str):
    root = ET.fromstring(badge(emoji=emoji))
    group = root.find(f"{SVG}g[@class='icon']")
    assert group is not None
    assert group.get("data-icon") == name == icon_for_emoji(emoji).name
    assert len(group) == len(icon_for_emoji(emoji).elements)
    assert all(e.tag in {f"{SVG}path", f"{SVG}circle", f"{SVG}rect", f"{SVG}line", f"{SVG}polyline"} for e in group)
    texts = [t.text or "" for t in root.iter(f"{SVG}text")]
    assert texts[0] == "Mentor"
    assert not any(EMOJI.search(text) for text in texts)
    assert emoji not in "".join(root.itertext())


def test_an_unknown_emoji_or_plain_text_gets_the_fallback_icon_and_no_glyph():
    for emoji in ("🦜", "KUDOS", "<b>"):
        svg = badge(emoji=emoji)
        assert f'data-icon="{FALLBACK.name}"' in svg
        assert emoji not in svg


def test_every_text_is_escaped_and_nothing_outside_is_referenced():
    hostile = "<script>alert(1)</script> & <image href='https://evil.example/x.png'/>"
    svg = badge(
        kind_name=hostile,
        emoji="<script>",
        color='#000" onload="alert(1)',
        message=hostile,
        awarded_by=hostile,
        token_label=hostile,
    )
    root = ET.fromstring(svg)  # well-formed
    tags = {element.tag.removeprefix(SVG) for element in root.iter()}
    assert tags <= {
        "svg",
        "title",
        "desc",
        "rect",
        "circle",
        "g",
        "text",
        "tspan",
        "path",
        "line",
        "polyline",
        "ellipse",
    }
    for element in root.iter():
        assert not any(name.startswith("on") or name.endswith("href") for name in element.attrib), element.attrib
        assert not any("://" in value or "url(" in value for value in element.attrib.values()), element.attrib
    assert "<script" not in svg
    assert "<script>alert(1)</script>" in "".join(root.itertext())  # the words, as text


def test_the_badge_stays_small():
    longest = badge(kind_name="K" * 100, message="word " * 400, awarded_by="A" * 100, token_label="#" + "9" * 78)
    assert len(longest.encode()) < 6_000
    assert len(badge().encode()) < 2_500


@pytest.mark.parametrize(
    ("color", "ink"),
    [
        ("#2563eb", "#ffffff"),
        ("#0d9488", "#ffffff"),
        ("#d97706", "#ffffff"),
        ("#fde047", "#1f2937"),
        ("#FFFFFF", "#1f2937"),
        ("not a colour", "#ffffff"),
    ],
)
def test_the_icon_contrasts_with_its_disc(color: str, ink: str):
    assert icon_ink(color) == ink
