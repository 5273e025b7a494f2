"""tinc 1.1's path MTU and UDP discovery as a sans-IO strategy (``tinc11``).

Theory of operation. Facts come from the ``1.1`` branch of tinc (commit
940d15c4); ``net_packet.c:N`` is a line in ``src/net_packet.c`` there.

tinc 1.1 keeps, per peer, the same ``minmtu`` / ``maxmtu`` / ``mtu`` trio as
tinc 1.0, but drives it differently:

* **UDP discovery first** (``try_udp``, l.1193). Every so often a small probe
  of :data:`MIN_PROBE_SIZE` bytes goes out: every ``UDPDiscoveryInterval``
  (2 s) until a reply arrives, then every ``UDPDiscoveryKeepaliveInterval``
  (10 s). Any probe reply marks the peer's UDP address *confirmed*; if no reply
  comes for ``UDPDiscoveryTimeout`` (30 s), the confirmation and all MTU
  progress are dropped (``udp_probe_timeout_handler``, l.123). While the path is
  not confirmed, MTU probing is held at its start (``try_mtu``, l.1344).
* **Size probing** (``try_mtu``, l.1339), counter ``mtuprobes``:

  ===========  ==============================================================
  counter      what a call does
  ===========  ==============================================================
  0 .. 19      one probe, size from :func:`probe_size`; at most one per
               :data:`DISCOVERY_GAP` seconds. At 0, ``maxmtu`` is first set
               to the system's estimate (``choose_initial_maxmtu``).
  20           fix: ``mtu = maxmtu = minmtu``; then as -1, in the same call.
  -1           keep-alive: probes of ``maxmtu`` and ``maxmtu + 1`` (the latter
               only below 1518), at most once per ``PingInterval``.
  -2, -3       the ``maxmtu`` probe went unanswered: one more each second.
  -4           three lost: "Decrease in PMTU", restart at 0 (``minmtu = 0``).
  ===========  ==============================================================

  Fixing also happens as soon as ``minmtu >= maxmtu``. A reply larger than
  ``maxmtu`` means the path grew: ``minmtu`` takes it, ``maxmtu`` goes back to
  1518 and the counter to 1. A reply of exactly ``maxmtu`` after fixing sets
  the counter back to -1 and restarts the ``PingInterval`` wait (l.218-236).
* **Sizes.** Discovery probes follow a cycle of eight shrinking sizes,
  ``max(minmtu, 512) + powf(interval, multiplier * position / 7)`` with
  ``position = 7 - mtuprobes % 8``, computed in single precision
  (:func:`probe_size`, l.1405-1435). The multiplier is 0.97 while ``maxmtu``
  is 1518 and 1 below it. (0.982 with a floor of 64 was the formula's first
  draft, replaced a day later and never released: :data:`FIRST_DRAFT_2014`.)
* **Gratuitous replies** (l.1198-1218). To peers of protocol 17.3 or later,
  once UDP is confirmed, tinc sends an unsolicited type 2 reply every
  ``keep-alive - 1`` seconds carrying the largest packet it received from that
  peer since the last one (``maxrecentlen``), so the peer learns what reaches us.

**When tinc 1.1 runs this.** tinc has no probe timer: it calls ``try_tx(n,
mtu=true)`` whenever it sends or relays a packet to the peer, and
``try_tx(n, mtu=false)`` (UDP discovery only) from its one-second timeout for
peers with a meta connection (``net.c:248``). Every gate above compares the
time since the last probe. This strategy offers both ways:

* as an :class:`~tinca.core.mtu.MTUStrategy` (the default): :meth:`due_probes`
  behaves as if tinc were called continuously, so every probe goes out at the
  moment its gate opens. Sizes, counters and the MTU found are the same as
  tinc's with traffic flowing; an idle peer keeps its probes going too;
* with ``on_demand=True``: :meth:`due_probes` only does UDP discovery (and
  timers), and the node calls :meth:`try_tx` with ``mtu=True`` when it sends a
  packet to the peer, exactly as tinc does.

``PMTU`` and ``PMTUDiscovery`` mean what they mean in tinc 1.0: ``PMTU`` lowers
the starting ``mtu`` (``protocol_auth.c:989-995``) and fixing overwrites it,
even upwards; ``PMTUDiscovery = no`` stops size probing but not UDP discovery.

The second half of this module builds and reads tinc 1.1's probe *packets*
(SPTPS records of type :data:`PKT_PROBE`).
"""

from __future__ import annotations

import logging
import math
import os
import struct
from collections.abc import Callable
from dataclasses import dataclass

from tinca.core.errors import TincaError
from tinca.core.logs import DEBUG_TRAFFIC, level_for
from tinca.core.meta.requests import PROT_MINOR_11
from tinca.core.mtu import MTU, MTUSettings, MTUStrategy

