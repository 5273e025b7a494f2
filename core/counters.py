"""Traffic counters: where they are kept, and the one read-only view of them.

Counting happens on the data path, so it must cost no more than an
attribute add: each peer carries one :class:`PeerCounters` (``peer.counters``)
whose four plain ints the data path increments in place, drops by reason go
into one dict, and the device counts what it reads and writes itself
(:class:`~tinca.core.device.Device`'s ``packets_in`` ... ``bytes_out``).

:class:`Counters` is the node's index over those places, and the only way to
read them: :meth:`Counters.snapshot` copies everything into a frozen
:class:`CountersSnapshot`. ``tinca dump nodes``, ``tinca info`` and ``dump
traffic`` print from a snapshot, plugin control requests get one, and a
metrics plugin receives the :class:`Counters` object itself (hook
``tinca_metrics_start``) and calls :meth:`~Counters.snapshot` whenever it is
scraped, from any thread.

What is counted follows tinc 1.1 (src/net_packet.c): a peer's ``in`` counts
the packets (Ethernet frames, as tinc's ``packet->len``) that arrived from
it, by UDP or over a meta connection, and its ``out`` the packets routed to
it, however they travel; MTU probes are not counted. Our own node's figures
are the device's: packets read from it (in) and written to it (out), in the
device's own layer.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Protocol, TypeVar

_T = TypeVar("_T")

#: copies of a live table that changed size during the copy are retried this often
COPY_ATTEMPTS = 8


class PeerCounters:
    """One peer's live counters; the data path adds to them in place.

    Plain ints in ``__slots__``: ``counters.in_packets += 1`` is the whole
    cost of counting. Read them through :meth:`Counters.snapshot`, not here.
    """

    __slots__ = ("in_bytes", "in_packets", "out_bytes", "out_packets")

    def __init__(self) -> None:
        self.in_packets = 0
        self.in_bytes = 0
        self.out_packets = 0
        self.out_bytes = 0

    def traffic(self) -> Traffic:
        """A frozen copy of the four counts."""
        return Traffic(self.in_packets, self.in_bytes, self.out_packets, self.out_bytes)


class Counted(Protocol):
    """Anything that carries a peer's counters (a :class:`~tinca.core.node.state.Peer`)."""

    #: the peer's live counters
    counters: PeerCounters


class DeviceCounts(Protocol):
    """The counters a :class:`~tinca.core.device.Device` keeps about itself."""

    #: packets read from the device (towards the VPN)
    packets_in: int
    #: packets written to the device (from the VPN)
    packets_out: int
    #: bytes read from the device
    bytes_in: int
    #: bytes written to the device
    bytes_out: int


@dataclass(frozen=True, slots=True)
class Traffic:
    """Packets and bytes in both directions (tinc's ``in_packets`` ... ``out_bytes``)."""

    in_packets: int = 0
    in_bytes: int = 0
    out_packets: int = 0
    out_bytes: int = 0

    def __add__(self, other: Traffic) -> Traffic:
        return Traffic(
            self.in_packets + other.in_packets,
            self.in_bytes + other.in_bytes,
            self.out_packets + other.out_packets,
            self.out_bytes + other.out_bytes,
        )


NO_TRAFFIC = Traffic()
"""All zero: a node tinca knows nothing about, or a node without a device."""


@dataclass(frozen=True)
class CountersSnapshot:
    """Every counter of one node at one moment; frozen, safe to keep and share.

    - ``myself``: our node's name.
    - ``node``: our own node's traffic, as the device counted it (read from
      the device is ``in``, written to it is ``out``).
    - ``peers``: each known peer's traffic, by name (read-only mapping). A
      peer that ``purge`` forgot disappears, as in tinc.
    - ``drops``: packets the data path dropped, by reason (read-only
      mapping; reasons are short English phrases such as ``"not IP"``).

    Each count is exact, but the snapshot is not a transaction: a packet
    counted while it was taken may show in one figure and not yet in another.
    """

    myself: str
    node: Traffic
    peers: Mapping[str, Traffic]
    drops: Mapping[str, int]

    @property
    def peer_totals(self) -> Traffic:
        """The sum over all peers: every packet exchanged with the VPN."""
        total = NO_TRAFFIC
        for traffic in self.peers.values():
            total = total + traffic
        return total

    @property
    def dropped(self) -> int:
        """All drops, whatever the reason."""
        return sum(self.drops.values())

    def peer(self, name: str) -> Traffic:
        """``name``'s traffic: our own node's for ``myself``, zero when unknown."""
        if name == self.myself:
            return self.node
        return self.peers.get(name, NO_TRAFFIC)


def _copy(make: Callable[[], _T]) -> _T:
    """``make()`` retried while the table it copies changes size underneath
    (another thread's snapshot racing the loop's inserts)."""
    for _ in range(COPY_ATTEMPTS - 1):
        try:
            return make()
        except RuntimeError:
            continue
    return make()


class Counters:
    """The node's counters: one index over where the data path counts.

    ``peers`` is the node's live peer table (name to an object with
    ``.counters``); ``device`` is the open device, or ``None``; ``drops`` is
    the dict the data path counts drops in, by reason (a new one if not
    given). Nothing is copied until :meth:`snapshot`, so counting stays a
    plain attribute add.

    Thread safety: :meth:`snapshot` may be called from any thread (a metrics
    exporter's HTTP thread, say). It only reads ints and copies dicts, which
    the interpreter does atomically; a copy that races an insert is retried.
    """

    def __init__(
        self,
        myself: str,
        peers: Mapping[str, Counted],
        device: DeviceCounts | None = None,
        drops: dict[str, int] | None = None,
    ) -> None:
        self.myself = myself
        self._peers = peers
        self._device = device
        #: packets the data path dropped, by reason; the data path adds to it
        self.drops: dict[str, int] = drops if drops is not None else {}

    def snapshot(self) -> CountersSnapshot:
        """Every counter now, frozen (see :class:`CountersSnapshot`)."""
        peers = self._peers
        by_name = _copy(lambda: {name: peer.counters.traffic() for name, peer in
                                 list(peers.items())})
        drops = self.drops
        device = self._device
        node = NO_TRAFFIC if device is None else Traffic(
            device.packets_in, device.bytes_in, device.packets_out, device.bytes_out
        )
        return CountersSnapshot(
            self.myself,
            node,
            MappingProxyType(by_name),
            MappingProxyType(_copy(lambda: dict(drops))),
        )
