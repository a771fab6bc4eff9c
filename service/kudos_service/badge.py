"""The badge picture of a kudos: an SVG of its kind's colour and emoji, its name and its message."""

from __future__ import annotations

import textwrap
from html import escape

__all__ = ["badge_svg"]


def badge_svg(*, kind_name: str, emoji: str, color: str, message: str, awarded_by: str, token_label: str) -> str:
    """A 600 by 600 SVG badge, with every text escaped."""
    lines = textwrap.wrap(message, width=34)[:6]
    if len(textwrap.wrap(message, width=34)) > 6:
        lines[-1] = lines[-1][:31] + "…"
    message_rows = "\n".join(
        f'<text x="300" y="{360 + 30 * i}" font-size="22" fill="#1f2937">{escape(line)}</text>'
        for i, line in enumerate(lines)
    )
    c, sans = escape(color), 'font-family="sans-serif" text-anchor="middle"'
    return "\n".join(
        [
            '<svg xmlns="http://www.w3.org/2000/svg" width="600" height="600" viewBox="0 0 600 600"'
            ' role="img" aria-labelledby="t d">',
            f'<title id="t">{escape(kind_name)} kudos</title>',
            f'<desc id="d">{escape(message)}, from {escape(awarded_by)}</desc>',
            '<rect width="600" height="600" rx="48" fill="#ffffff"/>',
            f'<rect x="12" y="12" width="576" height="576" rx="40" fill="none" stroke="{c}" stroke-width="12"/>',
            f'<circle cx="300" cy="170" r="96" fill="{c}"/>',
            f'<text x="300" y="205" font-size="96" text-anchor="middle">{escape(emoji)}</text>',
            f'<text x="300" y="318" font-size="34" font-weight="700" fill="{c}" {sans}>{escape(kind_name)}</text>',
            f"<g {sans}>{message_rows}</g>",
            f'<text x="300" y="560" font-size="18" fill="#4b5563" {sans}>'
            f"from {escape(awarded_by)} · {escape(token_label)}</text>",
            "</svg>",
            "",
        ]
    )
