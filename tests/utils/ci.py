"""One rule for tests whose tool (anvil, Chromium, the pinned solc) is missing: skipped on a developer's machine,
failed in CI. ``scripts/test.sh`` installs every tool and sets ``CI=true`` itself, so its run never skips."""

from __future__ import annotations

import os
from typing import NoReturn

import pytest

#: The values of ``CI`` that do not mean CI (any other value, ``true`` and ``1`` among them, does).
_NOT_CI = frozenset({"", "0", "false", "no", "off"})


def in_ci() -> bool:
    """True when the ``CI`` environment variable says so (set, and not ``0``, ``false``, ``no`` or ``off``)."""
    return os.environ.get("CI", "").strip().lower() not in _NOT_CI


def tool_missing(reason: str) -> NoReturn:
    """Fail the calling test in CI, where ``scripts/test.sh`` installs every tool; skip it elsewhere."""
    if in_ci():
        pytest.fail(f"{reason} (CI runs every test: scripts/test.sh installs it)", pytrace=False)
    pytest.skip(f"{reason} (with CI=true this fails instead)")
