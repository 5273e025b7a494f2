"""Logging bad input once, not once per packet.

A peer that sends garbage, replays packets or uses a stale key would
otherwise fill the log at line rate. :class:`RateLimitedLog` logs the first
occurrence of each (source, reason) and then only a count of what it
suppressed, at most once per interval.
"""

from __future__ import annotations

import logging
from collections.abc import Callable


class RateLimitedLog:
    """Log ``message`` for a key once per ``interval`` seconds, counting repeats."""

    def __init__(
        self, logger: logging.Logger, clock: Callable[[], float], interval: float = 60.0
    ) -> None:
        self.logger = logger
        self.clock = clock
        self.interval = interval
        self._last: dict[tuple[str, str], float] = {}
        self._suppressed: dict[tuple[str, str], int] = {}

    def log(self, level: int, source: str, reason: str, message: str, *args: object) -> None:
        """Log unless the same (source, reason) was logged within the interval."""
        key = (source, reason)
        now = self.clock()
        last = self._last.get(key)
        if last is not None and now - last < self.interval:
            self._suppressed[key] = self._suppressed.get(key, 0) + 1
            return
        self._last[key] = now
        suppressed = self._suppressed.pop(key, 0)
        if suppressed:
            message += f" ({suppressed} more like this since the last report)"
        self.logger.log(level, message, *args)
