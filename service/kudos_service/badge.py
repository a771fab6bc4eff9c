"""The badge picture of a kudos: an SVG of its kind's colour and icon, its name and its message.

The kind's emoji is drawn as its vector icon (:mod:`kudos_service.icons`), never as text: a badge is shown by
wallets, marketplaces and servers that may have no colour-emoji font, and would draw an empty box. Every text in
the badge is escaped, and the badge references nothing outside itself.

Every text stays inside the frame, in any script and at any length (:mod:`kudos_service.text_layout` measures
it): the message is wrapped by its width (a smaller size for a long one, then an ellipsis), the kind's name and
the giver's name are shortened with an ellipsis between graphemes, and the footer always keeps the token number.
A line near its limit carries ``textLength`` with ``lengthAdjust="spacingAndGlyphs"``, so a viewer whose font is
wider than the estimate still draws it at the measured width. A right-to-left message or kind is drawn with
``direction="rtl"``, and the giver's name and the token number are each isolated (U+2068 FIRST STRONG ISOLATE to
U+2069 POP DIRECTIONAL ISOLATE): "from فاطمة · #3" keeps its order, not "from 3# · فاطمة".
"""

from __future__ import annotations

import re
from html import escape

from kudos_service.icons import STROKE, icon_for_emoji
from kudos_service.text_layout import base_direction, display_width, shorten, wrap

__all__ = ["badge_svg"]

_HEX_COLOR = re.compile(r"#([0-9a-fA-F]{2})([0-9a-fA-F]{2})([0-9a-fA-F]{2})")
_LIGHT, _DARK = "#ffffff", "#1f2937"

#: The badge's texts stay between these x coordinates (the frame's inner edge is at 18 and 582, and its corners
#: are rounded); the message, centred, keeps a little more room.
_TEXT_WIDTH, _MESSAGE_WIDTH = 500, 480
#: The kind's name: its sizes, largest first.
_KIND_SIZES = (34, 28)
#: The message: (font size, line height, most lines, first baseline), the smaller size for a longer message.
_MESSAGE_LAYOUTS = ((22, 30, 6, 360), (18, 24, 8, 356))
_FOOTER_SIZE = 18
#: Bold text is this much wider than regular (DejaVu Sans Bold against regular, rounded up).
_BOLD = 1.13
#: A line estimated wider than this share of its room is drawn at its estimated width (``textLength``): a viewer's
#: font up to 1 / 0.85 = 17 % wider than the estimate still fits any other line.
_SNUG = 0.85
_FSI, _PDI = "\u2068", "\u2069"
_SANS = 'font-family="sans-serif" text-anchor="middle"'


def _luminance(red: int, green: int, blue: int) -> float:
    """WCAG 2's relative luminance of an sRGB colour."""
    linear = [c / 255 / 12.92 if c <= 10 else ((c / 255 + 0.055) / 1.055) ** 2.4 for c in (red, green, blue)]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def icon_ink(color: str) -> str:
    """The icon's colour on a disc of ``color``: white where it contrasts 3:1 or more (WCAG's least for
    graphics), near-black on lighter colours; white when ``color`` is not ``#rrggbb``.

    >>> icon_ink("#2563eb"), icon_ink("#fde047")
    ('#ffffff', '#1f2937')
    """
    match = _HEX_COLOR.fullmatch(color)
    if match is None:
        return _LIGHT
    background = _luminance(*(int(part, 16) for part in match.groups()))
    return _LIGHT if 1.05 / (background + 0.05) >= 3 else _DARK


def _text(content: str, *, y: int, size: int, width: float, room: int, attributes: str, direction: str = "ltr") -> str:
    """One ``<text>`` line centred on the badge: ``content`` is markup already escaped, ``width`` its estimated
    width in pixels, ``room`` the most it may take."""
    if direction == "rtl":
        attributes += ' direction="rtl"'
    if width > _SNUG * room:
        attributes += f' textLength="{min(width, room):.1f}" lengthAdjust="spacingAndGlyphs"'
    return f'<text x="300" y="{y}" font-size="{size}" {attributes}>{content}</text>'


