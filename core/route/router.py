"""Where a packet goes: tincd 1.0.36's ``route()`` (``route.c``) without I/O.

:attr:`Router.route` takes the name of the node a packet came from (our own
name for packets read from the device) and the packet as an Ethernet frame
(tincd's internal and wire format, also in router mode; see
:mod:`tinca.core.route.packet`), and returns a decision
(:mod:`tinca.core.route.decisions`):

- :class:`ToNode` — send the packet to that node (the node layer picks the
  hop: ``via`` for UDP, ``nexthop`` for TCP);
- :data:`TO_DEVICE` — write the packet to our device;
- :class:`Broadcast` — copies to the listed nodes and maybe to our device;
- :class:`Reply` — a packet built here (ICMP error, ARP reply, neighbor
  advertisement) for a node, or for our device when ``to`` is our name;
- :class:`Fragments` — IPv4 fragments to send to a node instead;
- :class:`Drop` — nothing to send, with a short reason for counters.

The packet is a ``bytearray`` and may be changed in place (TTL decremented,
MSS clamped, destination MAC overwritten); send it as it is after the call.
Common decisions are preallocated, so routing a packet allocates little
beyond the subnet lookup's key.

What decides is the routing mode (tinc's ``Mode``), a plugin
(:mod:`tinca.core.route.mode`): tinc's router, switch and hub modes are the
default routing plugin's. The :class:`Router` holds what every mode shares
and binds the mode's ``route`` as its own at construction, so a packet costs
one call into the mode. It holds the latest graph (:meth:`Router.set_routes`),
the subnet table, each node's path MTU (the ``mtu`` callable: tincd's
``n->mtu``, a frame size including the 14-byte Ethernet header), the settings
tincd reads at start — ``Forwarding``, ``Broadcast``, ``DecrementTTL``,
``DirectOnly``, ``TunnelServer`` (broadcasts are not forwarded), ``MACExpire``
and whether the device is a tap in router mode (``overwrite_mac``) — and the
decision helpers the modes build on (ICMP errors, TTL, MSS clamping,
fragmentation, broadcasts). ``Forwarding = kernel`` (packets from peers go to
our device unrouted) and the packet policies (:mod:`tinca.core.policy`) wrap
the mode's ``route`` here, only when configured.
``StrictSubnets`` does not affect routing (it filters ADD_SUBNET).
``PriorityInheritance`` is left to the sender (the TOS byte is in the packet).

Differences from tincd, all in corner cases: where tincd would read beyond
the end of a short packet inside its fixed buffer, bytes past the end read as
zero; in switch mode a packet for a known but unreachable node is dropped
before the MTU check instead of after; tincd's two-entry lookup cache is
replaced by one that never disagrees with a fresh lookup.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from tinca.core.graph import OPTION_CLAMP_MSS, UNREACHABLE, GraphUpdate, Route
from tinca.core.mtu import MTU
from tinca.core.registry import Registry
from tinca.core.route.decisions import (
    DROP_BAD_FRAGMENT,
    DROP_BAD_REQUEST,
    DROP_FROM_PEER,
    DROP_LOOPING_BACK,
    DROP_NOT_DIRECT,
    DROP_NOT_FORWARDING,
    DROP_OWN_TARGET,
    DROP_RATE_LIMITED,
    DROP_ROUTING_LOOP,
    DROP_TOO_SHORT,
    DROP_TTL,
    DROP_UNKNOWN_TARGET,
    DROP_UNKNOWN_TYPE,
    DROP_UNREACHABLE,
    TO_DEVICE,
    Broadcast,
    Decision,
    Drop,
    Fragments,
    Reply,
    ToDevice,
    ToNode,
)
from tinca.core.route.icmp import ipv4_unreachable, ipv6_unreachable
from tinca.core.route.mode import MODES_HOOK, RoutingMode, UnknownModeError
from tinca.core.route.mss import clamp_mss
from tinca.core.route.packet import (
    ETH_ALEN,
    ETH_P_8021Q,
    ETH_P_IP,
    ETH_P_IPV6,
    ETHER_SIZE,
    ICMP6_TIME_EXCEED_TRANSIT,
    ICMP6_TIME_EXCEEDED,
    ICMP_EXC_TTL,
    ICMP_TIME_EXCEEDED,
    IP6_SIZE,
    IP_MF,
    IP_OFFMASK,
    IP_SIZE,
    IPPROTO_ICMP,
    IPPROTO_ICMPV6,
    VLAN_TAG_SIZE,
    MalformedPacket,
    inet_checksum,
)
from tinca.core.route.subnet_table import SubnetTable
from tinca.core.subnet import Subnet

if TYPE_CHECKING:
    from tinca.core.policy import NamedPolicy

# The decisions are re-exported: modes and tests find them next to the router.
__all__ = [
    "DEFAULT_MAC",
    "DEFAULT_MAC_EXPIRE",
    "DROP_BAD_FRAGMENT",
    "DROP_BAD_REQUEST",
    "DROP_FROM_PEER",
    "DROP_LOOPING_BACK",
    "DROP_NOT_DIRECT",
    "DROP_NOT_FORWARDING",
    "DROP_OWN_TARGET",
    "DROP_RATE_LIMITED",
    "DROP_ROUTING_LOOP",
    "DROP_TOO_SHORT",
    "DROP_TTL",
    "DROP_UNKNOWN_TARGET",
    "DROP_UNKNOWN_TYPE",
    "DROP_UNREACHABLE",
    "ICMP_RATE",
    "MIN_MTU_IPV4",
    "MIN_MTU_IPV6",
    "TO_DEVICE",
    "Broadcast",
    "BroadcastMode",
    "Decision",
    "Drop",
    "Forwarding",
    "Fragments",
    "Reply",
    "Router",
    "RoutingModeFactory",
    "ToDevice",
    "ToNode",
]

Forwarding = Literal["off", "internal", "kernel"]
BroadcastMode = Literal["no", "mst", "direct"]

DEFAULT_MAC = b"\xfe\xfd\x00\x00\x00\x00"
"""tincd's ``mymac`` until the device tells it otherwise (route.c)."""
DEFAULT_MAC_EXPIRE = 600
"""Seconds a learned MAC address lives without traffic (``MACExpire``)."""
ICMP_RATE = 3
"""ICMP errors tincd sends per second at most, IPv4 and IPv6 together."""

