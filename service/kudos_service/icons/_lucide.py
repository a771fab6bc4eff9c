"""Icons of Lucide (lucide.dev), copied from the npm package lucide-static 1.87.0 by
``scripts/vendor_icons.py``: do not edit, run the script.

Each icon is the inside of a 24 by 24 SVG, drawn with strokes of width 2 in ``currentColor`` (round caps
and joins); :mod:`kudos_service.icons` wraps it. The package's licence, which these copies carry:

    ISC License

    Copyright (c) 2026 Lucide Icons and Contributors

    Permission to use, copy, modify, and/or distribute this software for any
    purpose with or without fee is hereby granted, provided that the above
    copyright notice and this permission notice appear in all copies.

    THE SOFTWARE IS PROVIDED "AS IS" AND THE AUTHOR DISCLAIMS ALL WARRANTIES
    WITH REGARD TO THIS SOFTWARE INCLUDING ALL IMPLIED WARRANTIES OF
    MERCHANTABILITY AND FITNESS. IN NO EVENT SHALL THE AUTHOR BE LIABLE FOR
    ANY SPECIAL, DIRECT, INDIRECT, OR CONSEQUENTIAL DAMAGES OR ANY DAMAGES
    WHATSOEVER RESULTING FROM LOSS OF USE, DATA OR PROFITS, WHETHER IN AN
    ACTION OF CONTRACT, NEGLIGENCE OR OTHER TORTIOUS ACTION, ARISING OUT OF
    OR IN CONNECTION WITH THE USE OR PERFORMANCE OF THIS SOFTWARE.

    ---

    The following Lucide icons are derived from the Feather project:

    airplay, alert-circle, alert-octagon, alert-triangle, aperture, arrow-down-circle, arrow-down-left, arrow-down-right, arrow-down, arrow-left-circle, arrow-left, arrow-right-circle, arrow-right, arrow-up-circle, arrow-up-left, arrow-up-right, arrow-up, at-sign, calendar, cast, check, chevron-down, chevron-left, chevron-right, chevron-up, chevrons-down, chevrons-left, chevrons-right, chevrons-up, circle, clipboard, clock, code, columns, command, compass, corner-down-left, corner-down-right, corner-left-down, corner-left-up, corner-right-down, corner-right-up, corner-up-left, corner-up-right, crosshair, database, divide-circle, divide-square, dollar-sign, download, external-link, feather, frown, hash, headphones, help-circle, info, italic, key, layout, life-buoy, link-2, link, loader, lock, log-in, log-out, maximize, meh, minimize, minimize-2, minus-circle, minus-square, minus, monitor, moon, more-horizontal, more-vertical, move, music, navigation-2, navigation, octagon, pause-circle, percent, plus-circle, plus-square, plus, power, radio, rss, search, server, share, shopping-bag, sidebar, smartphone, smile, square, table-2, tablet, target, terminal, trash-2, trash, triangle, tv, type, upload, x-circle, x-octagon, x-square, x, zoom-in, zoom-out

    The MIT License (MIT) (for the icons listed above)

    Copyright (c) 2013-present Cole Bemis

    Permission is hereby granted, free of charge, to any person obtaining a copy
    of this software and associated documentation files (the "Software"), to deal
    in the Software without restriction, including without limitation the rights
    to use, copy, modify, merge, publish, distribute, sublicense, and/or sell
    copies of the Software, and to permit persons to whom the Software is
    furnished to do so, subject to the following conditions:

    The above copyright notice and this permission notice shall be included in all
    copies or substantial portions of the Software.

    THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND, EXPRESS OR
    IMPLIED, INCLUDING BUT NOT LIMITED TO THE WARRANTIES OF MERCHANTABILITY,
    FITNESS FOR A PARTICULAR PURPOSE AND NONINFRINGEMENT. IN NO EVENT SHALL THE
    AUTHORS OR COPYRIGHT HOLDERS BE LIABLE FOR ANY CLAIM, DAMAGES OR OTHER
    LIABILITY, WHETHER IN AN ACTION OF CONTRACT, TORT OR OTHERWISE, ARISING FROM,
    OUT OF OR IN CONNECTION WITH THE SOFTWARE OR THE USE OR OTHER DEALINGS IN THE
    SOFTWARE.
"""

# ruff: noqa: E501

from __future__ import annotations

