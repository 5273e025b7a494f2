"""The contract of path MTU strategies (``MTUStrategy``, server-wide or per host).

A strategy is a sans-IO state machine for one peer. The node asks it which
probe sizes to send and when, tells it which probes were answered, and reads
the path MTU it settled on. It never touches a socket or the clock: ``now`` is
always passed in, so a test can run hours of probing in milliseconds.
"""

from __future__ import annotations

import abc
from dataclasses import dataclass

MTU = 1518
"""tinc's largest packet: a full Ethernet frame (1500 bytes payload + 14 + 4)."""


@dataclass(frozen=True)
class MTUSettings:
    """The per-peer settings a strategy is built from.

    ``pmtu`` is the ``PMTU`` ceiling (``None``: tinc's :data:`MTU`),
    ``discovery`` is ``PMTUDiscovery``.
    """

    pmtu: int | None = None
    discovery: bool = True

    @property
    def ceiling(self) -> int:
        """The largest MTU the strategy may settle on."""
        return min(self.pmtu, MTU) if self.pmtu else MTU


class MTUStrategy(abc.ABC):
    """Probing decisions for one peer. Factories take :class:`MTUSettings`."""

    def __init__(self, settings: MTUSettings) -> None:
        self.settings = settings

    @property
    @abc.abstractmethod
    def mtu(self) -> int | None:
        """The path MTU to use now, or ``None`` while unknown (send over TCP)."""

    @abc.abstractmethod
    def due_probes(self, now: float) -> list[int]:
        """Probe sizes to send at time ``now`` (empty when nothing is due)."""

    @abc.abstractmethod
    def next_wakeup(self) -> float | None:
        """When :meth:`due_probes` should next be called, or ``None``."""

    @abc.abstractmethod
    def probe_replied(self, size: int, now: float) -> None:
        """The peer answered a probe of ``size`` bytes."""

    @abc.abstractmethod
    def reset(self, now: float) -> None:
        """Forget what was learned (the peer's address changed)."""
