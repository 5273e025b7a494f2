"""tincd 1.0.36's path MTU discovery as a sans-IO strategy (``tinc10``).

Theory of operation (``send_mtu_probe`` and ``mtu_probe_h`` in tinc's
``src/net_packet.c``; line numbers below are from tag ``release-1.0.36``).

tinc keeps, per peer, a lower bound ``minmtu`` (largest probe answered so far,
0 = none), an upper bound ``maxmtu`` (1518 until the kernel refuses a send with
EMSGSIZE), and a counter ``mtuprobes`` that is both the round number and the
state. One timer drives it; each time it fires the counter goes up by one and:

==========  =================================================================
counter     what the round does
==========  =================================================================
1 .. 29     discovery: three probes of random size in ``(minmtu, maxmtu]``,
            next round 1 s later. Settles early once ``minmtu >= maxmtu``.
10 .. 29    ... but if nothing was ever answered, give up: go to 31.
30          settle: ``mtu = maxmtu = minmtu``; go to 31 (no probes).
31          sleep ``PingInterval`` seconds (no probes).
32          keep-alive: ``maxmtu + 8`` (to spot a larger path MTU, unless that
            reaches 1518) and three of ``maxmtu``; wait ``PingTimeout`` s.
33          the keep-alive went unanswered: with an MTU, forget it and start
            over at round 1 at once; without one, go back to 31.
==========  =================================================================

A reply to a probe raises ``minmtu`` (capped at ``maxmtu``). A reply that
arrives while the counter is above 30 also moves the counter: the answered
``maxmtu + 8`` probe means the path grew (``maxmtu = 1518``, resume discovery
at round 10, i.e. 20 more rounds); any other reply sets the counter to 30 if an
MTU is known (the next tick makes it 31: sleep again) or to 1 if not (the path
came back: discover from the start).

tinc's ``n->mtu`` is not part of the cycle above: it starts at 1518, lowered
to ``PMTU`` when the meta connection is acknowledged (``protocol_auth.c``
l.632-638), and only discovery's settling (l.123) or an EMSGSIZE (l.612-619)
change it afterwards. Settling overwrites it even when that makes it larger
than ``PMTU``: in tinc 1.0 ``PMTU`` is the *initial* path MTU, not a bound on
what discovery may find. Resets never clear it.

Which packets go by UDP is decided by ``minmtu``, not by ``mtu``: with PMTU
discovery on, a data packet longer than ``minmtu`` goes over TCP (l.468), so
before the first reply everything goes over TCP, and small packets start using
UDP as soon as a probe of their size has been answered.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable

from tinca.core.logs import DEBUG_TRAFFIC, level_for
from tinca.core.mtu import MTU, MTUSettings, MTUStrategy
from tinca.plugins.ciphers.legacy.probes import MIN_PROBE

log = logging.getLogger(__name__)
_TRAFFIC = level_for(DEBUG_TRAFFIC)

# Values of tinc's per-peer ``mtuprobes`` counter (net_packet.c l.68-71, 98-133).
NO_REPLY_LIMIT = 10
"""From this round on, discovery gives up when no probe was ever answered."""
SETTLE_ROUND = 30
"""The round at which discovery settles on ``minmtu``."""
SLEEPING = 31
"""Between keep-alives: the timer is ``PingInterval``."""
KEEPALIVE_ROUND = 32
"""Keep-alive probes are out; the timer is ``PingTimeout``."""
INCREASE_RESUME = 10
"""Where the counter goes when a larger path MTU is seen (mtu_probe_h l.186)."""

ROUND_INTERVAL = 1
"""Seconds between discovery rounds (``timeout = 1``, l.87)."""
RANDOM_PROBES = 3
"""Probes of random size (or of ``maxmtu``) per round (l.135, i = 1..3)."""
GROWTH_STEP = 8
"""How much larger than ``maxmtu`` the keep-alive's growth probe is (l.141)."""

DEFAULT_PING_INTERVAL = 60
"""tincd's ``PingInterval`` default (net_setup.c l.1044)."""
DEFAULT_PING_TIMEOUT = 5
"""tincd's ``PingTimeout`` default (net_setup.c l.1048)."""


