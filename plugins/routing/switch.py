"""tinc's switch mode (``Mode = switch``): a learning Ethernet switch.

tincd 1.0.36's route_mac / learn_mac / age_subnets (``route.c``). Source
MAC addresses of frames from our device are learned as our subnets: new ones
are added to the subnet table and queued for :meth:`SwitchMode.take_learned`
(the node announces them with ADD_SUBNET and runs subnet-up);
:meth:`SwitchMode.expire` removes those not seen for ``MACExpire`` seconds
(the node sends DEL_SUBNET and runs subnet-down). Frames go to the owner of
their destination MAC, or to everyone when nobody owns it.
"""

from __future__ import annotations

from tinca.core.graph import UNREACHABLE
from tinca.core.route.decisions import (
    DROP_LOOPING_BACK,
    DROP_NOT_DIRECT,
    DROP_NOT_FORWARDING,
    DROP_TOO_SHORT,
    DROP_UNREACHABLE,
    Decision,
)
from tinca.core.route.mode import RoutingMode
from tinca.core.route.packet import (
    ETH_ALEN,
    ETH_P_8021Q,
    ETH_P_IP,
    ETH_P_IPV6,
    ETHER_SIZE,
    ICMP6_PACKET_TOO_BIG,
    ICMP_DEST_UNREACH,
    ICMP_FRAG_NEEDED,
    VLAN_TAG_SIZE,
)
from tinca.core.route.router import Router
from tinca.core.subnet import Subnet

LEARNED_MAC_WEIGHT = 10
"""Weight of MAC subnets learned from our device (``learn_mac``)."""

# Too-big frames get an ICMP error (or are fragmented) only when the IP
# packet inside exceeds what IPv4 (576) or IPv6 (1280) must always carry.
_IP_MIN_DATAGRAM = 576
_IP6_MIN_MTU = 1280


class SwitchMode(RoutingMode):
    """Routing by learned and announced MAC addresses for one router."""

    learns_addresses = True

    def __init__(self, router: Router) -> None:
        self.router = router
        #: learned MAC subnets of ours -> when they expire
        self._expiry: dict[Subnet, float] = {}
        self._learned: list[Subnet] = []

    def route(self, source: str, packet: bytearray) -> Decision:
        """To the owner of the destination MAC, learning the source MAC of
        frames from our device; unknown destinations are broadcast."""
        if len(packet) < ETHER_SIZE:
            return DROP_TOO_SHORT
        return self._route_mac(source, packet)

    def take_learned(self) -> list[Subnet]:
        """MAC subnets learned since the last call (already in the table)."""
        learned, self._learned = self._learned, []
        return learned

    def expire(self, now: float) -> list[Subnet]:
        """Remove learned MAC subnets whose time has come; returns them in
        tincd's order."""
        r = self.router
        due = [s for s, t in self._expiry.items() if t <= now]
        due.sort(key=lambda s: s.sort_key(r.myself))
        gone = []
        for subnet in due:
            del self._expiry[subnet]
            if r.subnets.remove(r.myself, subnet):
                gone.append(subnet)
        return gone

    def roamed(self, subnet: Subnet) -> None:
        """If we learned ``subnet``, let it expire at the next :meth:`expire`."""
        if subnet in self._expiry:
            self._expiry[subnet] = self.router.clock()

    def _learn(self, mac: bytes) -> None:
        r = self.router
        me = r.myself
        match = r.subnets.lookup_mac(mac, owner=me)
        if match is None:
            subnet = Subnet("mac", mac, 48, LEARNED_MAC_WEIGHT)
            r.subnets.add(me, subnet)
            self._expiry[subnet] = r.clock() + r.mac_expire
            self._learned.append(subnet)
        elif match.subnet in self._expiry:
            self._expiry[match.subnet] = r.clock() + r.mac_expire

    def _route_mac(self, source: str, packet: bytearray) -> Decision:
        r = self.router
        me = r.myself
        if source == me:
            self._learn(bytes(packet[ETH_ALEN : 2 * ETH_ALEN]))
        match = r.subnets.lookup_mac(bytes(packet[0:ETH_ALEN]))
        if match is None:
            return r.route_broadcast(source, packet)
        owner = match.owner
        if owner == source:
            return DROP_LOOPING_BACK
        if r.forwarding == "off" and source != me and owner != me:
            return DROP_NOT_FORWARDING
        if r.decrement_ttl and source != me and owner != me:
            stop = r.lower_ttl(source, packet)
            if stop is not None:
                return stop
        route = r.routes.get(owner, UNREACHABLE)
        if not route.reachable:
            return DROP_UNREACHABLE
        via = r.via(route)
        if r.directonly and owner != via:
            return DROP_NOT_DIRECT
        if via is not None and via != me:
            via_mtu = r.mtu(via)
            size = len(packet)
            if size > via_mtu:
                kind = packet[12] << 8 | packet[13]
                ethlen = ETHER_SIZE
                if kind == ETH_P_8021Q:
                    kind = (packet[16] << 8 | packet[17]) if size >= 18 else 0
                    ethlen += VLAN_TAG_SIZE
                if kind == ETH_P_IP and size > _IP_MIN_DATAGRAM + ethlen:
                    if packet[ethlen + 6] & 0x40:
                        return r.icmp4(source, packet, ethlen, ICMP_DEST_UNREACH,
                                       ICMP_FRAG_NEEDED, length=via_mtu)
                    return r.fragment(via, packet, ethlen)
                if kind == ETH_P_IPV6 and size > _IP6_MIN_MTU + ethlen:
                    return r.icmp6(source, packet, ethlen, ICMP6_PACKET_TOO_BIG, 0,
                                   length=via_mtu)
        r.clamp(source, via, packet)
        return r.deliver(owner, packet)
