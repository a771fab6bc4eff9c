"""Laying out people's text where no browser does it for us: the badge SVG, which is drawn line by line.

Widths are estimated in ems, per grapheme (what a reader sees as one character: a letter with its accents, an emoji
with its skin tone, a flag), never per code point, and text is cut only between graphemes:

- printable ASCII by the advance widths of DejaVu Sans, the widest of the common sans-serif fonts (and Debian's
  default), so a line measured here is no narrower in Arial, Helvetica, Noto Sans or Roboto;
- letters with accents by their base letter; East Asian wide and fullwidth characters (Chinese, Japanese, Korean:
  ``unicodedata.east_asian_width`` W or F) as 1 em, which their fonts draw them at; emoji as 1.25 em;
- Hebrew, Arabic, Greek and Cyrillic by their average in DejaVu Sans rounded up, and anything else as 0.7 em.

A viewer's font may still be wider than the estimate: the badge gives every line near its limit an SVG
``textLength`` (see :mod:`kudos_service.badge`), so the line is drawn at the measured width whatever the font.

    >>> round(display_width("Kudos"), 2), display_width("ありがとう"), display_width("e\\u0301")
    (3.06, 5.0, 0.615)
    >>> wrap("Thank you for the patient code reviews.", 10)
    ['Thank you for the', 'patient code', 'reviews.']
    >>> wrap("いつも助けてくれて本当にありがとう。", 8)
    ['いつも助けてくれ', 'て本当にありがと', 'う。']
    >>> shorten("Grace Brewster Murray Hopper", 8)
    'Grace Brewst…'
    >>> base_direction("فاطمة الزهراء"), base_direction("#3 שלום"), base_direction("123")
    ('rtl', 'rtl', 'ltr')
"""

from __future__ import annotations

import unicodedata
from functools import lru_cache

import regex

__all__ = ["ELLIPSIS", "base_direction", "display_width", "graphemes", "shorten", "wrap"]

#: What a shortened text ends with.
ELLIPSIS = "…"

_GRAPHEME = regex.compile(r"\X")
#: A grapheme drawn as an emoji: one of emoji presentation, a sequence with the emoji variation selector or a zero
#: width joiner, or a flag (a pair of regional indicators).
_EMOJI = regex.compile(r"\p{Emoji_Presentation}|\uFE0F|\u200D|[\U0001F1E6-\U0001F1FF]")

#: The advance widths of DejaVu Sans (regular, thousandths of an em) of the printable ASCII characters, from the
#: space (U+0020) to the tilde (U+007E).
_ASCII = (
    318, 401, 460, 838, 636, 950, 780, 275, 390, 390, 500, 838, 318, 361, 318, 337,  # space to /
    636, 636, 636, 636, 636, 636, 636, 636, 636, 636, 337, 337, 838, 838, 838, 531,  # 0 to ?
    1000, 684, 686, 698, 770, 632, 575, 775, 752, 295, 295, 656, 557, 863, 748, 787,  # @ to O
    603, 787, 695, 635, 611, 732, 684, 989, 685, 611, 685, 390, 337, 390, 838, 500,  # P to _
    500, 613, 635, 550, 635, 615, 352, 635, 634, 278, 278, 579, 278, 974, 634, 612,  # ` to o
    635, 635, 411, 521, 392, 634, 592, 818, 592, 592, 525, 636, 337, 636, 838,  # p to ~
)  # fmt: skip

#: Average widths (em) of the letters of some scripts in DejaVu Sans, rounded up: (first, last code point, width).
_SCRIPTS = (
    (0x0370, 0x03FF, 0.62),  # Greek
    (0x0400, 0x052F, 0.66),  # Cyrillic
    (0x0590, 0x05FF, 0.58),  # Hebrew
    (0x0600, 0x08FF, 0.5),  # Arabic, Syriac, Thaana, Arabic Supplement and Extended
    (0xFB1D, 0xFB4F, 0.58),  # Hebrew presentation forms
    (0xFB50, 0xFDFF, 0.5),  # Arabic presentation forms A
    (0xFE70, 0xFEFF, 0.5),  # Arabic presentation forms B
)
_OTHER = 0.7
_WIDE = 1.0
_EMOJI_WIDTH = 1.25
#: General categories drawn with no width of their own: marks, format characters (joiners, bidi controls), controls.
_ZERO_WIDTH = frozenset({"Mn", "Me", "Cf", "Cc", "Zl", "Zp"})
#: Punctuation that may not start a line (closing) or end one (opening), in CJK text without spaces.
_CLOSING = frozenset({"Pe", "Pf", "Po"})
_OPENING = frozenset({"Ps", "Pi"})


def graphemes(text: str) -> list[str]:
    """``text`` as Unicode extended grapheme clusters (UAX #29), what a reader counts as characters.

    >>> graphemes("e\\u0301👍🏽🇯🇵") == ["e\\u0301", "👍🏽", "🇯🇵"]
    True
    """
    return list(_GRAPHEME.findall(text))


