"""tinc's router mode (``Mode = router``): packets go to the owner of the
destination address's subnet.

tincd 1.0.36's route_ipv4 / route_ipv6 / route_arp / route_neighborsol
(``route.c``). IPv4 and IPv6 packets are looked up in the subnet table by
destination; multicast and broadcast destinations are broadcast (unless
``Broadcast = no``); unknown or unreachable destinations get ICMP errors;
packets too big for the path get "fragmentation needed" / "packet too big"
or are fragmented. On a tap device the mode answers ARP requests and IPv6
neighbor solicitations for addresses on the VPN itself, with a made-up MAC.
"""

from __future__ import annotations

from tinca.core.graph import UNREACHABLE
from tinca.core.route.decisions import (
    DROP_BAD_REQUEST,
    DROP_FROM_PEER,
    DROP_LOOPING_BACK,
    DROP_OWN_TARGET,
    DROP_ROUTING_LOOP,
    DROP_TOO_SHORT,
    DROP_UNKNOWN_TARGET,
    DROP_UNKNOWN_TYPE,
    Decision,
)
from tinca.core.route.mode import RoutingMode
from tinca.core.route.packet import (
    ARP_SIZE,
    ARPHRD_ETHER,
    ARPOP_REPLY,
    ARPOP_REQUEST,
    ETH_ALEN,
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
    ICMP_DEST_UNREACH,
    ICMP_FRAG_NEEDED,
    ICMP_NET_ANO,
    ICMP_NET_UNKNOWN,
    ICMP_NET_UNREACH,
    IP6_SIZE,
    IP_SIZE,
    IPPROTO_ICMPV6,
    ND_NEIGHBOR_ADVERT,
    ND_NEIGHBOR_SOLICIT,
    ND_OPT_HDR_SIZE,
    ND_OPT_SOURCE_LINKADDR,
    ND_OPT_TARGET_LINKADDR,
    NS_SIZE,
    inet_checksum,
)
from tinca.core.route.router import MIN_MTU_IPV4, MIN_MTU_IPV6, Router