def _kind_line(kind_name: str, color: str) -> str:
    """The kind's name, at the largest size it fits at, else shortened at the smallest."""
    fits = [size for size in _KIND_SIZES if display_width(kind_name) * _BOLD * size <= _TEXT_WIDTH]
    size = fits[0] if fits else _KIND_SIZES[-1]
    text = kind_name if fits else shorten(kind_name, _TEXT_WIDTH / size / _BOLD)
    return _text(
        escape(text),
        y=318,
        size=size,
        width=display_width(text) * _BOLD * size,
        room=_TEXT_WIDTH,
        attributes=f'class="kind" font-weight="700" fill="{color}" {_SANS}',
        direction=base_direction(text),
    )


def _message_layout(message: str) -> tuple[tuple[int, int, int, int], list[str]]:
    """The message's layout (the largest it fits in) and lines; at the smallest, the last line shown ends with an
    ellipsis when there is more."""
    for layout in _MESSAGE_LAYOUTS:
        lines = wrap(message, _MESSAGE_WIDTH / layout[0])
        if len(lines) <= layout[2]:
            return layout, lines
    size, _, most, _ = layout
    return layout, [*lines[: most - 1], shorten(lines[most - 1], _MESSAGE_WIDTH / size, more=True)]


def _message_lines(message: str) -> str:
    (size, leading, _, first), lines = _message_layout(message)
    rows = "\n".join(
        _text(
            escape(line),
            y=first + leading * i,
            size=size,
            width=display_width(line) * size,
            room=_MESSAGE_WIDTH,
            attributes='fill="#1f2937"',
        )
        for i, line in enumerate(lines)
    )
    direction = ' direction="rtl"' if base_direction(message) == "rtl" else ""
    return f'<g class="message" {_SANS}{direction}>{rows}</g>'


def _footer(awarded_by: str, token_label: str) -> str:
    """``from <giver> · <token>``: the giver's name shortened to leave the token number room, each isolated."""
    room = _TEXT_WIDTH / _FOOTER_SIZE
    prefix, separator = "from ", " · "
    label = shorten(token_label, room / 2)
    giver = shorten(awarded_by, room - display_width(prefix + separator + label))
    token = f'<tspan class="token">{_FSI}{escape(label)}{_PDI}</tspan>'
    if giver:
        content = f'{prefix}<tspan class="giver">{_FSI}{escape(giver)}{_PDI}</tspan>{separator}{token}'
        width = display_width(prefix + giver + separator + label)
    else:
        content, width = token, display_width(label)
    attributes = f'class="footer" fill="#4b5563" {_SANS}'
    return _text(content, y=560, size=_FOOTER_SIZE, width=width * _FOOTER_SIZE, room=_TEXT_WIDTH, attributes=attributes)


def badge_svg(*, kind_name: str, emoji: str, color: str, message: str, awarded_by: str, token_label: str) -> str:
    """A 600 by 600 SVG badge, with every text escaped and fitted inside its frame, and the kind's ``emoji``
    drawn as its icon."""
    c = escape(color)
    icon = icon_for_emoji(emoji)
    return "\n".join(
        [
            '<svg xmlns="http://www.w3.org/2000/svg" width="600" height="600" viewBox="0 0 600 600"'
            ' role="img" aria-labelledby="t d">',
            f'<title id="t">{escape(kind_name)} kudos</title>',
            f'<desc id="d">{escape(message)}, from {escape(awarded_by)}</desc>',
            '<rect width="600" height="600" rx="48" fill="#ffffff"/>',
            f'<rect class="frame" x="12" y="12" width="576" height="576" rx="40" fill="none" stroke="{c}"'
            ' stroke-width="12"/>',
            f'<circle cx="300" cy="170" r="96" fill="{c}"/>',
            # the icon's 24 by 24 drawing, 108 pixels square, centred on the disc
            f'<g class="icon" data-icon="{icon.name}" transform="translate(246 116) scale(4.5)"'
            f' color="{icon_ink(color)}" {STROKE}>{icon.markup}</g>',
            _kind_line(kind_name, c),
            _message_lines(message),
            _footer(awarded_by, token_label),
            "</svg>",
            "",
        ]
    )