log = logging.getLogger(__name__)
_TRAFFIC = level_for(DEBUG_TRAFFIC)

# -- constants from tinc 1.1 ----------------------------------------------------

MIN_PROBE_SIZE = 18
"""Smallest probe tinc 1.1 sends, and the length of its type 2 replies
(``MIN_PROBE_SIZE``, net_packet.c:61): 14 header bytes plus 4 of padding."""

MIN_USABLE_MTU = 512
"""tinc's ``MINMTU`` (net.h:39): discovery probes start here, EMSGSIZE never
lowers ``maxmtu`` below it, and ``MTU_INFO`` below it is malformed."""

PROBES_PER_CYCLE = 8
"""Discovery sizes repeat their shrinking pattern every 8 probes (l.1408)."""

FIX_AFTER = 20
"""Discovery probes sent before the MTU is fixed on ``minmtu`` (l.94)."""

DISCOVERY_GAP = 0.333333
"""Least seconds between two discovery probes (l.1362: ``tv_usec < 333333``)."""

KEEPALIVE_RETRY_GAP = 1
"""Seconds between re-sent ``maxmtu`` probes while one is unanswered (l.1366)."""

LOST_KEEPALIVES = 3
"""Unanswered ``maxmtu`` probes after which discovery restarts (l.1381)."""

UDP_DISCOVERY_INTERVAL = 2
"""``UDPDiscoveryInterval`` default: seconds between UDP probes while the path
is unconfirmed (net_packet.c:84)."""

UDP_KEEPALIVE_INTERVAL = 10
"""``UDPDiscoveryKeepaliveInterval`` default, once confirmed (net_packet.c:83)."""

UDP_DISCOVERY_TIMEOUT = 30
"""``UDPDiscoveryTimeout`` default: seconds without any probe reply after which
the UDP path is no longer confirmed (net_packet.c:85)."""

TYPE2_MIN_MINOR = 3
"""Protocol minor version from which a peer understands type 2 replies, and
gets gratuitous ones (net_packet.c:145, 1200)."""

RELAY_IDS_MIN_MINOR = 4
"""Protocol minor version from which UDP packets carry two node IDs (l.1293)."""

NODE_ID_SIZE = 6
"""Bytes of one node ID in a UDP packet (``node_id_t``, net.h:60-63)."""

SPTPS_DATAGRAM_OVERHEAD = 21
"""Seqno (4), record type (1) and tag (16) of an SPTPS datagram (sptps.h:37)."""

IPV4_HEADER = 20
IPV6_HEADER = 40
UDP_HEADER = 8


# -- the size schedule ------------------------------------------------------------

_FLOAT32 = struct.Struct("f")


def float32(value: float) -> float:
    """``value`` rounded to the nearest IEEE-754 single-precision number.

    tinc computes probe sizes with C ``float`` arithmetic; packing into a
    4-byte ``f`` and back performs exactly that rounding (round to nearest,
    ties to even) without numpy. The product or quotient of two singles,
    computed in double precision and rounded once this way, is exactly the
    single-precision result C gives (double has more than twice the digits).
    """
    return _FLOAT32.unpack(_FLOAT32.pack(value))[0]


@dataclass(frozen=True)
class ProbeSchedule:
    """The constants of tinc's discovery size formula.

    ``multiplier`` applies while ``maxmtu`` is 1518 and ``reduced_multiplier``
    once the system lowered it; ``floor`` is the least lower bound; ``nearest``
    rounds the power to the nearest integer (``lrintf``) instead of truncating.
    """

    multiplier: float
    reduced_multiplier: float
    floor: int
    nearest: bool

    def __post_init__(self) -> None:
        # Store the constants as the single-precision numbers tinc uses.
        object.__setattr__(self, "multiplier", float32(self.multiplier))
        object.__setattr__(self, "reduced_multiplier", float32(self.reduced_multiplier))


TINC_1_1 = ProbeSchedule(
    multiplier=0.97, reduced_multiplier=1.0, floor=MIN_USABLE_MTU, nearest=True
)
"""The 1.1 branch since January 2022 (commit 28b7a53b: ``lrintf``), l.1417-1434."""

TINC_1_1PRE18 = ProbeSchedule(
    multiplier=0.97, reduced_multiplier=1.0, floor=MIN_USABLE_MTU, nearest=False
)
"""Release 1.1pre18: the same formula, the power truncated to an integer."""

FIRST_DRAFT_2014 = ProbeSchedule(
    multiplier=0.982, reduced_multiplier=0.982, floor=64, nearest=False
)
"""The formula as first committed (24d28adf, 2014-12-30) and as the feature
request quotes it: multiplier 0.982, floor 64. Replaced the next day (c1532035);
no release of tinc ever used it. For comparison only."""


