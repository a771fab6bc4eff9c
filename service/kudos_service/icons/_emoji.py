"""Which icon stands for which emoji, and which icons are vendored: the hand-written half of the icons.

This module imports nothing, so ``scripts/vendor_icons.py`` reads it (as a file) to learn which icons to copy
from the pinned Lucide package. An emoji is written here without variation selectors (U+FE0E, U+FE0F) and
without skin-tone modifiers; :func:`kudos_service.icons.emoji_key` strips both from a kind's emoji before the
look-up, so ``"❤️"`` and ``"❤"`` find the same heart, and ``"👍🏽"`` the thumbs-up.
"""

from __future__ import annotations

#: The icon of every emoji a kind may carry that has one; any other emoji gets :data:`FALLBACK_ICON`.
EMOJI_ICONS: dict[str, str] = {
    # The starter kinds (migration 0001), the default of a new kind (schemas.KindCreate), the API's example kind.
    "⭐": "star",
    "🤝": "handshake",
    "🚀": "rocket",
    "🌱": "sprout",
    "🎯": "target",
    "💎": "gem",
    "🏅": "medal",
    "🧭": "compass",
    # Prizes and celebrations.
    "🌟": "star",
    "✨": "sparkles",
    "💫": "sparkle",
    "🏆": "trophy",
    "🥇": "medal",
    "🥈": "medal",
    "🥉": "medal",
    "🎖": "award",
    "💯": "badge-check",
    "✅": "circle-check",
    "✔": "circle-check",
    "🎉": "party-popper",
    "🎊": "party-popper",
    "🎈": "balloon",
    "🎁": "gift",
    "👑": "crown",
    # Thanks, care and people.
    "❤": "heart",
    "♥": "heart",
    "💖": "heart",
    "💗": "heart",
    "💕": "heart",
    "💙": "heart",
    "💚": "heart",
    "💛": "heart",
    "💜": "heart",
    "🧡": "heart",
    "🤍": "heart",
    "🖤": "heart",
    "🫶": "hand-heart",
    "🙏": "hands-folded",
    "👏": "hand",
    "🙌": "hand",
    "👋": "hand",
    "✋": "hand",
    "👍": "thumbs-up",
    "💪": "biceps-flexed",
    "🙂": "face-slightly-smiling",
    "😊": "face-slightly-smiling",
    "🤗": "face-slightly-smiling",
    "😀": "face-grinning",
    "😃": "face-grinning",
    "😄": "face-grinning",
    "😁": "face-grinning",
    "👥": "users",
    "💬": "message-circle",
    "📣": "megaphone",
    "📢": "megaphone",
    # Ideas, craft and learning.
    "🔥": "flame",
    "⚡": "zap",
    "💡": "lightbulb",
    "🧠": "brain",
    "🛠": "wrench",
    "🔧": "wrench",
    "🔨": "hammer",
    "🐛": "bug",
    "🐞": "bug",
    "🧩": "puzzle",
    "🎨": "palette",
    "📝": "notebook-pen",
    "✏": "pencil",
    "💻": "laptop",
    "🤖": "bot",
    "🧪": "flask-conical",
    "📚": "library",
    "📖": "book-open",
    "🎓": "graduation-cap",
    "📈": "trending-up",
    "📊": "chart-column",
    # Safety, care of systems, time.
    "🛡": "shield",
    "🔒": "lock",
    "🔑": "key",
    "🚒": "fire-extinguisher",
    "🧯": "fire-extinguisher",
    "⏰": "alarm-clock",
    "⌛": "hourglass",
    "⏳": "hourglass",
    # Journeys, the world and growing things.
    "🏁": "flag",
    "🚩": "flag",
    "🌍": "earth",
    "🌎": "earth",
    "🌏": "earth",
    "🌈": "rainbow",
    "🌳": "tree-deciduous",
    "🌻": "flower",
    "🍀": "clover",
    # Work and breaks.
    "💼": "briefcase",
    "💰": "coins",
    "🪙": "coins",
    "🎤": "mic",
    "☕": "coffee",
}

#: The icon of an emoji that :data:`EMOJI_ICONS` does not know (or of a kind with text in place of an emoji): a
#: rosette, which says "kudos" and nothing more.
FALLBACK_ICON = "award"

#: Icons the pages draw besides those of the kinds: the site's mark, and the empty wallet's seedling.
PAGE_ICONS: tuple[str, ...] = ("award", "sprout")
