"""What a node knows about the VPN: peers, links, and their per-peer state.

This is plain data. The meta protocol (:mod:`tinca.core.node.protocol`) and
the data path (:mod:`tinca.core.node.datapath`) change it; the I/O shell
(:mod:`tinca.core.node.shell`) owns the socket behind each :class:`Link`
(:class:`tinca.core.node.link.MetaConnection`, sans-IO).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from tinca.core.counters import PeerCounters
from tinca.core.mtu import MTUStrategy
from tinca.core.path import PeerPath
from tinca.core.sessions import MetaSession, PacketOpener, PacketSealer


class Link(Protocol):
    """One meta connection as the protocol sees it (the shell implements it)."""

    #: the peer's name, known after its ID line (None before)
    name: str | None
    #: the connection ended (it stays listed until the protocol drops it)
    closed: bool
    #: authenticated and active (tinc's status.active)
    active: bool
    #: the peer's address as we see the TCP connection: (host, port)
    address: tuple[str, str]
    #: option bits negotiated for this connection
    options: int
    #: we sent a PING and wait for the PONG
    pinged: bool
    #: clock time of the last PING sent or of the connection's start
    last_ping_time: float
    #: this link's edge from us to the peer, once active
    edge_weight: int | None
    #: the link carries the MST (broadcasts travel over it)
    mst: bool
    #: the sans-IO meta session that carries the connection
    session: MetaSession

    @property
    def local_address(self) -> tuple[str, str] | None:
        """Our end of the TCP connection: (host, port); ``None`` until connected."""
        ...

    def send_line(self, line: str) -> None:
        """Queue one request line for the peer."""

    def send_packet(self, packet: bytes) -> None:
        """Queue one VPN packet over this meta connection."""

    def send_raw_packet(self, data: bytes) -> None:
        """Queue a channel datagram with its node IDs, unprotected by the
        connection (see :meth:`MetaSession.send_raw_packet`); dropped when
        the connection's protocol cannot carry it."""

    def fileno(self) -> int:
        """The connection's socket descriptor, for ``dump connections``
        (-1 when there is none)."""
        ...

    def close(self, report: bool) -> None:
        """Close the connection; ``report`` as tincd's terminate_connection."""


@dataclass
class Peer:
    """Our view of one other node (tinc's ``node_t`` minus the graph fields).

    ``sealer`` protects packets we send to this node (its ANS_KEY to us),
    ``opener`` checks packets it sends to us (our ANS_KEY to it), for paths
    that use the suite's packet keys. ``path`` is how its packets travel
    (:class:`~tinca.core.path.PeerPath`, built by the cipher suite).
    """

    name: str
    reachable: bool = False
    nexthop: str | None = None
    via: str | None = None
    options: int = 0
    udp_address: tuple[str, int] | None = None
    link: Link | None = None
    sealer: PacketSealer | None = None
    opener: PacketOpener | None = None
    last_req_key: float = -1e9
    mtu_strategy: MTUStrategy | None = None
    #: MTU ceiling from PMTU settings (tinc's n->mtu before discovery)
    mtu: int = 1518
    minmtu: int = 0
    maxmtu: int = 1518
    #: when the next MTU probe round is due (None: no probing)
    mtu_wakeup: float | None = None
    #: how its packets travel (set by the meta protocol when the node is
    #: first known and when its reachability changes)
    path: PeerPath | None = None
    #: its traffic counters (:mod:`tinca.core.counters`); the data path adds to them
    counters: PeerCounters = field(default_factory=PeerCounters)

    @property
    def stats(self) -> dict[str, int]:
        """Packets in and out as ``{"in": N, "out": M}`` (the older form of
        :attr:`counters`; assigning one sets both packet counts)."""
        return {"in": self.counters.in_packets, "out": self.counters.out_packets}

    @stats.setter
    def stats(self, value: dict[str, int]) -> None:
        self.counters.in_packets = value.get("in", 0)
        self.counters.out_packets = value.get("out", 0)

    @property
    def valid_key(self) -> bool:
        """We can send to this node over UDP (we have its key)."""
        return self.sealer is not None
