"""Where a packet goes: tincd 1.0.36's ``route()`` (``route.c``) without I/O.

:meth:`Router.route` takes the name of the node a packet came from (our own
name for packets read from the device) and the packet as an Ethernet frame
(tincd's internal and wire format, also in router mode; see
:mod:`tinca.core.route.packet`), and returns a :data:`Decision`:

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

Routing depends on the latest graph (:meth:`Router.set_routes`), the subnet
table, each node's path MTU (the ``mtu`` callable: tincd's ``n->mtu``, a frame
size including the 14-byte Ethernet header) and the settings tincd reads at
start: ``Mode``, ``Forwarding``, ``Broadcast``, ``DecrementTTL``,
``DirectOnly``, ``TunnelServer`` (broadcasts are not forwarded), ``MACExpire``
and whether the device is a tap in router mode (``overwrite_mac``).
``StrictSubnets`` does not affect routing (it filters ADD_SUBNET).
``PriorityInheritance`` is left to the sender (the TOS byte is in the packet).

In switch mode, source MAC addresses of packets from our device are learned
as our subnets: new ones are added to the subnet table and queued for
:meth:`Router.take_learned` (the node announces them with ADD_SUBNET and runs
subnet-up); :meth:`Router.expire` removes those not seen for ``MACExpire``
seconds (the node sends DEL_SUBNET and runs subnet-down).

Differences from tincd, all in corner cases: where tincd would read beyond
the end of a short packet inside its fixed buffer, bytes past the end read as
zero; in switch mode a packet for a known but unreachable node is dropped
before the MTU check instead of after; tincd's two-entry lookup cache is
replaced by one that never disagrees with a fresh lookup.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Literal

from tinca.core.graph import OPTION_CLAMP_MSS, UNREACHABLE, GraphUpdate, Route
from tinca.core.mtu import MTU
from tinca.core.route.icmp import ipv4_unreachable, ipv6_unreachable
from tinca.core.route.mss import clamp_mss
from tinca.core.route.packet import (
    ARP_SIZE,
    ARPHRD_ETHER,
    ARPOP_REPLY,
    ARPOP_REQUEST,
    ETH_ALEN,
    ETH_P_8021Q,
    ETH_P_ARP,
    ETH_P_IP,
    ETH_P_IPV6,
    ETHER_SIZE,
    ICMP6_DST_UNREACH,
    ICMP6_DST_UNREACH_ADDR,
    ICMP6_DST_UNREACH_ADMIN,
    ICMP6_DST_UNREACH_NOROUTE,
    ICMP6_PACKET_TOO_BIG,
    ICMP6_SIZE,
    ICMP6_TIME_EXCEED_TRANSIT,
    ICMP6_TIME_EXCEEDED,
    ICMP_DEST_UNREACH,
    ICMP_EXC_TTL,
    ICMP_FRAG_NEEDED,
    ICMP_NET_ANO,
    ICMP_NET_UNKNOWN,
    ICMP_NET_UNREACH,
    ICMP_TIME_EXCEEDED,
    IP6_SIZE,
    IP_MF,
    IP_OFFMASK,
    IP_SIZE,
    IPPROTO_ICMP,
    IPPROTO_ICMPV6,
    ND_NEIGHBOR_ADVERT,
    ND_NEIGHBOR_SOLICIT,
    ND_OPT_HDR_SIZE,
    ND_OPT_SOURCE_LINKADDR,
    ND_OPT_TARGET_LINKADDR,
    NS_SIZE,
    VLAN_TAG_SIZE,
    MalformedPacket,
    inet_checksum,
)
from tinca.core.route.subnet_table import SubnetTable
from tinca.core.subnet import Subnet

Mode = Literal["router", "switch", "hub"]
Forwarding = Literal["off", "internal", "kernel"]
BroadcastMode = Literal["no", "mst", "direct"]

DEFAULT_MAC = b"\xfe\xfd\x00\x00\x00\x00"
"""tincd's ``mymac`` until the device tells it otherwise (route.c)."""
DEFAULT_MAC_EXPIRE = 600
"""Seconds a learned MAC address lives without traffic (``MACExpire``)."""
ICMP_RATE = 3
"""ICMP errors tincd sends per second at most, IPv4 and IPv6 together."""
LEARNED_MAC_WEIGHT = 10
"""Weight of MAC subnets learned from our device (``learn_mac``)."""

