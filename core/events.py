"""Payloads of the lifecycle hooks (see :mod:`tinca.core.hookspecs`).

They carry the facts tincd exports to its scripts, so a script plugin can build
the same environment and a metrics plugin can count the same events.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from tinca.core.mtu import MTUStrategy


@dataclass(frozen=True)
class NodeEvent:
    """Our own node going up or down (``tinc-up`` / ``tinc-down``)."""

    netname: str | None
    name: str
    device: str | None
    interface: str | None
    debug_level: int
    confbase: str
    #: looks up a configuration variable (typed, with its default); None when
    #: the event was made without a configuration (tests, tools)
    setting: Callable[[str], Any] | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True)
class HostEvent:
    """A remote node becoming reachable or unreachable."""

    node: NodeEvent
    host: str
    remote_address: str | None
    remote_port: int | None


@dataclass(frozen=True)
class SubnetEvent:
    """A subnet of ``owner`` becoming reachable or unreachable."""

    node: NodeEvent
    owner: str
    subnet: str
    weight: int
    remote_address: str | None = None
    remote_port: int | None = None


# ---------------------------------------------------------------------------
# observability: keys and paths (tinca_peer_key_changed, tinca_path_mtu_changed,
# tinca_peer_path_changed)


@dataclass(frozen=True)
class PeerKeyEvent:
    """We received a packet key from ``peer`` (tinc 1.0's ANS_KEY, or the
    first key of a per-peer channel such as tinc 1.1's SPTPS session).

    ``rekey`` is false for the first key since the node started and true for
    every later one (tinc 1.0 peers re-key every ``KeyExpire`` seconds; a
    per-peer channel re-keys in place without this event). ``channel`` says
    whether the peer's packets use a per-peer channel (tinc's
    ``status.sptps``).
    """

    node: NodeEvent
    peer: str
    rekey: bool
    channel: bool


@dataclass(frozen=True)
class PathMTUEvent:
    """The path MTU the MTU strategy settled on for ``peer`` changed.

    ``old`` and ``mtu`` are the strategy's :attr:`~tinca.core.mtu.MTUStrategy.mtu`
    before and after: ``None`` while unknown (before the first measurement,
    after the peer became unreachable). ``minmtu`` and ``maxmtu`` are the
    strategy's bounds at the time of the change.
    """

    node: NodeEvent
    peer: str
    old: int | None
    mtu: int | None
    minmtu: int
    maxmtu: int


@dataclass(frozen=True)
class PeerPathEvent:
    """Packets to ``peer`` switched between a confirmed UDP path and TCP.

    ``udp`` is true when UDP with the peer is confirmed (what ``dump nodes``
    shows as ``udp_confirmed``): packets go by UDP; false when they go over
    the meta connections (or wait for a path). ``address`` is the peer's UDP
    address as (host, port) when known.
    """

    node: NodeEvent
    peer: str
    udp: bool
    address: tuple[str, int] | None


class WatchedPeer(Protocol):
    """What :class:`PathWatch` reads of a peer (a :class:`~tinca.core.node.state.Peer`)."""

    name: str
    reachable: bool
    udp_address: tuple[str, int] | None
    mtu_strategy: MTUStrategy | None


class PathWatch:
    """Turns what the node observes about its peers into events, once each.

    The node tells it every key that arrives (:meth:`key_arrived`) and, on
    each probe tick, each peer's current path facts (:meth:`observe`); it
    remembers what it last reported per peer and returns ``(hook name,
    event)`` pairs only for what changed. Sans-IO: no clock, no hook calls.
    """

    def __init__(self, node: NodeEvent) -> None:
        self.node = node
        self._keys: set[str] = set()
        #: peer -> (mtu, udp) last reported
        self._paths: dict[str, tuple[int | None, bool]] = {}

    def key_arrived(self, peer: str, channel: bool) -> tuple[str, PeerKeyEvent]:
        """The event for a key from ``peer``."""
        rekey = peer in self._keys
        self._keys.add(peer)
        return "tinca_peer_key_changed", PeerKeyEvent(self.node, peer, rekey, channel)

    def observe(
        self,
        peer: str,
        mtu: int | None,
        minmtu: int,
        maxmtu: int,
        udp: bool,
        address: tuple[str, int] | None,
    ) -> list[tuple[str, PathMTUEvent | PeerPathEvent]]:
        """Events for what changed since the last call about ``peer``.

        A peer first seen counts as "MTU unknown, no UDP", so its first
        measured MTU and its first confirmed UDP path are reported.
        """
        old_mtu, old_udp = self._paths.get(peer, (None, False))
        if (old_mtu, old_udp) == (mtu, udp):
            return []
        self._paths[peer] = (mtu, udp)
        events: list[tuple[str, PathMTUEvent | PeerPathEvent]] = []
        if mtu != old_mtu:
            events.append(("tinca_path_mtu_changed",
                           PathMTUEvent(self.node, peer, old_mtu, mtu, minmtu, maxmtu)))
        if udp != old_udp:
            events.append(("tinca_peer_path_changed",
                           PeerPathEvent(self.node, peer, udp, address)))
        return events

    def observe_peers(
        self, peers: Iterable[WatchedPeer]
    ) -> list[tuple[str, PathMTUEvent | PeerPathEvent]]:
        """:meth:`observe` for every peer that has an MTU strategy.

        UDP counts as confirmed as ``dump nodes`` shows it: the peer is
        reachable and its strategy's ``udp_confirmed`` holds, or, for a
        strategy without that flag (``None``), its ``minmtu`` is above 0.
        """
        events: list[tuple[str, PathMTUEvent | PeerPathEvent]] = []
        for peer in peers:
            strategy = peer.mtu_strategy
            if strategy is None:
                continue
            confirmed = strategy.udp_confirmed
            minmtu = strategy.minmtu
            udp = peer.reachable and (confirmed if confirmed is not None else minmtu > 0)
            events += self.observe(peer.name, strategy.mtu, minmtu, strategy.maxmtu, udp,
                                   peer.udp_address)
        return events