def probe_size(minmtu: int, maxmtu: int, mtuprobes: int, schedule: ProbeSchedule = TINC_1_1) -> int:
    """The size of discovery probe number ``mtuprobes`` (0 .. 19) between the bounds.

    ``max(minmtu, floor) + round(powf(maxmtu - low, m * position / 7))`` in
    single precision, ``position = 7 - mtuprobes % 8``: the first probe of a
    cycle reaches ``interval ** m`` above the lower bound, the last one 1 byte.
    When ``maxmtu`` is not above the floor the offset is 0 (tinc 1.1 guards
    ``powf`` there, l.1426), so the size can exceed a ``maxmtu`` below 512.

    The power is computed in double precision and rounded to single. It can
    differ from glibc's ``powf`` in the last bit, but no input tinc can reach
    lies within a bit of a rounding boundary, so the integer sizes are
    identical (the unit tests check every reachable input).
    """
    low = max(minmtu, schedule.floor)
    interval = maxmtu - low
    if interval <= 0:
        return low
    multiplier = schedule.multiplier if maxmtu == MTU else schedule.reduced_multiplier
    position = PROBES_PER_CYCLE - mtuprobes % PROBES_PER_CYCLE - 1
    exponent = float32(float32(multiplier * position) / (PROBES_PER_CYCLE - 1))
    power = float32(math.pow(interval, exponent))
    # round() on a float rounds half to even, as lrintf does by default.
    offset = round(power) if schedule.nearest else int(power)
    return low + offset


def initial_maxmtu(
    ip_mtu: int,
    *,
    ipv6: bool = False,
    sptps: bool = True,
    peer_minor: int = 7,
    digest_length: int = 0,
    block_size: int = 1,
) -> int:
    """The largest probe size an interface MTU of ``ip_mtu`` allows (tinc 1.1's
    ``choose_initial_maxmtu``, l.1242-1330, without the socket).

    The node reads ``IP_MTU`` from a UDP socket connected to the peer and
    passes it here. Subtracts the IP and UDP headers, then the SPTPS datagram
    overhead and, for peers of 17.4 or later, two node IDs; for the legacy
    protocol the MAC, the cipher block rounding and the sequence number.
    Values below 512 are "absurd" and give 1518, as do results above it.
    """
    if ip_mtu < MIN_USABLE_MTU:
        return MTU
    mtu = ip_mtu - (IPV6_HEADER if ipv6 else IPV4_HEADER) - UDP_HEADER
    if sptps:
        mtu -= SPTPS_DATAGRAM_OVERHEAD
        if peer_minor >= RELAY_IDS_MIN_MINOR:
            mtu -= 2 * NODE_ID_SIZE
    else:
        mtu -= digest_length
        if block_size > 1:
            # CBC: whole blocks, at least one byte of padding in the last.
            mtu = mtu // block_size * block_size - 1
        mtu -= 4  # sequence number
    return min(mtu, MTU)


# -- the strategy ------------------------------------------------------------------


