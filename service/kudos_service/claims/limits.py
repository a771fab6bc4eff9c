"""How often claims may be tried: a fixed number of attempts per key (a link, a client address) per window.

A claim attempt checks a signature, which is cheap for the service but lets someone holding a link, or guessing
at links, try without end; the limit makes both slow. It is kept in the process's memory: with several processes,
each allows the limit (a shared limit would need the database or Redis, for a protection that is already enough
at 256-bit links).

    >>> limiter = AttemptLimiter(2, per_s=60.0, clock=lambda: 0.0)
    >>> [limiter.allow("link") for _ in range(3)], limiter.allow("another link")
    ([0.0, 0.0, 60.0], 0.0)
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable

__all__ = ["AttemptLimiter"]

#: Keys remembered at most: past that, the oldest windows are forgotten (memory stays bounded under a flood).
_MAX_KEYS = 100_000


class AttemptLimiter:
    """At most ``attempts`` per key in any ``per_s`` seconds (a sliding window). Thread-safe."""

    def __init__(self, attempts: int, *, per_s: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.attempts = attempts
        self.per_s = per_s
        self.clock = clock
        self._seen: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def allow(self, *keys: str) -> float:
        """Count an attempt under each of ``keys``: 0.0 when every key is within its limit, else the seconds until
        the busiest key has room again (the attempt is then not counted)."""
        now = self.clock()
        with self._lock:
            wait = 0.0
            for key in keys:
                window = self._seen.get(key)
                if window is None:
                    continue
                while window and window[0] <= now - self.per_s:
                    window.popleft()
                if len(window) >= self.attempts:
                    wait = max(wait, window[0] + self.per_s - now)
            if wait > 0:
                return wait
            if len(self._seen) + len(keys) > _MAX_KEYS:
                for old in list(self._seen)[: _MAX_KEYS // 10]:
                    del self._seen[old]
            for key in keys:
                self._seen.setdefault(key, deque()).append(now)
            return 0.0