# The smallest path MTUs tincd assumes when deciding a packet is too big: IPv4
# must carry 576-byte datagrams, IPv6 1280-byte ones (plus 14 for Ethernet).
_MIN_MTU_IPV4 = 590
_MIN_MTU_IPV6 = 1294
_IP_MIN_DATAGRAM = 576
_IP6_MIN_MTU = 1280


# --- decisions ----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ToNode:
    """Send the (possibly modified) packet to node ``name``."""

    name: str


@dataclass(frozen=True, slots=True)
class ToDevice:
    """Write the (possibly modified) packet to our device."""


@dataclass(frozen=True, slots=True)
class Broadcast:
    """Send copies to each of ``nodes`` (our MST or direct neighbours), and
    to our device when ``to_device``."""

    nodes: tuple[str, ...]
    to_device: bool


@dataclass(frozen=True, slots=True)
class Reply:
    """Send ``packet``, built by the router, to node ``to`` (our device when
    ``to`` is our own name). The original packet is dropped."""

    to: str
    packet: bytes


@dataclass(frozen=True, slots=True)
class Fragments:
    """Send these IPv4 fragments to node ``to`` instead of the packet."""

    to: str
    packets: tuple[bytes, ...]


@dataclass(frozen=True, slots=True)
class Drop:
    """Nothing to send; ``reason`` says why (stable text, for counters)."""

    reason: str


Decision = ToNode | ToDevice | Broadcast | Reply | Fragments | Drop

TO_DEVICE = ToDevice()

DROP_TOO_SHORT = Drop("too short")
DROP_UNKNOWN_TYPE = Drop("unknown ethertype")
DROP_LOOPING_BACK = Drop("looping back to its source")
DROP_ROUTING_LOOP = Drop("routing loop")
DROP_RATE_LIMITED = Drop("ICMP rate limit")
DROP_NOT_FORWARDING = Drop("forwarding off")
DROP_NOT_DIRECT = Drop("not direct")
DROP_UNREACHABLE = Drop("owner unreachable")
DROP_TTL = Drop("TTL expired")
DROP_BAD_FRAGMENT = Drop("cannot fragment")
DROP_FROM_PEER = Drop("ARP or ND from a peer in router mode")
DROP_BAD_REQUEST = Drop("malformed ARP or ND request")
DROP_UNKNOWN_TARGET = Drop("ARP or ND for an unknown address")
DROP_OWN_TARGET = Drop("ARP or ND for our own address")


# --- the router -----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _IcmpFamily:
    """Where IPv4 and IPv6 differ when building an ICMP error."""

    build: Callable[..., bytes]
    time_exceeded: int
    source_offset: int  # of the sender's address in the IP header
    address_size: int


_ICMP4 = _IcmpFamily(ipv4_unreachable, ICMP_TIME_EXCEEDED, 12, 4)
_ICMP6 = _IcmpFamily(ipv6_unreachable, ICMP6_TIME_EXCEEDED, 8, 16)


def _default_mtu(name: str) -> int:
    return MTU


