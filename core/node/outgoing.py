"""Outgoing meta connections (``ConnectTo``) and tincd's retry back-off.

For each ``ConnectTo`` peer tincd walks the candidate addresses in order; when
all fail, it waits ``timeout`` seconds, where ``timeout`` grows by 5 s per
failed round and is capped at ``MaxTimeout`` (net_socket.c: retry_outgoing).
SIGALRM (``tinca retry``) makes every waiting peer try again at once. As in
tincd 1.0.36, a successful connection does not reset the delay; a lost
connection first re-walks the addresses at once, and only a whole failed round
waits. A discovery source that pushes new addresses for a peer that is waiting
ends the wait (tinca's addition: the addresses it waited to retry changed).

This module holds the schedule only; the node (:mod:`tinca.core.node.node`)
decides when to dial and the shell does the connecting.
"""

from __future__ import annotations

from dataclasses import dataclass

BACKOFF_STEP = 5
"""Seconds added to the retry delay after each failed round (retry_outgoing)."""


@dataclass
class Outgoing:
    """One ``ConnectTo`` peer and where it stands in its connect/retry cycle."""

    name: str
    timeout: int = 0
    next_attempt: float = 0.0
    connected: bool = False
    #: a whole round failed and the next one waits for ``next_attempt``
    backing_off: bool = False

    def failed_round(self, now: float, max_timeout: int, min_timeout: int = 0) -> float:
        """Every address failed: schedule the next round; returns its time."""
        self.timeout = min(max(self.timeout + BACKOFF_STEP, min_timeout), max_timeout)
        self.next_attempt = now + self.timeout
        self.backing_off = True
        return self.next_attempt

    def begin_attempt(self) -> None:
        """A round starts now: no other may start until it ends."""
        self.next_attempt = float("inf")
        self.backing_off = False

    def waiting(self) -> bool:
        """The peer is not connected and waits out its back-off."""
        return self.backing_off and not self.connected

    def activated(self) -> None:
        """The connection came up (the back-off delay is kept, as tincd does)."""
        self.connected = True

    def retry_now(self, now: float) -> None:
        """SIGALRM: try again immediately."""
        self.next_attempt = now
