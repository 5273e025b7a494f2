"""Remembering flooded requests, so each is handled and forwarded once.

ADD_SUBNET, DEL_SUBNET, ADD_EDGE, DEL_EDGE and KEY_CHANGED are flooded: every
node forwards them to all its other meta connections. In a mesh with cycles a
request comes back, so tincd keeps the exact lines it has seen and drops a
line it already knows (``seen_request`` in src/protocol.c, release-1.0.36).
The random nonce in those lines keeps a later flood of the same fact distinct.

tincd forgets a line ``PingInterval`` seconds (60 by default,
``pinginterval`` in src/net_setup.c) after it first saw it. 1.0.36 ages the
cache in its main loop every ``PingTimeout`` seconds (5 by default; net.c);
tinc 1.1 runs the same ageing from a timer every 10 seconds while entries
remain. Between two ageing runs an expired line is still "seen", so the exact
moment a line is forgotten follows the caller's ageing schedule, as in tincd.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable

#: how long a seen request is remembered: tincd's default ``PingInterval``
DEFAULT_LIFETIME = 60.0
#: how often tincd 1.0.36 ages the cache: its default ``PingTimeout``
AGE_INTERVAL_TINCD10 = 5.0
#: how often tinc 1.1 ages the cache (a 10 s timer, plus jitter)
AGE_INTERVAL_TINC11 = 10.0


class PastRequests:
    """The lines of flooded requests seen recently, with when each was first seen.

    ``clock`` returns the current time in seconds and must not go backwards
    (``time.monotonic`` in the daemon, a fake in tests); ``lifetime`` is
    tincd's ``PingInterval``. Lines are compared exactly, as tincd compares
    them with ``strcmp``: pass the line as received, without its newline.
    """

    def __init__(self, clock: Callable[[], float], lifetime: float = DEFAULT_LIFETIME) -> None:
        if lifetime <= 0:
            raise ValueError(f"lifetime must be positive, not {lifetime}")
        self._clock = clock
        self._lifetime = lifetime
        # insertion order is first-seen order, because the clock is monotonic;
        # an OrderedDict drops its oldest entry in O(1)
        self._first_seen: OrderedDict[str, float] = OrderedDict()

    @property
    def lifetime(self) -> float:
        """Seconds a line is remembered after it was first seen."""
        return self._lifetime

    def seen(self, line: str) -> bool:
        """True if ``line`` was seen before; otherwise remember it and return False.

        Seeing a line again does not extend how long it is remembered.
        """
        if line in self._first_seen:
            return True
        self._first_seen[line] = self._clock()
        return False

    def age(self, now: float | None = None) -> int:
        """Forget every line first seen ``lifetime`` or more seconds before ``now``.

        ``now`` defaults to the clock. Returns how many lines were forgotten.
        """
        if now is None:
            now = self._clock()
        forgotten = 0
        # oldest first: stop at the first line that is still young
        while self._first_seen:
            first_seen = next(iter(self._first_seen.values()))
            if first_seen + self._lifetime > now:
                break
            self._first_seen.popitem(last=False)
            forgotten += 1
        return forgotten

    def next_expiry(self) -> float | None:
        """When the oldest line may be forgotten, or None when nothing is remembered.

        An I/O shell can arm its ageing timer for this moment instead of polling.
        """
        for first_seen in self._first_seen.values():
            return first_seen + self._lifetime
        return None

    def __len__(self) -> int:
        return len(self._first_seen)

    def __contains__(self, line: object) -> bool:
        return line in self._first_seen