class Tinc10Probing(MTUStrategy):
    """tincd 1.0.36's probe schedule and bookkeeping for one peer.

    The node drives it like tincd drives ``send_mtu_probe``:

    * :meth:`start` when a valid key from the peer arrives (``ANS_KEY``);
    * :meth:`due_probes` at :meth:`next_wakeup`, sending each size returned
      (:func:`~tinca.plugins.ciphers.legacy.probes.probe_payload`) by UDP;
    * :meth:`probe_replied` with :func:`~tinca.plugins.ciphers.legacy.probes.reply_length`
      of each answer;
    * :meth:`send_too_big` when the kernel refuses any UDP send to the peer with
      EMSGSIZE;
    * :meth:`key_lost` on ``KEY_CHANGED``, :meth:`stop` when the peer becomes
      unreachable (or reachable: tinc's graph resets both ways).

    ``ping_interval`` and ``ping_timeout`` are tincd's ``PingInterval`` and
    ``PingTimeout`` after its own clamping; ``local_discovery`` is
    ``LocalDiscovery`` (one more probe per round). ``random`` supplies the bytes
    from which probe sizes are drawn.
    """

    def __init__(
        self,
        settings: MTUSettings,
        *,
        ping_interval: int | None = None,
        ping_timeout: int | None = None,
        local_discovery: bool | None = None,
        random: Callable[[int], bytes] = os.urandom,
        peer: str | None = None,
    ) -> None:
        super().__init__(settings)
        # Keyword arguments win (tests); otherwise the node's settings count.
        ping_interval = settings.ping_interval if ping_interval is None else ping_interval
        ping_timeout = settings.ping_timeout if ping_timeout is None else ping_timeout
        if local_discovery is None:
            local_discovery = settings.local_discovery
        if ping_interval < 1:
            raise ValueError(f"ping_interval must be at least 1 second, not {ping_interval}")
        if not 1 <= ping_timeout <= ping_interval:
            raise ValueError(
                f"ping_timeout must be 1 .. ping_interval ({ping_interval}) seconds, "
                f"not {ping_timeout}"
            )
        self.ping_interval = ping_interval
        self.ping_timeout = ping_timeout
        self.local_discovery = local_discovery
        self.peer = settings.peer if peer is None else peer
        self._random = random
        self._minmtu = 0
        self._maxmtu = MTU
        self._probes = 0
        self._node_mtu = settings.ceiling
        self._settled_once = False
        self._key_valid = False
        self._wakeup: float | None = None
        self._last_local = False

    # -- what the node reads -------------------------------------------------

    @property
    def mtu(self) -> int | None:
        """The path MTU discovery settled on; ``None`` until it first settles.

        Kept through restarts and resets, as tincd keeps ``n->mtu``; lowered by
        :meth:`send_too_big`. Without PMTU discovery: :attr:`node_mtu`.
        """
        if self._settled_once or not self.settings.discovery:
            return self._node_mtu
        return None

    @property
    def node_mtu(self) -> int:
        """tincd's ``n->mtu``: what routing uses for "too big" and MSS clamping.

        ``PMTU`` (or 1518) until discovery settles, then the settled value.
        """
        return self._node_mtu

    @property
    def udp_limit(self) -> int | None:
        """Longest data packet to send by UDP now; longer ones go over TCP.

        ``minmtu`` with PMTU discovery (0: everything over TCP), ``None`` (no
        limit) without it. Probes themselves always go by UDP.
        """
        return self._minmtu if self.settings.discovery else None

    @property
    def minmtu(self) -> int:
        """Largest answered probe size, capped at :attr:`maxmtu` (0: none yet)."""
        return self._minmtu

    @property
    def maxmtu(self) -> int:
        """Upper bound for the path MTU (1518 unless EMSGSIZE lowered it)."""
        return self._maxmtu

    @property
    def probes(self) -> int:
        """tincd's ``mtuprobes`` counter: the round number and state (see module doc)."""
        return self._probes

    @property
    def last_probe_local(self) -> bool:
        """Whether the last size of the latest non-empty :meth:`due_probes` answer
        is the ``LocalDiscovery`` probe, to broadcast on the local network
        (first ten rounds only; later rounds send it to the peer's address)."""
        return self._last_local

    def next_wakeup(self) -> float | None:
        """When the probe timer fires next, or ``None`` while probing is idle."""
        return self._wakeup

    # -- events --------------------------------------------------------------

    def start(self, now: float) -> None:
        """The peer's key is valid: probe at ``now`` unless the timer is already set.

        Does not arm the timer when PMTU discovery is off (tincd sends no probes).
        """
        self._key_valid = True
        if self.settings.discovery and self._wakeup is None:
            self._wakeup = now

    def key_lost(self) -> None:
        """The peer's key became invalid; the next tick stops probing (counter 0)."""
        self._key_valid = False

    def stop(self) -> None:
        """The peer's reachability changed: forget the bounds, cancel the timer.

        The path MTU (:attr:`mtu`, :attr:`node_mtu`) is kept, as in tincd.
        """
        self._key_valid = False
        self._minmtu = 0
        self._maxmtu = MTU
        self._probes = 0
        self._wakeup = None

    def reset(self, now: float) -> None:
        """Forget the bounds and probe again from round 1 at ``now``.

        tincd does this when a peer goes unreachable and comes back with a new
        key: :meth:`stop` followed by :meth:`start`.
        """
        self.stop()
        self.start(now)

    def send_too_big(self, size: int) -> None:
        """The kernel refused to send a ``size``-byte packet to the peer (EMSGSIZE).

        ``size`` is the packet's plaintext length before compression, probe or
        not. Lowers the upper bound and the path MTU below it.
        """
        if self._maxmtu >= size:
            self._maxmtu = size - 1
        if self._node_mtu >= size:
            self._node_mtu = size - 1

    def probe_replied(self, size: int, now: float) -> None:
        """The peer answered a probe; ``size`` as :func:`~.probes.reply_length` gives.

        Neither the timer nor ``now`` is involved: a reply only moves the bounds
        and, after discovery, the counter (the next tick acts on it).
        """
        if size < 0:
            raise ValueError(f"a probe reply cannot be {size} bytes long")
        if self._probes > SETTLE_ROUND:
            if size == self._maxmtu + GROWTH_STEP:
                self._log("Increase in PMTU to %s detected, restarting PMTU discovery")
                self._maxmtu = MTU
                self._probes = INCREASE_RESUME
                return
            self._probes = SETTLE_ROUND if self._minmtu else 1
        size = min(size, self._maxmtu)
        if self._minmtu < size:
            self._minmtu = size

    def due_probes(self, now: float) -> list[int]:
        """The probe sizes tincd sends at ``now``; also re-arms the timer.

        Empty before :meth:`next_wakeup`, while idle, and in rounds that only
        sleep. One call runs one tick however late it comes; the next tick is
        timed from ``now``, as tincd times it from when its handler ran.
        """
        if self._wakeup is None or now < self._wakeup:
            return []
        self._wakeup = None
        self._last_local = False
        self._probes += 1
        if not self._key_valid:
            # tincd drops the timer here; the next valid key starts it again.
            self._probes = 0
            return []

        if self._probes > KEEPALIVE_ROUND:
            if not self._minmtu:
                return self._sleep(now)
            self._log("%s did not respond to UDP ping, restarting PMTU discovery")
            self._probes = 1
            self._minmtu = 0
            self._maxmtu = MTU

        if NO_REPLY_LIMIT <= self._probes < KEEPALIVE_ROUND and not self._minmtu:
            self._log("No response to MTU probes from %s")
            return self._sleep(now)

        if self._probes == SETTLE_ROUND or (
            self._probes < SETTLE_ROUND and self._minmtu >= self._maxmtu
        ):
            self._settle()
            return self._sleep(now)

        if self._probes == SLEEPING:
            # a keep-alive was answered (a reply set the counter to 30)
            return self._sleep(now)

        timeout = self.ping_timeout if self._probes == KEEPALIVE_ROUND else ROUND_INTERVAL
        self._wakeup = now + timeout
        return self._round_sizes()

    # -- internals -----------------------------------------------------------

    def _sleep(self, now: float) -> list[int]:
        self._probes = SLEEPING
        self._wakeup = now + self.ping_interval
        return []

    def _settle(self) -> None:
        # minmtu can exceed maxmtu when EMSGSIZE lowered maxmtu after a reply.
        low = min(self._minmtu, self._maxmtu)
        self._minmtu = self._maxmtu = low
        self._node_mtu = low
        self._settled_once = True
        if log.isEnabledFor(_TRAFFIC):
            log.log(
                _TRAFFIC, "Fixing MTU of %s to %d after %d probes", self.peer, low, self._probes
            )

    def _round_sizes(self) -> list[int]:
        sizes: list[int] = []
        # The growth probe only goes with keep-alives, and only while it stays
        # below a full frame.
        if self._probes >= SETTLE_ROUND and self._maxmtu + GROWTH_STEP < MTU:
            sizes.append(max(self._maxmtu + GROWTH_STEP, MIN_PROBE))
        for _ in range(RANDOM_PROBES + self.local_discovery):
            if self._maxmtu <= self._minmtu:
                size = self._maxmtu
            else:
                size = self._minmtu + 1 + self._below(self._maxmtu - self._minmtu)
            sizes.append(max(size, MIN_PROBE))
        self._last_local = self.local_discovery and self._probes <= NO_REPLY_LIMIT
        return sizes

    def _below(self, bound: int) -> int:
        """A number in ``0 .. bound - 1`` (tincd: ``rand() % bound``; the modulo
        bias over 32 bits is below 1e-6 for bounds up to 1518)."""
        return int.from_bytes(self._random(4), "big") % bound

    def _log(self, message: str) -> None:
        if log.isEnabledFor(_TRAFFIC):
            log.log(_TRAFFIC, message, self.peer)