PACKAGE = "lucide-static"
VERSION = "1.87.0"
INTEGRITY = "sha512-PqBn/aXv1MQLE18HqRO9iBzaH7nehke0Yu9B1Js/PFv0penav2j7LcyHr7lf30ssB1cNjW13OkuYmFfOwYGj+g=="

#: Each icon's SVG elements, by Lucide's name.
ICONS: dict[str, tuple[str, ...]] = {
    "alarm-clock": (
        '<circle cx="12" cy="13" r="8"/>',
        '<path d="M12 9v4l2 2"/>',
        '<path d="M5 3 2 6"/>',
        '<path d="m22 6-3-3"/>',
        '<path d="M6.38 18.7 4 21"/>',
        '<path d="M17.64 18.67 20 21"/>',
    ),
    "award": (
        '<path d="m15.477 12.89 1.515 8.526a.5.5 0 0 1-.81.47l-3.58-2.687a1 1 0 0 0-1.197 0l-3.586 2.686a.5.5 0 0 1-.81-.469l1.514-8.526"/>',
        '<circle cx="12" cy="8" r="6"/>',
    ),
    "badge-check": (
        '<path d="M3.85 8.62a4 4 0 0 1 4.78-4.77 4 4 0 0 1 6.74 0 4 4 0 0 1 4.78 4.78 4 4 0 0 1 0 6.74 4 4 0 0 1-4.77 4.78 4 4 0 0 1-6.75 0 4 4 0 0 1-4.78-4.77 4 4 0 0 1 0-6.76"/>',
        '<path d="m16 9-5.5 5.5L8 12"/>',
    ),
    "balloon": (
        '<path d="M12 16v1a2 2 0 0 0 2 2h1a2 2 0 0 1 2 2v1"/>',
        '<path d="M12 6a2 2 0 0 1 2 2"/>',
        '<path d="M18 8c0 4-3.5 8-6 8s-6-4-6-8a6 6 0 0 1 12 0"/>',
    ),
    "biceps-flexed": (
        '<path d="M12.409 13.017A5 5 0 0 1 22 15c0 3.866-4 7-9 7-4.077 0-8.153-.82-10.371-2.462-.426-.316-.631-.832-.62-1.362C2.118 12.723 2.627 2 10 2a3 3 0 0 1 3 3 2 2 0 0 1-2 2c-1.105 0-1.64-.444-2-1"/>',
        '<path d="M15 14a5 5 0 0 0-7.584 2"/>',
        '<path d="M9.964 6.825C8.019 7.977 9.5 13 8 15"/>',
    ),
    "book-open": (
        '<path d="M12 5v16"/>',
        '<path d="M20.001 19A2 2 0 0 0 22 17V5a2 2 0 0 0-1.999-2L16 3.002A5 5 0 0 0 12 5a5 5 0 0 0-4-2H4a2 2 0 0 0-2 2v12a2 2 0 0 0 1.999 2H8a5 5 0 0 1 4 2 5 5 0 0 1 4-2z"/>',
    ),
    "bot": (
        '<path d="M12 8V4H8"/>',
        '<rect width="16" height="12" x="4" y="8" rx="2"/>',
        '<path d="M2 14h2"/>',
        '<path d="M20 14h2"/>',
        '<path d="M15 13v2"/>',
        '<path d="M9 13v2"/>',
    ),
    "brain": (
        '<path d="M12 18V5"/>',
        '<path d="M15 13a4.17 4.17 0 0 1-3-4 4.17 4.17 0 0 1-3 4"/>',
        '<path d="M17.707 6.294A3 3 0 1 0 12 5a3 3 0 1 0-5.707 1.294"/>',
        '<path d="M17.996 5.125a4 4 0 0 1 2.526 5.77"/>',
        '<path d="M18 18a4 4 0 0 0 2-7.465"/>',
        '<path d="M19.967 17.482a4 4 0 1 1-7.967.517 4 4 0 1 1-7.967-.517"/>',
        '<path d="M6 18a4 4 0 0 1-2-7.465"/>',
        '<path d="M6.004 5.125a4 4 0 0 0-2.526 5.77"/>',
    ),
    "briefcase": (
        '<path d="M16 20V4a2 2 0 0 0-2-2h-4a2 2 0 0 0-2 2v16"/>',
        '<rect width="20" height="14" x="2" y="6" rx="2"/>',
    ),
    "bug": (
        '<path d="M12 20v-9"/>',
        '<path d="M14 7a4 4 0 0 1 4 4v3a6 6 0 0 1-12 0v-3a4 4 0 0 1 4-4z"/>',
        '<path d="M14.12 3.88 16 2"/>',
        '<path d="M21 21a4 4 0 0 0-3.81-4"/>',
        '<path d="M21 5a4 4 0 0 1-3.55 3.97"/>',
        '<path d="M22 13h-4"/>',
        '<path d="M3 21a4 4 0 0 1 3.81-4"/>',
        '<path d="M3 5a4 4 0 0 0 3.55 3.97"/>',
        '<path d="M6 13H2"/>',
        '<path d="m8 2 1.88 1.88"/>',
        '<path d="M9 7.13V6a3 3 0 1 1 6 0v1.13"/>',
    ),
    "chart-column": (
        '<path d="M3 3v16a2 2 0 0 0 2 2h16"/>',
        '<path d="M18 17V9"/>',
        '<path d="M13 17V5"/>',
        '<path d="M8 17v-3"/>',
    ),
    "circle-check": (
        '<circle cx="12" cy="12" r="10"/>',
        '<path d="m16 9-5.5 5.5L8 12"/>',
    ),
    "clover": (
        '<path d="M16.17 7.83 2 22"/>',
        '<path d="M4.02 12a2.827 2.827 0 1 1 3.81-4.17A2.827 2.827 0 1 1 12 4.02a2.827 2.827 0 1 1 4.17 3.81A2.827 2.827 0 1 1 19.98 12a2.827 2.827 0 1 1-3.81 4.17A2.827 2.827 0 1 1 12 19.98a2.827 2.827 0 1 1-4.17-3.81A1 1 0 1 1 4 12"/>',
        '<path d="m7.83 7.83 8.34 8.34"/>',
    ),
    "coffee": (
        '<path d="M10 2v2"/>',
        '<path d="M14 2v2"/>',
        '<path d="M16 8a1 1 0 0 1 1 1v8a4 4 0 0 1-4 4H7a4 4 0 0 1-4-4V9a1 1 0 0 1 1-1h14a4 4 0 1 1 0 8h-1"/>',
        '<path d="M6 2v2"/>',
    ),
    "coins": (
        '<path d="M13.744 17.736a6 6 0 1 1-7.48-7.48"/>',
        '<path d="M15 6h1v4"/>',
        '<path d="m6.134 14.768.866-.5 2 3.464"/>',
        '<circle cx="16" cy="8" r="6"/>',
    ),
    "compass": (
        '<circle cx="12" cy="12" r="10"/>',
        '<path d="m16.24 7.76-1.804 5.411a2 2 0 0 1-1.265 1.265L7.76 16.24l1.804-5.411a2 2 0 0 1 1.265-1.265z"/>',
    ),
    "crown": (
        '<path d="M11.562 3.266a.5.5 0 0 1 .876 0L15.39 8.87a1 1 0 0 0 1.516.294L21.183 5.5a.5.5 0 0 1 .798.519l-2.834 10.246a1 1 0 0 1-.956.734H5.81a1 1 0 0 1-.957-.734L2.02 6.02a.5.5 0 0 1 .798-.519l4.276 3.664a1 1 0 0 0 1.516-.294z"/>',
        '<path d="M5 21h14"/>',
    ),
    "earth": (
        '<path d="M21.54 15H17a2 2 0 0 0-2 2v4.54"/>',
        '<path d="M7 3.34V5a3 3 0 0 0 3 3 2 2 0 0 1 2 2c0 1.1.9 2 2 2a2 2 0 0 0 2-2c0-1.1.9-2 2-2h3.17"/>',
        '<path d="M11 21.95V18a2 2 0 0 0-2-2 2 2 0 0 1-2-2v-1a2 2 0 0 0-2-2H2.05"/>',
        '<circle cx="12" cy="12" r="10"/>',
    ),
    "face-grinning": (
        '<path d="M15 10V9"/>',
        '<path d="M7.084 14.302a5.12 5.12 0 0 0 9.833 0 .24.24 0 0 0-.235-.302H7.32a.24.24 0 0 0-.235.302"/>',
        '<path d="M9 10V9"/>',
        '<circle cx="12" cy="12" r="10"/>',
    ),
    "face-slightly-smiling": (
        '<path d="M15 10V9"/>',
        '<path d="M16.472 15a6 6 0 0 1-8.943 0"/>',
        '<path d="M9 10V9"/>',
        '<circle cx="12" cy="12" r="10"/>',
    ),
    "fire-extinguisher": (
        '<path d="M15 6.5V3a1 1 0 0 0-1-1h-2a1 1 0 0 0-1 1v3.5"/>',
        '<path d="M9 18h8"/>',
        '<path d="M18 3h-3"/>',
        '<path d="M11 3a6 6 0 0 0-6 6v11"/>',
        '<path d="M5 13h4"/>',
        '<path d="M17 10a4 4 0 0 0-8 0v10a2 2 0 0 0 2 2h4a2 2 0 0 0 2-2Z"/>',
    ),
    "flag": (
        '<path d="M4 22V4a1 1 0 0 1 .4-.8A6 6 0 0 1 8 2c3 0 5 2 7.333 2q2 0 3.067-.8A1 1 0 0 1 20 4v10a1 1 0 0 1-.4.8A6 6 0 0 1 16 16c-3 0-5-2-8-2a6 6 0 0 0-4 1.528"/>',
    ),
    "flame": (
        '<path d="M12 3q1 4 4 6.5t3 5.5a1 1 0 0 1-14 0 5 5 0 0 1 1-3 1 1 0 0 0 5 0c0-2-1.5-3-1.5-5q0-2 2.5-4"/>',
    ),
    "flask-conical": (
        '<path d="M14 2v6a2 2 0 0 0 .245.96l5.51 10.08A2 2 0 0 1 18 22H6a2 2 0 0 1-1.755-2.96l5.51-10.08A2 2 0 0 0 10 8V2"/>',
        '<path d="M6.453 15h11.094"/>',
        '<path d="M8.5 2h7"/>',
    ),
    "flower": (
        '<circle cx="12" cy="12" r="3"/>',
        '<path d="M12 16.5A4.5 4.5 0 1 1 7.5 12 4.5 4.5 0 1 1 12 7.5a4.5 4.5 0 1 1 4.5 4.5 4.5 4.5 0 1 1-4.5 4.5"/>',
        '<path d="M12 7.5V9"/>',
        '<path d="M7.5 12H9"/>',
        '<path d="M16.5 12H15"/>',
        '<path d="M12 16.5V15"/>',
        '<path d="m8 8 1.88 1.88"/>',
        '<path d="M14.12 9.88 16 8"/>',
        '<path d="m8 16 1.88-1.88"/>',
        '<path d="M14.12 14.12 16 16"/>',
    ),
    "gem": (
        '<path d="M10.5 3 8 9l4 13 4-13-2.5-6"/>',
        '<path d="M17 3a2 2 0 0 1 1.6.8l3 4a2 2 0 0 1 .013 2.382l-7.99 10.986a2 2 0 0 1-3.247 0l-7.99-10.986A2 2 0 0 1 2.4 7.8l2.998-3.997A2 2 0 0 1 7 3z"/>',
        '<path d="M2 9h20"/>',
    ),
    "gift": (
        '<path d="M12 7v14"/>',
        '<path d="M20 11v8a2 2 0 0 1-2 2H6a2 2 0 0 1-2-2v-8"/>',
        '<path d="M7.5 7a1 1 0 0 1 0-5A4.8 8 0 0 1 12 7a4.8 8 0 0 1 4.5-5 1 1 0 0 1 0 5"/>',
        '<rect x="3" y="7" width="18" height="4" rx="1"/>',
    ),
    "graduation-cap": (
        '<path d="M21.42 10.922a1 1 0 0 0-.019-1.838L12.83 5.18a2 2 0 0 0-1.66 0L2.6 9.08a1 1 0 0 0 0 1.832l8.57 3.908a2 2 0 0 0 1.66 0z"/>',
        '<path d="M22 10v6"/>',
        '<path d="M6 12.5V16a6 3 0 0 0 12 0v-3.5"/>',
    ),
    "hammer": (
        '<path d="m15 12-9.373 9.373a1 1 0 0 1-3.001-3L12 9"/>',
        '<path d="m18 15 4-4"/>',
        '<path d="m21.5 11.5-1.914-1.914A2 2 0 0 1 19 8.172v-.344a2 2 0 0 0-.586-1.414l-1.657-1.657A6 6 0 0 0 12.516 3H9l1.243 1.243A6 6 0 0 1 12 8.485V10l2 2h1.172a2 2 0 0 1 1.414.586L18.5 14.5"/>',
    ),
    "hand": (
        '<path d="M18 11V6a2 2 0 0 0-2-2 2 2 0 0 0-2 2"/>',
        '<path d="M14 10V4a2 2 0 0 0-2-2 2 2 0 0 0-2 2v2"/>',
        '<path d="M10 10.5V6a2 2 0 0 0-2-2 2 2 0 0 0-2 2v8"/>',
        '<path d="M18 8a2 2 0 1 1 4 0v6a8 8 0 0 1-8 8h-2c-2.8 0-4.5-.86-5.99-2.34l-3.6-3.6a2 2 0 0 1 2.83-2.82L7 15"/>',
    ),
    "hand-heart": (
        '<path d="M11 14h2a2 2 0 0 0 0-4h-3c-.6 0-1.1.2-1.4.6L3 16"/>',
        '<path d="m14.45 13.39 5.05-4.694C20.196 8 21 6.85 21 5.75a2.75 2.75 0 0 0-4.797-1.837.276.276 0 0 1-.406 0A2.75 2.75 0 0 0 11 5.75c0 1.2.802 2.248 1.5 2.946L16 11.95"/>',
        '<path d="m2 15 6 6"/>',
        '<path d="m7 20 1.6-1.4c.3-.4.8-.6 1.4-.6h4c1.1 0 2.1-.4 2.8-1.2l4.6-4.4a1 1 0 0 0-2.75-2.91"/>',
    ),
    "hands-folded": (
        '<path d="M12 14V4a2 2 0 0 0-4 0v3c0 1.5-1 3-1 4v1c0 1-.667 1.667-1 2l-3.5 3.5"/>',
        '<path d="M12 4a2 2 0 0 1 4 0v3c0 1.5 1 3 1 4v1c0 1 .667 1.667 1 2l3.5 3.5"/>',
        '<path d="m17.5 21.5-4.328-4.328A4 4 0 0 1 12 14.343a4 4 0 0 1-1.172 2.829L6.5 21.5"/>',
        '<path d="m2 17 5 5"/>',
        '<path d="m22 17-5 5"/>',
    ),
    "handshake": (
        '<path d="m11 17 2 2a1 1 0 1 0 3-3"/>',
        '<path d="m14 14 2.5 2.5a1 1 0 1 0 3-3l-3.88-3.88a3 3 0 0 0-4.24 0l-.88.88a1 1 0 1 1-3-3l2.81-2.81a5.79 5.79 0 0 1 7.06-.87l.47.28a2 2 0 0 0 1.42.25L21 4"/>',
        '<path d="m21 3 1 11h-2"/>',
        '<path d="M3 3 2 14l6.5 6.5a1 1 0 1 0 3-3"/>',
        '<path d="M3 4h8"/>',
    ),
    "heart": (
        '<path d="M2 9.5a5.5 5.5 0 0 1 9.591-3.676.56.56 0 0 0 .818 0A5.49 5.49 0 0 1 22 9.5c0 2.29-1.5 4-3 5.5l-5.492 5.313a2 2 0 0 1-3 .019L5 15c-1.5-1.5-3-3.2-3-5.5"/>',
    ),
    "hourglass": (
        '<path d="M5 22h14"/>',
        '<path d="M5 2h14"/>',
        '<path d="M17 22v-4.172a2 2 0 0 0-.586-1.414L12 12l-4.414 4.414A2 2 0 0 0 7 17.828V22"/>',
        '<path d="M7 2v4.172a2 2 0 0 0 .586 1.414L12 12l4.414-4.414A2 2 0 0 0 17 6.172V2"/>',
    ),
    "key": (
        '<path d="m2 21 9.6-9.6"/>',
        '<path d="m7.5 15.5 2.3 2.3a1 1 0 0 1 0 1.4l-2.1 2.1a1 1 0 0 1-1.4 0L4 19"/>',
        '<circle cx="15.5" cy="7.5" r="5.5"/>',
    ),
    "laptop": (
        '<path d="M18 5a2 2 0 0 1 2 2v8.526a2 2 0 0 0 .212.897l1.068 2.127a1 1 0 0 1-.9 1.45H3.62a1 1 0 0 1-.9-1.45l1.068-2.127A2 2 0 0 0 4 15.526V7a2 2 0 0 1 2-2z"/>',
        '<path d="M20.054 15.987H3.946"/>',
    ),
    "library": (
        '<path d="m16 6 4 14"/>',
        '<path d="M12 6v14"/>',
        '<path d="M8 8v12"/>',
        '<path d="M4 4v16"/>',
    ),
    "lightbulb": (
        '<path d="M15 14c.2-1 .7-1.7 1.5-2.5 1-.9 1.5-2.2 1.5-3.5A6 6 0 0 0 6 8c0 1 .2 2.2 1.5 3.5.7.7 1.3 1.5 1.5 2.5"/>',
        '<path d="M9 18h6"/>',
        '<path d="M10 22h4"/>',
    ),
    "lock": (
        '<rect width="18" height="11" x="3" y="11" rx="2" ry="2"/>',
        '<path d="M7 11V7a5 5 0 0 1 10 0v4"/>',
    ),
    "medal": (
        '<path d="M7.21 15 2.66 7.14a2 2 0 0 1 .13-2.2L4.4 2.8A2 2 0 0 1 6 2h12a2 2 0 0 1 1.6.8l1.6 2.14a2 2 0 0 1 .14 2.2L16.79 15"/>',
        '<path d="M11 12 5.12 2.2"/>',
        '<path d="m13 12 5.88-9.8"/>',
        '<path d="M8 7h8"/>',
        '<circle cx="12" cy="17" r="5"/>',
        '<path d="M12 18v-2h-.5"/>',
    ),
    "megaphone": (
        '<path d="M11 6a13 13 0 0 0 8.4-2.8A1 1 0 0 1 21 4v12a1 1 0 0 1-1.6.8A13 13 0 0 0 11 14H5a2 2 0 0 1-2-2V8a2 2 0 0 1 2-2z"/>',
        '<path d="M6 14a12 12 0 0 0 2.4 7.2 2 2 0 0 0 3.2-2.4A8 8 0 0 1 10 14"/>',
        '<path d="M8 6v8"/>',
    ),
    "message-circle": (
        '<path d="M2.992 16.342a2 2 0 0 1 .094 1.167l-1.065 3.29a1 1 0 0 0 1.236 1.168l3.413-.998a2 2 0 0 1 1.099.092 10 10 0 1 0-4.777-4.719"/>',
    ),
    "mic": (
        '<path d="M12 19v3"/>',
        '<path d="M19 10v2a7 7 0 0 1-14 0v-2"/>',
        '<rect x="9" y="2" width="6" height="13" rx="3"/>',
    ),
    "notebook-pen": (
        '<path d="M13.4 2H6a2 2 0 0 0-2 2v16a2 2 0 0 0 2 2h12a2 2 0 0 0 2-2v-7.4"/>',
        '<path d="M2 6h4"/>',
        '<path d="M2 10h4"/>',
        '<path d="M2 14h4"/>',
        '<path d="M2 18h4"/>',
        '<path d="M21.378 5.626a1 1 0 1 0-3.004-3.004l-5.01 5.012a2 2 0 0 0-.506.854l-.837 2.87a.5.5 0 0 0 .62.62l2.87-.837a2 2 0 0 0 .854-.506z"/>',
    ),
    "palette": (
        '<path d="M12 22a1 1 0 0 1 0-20 10 9 0 0 1 10 9 5 5 0 0 1-5 5h-2.25a1.75 1.75 0 0 0-1.4 2.8l.3.4a1.75 1.75 0 0 1-1.4 2.8z"/>',
        '<circle cx="13.5" cy="6.5" r=".5" fill="currentColor"/>',
        '<circle cx="17.5" cy="10.5" r=".5" fill="currentColor"/>',
        '<circle cx="6.5" cy="12.5" r=".5" fill="currentColor"/>',
        '<circle cx="8.5" cy="7.5" r=".5" fill="currentColor"/>',
    ),
    "party-popper": (
        '<path d="M10 2.015a3 3 0 0 1 .836 3.216"/>',
        '<path d="M14.53 8.849c0-.798.37-1.596 1.755-1.596 1.126 0 1.855-.515 1.855-1.684C18.153 2.948 20.6 2 22 2"/>',
        '<path d="M15 2h.01"/>',
        '<path d="M21 16h.01"/>',
        '<path d="M22 11.764a3 3 0 0 0-4.246.247"/>',
        '<path d="M22 7h.01"/>',
        '<path d="M3.828 15.828 8.13 20.13"/>',
        '<path d="m5.46 11.462 7.001 7"/>',
        '<path d="M6 3h.01"/>',
        '<path d="M6.591 8.465a1 1 0 0 1 1.585-.249l7.595 7.454a1 1 0 0 1-.341 1.646l-12.134 4.68A1 1 0 0 1 2 20.713L6.54 8.579z"/>',
    ),
    "pencil": (
        '<path d="M21.174 6.812a1 1 0 0 0-3.986-3.987L3.842 16.174a2 2 0 0 0-.5.83l-1.321 4.352a.5.5 0 0 0 .623.622l4.353-1.32a2 2 0 0 0 .83-.497z"/>',
        '<path d="m15 5 4 4"/>',
    ),
    "puzzle": (
        '<path d="M15.39 4.39a1 1 0 0 0 1.68-.474 2.5 2.5 0 1 1 3.014 3.015 1 1 0 0 0-.474 1.68l1.683 1.682a2.414 2.414 0 0 1 0 3.414L19.61 15.39a1 1 0 0 1-1.68-.474 2.5 2.5 0 1 0-3.014 3.015 1 1 0 0 1 .474 1.68l-1.683 1.682a2.414 2.414 0 0 1-3.414 0L8.61 19.61a1 1 0 0 0-1.68.474 2.5 2.5 0 1 1-3.014-3.015 1 1 0 0 0 .474-1.68l-1.683-1.682a2.414 2.414 0 0 1 0-3.414L4.39 8.61a1 1 0 0 1 1.68.474 2.5 2.5 0 1 0 3.014-3.015 1 1 0 0 1-.474-1.68l1.683-1.682a2.414 2.414 0 0 1 3.414 0z"/>',
    ),
    "rainbow": (
        '<path d="M22 17a10 10 0 0 0-20 0"/>',
        '<path d="M6 17a6 6 0 0 1 12 0"/>',
        '<path d="M10 17a2 2 0 0 1 4 0"/>',
    ),
    "rocket": (
        '<path d="M12 15v5s3.03-.55 4-2c1.08-1.62 0-5 0-5"/>',
        '<path d="M4.5 16.5c-1.5 1.26-2 5-2 5s3.74-.5 5-2c.71-.84.7-2.13-.09-2.91a2.18 2.18 0 0 0-2.91-.09"/>',
        '<path d="M9 12a22 22 0 0 1 2-3.95A12.88 12.88 0 0 1 22 2c0 2.72-.78 7.5-6 11a22.4 22.4 0 0 1-4 2z"/>',
        '<path d="M9 12H4s.55-3.03 2-4c1.62-1.08 5 .05 5 .05"/>',
    ),
    "shield": (
        '<path d="M20 13c0 5-3.5 7.5-7.66 8.95a1 1 0 0 1-.67-.01C7.5 20.5 4 18 4 13V6a1 1 0 0 1 1-1c2 0 4.5-1.2 6.24-2.72a1.17 1.17 0 0 1 1.52 0C14.51 3.81 17 5 19 5a1 1 0 0 1 1 1z"/>',
    ),
    "sparkle": (
        '<path d="M11.017 2.814a1 1 0 0 1 1.966 0l1.051 5.558a2 2 0 0 0 1.594 1.594l5.558 1.051a1 1 0 0 1 0 1.966l-5.558 1.051a2 2 0 0 0-1.594 1.594l-1.051 5.558a1 1 0 0 1-1.966 0l-1.051-5.558a2 2 0 0 0-1.594-1.594l-5.558-1.051a1 1 0 0 1 0-1.966l5.558-1.051a2 2 0 0 0 1.594-1.594z"/>',
    ),
    "sparkles": (
        '<path d="M11.017 2.814a1 1 0 0 1 1.966 0l1.051 5.558a2 2 0 0 0 1.594 1.594l5.558 1.051a1 1 0 0 1 0 1.966l-5.558 1.051a2 2 0 0 0-1.594 1.594l-1.051 5.558a1 1 0 0 1-1.966 0l-1.051-5.558a2 2 0 0 0-1.594-1.594l-5.558-1.051a1 1 0 0 1 0-1.966l5.558-1.051a2 2 0 0 0 1.594-1.594z"/>',
        '<path d="M20 2v4"/>',
        '<path d="M22 4h-4"/>',
        '<circle cx="4" cy="20" r="2"/>',
    ),
    "sprout": (
        '<path d="M14 9.536V7a4 4 0 0 1 4-4h1.5a.5.5 0 0 1 .5.5V5a4 4 0 0 1-4 4 4 4 0 0 0-4 4c0 2 1 3 1 5a5 5 0 0 1-1 3"/>',
        '<path d="M4 9a5 5 0 0 1 8 4 5 5 0 0 1-8-4"/>',
        '<path d="M5 21h14"/>',
    ),
    "star": (
        '<path d="M11.525 2.295a.53.53 0 0 1 .95 0l2.31 4.679a2.12 2.12 0 0 0 1.595 1.16l5.166.756a.53.53 0 0 1 .294.904l-3.736 3.638a2.12 2.12 0 0 0-.611 1.878l.882 5.14a.53.53 0 0 1-.771.56l-4.618-2.428a2.12 2.12 0 0 0-1.973 0L6.396 21.01a.53.53 0 0 1-.77-.56l.881-5.139a2.12 2.12 0 0 0-.611-1.879L2.16 9.795a.53.53 0 0 1 .294-.906l5.165-.755a2.12 2.12 0 0 0 1.597-1.16z"/>',
    ),
    "target": (
        '<circle cx="12" cy="12" r="10"/>',
        '<circle cx="12" cy="12" r="6"/>',
        '<circle cx="12" cy="12" r="2"/>',
    ),
    "thumbs-up": (
        '<path d="M15 5.88 14 10h5.83a2 2 0 0 1 1.92 2.56l-2.33 8A2 2 0 0 1 17.5 22H4a2 2 0 0 1-2-2v-8a2 2 0 0 1 2-2h2.76a2 2 0 0 0 1.79-1.11L12 2a3.13 3.13 0 0 1 3 3.88"/>',
        '<path d="M7 10v12"/>',
    ),
    "tree-deciduous": (
        '<path d="M8 19a4 4 0 0 1-2.24-7.32A3.5 3.5 0 0 1 9 6.03V6a3 3 0 1 1 6 0v.04a3.5 3.5 0 0 1 3.24 5.65A4 4 0 0 1 16 19Z"/>',
        '<path d="M12 19v3"/>',
    ),
    "trending-up": (
        '<path d="M16 7h6v6"/>',
        '<path d="m22 7-8.5 8.5-5-5L2 17"/>',
    ),
    "trophy": (
        '<path d="M10 14.66V17a1 1 0 0 1-1 1 2 2 0 0 0-2 2v2"/>',
        '<path d="M14 14.66V17a1 1 0 0 0 1 1 2 2 0 0 1 2 2v2"/>',
        '<path d="M17.916 10H19.5A2.5 2.5 0 0 0 22 7.5V5a1 1 0 0 0-1-1h-3"/>',
        '<path d="M4 22h16"/>',
        '<path d="M6 9a6 6 0 0 0 12 0V3a1 1 0 0 0-1-1H7a1 1 0 0 0-1 1z"/>',
        '<path d="M6.084 10H4.5A2.5 2.5 0 0 1 2 7.5V5a1 1 0 0 1 1-1h3"/>',
    ),
    "users": (
        '<path d="M16 21v-2a4 4 0 0 0-4-4H6a4 4 0 0 0-4 4v2"/>',
        '<path d="M16 3.128a4 4 0 0 1 0 7.744"/>',
        '<path d="M22 21v-2a4 4 0 0 0-3-3.87"/>',
        '<circle cx="9" cy="7" r="4"/>',
    ),
    "wrench": (
        '<path d="M14.7 6.3a1 1 0 0 0 0 1.4l1.6 1.6a1 1 0 0 0 1.4 0l3.106-3.105c.32-.322.863-.22.983.218a6 6 0 0 1-8.259 7.057l-7.91 7.91a1 1 0 0 1-2.999-3l7.91-7.91a6 6 0 0 1 7.057-8.259c.438.12.54.662.219.984z"/>',
    ),
    "zap": (
        '<path d="M15.914 4a1.5 1.5 0 0 0-2.474-1.561l-9 9A1.5 1.5 0 0 0 5.5 14h4.002a.5.5 0 0 1 .471.666L8.086 20a1.5 1.5 0 0 0 2.475 1.56l9-9A1.5 1.5 0 0 0 18.5 10h-3.997a.5.5 0 0 1-.472-.667z"/>',
    ),
}
