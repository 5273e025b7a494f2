"""The ``fixed`` MTU strategy: no probing; the path MTU is ``PMTU`` (or 1518).

For links whose MTU is known, or where probes are filtered. Equivalent to
tincd with ``PMTUDiscovery = no`` and ``PMTU`` set.
"""

from __future__ import annotations

from tinca.core.mtu import MTUStrategy


class FixedMTU(MTUStrategy):
    """Always the configured ceiling; never sends a probe."""

    @property
    def mtu(self) -> int:
        """The configured ``PMTU``, capped at tinc's 1518."""
        return self.settings.ceiling

    def due_probes(self, now: float) -> list[int]:
        """Never any probes."""
        return []

    def next_wakeup(self) -> float | None:
        """No timer is needed."""
        return None

    def probe_replied(self, size: int, now: float) -> None:
        """Replies (to a peer's own probing) change nothing."""

    def reset(self, now: float) -> None:
        """Nothing was learned, so nothing to forget."""