MIN_MTU_IPV4 = 590
"""The smallest path MTU tincd assumes when deciding an IPv4 packet is too
big: IPv4 must carry 576-byte datagrams (plus 14 for Ethernet)."""
MIN_MTU_IPV6 = 1294
"""The same for IPv6: 1280-byte packets plus 14 for Ethernet."""


@dataclass(frozen=True, slots=True)
class _IcmpFamily:
    """Where IPv4 and IPv6 differ when building an ICMP error."""

    build: Callable[..., bytearray]
    time_exceeded: int
    source_offset: int  # of the sender's address in the IP header
    address_size: int


_ICMP4 = _IcmpFamily(ipv4_unreachable, ICMP_TIME_EXCEEDED, 12, 4)
_ICMP6 = _IcmpFamily(ipv6_unreachable, ICMP6_TIME_EXCEEDED, 8, 16)


def _default_mtu(name: str) -> int:
    return MTU


RoutingModeFactory = Callable[["Router"], RoutingMode]
"""What a routing-mode plugin registers: builds the mode for one router."""

RouteFunction = Callable[[str, bytearray], Decision]
"""``route(source, packet) -> Decision``: a mode's route, maybe wrapped."""


@functools.cache
def installed_modes() -> Registry:
    """The routing modes of the installed plugins (entry points, none blocked).

    For a :class:`Router` built outside a node from a mode name alone; a node
    passes its own stack's registry instead.
    """
    from tinca.core.plugin_manager import PluginManager

    return PluginManager().registry(MODES_HOOK)