class Router:
    """tincd 1.0.36's packet routing for node ``myself``; see the module.

    ``mtu(name)`` is the current path MTU to a node (a frame size);
    ``options`` are our own option bits (``OPTION_CLAMP_MSS`` matters);
    ``local_address(sender)`` returns our address towards ``sender`` (4 or 16
    bytes) for "time exceeded" replies, or ``None`` to answer from the
    packet's destination.
    """

    def __init__(
        self,
        myself: str,
        mode: Mode = "router",
        subnets: SubnetTable | None = None,
        *,
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
        if mode not in ("router", "switch", "hub"):
            raise ValueError(f"unknown routing mode {mode!r}")
        if forwarding not in ("off", "internal", "kernel"):
            raise ValueError(f"unknown forwarding mode {forwarding!r}")
        if broadcast not in ("no", "mst", "direct"):
            raise ValueError(f"unknown broadcast mode {broadcast!r}")
        if len(mymac) != ETH_ALEN:
            raise ValueError("a MAC address is 6 bytes")
        self.myself = myself
        self.mode = mode
        self.subnets = subnets if subnets is not None else SubnetTable()
        self.forwarding = forwarding
        self.broadcast = broadcast
        self.decrement_ttl = decrement_ttl
        self.directonly = directonly
        self.tunnelserver = tunnelserver
        self.overwrite_mac = overwrite_mac
        #: the MAC our device uses; learned from ARP/ND requests with overwrite_mac
        self.mymac = bytes(mymac)
        self.mac_expire = mac_expire
        self.options = options
        self._mtu = mtu
        self._clock = clock
        self._local_address = local_address
        self._routes: Mapping[str, Route] = {
            myself: Route(True, myself, myself, 0, False, None, options, None)}
        self._mst_peers: frozenset[str] = frozenset()
        self._to_node: dict[str, ToNode] = {}
        self._broadcasts: dict[str, Broadcast] = {}
        self._rate_second: int | None = None
        self._rate_count = 0
        #: learned MAC subnets of ours -> when they expire
        self._expiry: dict[Subnet, float] = {}
        self._learned: list[Subnet] = []

    # -- inputs from the rest of the node -------------------------------------

    def set_routes(self, routes: Mapping[str, Route],
                   mst_peers: frozenset[str] = frozenset()) -> None:
        """Use these routes and spanning-tree neighbours from now on.

        ``routes`` must include our own node. Flushes the subnet table's
        cache, since reachability may have changed (tincd's graph() does).
        """
        if self.myself not in routes:
            raise ValueError("the routes must include our own node")
        self._routes = routes
        self._mst_peers = frozenset(mst_peers)
        self._broadcasts.clear()
        self.subnets.flush_cache()

    def apply(self, update: GraphUpdate) -> None:
        """Shorthand for :meth:`set_routes` with a graph's result."""
        self.set_routes(update.routes, update.mst_peers)

    def take_learned(self) -> list[Subnet]:
        """MAC subnets learned since the last call (already in the table)."""
        learned, self._learned = self._learned, []
        return learned

    def expire(self, now: float) -> list[Subnet]:
        """Remove learned MAC subnets whose time has come; returns them in
        tincd's order. tincd checks every ``PingTimeout`` in switch mode."""
        due = [s for s, t in self._expiry.items() if t <= now]
        due.sort(key=lambda s: s.sort_key(self.myself))
        gone = []
        for subnet in due:
            del self._expiry[subnet]
            if self.subnets.remove(self.myself, subnet):
                gone.append(subnet)
        return gone

    def roamed(self, subnet: Subnet) -> None:
        """Another node announced ``subnet``: if we learned the same MAC
        subnet, let it expire at the next :meth:`expire` (tincd's fast
        handoff of roaming MAC addresses in add_subnet_h)."""
        if subnet in self._expiry:
            self._expiry[subnet] = self._clock()

    # -- routing ---------------------------------------------------------------

    def route(self, source: str, packet: bytearray) -> Decision:
        """Decide what to do with ``packet`` from ``source``; never raises on
        packet contents."""
        if self.forwarding == "kernel" and source != self.myself:
            return self._to_device(packet)
        if len(packet) < ETHER_SIZE:
            return DROP_TOO_SHORT
        mode = self.mode
        if mode == "router":
            kind = packet[12] << 8 | packet[13]
            if kind == ETH_P_IP:
                return self._route_ipv4(source, packet)
            if kind == ETH_P_IPV6:
                return self._route_ipv6(source, packet)
            if kind == ETH_P_ARP:
                return self._route_arp(source, packet)
            return DROP_UNKNOWN_TYPE
        if mode == "switch":
            return self._route_mac(source, packet)
        return self._route_broadcast(source, packet)

    # -- helpers for decisions -------------------------------------------------

    def _to_device(self, packet: bytearray) -> ToDevice:
        if self.overwrite_mac and len(packet) >= ETH_ALEN:
            packet[0:ETH_ALEN] = self.mymac
        return TO_DEVICE

    def _deliver(self, owner: str, packet: bytearray) -> Decision:
        if owner == self.myself:
            return self._to_device(packet)
        decision = self._to_node.get(owner)
        if decision is None:
            decision = self._to_node[owner] = ToNode(owner)
        return decision

    def _reply(self, to: str, reply: bytearray) -> Reply:
        if to == self.myself and self.overwrite_mac:
            reply[0:ETH_ALEN] = self.mymac
        return Reply(to, bytes(reply))

    def _via(self, route: Route) -> str | None:
        return route.nexthop if route.via == self.myself else route.via

    def _rate_limited(self) -> bool:
        second = int(self._clock())
        if second == self._rate_second:
            if self._rate_count >= ICMP_RATE:
                return True
        else:
            self._rate_second = second
            self._rate_count = 0
        self._rate_count += 1
        return False

    def _icmp4(self, source: str, packet: bytearray, ether_len: int, icmp_type: int,
               code: int, length: int | None = None) -> Decision:
        return self._icmp(_ICMP4, source, packet, ether_len, icmp_type, code, length)

    def _icmp6(self, source: str, packet: bytearray, ether_len: int, icmp_type: int,
               code: int, length: int | None = None) -> Decision:
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
        return self._reply(source, reply)

    def _decrement_ttl(self, source: str, packet: bytearray) -> Decision | None:
        """Lower the TTL / hop limit; a decision when the packet must not go on."""
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
                    return self._icmp4(source, packet, ethlen, ICMP_TIME_EXCEEDED, ICMP_EXC_TTL)
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
                    return self._icmp6(source, packet, ethlen, ICMP6_TIME_EXCEEDED,
                                       ICMP6_TIME_EXCEED_TRANSIT)
                return DROP_TTL
            packet[ethlen + 7] -= 1
        return None

    def _clamp(self, source: str, via: str | None, packet: bytearray) -> None:
        if via is None:
            return
        me = self.myself
        via_options = self.options if via == me else self._routes.get(via, UNREACHABLE).options
        if not via_options & OPTION_CLAMP_MSS:
            return
        mtu = MTU if source == me else self._mtu(source)
        if via != me:
            via_mtu = self._mtu(via)
            if via_mtu < mtu:
                mtu = via_mtu
        clamp_mss(packet, mtu)

    def _fragment(self, via: str, packet: bytearray, ethlen: int) -> Decision:
        """Split an IPv4 packet for ``via``'s MTU (tincd's fragment_ipv4_packet)."""
        if packet[ethlen] & 0x0F != IP_SIZE // 4:
            return DROP_BAD_FRAGMENT
        todo = (packet[ethlen + 2] << 8 | packet[ethlen + 3]) - IP_SIZE
        if ethlen + IP_SIZE + todo != len(packet):
            return DROP_BAD_FRAGMENT
        maxlen = (max(self._mtu(via), _MIN_MTU_IPV4) - ethlen - IP_SIZE) & ~7
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

    def _route_broadcast(self, source: str, packet: bytearray) -> Decision:
        if self.decrement_ttl and source != self.myself:
            stop = self._decrement_ttl(source, packet)
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
            back = self._routes.get(source, UNREACHABLE).nexthop
            nodes = tuple(sorted(p for p in self._mst_peers if p != back))
        elif source == me:
            nodes = tuple(
                name for name, r in self._routes.items()
                if name != me and r.reachable and r.address is not None
                and ((r.via == me and r.nexthop == name) or r.via == name))
        decision = self._broadcasts[source] = Broadcast(nodes, source != me)
        return decision

    # -- router mode: IPv4 -----------------------------------------------------

    def _route_ipv4(self, source: str, packet: bytearray) -> Decision:
        if len(packet) < ETHER_SIZE + IP_SIZE:
            return DROP_TOO_SHORT
        if self.broadcast != "no" and (
                packet[30] & 0xF0 == 0xE0
                or packet[30] == packet[31] == packet[32] == packet[33] == 0xFF):
            return self._route_broadcast(source, packet)
        me = self.myself
        match = self.subnets.lookup_ipv4(bytes(packet[30:34]))
        if match is None:
            return self._icmp4(source, packet, ETHER_SIZE, ICMP_DEST_UNREACH, ICMP_NET_UNKNOWN)
        owner = match.owner
        if owner == source:
            return DROP_LOOPING_BACK
        route = self._routes.get(owner, UNREACHABLE)
        if not route.reachable:
            return self._icmp4(source, packet, ETHER_SIZE, ICMP_DEST_UNREACH, ICMP_NET_UNREACH)
        if self.forwarding == "off" and source != me and owner != me:
            return self._icmp4(source, packet, ETHER_SIZE, ICMP_DEST_UNREACH, ICMP_NET_ANO)
        if self.decrement_ttl and source != me and owner != me:
            stop = self._decrement_ttl(source, packet)
            if stop is not None:
                return stop
        via = self._via(route)
        if via == source:
            return DROP_ROUTING_LOOP
        if self.directonly and owner != via:
            return self._icmp4(source, packet, ETHER_SIZE, ICMP_DEST_UNREACH, ICMP_NET_ANO)
        if via is not None and via != me:
            limit = max(self._mtu(via), _MIN_MTU_IPV4)
            if len(packet) > limit:
                if packet[20] & 0x40:
                    return self._icmp4(source, packet, ETHER_SIZE, ICMP_DEST_UNREACH,
                                       ICMP_FRAG_NEEDED, length=limit)
                return self._fragment(via, packet, ETHER_SIZE)
        self._clamp(source, via, packet)
        return self._deliver(owner, packet)

    # -- router mode: IPv6 -----------------------------------------------------

    def _route_ipv6(self, source: str, packet: bytearray) -> Decision:
        size = len(packet)
        if size < ETHER_SIZE + IP6_SIZE:
            return DROP_TOO_SHORT
        if (packet[20] == IPPROTO_ICMPV6 and size >= ETHER_SIZE + IP6_SIZE + ICMP6_SIZE
                and packet[54] == ND_NEIGHBOR_SOLICIT):
            return self._neighbor_solicitation(source, packet)
        if self.broadcast != "no" and packet[38] == 0xFF:
            return self._route_broadcast(source, packet)
        me = self.myself
        match = self.subnets.lookup_ipv6(bytes(packet[38:54]))
        if match is None:
            return self._icmp6(source, packet, ETHER_SIZE, ICMP6_DST_UNREACH,
                               ICMP6_DST_UNREACH_ADDR)
        owner = match.owner
        if owner == source:
            return DROP_LOOPING_BACK
        route = self._routes.get(owner, UNREACHABLE)
        if not route.reachable:
            return self._icmp6(source, packet, ETHER_SIZE, ICMP6_DST_UNREACH,
                               ICMP6_DST_UNREACH_NOROUTE)
        if self.forwarding == "off" and source != me and owner != me:
            return self._icmp6(source, packet, ETHER_SIZE, ICMP6_DST_UNREACH,
                               ICMP6_DST_UNREACH_ADMIN)
        if self.decrement_ttl and source != me and owner != me:
            stop = self._decrement_ttl(source, packet)
            if stop is not None:
                return stop
        via = self._via(route)
        if via == source:
            return DROP_ROUTING_LOOP
        if self.directonly and owner != via:
            return self._icmp6(source, packet, ETHER_SIZE, ICMP6_DST_UNREACH,
                               ICMP6_DST_UNREACH_ADMIN)
        if via is not None and via != me:
            limit = max(self._mtu(via), _MIN_MTU_IPV6)
            if size > limit:
                return self._icmp6(source, packet, ETHER_SIZE, ICMP6_PACKET_TOO_BIG, 0,
                                   length=limit)
        self._clamp(source, via, packet)
        return self._deliver(owner, packet)

    # -- router mode on a tap device: answer ARP and ND ourselves ----------------

    def _route_arp(self, source: str, packet: bytearray) -> Decision:
        """Answer an ARP request for an address on the VPN with a made-up MAC."""
        if len(packet) < ETHER_SIZE + ARP_SIZE:
            return DROP_TOO_SHORT
        me = self.myself
        if source != me:
            return DROP_FROM_PEER
        if self.overwrite_mac:
            self.mymac = bytes(packet[ETH_ALEN : 2 * ETH_ALEN])
        if (packet[14:16] != ARPHRD_ETHER.to_bytes(2, "big")
                or packet[16:18] != ETH_P_IP.to_bytes(2, "big")
                or packet[18] != ETH_ALEN or packet[19] != 4
                or packet[20:22] != ARPOP_REQUEST.to_bytes(2, "big")):
            return DROP_BAD_REQUEST
        match = self.subnets.lookup_ipv4(bytes(packet[38:42]))
        if match is None:
            return DROP_UNKNOWN_TARGET
        if match.owner == me:
            return DROP_OWN_TARGET
        # DecrementTTL has nothing to lower in an ARP packet.
        reply = bytearray(packet)
        reply[0:ETH_ALEN] = packet[ETH_ALEN : 2 * ETH_ALEN]
        reply[2 * ETH_ALEN - 1] ^= 0xFF  # a source MAC that is not the asker's
        reply[38:42] = packet[28:32]  # target protocol address: the asker
        reply[28:32] = packet[38:42]  # sender protocol address: the asked-for one
        reply[32:38] = packet[22:28]  # target hardware address: the asker's
        reply[22:28] = reply[ETH_ALEN : 2 * ETH_ALEN]  # sender hardware: the made-up MAC
        reply[20:22] = ARPOP_REPLY.to_bytes(2, "big")
        return self._reply(me, reply)

    def _neighbor_solicitation(self, source: str, packet: bytearray) -> Decision:
        """Answer a neighbor solicitation for an address on the VPN (RFC 4861)."""
        size = len(packet)
        ns_start = ETHER_SIZE + IP6_SIZE
        opt_start = ns_start + NS_SIZE
        if size < opt_start:
            return DROP_TOO_SHORT
        has_opt = size >= opt_start + ND_OPT_HDR_SIZE + ETH_ALEN
        me = self.myself
        if source != me:
            return DROP_FROM_PEER
        if self.overwrite_mac:
            self.mymac = bytes(packet[ETH_ALEN : 2 * ETH_ALEN])
        if has_opt and packet[opt_start] != ND_OPT_SOURCE_LINKADDR:
            return DROP_BAD_REQUEST
        # tincd checks the checksum over the solicitation and, if present, one
        # link-layer address option, with a pseudo header of that fixed length.
        icmp_end = opt_start + ND_OPT_HDR_SIZE + ETH_ALEN if has_opt else opt_start
        icmp_len = icmp_end - ns_start
        pseudo = (bytes(packet[22:54]) + icmp_len.to_bytes(4, "big")
                  + IPPROTO_ICMPV6.to_bytes(4, "big"))
        if inet_checksum(packet[ns_start:icmp_end], inet_checksum(pseudo)) != 0:
            return DROP_BAD_REQUEST
        target = bytes(packet[ns_start + 8 : ns_start + 24])
        match = self.subnets.lookup_ipv6(target)
        if match is None:
            return DROP_UNKNOWN_TARGET
        if match.owner == me:
            return DROP_OWN_TARGET
        original = bytes(packet)
        if self.decrement_ttl:
            # Only its refusal matters: the advertisement keeps the original
            # IPv6 header, as tincd copies that before lowering the hop limit.
            stop = self._decrement_ttl(source, packet)
            if stop is not None:
                return stop
        reply = bytearray(original)
        reply[0:ETH_ALEN] = original[ETH_ALEN : 2 * ETH_ALEN]
        reply[2 * ETH_ALEN - 1] ^= 0xFF
        reply[38:54] = original[22:38]  # to the asker
        reply[22:38] = target  # from the address asked for
        if has_opt:
            reply[opt_start + ND_OPT_HDR_SIZE : icmp_end] = reply[ETH_ALEN : 2 * ETH_ALEN]
            reply[opt_start] = ND_OPT_TARGET_LINKADDR
        reply[ns_start] = ND_NEIGHBOR_ADVERT
        reply[ns_start + 2 : ns_start + 4] = b"\0\0"
        reply[ns_start + 4 : ns_start + 8] = b"\x40\0\0\0"  # solicited
        pseudo = bytes(reply[22:54]) + icmp_len.to_bytes(4, "big") + IPPROTO_ICMPV6.to_bytes(
            4, "big")
        checksum = inet_checksum(reply[ns_start:icmp_end], inet_checksum(pseudo))
        reply[ns_start + 2 : ns_start + 4] = checksum.to_bytes(2, "big")
        return self._reply(me, reply)

    # -- switch mode -------------------------------------------------------------

    def _learn(self, mac: bytes) -> None:
        me = self.myself
        match = self.subnets.lookup_mac(mac, owner=me)
        if match is None:
            subnet = Subnet("mac", mac, 48, LEARNED_MAC_WEIGHT)
            self.subnets.add(me, subnet)
            self._expiry[subnet] = self._clock() + self.mac_expire
            self._learned.append(subnet)
        elif match.subnet in self._expiry:
            self._expiry[match.subnet] = self._clock() + self.mac_expire

    def _route_mac(self, source: str, packet: bytearray) -> Decision:
        me = self.myself
        if source == me:
            self._learn(bytes(packet[ETH_ALEN : 2 * ETH_ALEN]))
        match = self.subnets.lookup_mac(bytes(packet[0:ETH_ALEN]))
        if match is None:
            return self._route_broadcast(source, packet)
        owner = match.owner
        if owner == source:
            return DROP_LOOPING_BACK
        if self.forwarding == "off" and source != me and owner != me:
            return DROP_NOT_FORWARDING
        if self.decrement_ttl and source != me and owner != me:
            stop = self._decrement_ttl(source, packet)
            if stop is not None:
                return stop
        route = self._routes.get(owner, UNREACHABLE)
        if not route.reachable:
            return DROP_UNREACHABLE
        via = self._via(route)
        if self.directonly and owner != via:
            return DROP_NOT_DIRECT
        if via is not None and via != me:
            via_mtu = self._mtu(via)
            size = len(packet)
            if size > via_mtu:
                kind = packet[12] << 8 | packet[13]
                ethlen = ETHER_SIZE
                if kind == ETH_P_8021Q:
                    kind = (packet[16] << 8 | packet[17]) if size >= 18 else 0
                    ethlen += VLAN_TAG_SIZE
                if kind == ETH_P_IP and size > _IP_MIN_DATAGRAM + ethlen:
                    if packet[ethlen + 6] & 0x40:
                        return self._icmp4(source, packet, ethlen, ICMP_DEST_UNREACH,
                                           ICMP_FRAG_NEEDED, length=via_mtu)
                    return self._fragment(via, packet, ethlen)
                if kind == ETH_P_IPV6 and size > _IP6_MIN_MTU + ethlen:
                    return self._icmp6(source, packet, ethlen, ICMP6_PACKET_TOO_BIG, 0,
                                       length=via_mtu)
        self._clamp(source, via, packet)
        return self._deliver(owner, packet)