class Tinc11Probing(MTUStrategy):
    """tinc 1.1's UDP and path MTU discovery for one peer.

    The node drives it like this:

    * :meth:`start` once the peer is reachable with a key, :meth:`stop` when it
      becomes unreachable (tinc's graph resets both ways), :meth:`key_lost`
      for a legacy-protocol peer whose key went stale;
    * :meth:`due_probes` at :meth:`next_wakeup`: send a probe request
      (:func:`probe_request`) of each size returned; when
      :attr:`last_probe_local` is set, the last one goes to the local network;
      when :attr:`gratuitous_reply` is not ``None``, also send
      :func:`gratuitous_reply_record` with it;
    * :meth:`probe_replied` for every probe reply (:func:`parse_probe_record`'s
      length), solicited or not;
    * :meth:`packet_received` with the plaintext length of every packet that
      arrives from the peer by UDP (tinc's ``maxrecentlen``);
    * :meth:`send_too_big` when the kernel refuses a UDP send with EMSGSIZE,
      then :meth:`due_probes` at once if :meth:`next_wakeup` says so (tinc
      re-sends a smaller discovery probe within the same call);
    * :meth:`provisional_mtu` for ``MTU_INFO``, :meth:`udp_address_changed`
      when the peer's UDP address changes.

    ``settings.ping_interval`` times the keep-alive probes after fixing,
    ``settings.local_discovery`` adds the local probe (tinc 1.1's default is
    on). The keywords are tinc 1.1's server settings ``UDPDiscovery``,
    ``UDPDiscoveryInterval``, ``UDPDiscoveryKeepaliveInterval`` and
    ``UDPDiscoveryTimeout``, plus: ``peer_minor``, the peer's protocol minor
    version (default ``settings.peer_minor``, else tinc 1.1's 7);
    ``system_maxmtu``, a callable giving the upper bound at the start of each
    discovery (see :func:`initial_maxmtu`; default 1518, as tinc where
    ``IP_MTU`` is unknown); ``schedule`` (:data:`TINC_1_1`); ``on_demand``
    (see the module docstring); ``peer``, a name for log messages.
    """

    def __init__(
        self,
        settings: MTUSettings,
        *,
        udp_discovery: bool = True,
        udp_discovery_interval: int = UDP_DISCOVERY_INTERVAL,
        udp_keepalive_interval: int = UDP_KEEPALIVE_INTERVAL,
        udp_discovery_timeout: int = UDP_DISCOVERY_TIMEOUT,
        peer_minor: int | None = None,
        system_maxmtu: Callable[[], int] | None = None,
        schedule: ProbeSchedule = TINC_1_1,
        on_demand: bool = False,
        peer: str | None = None,
    ) -> None:
        super().__init__(settings)
        for name, value in (
            ("ping_interval", settings.ping_interval),
            ("udp_discovery_interval", udp_discovery_interval),
            ("udp_keepalive_interval", udp_keepalive_interval),
            ("udp_discovery_timeout", udp_discovery_timeout),
        ):
            if value < 1:
                raise ValueError(f"{name} must be at least 1 second, not {value}")
        self.udp_discovery = udp_discovery
        self.udp_discovery_interval = udp_discovery_interval
        self.udp_keepalive_interval = udp_keepalive_interval
        self.udp_discovery_timeout = udp_discovery_timeout
        if peer_minor is None:
            peer_minor = PROT_MINOR_11 if settings.peer_minor is None else settings.peer_minor
        self.peer_minor = peer_minor
        self.schedule = schedule
        self.on_demand = on_demand
        self.peer = settings.peer if peer is None else peer
        self._system_maxmtu = system_maxmtu

        self._active = False
        self._clock = 0.0  # latest time seen: "due now" for ungated work
        # tinc's per-node fields; None stands for tinc's zero timestamp (long ago).
        self._udp_confirmed = False
        self._ping_sent = False
        self._rtt: float | None = None
        self._udp_ping_sent: float | None = None
        self._udp_reply_sent: float | None = None
        self._udp_deadline: float | None = None
        self._maxrecentlen = 0
        self._mtu_ping_sent: float | None = None
        self._probes = 0
        self._minmtu = 0
        self._maxmtu = MTU
        self._node_mtu = settings.ceiling
        self._fixed_once = False
        # A discovery probe sent in the latest call, as (size, counter before),
        # so an EMSGSIZE for it can be retried the way tinc's loop does.
        self._inflight: tuple[int, int] | None = None
        self._retry = False
        self._last_local = False
        self._reply_due: int | None = None

    # -- what the node reads -------------------------------------------------------

    @property
    def mtu(self) -> int | None:
        """The fixed path MTU; ``None`` until discovery first fixes one.

        Kept through resets, as tinc keeps ``n->mtu``; lowered by EMSGSIZE.
        Without PMTU discovery: :attr:`node_mtu`.
        """
        if self._fixed_once or not self.settings.discovery:
            return self._node_mtu
        return None

    @property
    def node_mtu(self) -> int:
        """tinc's ``n->mtu``, for "too big" and MSS clamping: ``PMTU`` (or 1518)
        at first, then what discovery fixed, a provisional ``MTU_INFO`` value,
        or less after EMSGSIZE."""
        return self._node_mtu

    @property
    def udp_limit(self) -> int:
        """Longest data packet to send by UDP now: ``minmtu`` (0: TCP only).

        tinc 1.1's SPTPS path compares every non-probe record with ``minmtu``
        whether or not PMTU discovery is on (l.960-967); its legacy path only
        with PMTU discovery (l.840). Without discovery ``minmtu`` is only what
        replies to the small UDP probes raised it to.
        """
        return self._minmtu

    @property
    def minmtu(self) -> int:
        """Largest probe size answered so far (tinc's ``minmtu``)."""
        return self._minmtu

    @property
    def maxmtu(self) -> int:
        """Upper bound for the path MTU (tinc's ``maxmtu``)."""
        return self._maxmtu

    @property
    def probes(self) -> int:
        """tinc's ``mtuprobes``: 0 .. 20 discovering, -1 .. -4 fixed (module doc)."""
        return self._probes

    @property
    def measured(self) -> bool:
        """Whether ``minmtu == maxmtu``: what ``send_mtu_info`` takes as a direct
        measurement to pass on (protocol_misc.c:304)."""
        return self._minmtu == self._maxmtu

    @property
    def udp_confirmed(self) -> bool:
        """Whether a probe reply proved the peer's UDP address works, and not
        longer ago than ``UDPDiscoveryTimeout`` (tinc's ``udp_confirmed``)."""
        return self._udp_confirmed

    @property
    def rtt(self) -> float | None:
        """Seconds from the latest small UDP probe to the first reply after it."""
        return self._rtt

    @property
    def last_probe_local(self) -> bool:
        """Whether the last size of the latest :meth:`due_probes` / :meth:`try_tx`
        answer is the ``LocalDiscovery`` copy of the UDP probe, for the local
        network (tinc sends it second; the order within a call is immaterial)."""
        return self._last_local

    @property
    def gratuitous_reply(self) -> int | None:
        """The length an unsolicited type 2 reply should carry, from the latest
        :meth:`due_probes` / :meth:`try_tx` call, or ``None`` when none is due."""
        return self._reply_due

    def next_wakeup(self) -> float | None:
        """When :meth:`due_probes` has work next, or ``None`` while stopped.

        Never earlier than the latest time the strategy was given: work that
        became due before then is due at that time.
        """
        if not self._active:
            return None
        if self._retry:
            return self._clock
        wake = self._udp_deadline
        if self.udp_discovery:
            confirmed = self._udp_confirmed
            gap = self.udp_keepalive_interval if confirmed else self.udp_discovery_interval
            wake = _earliest(wake, self._gate(self._udp_ping_sent, gap))
            if confirmed and self._maxrecentlen and self.peer_minor >= TYPE2_MIN_MINOR:
                gate = self._gate(self._udp_reply_sent, self.udp_keepalive_interval - 1)
                wake = _earliest(wake, gate)
        if not self.on_demand:
            wake = _earliest(wake, self._mtu_gate())
        # A gate that opened in the past is due now, not then.
        return None if wake is None else max(wake, self._clock)

    # -- events ----------------------------------------------------------------------

    def start(self, now: float) -> None:
        """The peer is reachable and has a key: probing may begin at ``now``."""
        self._active = True
        self._clock = max(self._clock, now)

    def key_lost(self) -> None:
        """A legacy-protocol peer's key is no longer valid: tinc 1.1 skips both
        kinds of probing until a new key arrives (``try_tx_legacy``, l.1517);
        nothing is forgotten. (For SPTPS peers tinc probes on: don't call this.)"""
        self._active = False
        self._retry = False

    def stop(self) -> None:
        """The peer's reachability changed: forget UDP confirmation and bounds.

        As tinc's graph does (graph.c:265-271): the path MTU (:attr:`mtu`,
        :attr:`node_mtu`) and the times of the last probes are kept.
        """
        self._active = False
        self._retry = False
        self._inflight = None
        self._ping_sent = False
        self._udp_deadline = None
        self._forget_path()

    def reset(self, now: float) -> None:
        """:meth:`stop`, then :meth:`start` at ``now``."""
        self.stop()
        self.start(now)

    def udp_address_changed(self) -> None:
        """The peer's UDP address changed: it is no longer confirmed, and the
        bounds start over (``update_node_udp``, node.c:192-198)."""
        self._forget_path()

    def provisional_mtu(self, mtu: int) -> None:
        """An ``MTU_INFO`` for this peer said ``mtu``: use it as :attr:`node_mtu`
        until discovery measures one (``mtu_info_h``, protocol_misc.c:329-364).

        Raises :class:`ValueError` below 512, where tinc rejects the request.
        """
        if mtu < MIN_USABLE_MTU:
            raise ValueError(f"an MTU_INFO below {MIN_USABLE_MTU} is invalid, not {mtu}")
        mtu = min(mtu, MTU)
        if self._minmtu != self._maxmtu:
            self._node_mtu = mtu

    def packet_received(self, length: int) -> None:
        """A packet of ``length`` plaintext bytes (probe or data) came from the
        peer by UDP; the largest since the last gratuitous reply is reported in
        it. One comparison: cheap enough for every packet."""
        if length > self._maxrecentlen:
            self._maxrecentlen = length

    def send_too_big(self, size: int) -> None:
        """The kernel refused a ``size``-byte UDP send to the peer (EMSGSIZE).

        ``size`` is the probe size, or a data record's payload length. Lowers
        ``maxmtu`` and :attr:`node_mtu` to ``size - 1`` (not below 512) and may
        fix the MTU (``reduce_mtu``, l.107). If it was this call's discovery
        probe and ``maxmtu`` moved, :meth:`next_wakeup` becomes "now" and the
        next :meth:`due_probes` re-sends a probe computed for the new bound with
        the same counter, as tinc's probe loop does (l.1437-1444).
        """
        inflight = self._inflight
        if inflight is None or inflight[0] != size or self._probes != inflight[1] + 1:
            self._reduce(size - 1)
            return
        self._inflight = None
        # tinc is still inside its probe loop: the counter is not yet counted up.
        self._probes = inflight[1]
        before = self._maxmtu
        self._reduce(size - 1)
        if self._probes < 0:
            return  # reducing fixed the MTU; tinc's loop ends without counting
        if self._maxmtu != before:
            self._retry = True
        else:
            self._probes += 1

    def probe_replied(self, size: int, now: float) -> None:
        """The peer answered one of our probes, or sent a gratuitous reply.

        ``size`` is the length the reply stands for (the length field of a
        type 2 reply, the record length of a type 1). Confirms UDP, restarts
        the ``UDPDiscoveryTimeout`` and moves the bounds (``udp_probe_h``,
        l.168-237). Ignored while stopped. Raises :class:`ValueError` outside
        0 .. 65535, the range of the wire field.
        """
        if not 0 <= size <= 0xFFFF:
            raise ValueError(f"a probe reply stands for 0 to 65535 bytes, not {size}")
        if not self._active:
            return
        self._clock = max(self._clock, now)
        if self._ping_sent and self._udp_ping_sent is not None:
            self._ping_sent = False
            self._rtt = now - self._udp_ping_sent
        self._udp_confirmed = True
        if self.udp_discovery:
            self._udp_deadline = now + self.udp_discovery_timeout
        if size > self._maxmtu:
            self._log("Increase in PMTU to %s detected, restarting PMTU discovery")
            self._minmtu = size
            self._maxmtu = MTU
            self._probes = 1  # not 0: that would ask the system for maxmtu again
            return
        if self._probes < 0 and size == self._maxmtu:
            # the path still carries maxmtu: wait a full PingInterval again
            self._probes = -1
            self._mtu_ping_sent = now
        if self._minmtu < size:
            self._minmtu = size
            self._try_fix()

    def due_probes(self, now: float) -> list[int]:
        """Probe sizes to send at ``now``: :meth:`try_tx` with ``mtu`` on (off
        with ``on_demand``), if :meth:`next_wakeup` has come; else empty."""
        wake = self.next_wakeup()
        if wake is None or now < wake:
            self._last_local = False
            self._reply_due = None
            return []
        return self.try_tx(now, mtu=not self.on_demand)

    def try_tx(self, now: float, mtu: bool = True) -> list[int]:
        """What tinc's ``try_tx(n, mtu)`` sends at ``now``: the small UDP probe
        if its interval has passed, then, with ``mtu``, a size probe if its gate
        is open. Also runs an expired ``UDPDiscoveryTimeout`` first, and sets
        :attr:`last_probe_local` and :attr:`gratuitous_reply`.
        """
        self._last_local = False
        self._reply_due = None
        if not self._active:
            return []
        self._clock = max(self._clock, now)
        sizes: list[int] = []
        if self._retry:
            # The rest of the interrupted call: only the recomputed probe.
            self._retry = False
            self._discovery_probe(sizes)
            return sizes
        self._inflight = None
        if self._udp_deadline is not None and now >= self._udp_deadline:
            self._udp_timeout()
        local = self._try_udp(now, sizes)
        if mtu:
            self._try_mtu(now, sizes)
        if local:
            sizes.append(MIN_PROBE_SIZE)
            self._last_local = True
        return sizes

    # -- internals ---------------------------------------------------------------------

    def _gate(self, since: float | None, gap: float) -> float:
        return self._clock if since is None else since + gap

    def _mtu_gate(self) -> float | None:
        if not self.settings.discovery:
            return None
        if self.udp_discovery and not self._udp_confirmed:
            return None  # nothing to do until a reply confirms the path
        probes = self._probes
        if probes == 0:
            return self._clock
        if probes > 0:
            gap: float = DISCOVERY_GAP
        elif probes < -1:
            gap = KEEPALIVE_RETRY_GAP
        else:
            gap = self.settings.ping_interval
        return self._gate(self._mtu_ping_sent, gap)

    def _open(self, since: float | None, gap: float, now: float) -> bool:
        # Same expression as the wake-up time, so a tick at exactly that time
        # always finds the gate open despite float rounding.
        return since is None or now >= since + gap

    def _try_udp(self, now: float, sizes: list[int]) -> bool:
        if not self.udp_discovery:
            return False
        confirmed = self._udp_confirmed
        if confirmed and self.peer_minor >= TYPE2_MIN_MINOR:
            if self._open(self._udp_reply_sent, self.udp_keepalive_interval - 1, now):
                self._udp_reply_sent = now
                if self._maxrecentlen:
                    self._reply_due = self._maxrecentlen
                    self._maxrecentlen = 0
        gap = self.udp_keepalive_interval if confirmed else self.udp_discovery_interval
        if not self._open(self._udp_ping_sent, gap, now):
            return False
        self._udp_ping_sent = now
        self._ping_sent = True
        sizes.append(MIN_PROBE_SIZE)
        return self.settings.local_discovery and not confirmed

    def _try_mtu(self, now: float, sizes: list[int]) -> None:
        if not self.settings.discovery:
            return
        if self.udp_discovery and not self._udp_confirmed:
            self._maxrecentlen = 0
            self._probes = 0
            self._minmtu = 0
            self._maxmtu = MTU
            return
        probes = self._probes
        if probes > 0:
            gap: float = DISCOVERY_GAP
        elif probes < -1:
            gap = KEEPALIVE_RETRY_GAP
        else:
            gap = self.settings.ping_interval
        if probes != 0 and not self._open(self._mtu_ping_sent, gap, now):
            return
        self._mtu_ping_sent = now
        self._try_fix()
        if self._probes < -LOST_KEEPALIVES:
            self._log("Decrease in PMTU to %s detected, restarting PMTU discovery")
            self._probes = 0
            self._minmtu = 0
        if self._probes < 0:
            sizes.append(max(self._maxmtu, MIN_PROBE_SIZE))
            if self._probes == -1 and self._maxmtu + 1 < MTU:
                sizes.append(max(self._maxmtu + 1, MIN_PROBE_SIZE))
            self._probes -= 1
            return
        if self._probes == 0:
            self._maxmtu = self._initial_maxmtu()
        self._discovery_probe(sizes)

    def _discovery_probe(self, sizes: list[int]) -> None:
        size = max(
            probe_size(self._minmtu, self._maxmtu, self._probes, self.schedule), MIN_PROBE_SIZE
        )
        sizes.append(size)
        self._inflight = (size, self._probes)
        self._probes += 1

    def _initial_maxmtu(self) -> int:
        if self._system_maxmtu is None:
            return MTU
        value = self._system_maxmtu()
        if value < 1:
            raise ValueError(f"system_maxmtu gave {value}; it must be 1 .. {MTU}")
        return min(value, MTU)

    def _try_fix(self) -> None:
        if self._probes < 0:
            return
        if self._probes == FIX_AFTER or self._minmtu >= self._maxmtu:
            if self._minmtu > self._maxmtu:
                self._minmtu = self._maxmtu
            else:
                self._maxmtu = self._minmtu
            self._node_mtu = self._minmtu
            self._fixed_once = True
            if log.isEnabledFor(_TRAFFIC):
                log.log(
                    _TRAFFIC,
                    "Fixing MTU of %s to %d after %d probes",
                    self.peer,
                    self._minmtu,
                    self._probes,
                )
            self._probes = -1

    def _reduce(self, mtu: int) -> None:
        mtu = max(mtu, MIN_USABLE_MTU)
        if self._maxmtu > mtu:
            self._maxmtu = mtu
        if self._node_mtu > mtu:
            self._node_mtu = mtu
        self._try_fix()

    def _udp_timeout(self) -> None:
        self._udp_deadline = None
        if not self._udp_confirmed:
            return
        self._log(
            "Too much time has elapsed since last UDP ping response from %s, "
            "stopping UDP communication"
        )
        self._rtt = None
        self._forget_path()

    def _forget_path(self) -> None:
        self._udp_confirmed = False
        self._maxrecentlen = 0
        self._probes = 0
        self._minmtu = 0
        self._maxmtu = MTU

    def _log(self, message: str) -> None:
        if log.isEnabledFor(_TRAFFIC):
            log.log(_TRAFFIC, message, self.peer)