def _script_width(character: str) -> float:
    """The width of a character that is neither ASCII, wide nor an emoji: its base letter's, or its script's."""
    base = unicodedata.normalize("NFD", character)[0]
    if " " <= base <= "~":
        return _ASCII[ord(base) - 0x20] / 1000
    code = ord(character)
    return next((width for low, high, width in _SCRIPTS if low <= code <= high), _OTHER)


@lru_cache(maxsize=4096)
def _grapheme_width(grapheme: str) -> float:
    first = grapheme[0]
    if " " <= first <= "~" and len(grapheme) == 1:
        width = _ASCII[ord(first) - 0x20] / 1000
    elif _EMOJI.search(grapheme):
        width = _EMOJI_WIDTH
    elif unicodedata.east_asian_width(first) in ("W", "F"):
        width = _WIDE
    elif unicodedata.category(first) in _ZERO_WIDTH:
        width = 0.0
    else:
        width = _script_width(first)
    return width


def display_width(text: str) -> float:
    """The estimated width of ``text`` on one line, in ems (see the module's documentation)."""
    return sum(_grapheme_width(g) for g in _GRAPHEME.findall(text))


def _is_wide(grapheme: str) -> bool:
    return unicodedata.east_asian_width(grapheme[0]) in ("W", "F")


def _units(paragraph: str) -> list[tuple[str, str]]:
    """``paragraph`` as the pieces a line may break between, each ``(body, spaces after it)``: words of
    alphabetic scripts, and each wide character alone (Chinese and Japanese break between any two), with closing
    punctuation kept on the line before and opening punctuation on the line after."""
    units: list[list[str]] = []  # [body, spaces]
    previous = ""
    for grapheme in _GRAPHEME.findall(paragraph):
        if grapheme.isspace():
            if units:
                units[-1][1] += grapheme
            continue
        category = unicodedata.category(grapheme[0])
        breaks = not units or bool(units[-1][1])
        if not breaks and (_is_wide(grapheme) or _is_wide(previous)):
            breaks = category not in _CLOSING and unicodedata.category(previous[0]) not in _OPENING
        if breaks:
            units.append([grapheme, ""])
        else:
            units[-1][0] += grapheme
        previous = grapheme
    return [(body, spaces) for body, spaces in units]


def _fitting_prefix(text: str, width: float) -> tuple[str, str]:
    """The longest run of whole graphemes from the start of ``text`` that is at most ``width`` wide (at least one
    grapheme, so that a line always moves on), and the rest."""
    parts = _GRAPHEME.findall(text)
    used, count = 0.0, 0
    for grapheme in parts:
        used += _grapheme_width(grapheme)
        if used > width and count:
            break
        count += 1
    return "".join(parts[:count]), "".join(parts[count:])


def wrap(text: str, width: float) -> list[str]:
    """``text`` in lines at most ``width`` ems wide: broken between words (between any two wide characters in
    Chinese and Japanese), a word wider than a line broken between graphemes, each line of ``text`` (a newline) a
    paragraph of its own, blank ones left out."""
    lines: list[str] = []
    for paragraph in text.splitlines():
        line, used, spaces = "", 0.0, ""
        for body, after in _units(paragraph.strip()):
            body_width = display_width(body)
            if line and used + display_width(spaces) + body_width > width:
                lines.append(line)
                line, used = "", 0.0
            elif line:
                line += spaces
                used += display_width(spaces)
            rest = body
            while used + body_width > width:  # a word wider than the line: cut it between graphemes
                head, rest = _fitting_prefix(rest, width - used)
                lines.append(line + head)
                line, used, body_width = "", 0.0, display_width(rest)
            line += rest
            used += body_width
            spaces = after
        if line:
            lines.append(line)
    return lines


def shorten(text: str, width: float, *, more: bool = False) -> str:
    """``text`` on one line at most ``width`` ems wide: as it is when it fits, else cut between graphemes and
    ended with an ellipsis (spaces before the ellipsis dropped). With ``more`` (the text goes on elsewhere), it
    ends with an ellipsis in any case.

    >>> shorten("Thank you for", 8, more=True)
    'Thank you for…'
    """
    text = " ".join(text.split())
    if not more and display_width(text) <= width:
        return text
    head, _ = _fitting_prefix(text, max(width - display_width(ELLIPSIS), 0.0))
    return head.rstrip() + ELLIPSIS


def base_direction(text: str) -> str:
    """``"rtl"`` when the first strong character of ``text`` is right-to-left (Hebrew, Arabic...), else ``"ltr"``:
    the Unicode bidirectional algorithm's paragraph direction (rules P2 and P3), as HTML's ``dir="auto"``."""
    for character in text:
        kind = unicodedata.bidirectional(character)
        if kind == "L":
            return "ltr"
        if kind in ("R", "AL"):
            return "rtl"
    return "ltr"
