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
    #: the protocol minor version the peer announced in its options (0: tinc
    #: 1.0); ``None`` when not known, and a strategy assumes the newest it knows
    peer_minor: int | None = None

    @property
    def ceiling(self) -> int:
        """The MTU before discovery: ``PMTU`` capped at tinc's 1518."""
        return min(self.pmtu, MTU) if self.pmtu else MTU


class MTUStrategy(abc.ABC):
    """Probing decisions for one peer. Factories take :class:`MTUSettings`.

    The abstract members are what every strategy decides. The others have
    defaults that fit a strategy without the notion (one that never probes,
    say): override those the strategy knows better. This class is the whole
    contract: the node reads and calls nothing else on a strategy.
    """

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

    @property
    def minmtu(self) -> int:
        """The largest packet known to reach the peer by UDP (tinc's ``minmtu``;
        0: none yet). ``dump nodes`` shows it and ``MTU_INFO`` passes it on.

        Default: :attr:`udp_limit` (0 when that is ``None``).
        """
        return self.udp_limit or 0

    @property
    def maxmtu(self) -> int:
        """The upper bound the strategy knows for the path MTU (tinc's ``maxmtu``).

        ``minmtu == maxmtu`` counts as a measured path MTU (``MTU_INFO``).
        Default: tinc's :data:`MTU` (no bound learned).
        """
        return MTU

    @property
    def udp_confirmed(self) -> bool | None:
        """Whether a probe reply proved recently that UDP with the peer works
        (tinc 1.1's ``udp_confirmed``); ``None`` (the default) when the
        strategy keeps no such flag.

        The node reads ``None`` as tinc 1.0 behaves, which has no such flag:
        the per-peer channel path sends to the peer directly as if confirmed,
        a ``UDP_INFO`` hint may still move the peer's UDP address (as for an
        unconfirmed one), and ``dump nodes`` shows it confirmed once
        :attr:`minmtu` is above 0.
        """
        return None

    @property
    def rtt(self) -> float | None:
        """Seconds a small UDP probe took to be answered, for ``dump nodes``;
        ``None`` (the default) when not measured."""
        return None

    @property
    def gratuitous_reply(self) -> int | None:
        """A length to send the peer in an unsolicited probe reply now (tinc
        1.1's type 2 reply, telling it the largest packet that arrived), read
        after each :meth:`due_probes`; ``None`` (the default) for none."""
        return None

    def start(self, now: float) -> None:  # noqa: B027 - optional hook, no-op by default
        """A usable key for the peer arrived: probing may begin."""

    def stop(self) -> None:  # noqa: B027 - optional hook, no-op by default
        """The peer's reachability changed: forget progress, cancel timers."""

    def key_lost(self) -> None:  # noqa: B027 - optional hook, no-op by default
        """The peer's packet key (tinc 1.0's, sent in ANS_KEY) became invalid;
        a new one will follow. Not called for peers with a per-peer channel,
        which re-keys in place. Default: nothing."""

    def send_too_big(self, size: int) -> None:  # noqa: B027 - optional hook, no-op by default
        """A UDP send of ``size`` bytes failed with EMSGSIZE."""

    def packet_received(self, length: int) -> None:  # noqa: B027 - optional hook, no-op by default
        """A packet (data or probe) of ``length`` plaintext bytes came from the
        peer by UDP over its per-peer channel. Called for every such packet:
        keep it cheap. Default: nothing."""

    def provisional_mtu(self, mtu: int) -> None:  # noqa: B027 - optional hook, no-op by default
        """A relay's ``MTU_INFO`` says the path to the peer carries ``mtu``
        bytes (already capped at :data:`MTU`); a strategy may use it until it
        measures one. May raise :class:`ValueError` for a value it rejects.
        Default: ignored."""

    def udp_address_changed(self) -> None:  # noqa: B027 - optional hook, no-op by default
        """The peer's UDP address changed (a datagram or a hint moved it):
        what was learned about the old path may no longer hold. Default: nothing."""

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