def _earliest(a: float | None, b: float | None) -> float | None:
    if a is None:
        return b
    if b is None:
        return a
    return min(a, b)


# =====================================================================================
# Probe records: what tinc 1.1's probes look like on the wire.
#
# Between SPTPS peers a probe is the body of an SPTPS datagram record of type
# PKT_PROBE, never compressed (send_sptps_packet, net_packet.c:685-688); a
# probe that arrives over TCP is an error (l.1071-1074). The body:
#
#   request          00 + 13 zero bytes + random padding; length = probed size
#   type 1 reply     the request with byte 0 = 01 (peers older than 17.3)
#   type 2 reply     02, the probed length as 2 bytes big-endian, the rest of
#                    the request's first 18 bytes: 18 bytes in all
#   gratuitous       02, a length, 11 zero bytes, 4 random bytes
#
# (send_udp_probe_packet l.1170-1188, send_udp_probe_reply l.139-166,
# try_udp l.1198-1218; confirmed by /work/shared/vectors/sptps/meta.json.)
# These helpers allocate; probes are a few per second per peer, not data.
# =====================================================================================

PKT_PROBE = 4
"""SPTPS record type of probes (``PKT_PROBE``, net.h:108)."""

PROBE_HEADER = 14
"""Zero bytes that open a probe request (an all-zero Ethernet header)."""

