"""The API's bounds that clients see, in one place: the routes and schemas enforce them and the ``kudos``
command line checks its options against them. No imports, so the command line reads them at no cost."""

from __future__ import annotations

__all__ = ["MAX_BATCH", "MAX_WAIT", "MAX_WALLET_PAGE"]

#: The most awards one ``POST /v1/awards/batch`` takes (``kudos import --batch-size``).
MAX_BATCH = 1000

#: The largest page of ``GET /v1/wallets/{address}`` (``limit``; ``kudos wallet --limit``).
MAX_WALLET_PAGE = 200

#: The longest ``?wait=`` of ``POST /v1/awards``, ``GET /v1/awards/{id}`` and ``GET /v1/operations/{id}``, in seconds.
MAX_WAIT = 60