def mode_factory(mode: str | RoutingModeFactory, modes: Registry | None = None
                 ) -> RoutingModeFactory:
    """The factory for ``mode``: a registered name (any case) looked up in
    ``modes`` (default: :func:`installed_modes`), or a factory as it is.

    An unknown name is an :class:`~tinca.core.route.mode.UnknownModeError`
    (a ``ValueError``) that lists the registered modes.
    """
    if not isinstance(mode, str):
        return mode
    registry = modes if modes is not None else installed_modes()
    if mode not in registry:
        raise UnknownModeError(
            f"unknown routing mode {mode!r}; installed: {', '.join(registry.names()) or 'none'}")
    factory: RoutingModeFactory = registry.get(mode).value
    return factory


class Router:
    """tincd 1.0.36's packet routing for node ``myself``; see the module.

    ``mode`` is a routing mode's registered name (any case), looked up in
    ``modes`` (by default the installed plugins' modes), or a
    :data:`RoutingModeFactory`; an unknown name is a ``ValueError``.
    ``policies`` are the packet policies to consult, in order, for every
    routed packet (none: no cost).
    ``mtu(name)`` is the current path MTU to a node (a frame size);
    ``options`` are our own option bits (``OPTION_CLAMP_MSS`` matters);
    ``local_address(sender)`` returns our address towards ``sender`` (4 or 16
    bytes) for "time exceeded" replies, or ``None`` to answer from the
    packet's destination.

    The settings are fixed at construction. Attributes without a leading
    underscore are what a routing mode may read (and ``mymac``, which router
    mode updates from ARP and ND requests); the methods below
    :meth:`roamed` are the helpers modes build their decisions with.
    """

    route: RouteFunction
    """``route(source, packet)``: decide what to do with ``packet`` from
    ``source``; never raises on packet contents. The mode's
    :meth:`~tinca.core.route.mode.RoutingMode.route`, bound at construction
    (wrapped only for ``Forwarding = kernel`` and packet policies)."""

    def __init__(
        self,
        myself: str,
        mode: str | RoutingModeFactory,
        subnets: SubnetTable | None = None,
        *,
        modes: Registry | None = None,
        policies: Sequence[NamedPolicy] = (),
        forwarding: Forwarding = "internal",
        broadcast: BroadcastMode = "mst",
        decrement_ttl: bool = False,
        directonly: bool = False,
        tunnelserver: bool = False,
        overwrite_mac: bool = False,
        mymac: bytes = DEFAULT_MAC,
        mac_expire: float = DEFAULT_MAC_EXPIRE,
        options: int = OPTION_CLAMP_MSS,
        mtu: Callable[[str], int] = _default_mtu,
        clock: Callable[[], float] = time.monotonic,
        local_address: Callable[[bytes], bytes | None] | None = None,
    ) -> None:
        factory = mode_factory(mode, modes)
        if forwarding not in ("off", "internal", "kernel"):
            raise ValueError(f"unknown forwarding mode {forwarding!r}")
        if broadcast not in ("no", "mst", "direct"):
            raise ValueError(f"unknown broadcast mode {broadcast!r}")
        if len(mymac) != ETH_ALEN:
            raise ValueError("a MAC address is 6 bytes")
        self.myself = myself
        self.subnets = subnets if subnets is not None else SubnetTable()
        self.forwarding = forwarding
        self.broadcast = broadcast
        self.decrement_ttl = decrement_ttl
        self.directonly = directonly
        self.tunnelserver = tunnelserver
        self.overwrite_mac = overwrite_mac
        #: the MAC our device uses; learned from ARP/ND requests with overwrite_mac
        self.mymac = bytes(mymac)
        #: seconds a learned address lives without traffic (``MACExpire``)
        self.mac_expire = mac_expire
        self.options = options
        #: ``mtu(name)``: the path MTU to a node, a frame size
        self.mtu = mtu
        self.clock = clock
        self._local_address = local_address
        #: the latest routes by node name, our own included
        self.routes: Mapping[str, Route] = {
            myself: Route(True, myself, myself, 0, False, None, options, None)}
        #: our neighbours on the minimum spanning tree
        self.mst_peers: frozenset[str] = frozenset()
        self._to_node: dict[str, ToNode] = {}
        self._broadcasts: dict[str, Broadcast] = {}
        self._rate_second: int | None = None
        self._rate_count = 0
        #: the routing mode deciding for this router
        self.mode: RoutingMode = factory(self)
        route: RouteFunction = self.mode.route
        if forwarding == "kernel":
            route = self._kernel_forwarding(route)
        if policies:
            route = self._filtered(route, policies)
        self.route = route

    def _kernel_forwarding(self, route: RouteFunction) -> RouteFunction:
        """``Forwarding = kernel``: what peers send goes to our device unrouted."""
        myself = self.myself
        to_device = self.to_device

        def route_kernel(source: str, packet: bytearray) -> Decision:
            if source != myself:
                return to_device(packet)
            return route(source, packet)

        return route_kernel

    def _filtered(self, route: RouteFunction, policies: Sequence[NamedPolicy]
                  ) -> RouteFunction:
        """``route`` with the packet policies asked about every packet it sends
        somewhere (:mod:`tinca.core.policy`): the first refusal is its drop."""
        myself = self.myself
        checks = tuple((p.policy.decide, p.drop) for p in policies)

        def route_filtered(source: str, packet: bytearray) -> Decision:
            decision = route(source, packet)
            destination: str | None
            if isinstance(decision, ToNode):
                destination = decision.name
            elif isinstance(decision, ToDevice):
                destination = myself
            elif isinstance(decision, Broadcast):
                destination = None
            elif isinstance(decision, Fragments):
                destination = decision.to
            else:  # dropped, or a reply the router built for the sender
                return decision
            inbound = source != myself
            for decide, drop in checks:
                if not decide(source, destination, packet, inbound):
                    return drop
            return decision

        return route_filtered

    # -- inputs from the rest of the node -------------------------------------

    def set_routes(self, routes: Mapping[str, Route],
                   mst_peers: frozenset[str] = frozenset()) -> None:
        """Use these routes and spanning-tree neighbours from now on.

        ``routes`` must include our own node. Flushes the subnet table's
        cache, since reachability may have changed (tincd's graph() does).
        """
        if self.myself not in routes:
            raise ValueError("the routes must include our own node")
        self.routes = routes
        self.mst_peers = frozenset(mst_peers)
        self._broadcasts.clear()
        self.subnets.flush_cache()

    def apply(self, update: GraphUpdate) -> None:
        """Shorthand for :meth:`set_routes` with a graph's result."""
        self.set_routes(update.routes, update.mst_peers)

    def take_learned(self) -> list[Subnet]:
        """Subnets the mode learned since the last call (already in the table)."""
        return self.mode.take_learned()

    def expire(self, now: float) -> list[Subnet]:
        """Remove learned subnets whose time has come; returns them in tincd's
        order. tincd checks every ``PingTimeout`` in switch mode."""
        return self.mode.expire(now)

    def roamed(self, subnet: Subnet) -> None:
        """Another node announced ``subnet``: if the mode learned the same
        one, it expires at the next :meth:`expire` (tincd's fast handoff of
        roaming MAC addresses in add_subnet_h)."""
        self.mode.roamed(subnet)

    # -- helpers the modes decide with -----------------------------------------

    def to_device(self, packet: bytearray) -> ToDevice:
        """Our device gets the packet, with our MAC as destination when the
        device needs it (``overwrite_mac``)."""
        if self.overwrite_mac and len(packet) >= ETH_ALEN:
            packet[0:ETH_ALEN] = self.mymac
        return TO_DEVICE

    def deliver(self, owner: str, packet: bytearray) -> Decision:
        """The packet goes to ``owner``: our device, or that node (one
        preallocated :class:`ToNode` per node)."""
        if owner == self.myself:
            return self.to_device(packet)
        decision = self._to_node.get(owner)
        if decision is None:
            decision = self._to_node[owner] = ToNode(owner)
        return decision

    def reply(self, to: str, reply: bytearray) -> Reply:
        """``reply``, built here, goes to ``to`` (our device when ``to`` is us)."""
        if to == self.myself and self.overwrite_mac:
            reply[0:ETH_ALEN] = self.mymac
        return Reply(to, bytes(reply))

    def via(self, route: Route) -> str | None:
        """The node a packet on ``route`` goes to first by UDP (tincd's
        ``via``, or the next hop when we are the relay)."""
        return route.nexthop if route.via == self.myself else route.via

    def _rate_limited(self) -> bool:
        second = int(self.clock())
        if second == self._rate_second:
            if self._rate_count >= ICMP_RATE:
                return True
        else:
            self._rate_second = second
            self._rate_count = 0
        self._rate_count += 1
        return False

    def icmp4(self, source: str, packet: bytearray, ether_len: int, icmp_type: int,
              code: int, length: int | None = None) -> Decision:
        """An ICMP error about an IPv4 ``packet`` back to ``source`` (its IP
        header at ``ether_len``); rate-limited as tincd; ``length`` is the MTU
        for "fragmentation needed"."""
        return self._icmp(_ICMP4, source, packet, ether_len, icmp_type, code, length)

    def icmp6(self, source: str, packet: bytearray, ether_len: int, icmp_type: int,
              code: int, length: int | None = None) -> Decision:
        """The same as :meth:`icmp4` for IPv6 (ICMPv6; ``length`` is the MTU
        for "packet too big")."""
        return self._icmp(_ICMP6, source, packet, ether_len, icmp_type, code, length)

    def _icmp(self, family: _IcmpFamily, source: str, packet: bytearray, ether_len: int,
              icmp_type: int, code: int, length: int | None) -> Decision:
        """An ICMP error for ``packet`` back to ``source``, rate-limited as tincd.
        "Time exceeded" comes from our own address towards the sender."""
        if self._rate_limited():
            return DROP_RATE_LIMITED
        reply_from = None
        if icmp_type == family.time_exceeded and self._local_address is not None:
            start = ether_len + family.source_offset
            reply_from = self._local_address(bytes(packet[start : start + family.address_size]))
        try:
            reply = family.build(packet, ether_len, icmp_type, code, length=length,
                                 reply_from=reply_from)
        except MalformedPacket:
            return DROP_TOO_SHORT
        return self.reply(source, reply)

    def lower_ttl(self, source: str, packet: bytearray) -> Decision | None:
        """Lower the TTL / hop limit (``DecrementTTL``); a decision (an ICMP
        "time exceeded" or a drop) when the packet must not go on, else ``None``."""
        size = len(packet)
        kind = packet[12] << 8 | packet[13]
        ethlen = ETHER_SIZE
        if kind == ETH_P_8021Q:
            kind = (packet[16] << 8 | packet[17]) if size >= 18 else 0
            ethlen += VLAN_TAG_SIZE
        if kind == ETH_P_IP:
            if size < ethlen + IP_SIZE:
                return DROP_TOO_SHORT
            if packet[ethlen + 8] <= 1:
                # tincd means "unless this is an ICMP time exceeded itself" but
                # tests bytes 11 and 32 of the IP packet; we test the same bytes.
                icmp_type = packet[ethlen + 32] if size > ethlen + 32 else 0
                if packet[ethlen + 11] != IPPROTO_ICMP or icmp_type != ICMP_TIME_EXCEEDED:
                    return self.icmp4(source, packet, ethlen, ICMP_TIME_EXCEEDED, ICMP_EXC_TTL)
                return DROP_TTL
            old = packet[ethlen + 8] << 8 | packet[ethlen + 9]
            packet[ethlen + 8] -= 1
            new = old - 0x100
            checksum = (packet[ethlen + 10] << 8 | packet[ethlen + 11]) + old + (~new & 0xFFFF)
            while checksum >> 16:
                checksum = (checksum & 0xFFFF) + (checksum >> 16)
            packet[ethlen + 10] = checksum >> 8
            packet[ethlen + 11] = checksum & 0xFF
            return None
        if kind == ETH_P_IPV6:
            if size < ethlen + IP6_SIZE:
                return DROP_TOO_SHORT
            if packet[ethlen + 7] <= 1:
                icmp_type = packet[ethlen + 40] if size > ethlen + 40 else 0
                if packet[ethlen + 6] != IPPROTO_ICMPV6 or icmp_type != ICMP6_TIME_EXCEEDED:
                    return self.icmp6(source, packet, ethlen, ICMP6_TIME_EXCEEDED,
                                       ICMP6_TIME_EXCEED_TRANSIT)
                return DROP_TTL
            packet[ethlen + 7] -= 1
        return None

    def clamp(self, source: str, via: str | None, packet: bytearray) -> None:
        """Clamp a TCP SYN's MSS to the path MTU between ``source`` and
        ``via`` when ``via`` (or we) asked for it (``ClampMSS``)."""
        if via is None:
            return
        me = self.myself
        via_options = self.options if via == me else self.routes.get(via, UNREACHABLE).options
        if not via_options & OPTION_CLAMP_MSS:
            return
        mtu = MTU if source == me else self.mtu(source)
        if via != me:
            via_mtu = self.mtu(via)
            if via_mtu < mtu:
                mtu = via_mtu
        clamp_mss(packet, mtu)

    def fragment(self, via: str, packet: bytearray, ethlen: int) -> Decision:
        """Split an IPv4 packet (IP header at ``ethlen``) for ``via``'s MTU
        (tincd's fragment_ipv4_packet)."""
        if packet[ethlen] & 0x0F != IP_SIZE // 4:
            return DROP_BAD_FRAGMENT
        todo = (packet[ethlen + 2] << 8 | packet[ethlen + 3]) - IP_SIZE
        if ethlen + IP_SIZE + todo != len(packet):
            return DROP_BAD_FRAGMENT
        maxlen = (max(self.mtu(via), MIN_MTU_IPV4) - ethlen - IP_SIZE) & ~7
        offset_field = packet[ethlen + 6] << 8 | packet[ethlen + 7]
        flags = offset_field & ~IP_OFFMASK
        offset_field &= IP_OFFMASK
        link = bytes(packet[:ethlen])
        header = bytearray(packet[ethlen : ethlen + IP_SIZE])
        data = ethlen + IP_SIZE
        fragments = []
        while todo > 0:
            size = min(todo, maxlen)
            todo -= size
            header[2:4] = (IP_SIZE + size).to_bytes(2, "big")
            header[6:8] = ((offset_field | flags | (IP_MF if todo else 0)) & 0xFFFF).to_bytes(
                2, "big")
            header[10:12] = b"\0\0"
            header[10:12] = inet_checksum(header).to_bytes(2, "big")
            fragments.append(link + header + packet[data : data + size])
            data += size
            offset_field += size // 8
        return Fragments(via, tuple(fragments))

    # -- broadcasts --------------------------------------------------------------

    def route_broadcast(self, source: str, packet: bytearray) -> Decision:
        """The packet goes to everyone: our MST neighbours or direct peers as
        ``Broadcast`` says, and our device unless it came from there; the TTL
        is lowered first with ``DecrementTTL``."""
        if self.decrement_ttl and source != self.myself:
            stop = self.lower_ttl(source, packet)
            if stop is not None:
                return stop
        return self._broadcast(source, packet)

    def _broadcast(self, source: str, packet: bytearray) -> Broadcast:
        me = self.myself
        if source != me and self.overwrite_mac:
            # tincd writes our copy first and forwards the same, changed, buffer.
            packet[0:ETH_ALEN] = self.mymac
        decision = self._broadcasts.get(source)
        if decision is not None:
            return decision
        nodes: tuple[str, ...] = ()
        if self.tunnelserver or self.broadcast == "no":
            pass
        elif self.broadcast == "mst":
            # Not back over the connection the packet arrived through.
            back = self.routes.get(source, UNREACHABLE).nexthop
            nodes = tuple(sorted(p for p in self.mst_peers if p != back))
        elif source == me:
            nodes = tuple(
                name for name, r in self.routes.items()
                if name != me and r.reachable and r.address is not None
                and ((r.via == me and r.nexthop == name) or r.via == name))
        decision = self._broadcasts[source] = Broadcast(nodes, source != me)
        return decision