REQUEST = 0
"""Byte 0 of a probe request."""
REPLY_TYPE1 = 1
"""Byte 0 of a reply as long as the request."""
REPLY_TYPE2 = 2
"""Byte 0 of an 18-byte reply that carries the probed length."""


class ProbeError(TincaError, ValueError):
    """A probe record is malformed, or a probe cannot be built as asked."""


@dataclass(frozen=True)
class ProbeRecord:
    """A decoded probe: ``kind`` is :data:`REQUEST`, :data:`REPLY_TYPE1` or
    :data:`REPLY_TYPE2`; ``length`` is the size probed (for a request, its own
    length; for a type 2 reply, the length field)."""

    kind: int
    length: int

    @property
    def is_request(self) -> bool:
        """Whether this probe asks for an answer."""
        return self.kind == REQUEST


def probe_request(size: int, random: Callable[[int], bytes] = os.urandom) -> bytes:
    """The body of a probe request of ``size`` bytes (18 .. 1518):
    14 zero bytes, then ``size - 14`` bytes from ``random``."""
    if not MIN_PROBE_SIZE <= size <= MTU:
        raise ProbeError(f"a probe must be {MIN_PROBE_SIZE} to {MTU} bytes, not {size}")
    return bytes(PROBE_HEADER) + _draw(random, size - PROBE_HEADER)