class RouterMode(RoutingMode):
    """Routing by IP subnet for one router (tinc's default mode)."""

    uses_mac_addresses = False

    def __init__(self, router: Router) -> None:
        self.router = router

    def route(self, source: str, packet: bytearray) -> Decision:
        """By EtherType: IPv4 and IPv6 by destination subnet, ARP answered;
        anything else is dropped."""
        if len(packet) < ETHER_SIZE:
            return DROP_TOO_SHORT
        kind = packet[12] << 8 | packet[13]
        if kind == ETH_P_IP:
            return self._route_ipv4(source, packet)
        if kind == ETH_P_IPV6:
            return self._route_ipv6(source, packet)
        if kind == ETH_P_ARP:
            return self._route_arp(source, packet)
        return DROP_UNKNOWN_TYPE

    # -- IPv4 -------------------------------------------------------------------

    def _route_ipv4(self, source: str, packet: bytearray) -> Decision:
        r = self.router
        if len(packet) < ETHER_SIZE + IP_SIZE:
            return DROP_TOO_SHORT
        if r.broadcast != "no" and (
                packet[30] & 0xF0 == 0xE0
                or packet[30] == packet[31] == packet[32] == packet[33] == 0xFF):
            return r.route_broadcast(source, packet)
        me = r.myself
        match = r.subnets.lookup_ipv4(bytes(packet[30:34]))
        if match is None:
            return r.icmp4(source, packet, ETHER_SIZE, ICMP_DEST_UNREACH, ICMP_NET_UNKNOWN)
        owner = match.owner
        if owner == source:
            return DROP_LOOPING_BACK
        route = r.routes.get(owner, UNREACHABLE)
        if not route.reachable:
            return r.icmp4(source, packet, ETHER_SIZE, ICMP_DEST_UNREACH, ICMP_NET_UNREACH)
        if r.forwarding == "off" and source != me and owner != me:
            return r.icmp4(source, packet, ETHER_SIZE, ICMP_DEST_UNREACH, ICMP_NET_ANO)
        if r.decrement_ttl and source != me and owner != me:
            stop = r.lower_ttl(source, packet)
            if stop is not None:
                return stop
        via = r.via(route)
        if via == source:
            return DROP_ROUTING_LOOP
        if r.directonly and owner != via:
            return r.icmp4(source, packet, ETHER_SIZE, ICMP_DEST_UNREACH, ICMP_NET_ANO)
        if via is not None and via != me:
            limit = max(r.mtu(via), MIN_MTU_IPV4)
            if len(packet) > limit:
                if packet[20] & 0x40:
                    return r.icmp4(source, packet, ETHER_SIZE, ICMP_DEST_UNREACH,
                                   ICMP_FRAG_NEEDED, length=limit)
                return r.fragment(via, packet, ETHER_SIZE)
        r.clamp(source, via, packet)
        return r.deliver(owner, packet)

    # -- IPv6 -------------------------------------------------------------------

    def _route_ipv6(self, source: str, packet: bytearray) -> Decision:
        r = self.router
        size = len(packet)
        if size < ETHER_SIZE + IP6_SIZE:
            return DROP_TOO_SHORT
        if (packet[20] == IPPROTO_ICMPV6 and size >= ETHER_SIZE + IP6_SIZE + ICMP6_SIZE
                and packet[54] == ND_NEIGHBOR_SOLICIT):
            return self._neighbor_solicitation(source, packet)
        if r.broadcast != "no" and packet[38] == 0xFF:
            return r.route_broadcast(source, packet)
        me = r.myself
        match = r.subnets.lookup_ipv6(bytes(packet[38:54]))
        if match is None:
            return r.icmp6(source, packet, ETHER_SIZE, ICMP6_DST_UNREACH,
                           ICMP6_DST_UNREACH_ADDR)
        owner = match.owner
        if owner == source:
            return DROP_LOOPING_BACK
        route = r.routes.get(owner, UNREACHABLE)
        if not route.reachable:
            return r.icmp6(source, packet, ETHER_SIZE, ICMP6_DST_UNREACH,
                           ICMP6_DST_UNREACH_NOROUTE)
        if r.forwarding == "off" and source != me and owner != me:
            return r.icmp6(source, packet, ETHER_SIZE, ICMP6_DST_UNREACH,
                           ICMP6_DST_UNREACH_ADMIN)
        if r.decrement_ttl and source != me and owner != me:
            stop = r.lower_ttl(source, packet)
            if stop is not None:
                return stop
        via = r.via(route)
        if via == source:
            return DROP_ROUTING_LOOP
        if r.directonly and owner != via:
            return r.icmp6(source, packet, ETHER_SIZE, ICMP6_DST_UNREACH,
                           ICMP6_DST_UNREACH_ADMIN)
        if via is not None and via != me:
            limit = max(r.mtu(via), MIN_MTU_IPV6)
            if size > limit:
                return r.icmp6(source, packet, ETHER_SIZE, ICMP6_PACKET_TOO_BIG, 0,
                               length=limit)
        r.clamp(source, via, packet)
        return r.deliver(owner, packet)

    # -- on a tap device: answer ARP and ND ourselves ------------------------------

    def _route_arp(self, source: str, packet: bytearray) -> Decision:
        """Answer an ARP request for an address on the VPN with a made-up MAC."""
        r = self.router
        if len(packet) < ETHER_SIZE + ARP_SIZE:
            return DROP_TOO_SHORT
        me = r.myself
        if source != me:
            return DROP_FROM_PEER
        if r.overwrite_mac:
            r.mymac = bytes(packet[ETH_ALEN : 2 * ETH_ALEN])
        if (packet[14:16] != ARPHRD_ETHER.to_bytes(2, "big")
                or packet[16:18] != ETH_P_IP.to_bytes(2, "big")
                or packet[18] != ETH_ALEN or packet[19] != 4
                or packet[20:22] != ARPOP_REQUEST.to_bytes(2, "big")):
            return DROP_BAD_REQUEST
        match = r.subnets.lookup_ipv4(bytes(packet[38:42]))
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
        return r.reply(me, reply)

    def _neighbor_solicitation(self, source: str, packet: bytearray) -> Decision:
        """Answer a neighbor solicitation for an address on the VPN (RFC 4861)."""
        r = self.router
        size = len(packet)
        ns_start = ETHER_SIZE + IP6_SIZE
        opt_start = ns_start + NS_SIZE
        if size < opt_start:
            return DROP_TOO_SHORT
        has_opt = size >= opt_start + ND_OPT_HDR_SIZE + ETH_ALEN
        me = r.myself
        if source != me:
            return DROP_FROM_PEER
        if r.overwrite_mac:
            r.mymac = bytes(packet[ETH_ALEN : 2 * ETH_ALEN])
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
        match = r.subnets.lookup_ipv6(target)
        if match is None:
            return DROP_UNKNOWN_TARGET
        if match.owner == me:
            return DROP_OWN_TARGET
        original = bytes(packet)
        if r.decrement_ttl:
            # Only its refusal matters: the advertisement keeps the original
            # IPv6 header, as tincd copies that before lowering the hop limit.
            stop = r.lower_ttl(source, packet)
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
        return r.reply(me, reply)
