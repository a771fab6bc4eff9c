"""Icons drawn as vector paths, so that a badge or a page shows the same picture everywhere, with no emoji font.

A kind of kudos carries an emoji (``Kind.emoji``); an emoji drawn as text needs a colour-emoji font, which many
servers, headless browsers and wallets lack, and they draw an empty box in its place. The badges and pages draw
the emoji's icon instead: :func:`icon_for_emoji` maps it (see ``_emoji.py``) to one of the Lucide icons vendored
in ``_lucide.py`` by ``scripts/vendor_icons.py``, and an emoji it does not know to :data:`FALLBACK`. The icons
are fixed markup checked against an allow-list when vendored (paths and shapes, numbers, no text, no reference),
so they may go into a badge or a page as they are.

    >>> icon_for_emoji("🏅").name
    'medal'
    >>> icon_for_emoji("❤️").name  # with its variation selector
    'heart'
    >>> icon_for_emoji("👩‍💻").name  # a sequence: the last known part
    'laptop'
    >>> icon_for_emoji("🦜").name  # no icon of its own
    'award'
"""

from __future__ import annotations

from dataclasses import dataclass
from html import escape

from kudos_service.icons._emoji import EMOJI_ICONS, FALLBACK_ICON
from kudos_service.icons._lucide import ICONS, VERSION

__all__ = ["FALLBACK", "ICON_SET", "STROKE", "Icon", "emoji_key", "icon", "icon_for_emoji", "inline_svg"]

#: Where the icons come from, for credits.
ICON_SET = f"Lucide {VERSION} (ISC licence)"

#: The presentation attributes Lucide's icons are drawn with, in ``currentColor``.
STROKE = 'fill="none" stroke="currentColor" stroke-width="2" stroke-linecap="round" stroke-linejoin="round"'

_ZWJ = "\u200d"
#: Code points that change how an emoji looks but not what it is: variation selectors and skin tones.
_MODIFIERS = frozenset({0xFE0E, 0xFE0F, *range(0x1F3FB, 0x1F400)})


@dataclass(frozen=True)
class Icon:
    """A vendored icon: Lucide's ``name`` and the SVG ``elements`` of its 24 by 24 drawing."""

    name: str
    elements: tuple[str, ...]

    @property
    def markup(self) -> str:
        """The elements as one piece of SVG markup, to go inside a group that sets :data:`STROKE`."""
        return "".join(self.elements)


def icon(name: str) -> Icon:
    """The vendored icon ``name``; :class:`KeyError` when it is not vendored."""
    return Icon(name, ICONS[name])


#: The icon of an emoji with none of its own.
FALLBACK = icon(FALLBACK_ICON)


def emoji_key(emoji: str) -> str:
    """``emoji`` without surrounding space, variation selectors and skin-tone modifiers.

    >>> emoji_key(" 👍🏽 ") == "👍"
    True
    """
    return "".join(c for c in emoji.strip() if ord(c) not in _MODIFIERS)


def icon_for_emoji(emoji: str | None) -> Icon:
    """The icon that stands for ``emoji``; :data:`FALLBACK` for an emoji the map does not know, or for none.

    A sequence joined by zero-width joiners that the map does not know as a whole is known by its last part that
    it knows (``👩‍🚒``, a firefighter, by ``🚒``), since the person usually comes first and the thing after."""
    key = emoji_key(emoji or "")
    for candidate in (key, *reversed(key.split(_ZWJ))):
        name = EMOJI_ICONS.get(candidate)
        if name is not None:
            return icon(name)
    return FALLBACK


def inline_svg(drawn: Icon, *, css_class: str = "icon") -> str:
    """``drawn`` as an inline ``<svg>`` for an HTML page: decorative (hidden from assistive technology, whose
    text sits beside it), in the text's colour, 24 CSS pixels square unless a style sizes it."""
    return (
        f'<svg class="{escape(css_class)}" data-icon="{drawn.name}" viewBox="0 0 24 24" width="24" height="24" {STROKE}'
        f' aria-hidden="true" focusable="false">{drawn.markup}</svg>'
    )