def parse_probe_record(body: bytes | bytearray | memoryview) -> ProbeRecord:
    """Decode the body of a :data:`PKT_PROBE` record.

    Byte 0 zero is a request; 2 is a type 2 reply whose bytes 1-2 give the
    length; any other value is a type 1 reply standing for its own length, as
    tinc reads them (``udp_probe_h``). Raises :class:`ProbeError` for an empty
    body, a type 2 reply too short for its length field, or a body longer than
    1518 bytes (tinc drops those, l.1062).
    """
    if not body:
        raise ProbeError("an empty PKT_PROBE record is not a probe")
    if len(body) > MTU:
        raise ProbeError(f"a probe of {len(body)} bytes exceeds tinc's {MTU}")
    kind = body[0]
    if kind == REQUEST:
        return ProbeRecord(REQUEST, len(body))
    if kind == REPLY_TYPE2:
        if len(body) < 3:
            raise ProbeError(f"a type 2 probe reply needs 3 bytes for its length, not {len(body)}")
        return ProbeRecord(REPLY_TYPE2, int.from_bytes(body[1:3], "big"))
    return ProbeRecord(REPLY_TYPE1, len(body))


def probe_reply_record(
    request: bytes | bytearray | memoryview,
    length: int | None = None,
    *,
    peer_minor: int = 7,
) -> bytes:
    """The answer to the probe request ``request``, as tinc 1.1 builds it.

    To peers of protocol 17.3 or later, a type 2 reply: the request's first 18
    bytes with byte 0 = 2 and bytes 1-2 = ``length`` (default: the request's
    length), zero-padded should the request be shorter. To older peers, a type
    1 reply: the whole request with byte 0 = 1. ``length`` is what the reply
    should report; tinc reports a legacy packet's length less its compression
    allowance. Raises :class:`ProbeError` when ``request`` is not a request.
    """
    probe = parse_probe_record(request)
    if not probe.is_request:
        raise ProbeError("this probe is a reply; replies are not answered")
    if peer_minor < TYPE2_MIN_MINOR:
        return bytes((REPLY_TYPE1,)) + bytes(request[1:])
    length = probe.length if length is None else length
    if not 0 <= length <= 0xFFFF:
        raise ProbeError(f"a type 2 reply carries 0 to 65535, not {length}")
    head = bytes(request[3:MIN_PROBE_SIZE]).ljust(MIN_PROBE_SIZE - 3, b"\0")
    return bytes((REPLY_TYPE2,)) + length.to_bytes(2, "big") + head


def gratuitous_reply_record(length: int, random: Callable[[int], bytes] = os.urandom) -> bytes:
    """An unsolicited type 2 reply telling the peer ``length`` bytes arrived:
    ``02``, ``length`` big-endian, 11 zero bytes, 4 bytes from ``random``."""
    if not 0 <= length <= 0xFFFF:
        raise ProbeError(f"a type 2 reply carries 0 to 65535, not {length}")
    head = bytes((REPLY_TYPE2,)) + length.to_bytes(2, "big") + bytes(PROBE_HEADER - 3)
    return head + _draw(random, MIN_PROBE_SIZE - PROBE_HEADER)


def _draw(random: Callable[[int], bytes], n: int) -> bytes:
    data = random(n)
    if len(data) != n:
        raise ProbeError(f"the random source gave {len(data)} bytes, not {n}")
    return bytes(data)
