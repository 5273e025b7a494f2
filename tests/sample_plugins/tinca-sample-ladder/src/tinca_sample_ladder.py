"""tinca-sample-ladder: the ``ladder`` path MTU strategy.

tinc's own probing searches the path MTU with probes of random sizes. Where
the possible MTUs are known in advance (a fleet behind links of 1500, 1280 or
1200 bytes, say), a few probes of exactly those sizes settle faster and give
round numbers. With this package installed::

    # tinc.conf, or hosts/PEER for one peer
    MTUStrategy = ladder

makes every such peer's path MTU the largest rung of :data:`RUNGS` a probe
of that size came back for. A peer that runs tinc's own probing answers these
probes like any other, so the other side needs nothing.

What an MTU strategy provides (``tinca.core.mtu.MTUStrategy``)
    A sans-IO state machine for one peer, built by the registered factory
    from ``MTUSettings`` (``PMTU``, ``PMTUDiscovery``, ``PingInterval``, the
    peer's name). The node calls :meth:`~Ladder.start` when the peer's key is
    usable, asks :meth:`~Ladder.due_probes` for probe sizes when
    :meth:`~Ladder.next_wakeup` comes, reports answered probes to
    :meth:`~Ladder.probe_replied`, and reads :attr:`~Ladder.mtu`,
    :attr:`~Ladder.udp_limit` and :attr:`~Ladder.minmtu` (``tinca dump
    nodes`` shows them). Time is always a parameter: no clock, no socket.

How it probes
    Once a second it sends one probe of each rung above the best answered so
    far, for :data:`ROUNDS` rounds (or until the top rung answers). Then it
    settles on the best answered rung, logs ``ladder: path MTU of PEER is N``
    at INFO, and sends one probe of that size every ``PingInterval`` as a
    keep-alive. Until a rung answers, data goes over TCP (``udp_limit`` 0);
    after that, packets up to the best rung go by UDP.

Entry point: ``sample-ladder = "tinca_sample_ladder"`` in the ``tinca`` group.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from tinca.core import hookimpl
from tinca.core.mtu import MTU, MTUSettings, MTUStrategy

log = logging.getLogger("tinca_sample_ladder")

RUNGS = (1518, 1459, 1400, 1280, 1200, 576)
"""The sizes tried, largest first (tinc counts an MTU as the Ethernet frame size)."""
ROUNDS = 5
"""Probe rounds, one second apart, before settling on the best answered rung."""


class Ladder(MTUStrategy):
    """Probe only the sizes in :data:`RUNGS`; the path MTU is the largest that answered."""

    def __init__(self, settings: MTUSettings) -> None:
        super().__init__(settings)
        self.rungs = tuple(r for r in RUNGS if r <= settings.ceiling) or (settings.ceiling,)
        self._best = 0
        self._round = 0
        self._settled = False
        self._wakeup: float | None = None

    @property
    def mtu(self) -> int | None:
        """The best answered rung once settled; ``None`` before."""
        return self._best if self._settled else None

    @property
    def udp_limit(self) -> int | None:
        """Up to the best answered rung by UDP (0 until one answered); no limit
        without ``PMTUDiscovery``."""
        return self._best if self.settings.discovery else None

    @property
    def minmtu(self) -> int:
        """The best answered rung (0: none yet)."""
        return self._best

    @property
    def maxmtu(self) -> int:
        """The settled MTU, or tinc's 1518 while searching."""
        return self._best if self._settled else MTU

    def start(self, now: float) -> None:
        """Begin probing now, unless already under way."""
        if self.settings.discovery and self._wakeup is None:
            self._wakeup = now

    def stop(self) -> None:
        """Forget everything: the path may be a different one next time."""
        self._best = self._round = 0
        self._settled = False
        self._wakeup = None

    def reset(self, now: float) -> None:
        """Start over."""
        self.stop()
        self.start(now)

    def next_wakeup(self) -> float | None:
        """When the next round (or keep-alive) is due; ``None`` while stopped."""
        return self._wakeup

    def due_probes(self, now: float) -> list[int]:
        """The rungs above the best so far, or the keep-alive once settled."""
        if self._wakeup is None or now < self._wakeup:
            return []
        if self._settled:
            self._wakeup = now + self.settings.ping_interval
            return [self._best]
        self._round += 1
        if self._round > ROUNDS and self._best:
            self._settle(now)
            return [self._best]
        self._wakeup = now + 1
        return [r for r in self.rungs if r > self._best]

    def probe_replied(self, size: int, now: float) -> None:
        """A rung answered: it is a lower bound; the top rung settles at once."""
        if size in self.rungs and size > self._best:
            self._best = size
            if size == self.rungs[0] and not self._settled:
                self._settle(now)

    def send_too_big(self, size: int) -> None:
        """The kernel refused ``size`` bytes: never try that rung again."""
        self.rungs = tuple(r for r in self.rungs if r < size) or (self.rungs[-1],)

    def _settle(self, now: float) -> None:
        self._settled = True
        self._wakeup = now + self.settings.ping_interval
        log.info("ladder: path MTU of %s is %d", self.settings.peer, self._best)


@hookimpl
def tinca_register_mtu_strategies(register: Callable[..., object]) -> None:
    """Offer ``MTUStrategy = ladder``."""
    register("ladder", Ladder, doc="probe only the sizes 1518, 1459, 1400, 1280, 1200, 576")
