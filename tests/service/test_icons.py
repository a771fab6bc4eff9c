"""``kudos_service.icons``: every emoji a kind has today drawn as a vendored vector icon, the rest as the fallback;
the vendored icons safe to put in a badge, exactly what the pinned Lucide package gives, and credited."""

from __future__ import annotations

import importlib
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from kudos_service.api.openapi import KIND_EXAMPLE
from kudos_service.icons import FALLBACK, ICON_SET, Icon, _emoji, _lucide, emoji_key, icon, icon_for_emoji, inline_svg
from kudos_service.schemas import KindCreate

from scripts.vendor_icons import ALLOWED, PACKAGE, PACKAGE_DIR, locked, read_package, render, wanted_icons
from tests.utils.ci import tool_missing

ROOT = Path(__file__).resolve().parents[2]
SVG = "{http://www.w3.org/2000/svg}"
STARTER_KINDS = importlib.import_module("kudos_service.migrations.versions.0001_initial_schema").STARTER_KINDS


def elements(drawn: Icon) -> list[ET.Element]:
    """The icon's elements, parsed as SVG (well-formed, or this raises)."""
    return list(ET.fromstring(f'<svg xmlns="http://www.w3.org/2000/svg">{drawn.markup}</svg>'))


# ----------------------------------------------------------------------------------------------------------------
# The map from emoji to icon
# ----------------------------------------------------------------------------------------------------------------


def test_every_emoji_a_kind_has_today_has_an_icon_of_its_own():
    today = {kind["slug"]: kind["emoji"] for kind in STARTER_KINDS}
    today["(a new kind's default)"] = KindCreate(slug="x", name="X").emoji
    today["(the API's example)"] = KIND_EXAMPLE["emoji"]
    drawn = {slug: icon_for_emoji(emoji).name for slug, emoji in today.items()}
    assert drawn == {
        "team-player": "handshake",
        "above-and-beyond": "rocket",
        "mentor": "sprout",
        "great-interview": "target",
        "valued-partner": "gem",
        "loyal-customer": "medal",
        "(a new kind's default)": "star",
        "(the API's example)": "compass",
    }


@pytest.mark.parametrize(
    ("emoji", "name"),
    [
        ("❤️", "heart"),  # with VARIATION SELECTOR-16
        ("❤", "heart"),
        ("☕︎", "coffee"),  # with VARIATION SELECTOR-15 (text style)
        ("👍🏽", "thumbs-up"),  # with a skin tone
        (" 🏆 ", "trophy"),
        ("🧑‍🚒", "fire-extinguisher"),  # firefighter: person ZWJ fire engine, known by its last part
        ("❤️‍🩹", "heart"),  # mending heart: heart ZWJ bandage, known by the heart
    ],
)
def test_an_emoji_finds_its_icon_whatever_its_modifiers(emoji: str, name: str):
    assert icon_for_emoji(emoji).name == name


@pytest.mark.parametrize("emoji", ["🦜", "🏳️‍⚧️", "1️⃣", "K", "kudos", "", "   ", None, "\u200d", "🇫🇷"])
def test_anything_else_gets_the_neutral_fallback_never_text(emoji: str | None):
    assert icon_for_emoji(emoji) == FALLBACK
    assert FALLBACK.name == "award"


def test_the_map_is_written_as_it_is_looked_up_and_every_icon_is_vendored():
    for emoji, name in _emoji.EMOJI_ICONS.items():
        assert emoji_key(emoji) == emoji, f"{emoji!r} carries a modifier the look-up strips"
        assert "\u200d" not in emoji
        assert name in _lucide.ICONS, name
    used = {*_emoji.EMOJI_ICONS.values(), _emoji.FALLBACK_ICON, *_emoji.PAGE_ICONS}
    assert used == set(_lucide.ICONS)  # no icon vendored that nothing draws
    assert len(_lucide.ICONS) <= 80  # a few dozen, not the whole set


# ----------------------------------------------------------------------------------------------------------------
# Safe to draw
# ----------------------------------------------------------------------------------------------------------------


def test_every_vendored_icon_is_shapes_and_numbers_only():
    for name in _lucide.ICONS:
        drawn = icon(name)
        parsed = elements(drawn)
        assert parsed, name
        for element in parsed:
            tag = element.tag.removeprefix(SVG)
            assert tag in ALLOWED, (name, tag)
            assert not list(element), (name, tag)  # no children: no <script>, <use>, <image>, <text>
            assert not (element.text or "").strip(), (name, tag)
            for attribute, value in element.attrib.items():
                assert attribute in ALLOWED[tag], (name, tag, attribute)
                assert ALLOWED[tag][attribute].fullmatch(value), (name, tag, attribute, value)


def test_an_inline_icon_is_decorative_svg_in_the_text_colour():
    svg = ET.fromstring(inline_svg(icon("medal"), css_class='x" onload="alert(1)'))
    assert svg.tag == "svg"  # in an HTML page, no namespace is written
    assert svg.get("aria-hidden") == "true"
    assert svg.get("data-icon") == "medal"
    assert svg.get("stroke") == "currentColor"
    assert svg.get("class") == 'x" onload="alert(1)'  # an attribute value, escaped: no onload attribute
    assert svg.get("onload") is None
    assert [e.tag for e in svg] == [e.tag.removeprefix(SVG) for e in elements(icon("medal"))]


# ----------------------------------------------------------------------------------------------------------------
# Vendored from the pinned package, and credited
# ----------------------------------------------------------------------------------------------------------------


def test_the_vendored_icons_are_the_locked_package_version():
    version, integrity = locked()
    assert (PACKAGE, version, integrity) == (_lucide.PACKAGE, _lucide.VERSION, _lucide.INTEGRITY)
    assert version in ICON_SET


def test_the_vendored_icons_are_exactly_what_the_script_makes_of_the_package():
    folder = PACKAGE_DIR / "node_modules" / PACKAGE
    if not (folder / "icon-nodes.json").exists():
        tool_missing(f"{PACKAGE} is not installed: npm ci --prefix scripts/icons")
    expected = render(read_package(folder), wanted_icons())
    assert Path(_lucide.__file__).read_text() == expected, "run `python scripts/vendor_icons.py` and commit it"


def test_the_icons_licence_ships_with_them_and_the_notice_credits_them():
    licence = (_lucide.__doc__ or "").split("these copies carry:", 1)[1]
    lines = [line.strip() for line in licence.splitlines() if line.strip()]
    assert lines[0] == "ISC License"
    assert any("Lucide Icons and Contributors" in line for line in lines)
    notice = (ROOT / "THIRD_PARTY_NOTICES.md").read_text()
    assert f"{PACKAGE} {_lucide.VERSION}" in notice
    missing = [line for line in lines if line not in notice]
    assert missing == [], "THIRD_PARTY_NOTICES.md lacks lines of the vendored licence"
    feather = lines[lines.index("The following Lucide icons are derived from the Feather project:") + 1].split(", ")
    copied = sorted(set(feather) & set(_lucide.ICONS))
    assert f"among the icons copied: {', '.join(copied[:-1])} and {copied[-1]}" in " ".join(notice.split())
