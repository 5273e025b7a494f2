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

    ``pmtu`` is the ``PMTU`` setting (``None``: tinc's :data:`MTU`); tinc 1.0
    uses it as the starting MTU, which discovery may then overwrite.
    ``discovery`` is ``PMTUDiscovery``; ``ping_interval`` and ``ping_timeout``
    time the keep-alive probes; ``local_discovery`` adds a broadcast probe;
    ``peer`` names the peer in log messages.
    """

    pmtu: int | None = None
    discovery: bool = True
    ping_interval: int = 60
    ping_timeout: int = 5
    local_discovery: bool = False
    #: the peer's name, for log messages
    peer: str = "peer"

    @property
    def ceiling(self) -> int:
        """The MTU before discovery: ``PMTU`` capped at tinc's 1518."""
        return min(self.pmtu, MTU) if self.pmtu else MTU


class MTUStrategy(abc.ABC):
    """Probing decisions for one peer. Factories take :class:`MTUSettings`."""

    def __init__(self, settings: MTUSettings) -> None:
        self.settings = settings

    @property
    @abc.abstractmethod
    def mtu(self) -> int | None:
        """The settled path MTU, or ``None`` while unknown."""

    @property
    def node_mtu(self) -> int:
        """The MTU routing uses for "packet too big" and MSS clamping."""
        return self.mtu or self.settings.ceiling

    @property
    def udp_limit(self) -> int | None:
        """Largest packet to send by UDP now: 0 means TCP only, ``None`` no limit."""
        return None

    def start(self, now: float) -> None:  # noqa: B027 - optional hook, no-op by default
        """A usable key for the peer arrived: probing may begin."""

    def stop(self) -> None:  # noqa: B027 - optional hook, no-op by default
        """The peer's reachability changed: forget progress, cancel timers."""

    def send_too_big(self, size: int) -> None:  # noqa: B027 - optional hook, no-op by default
        """A UDP send of ``size`` bytes failed with EMSGSIZE."""

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
        """Start over: :meth:`stop`, then :meth:`start`."""
