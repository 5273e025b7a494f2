"""Routing decisions of tincd 1.0.36's route(), packet bytes in, decisions out."""

from __future__ import annotations

import ipaddress
import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.helpers import Clock
from tinca.core.graph import OPTION_CLAMP_MSS, OPTION_INDIRECT, Edge, Graph
from tinca.core.route.router import (
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
    Drop,
    Fragments,
    Reply,
    Router,
    ToDevice,
    ToNode,
)
from tinca.core.route.subnet_table import SubnetTable
from tinca.core.subnet import Subnet

ME = "alpha"
HOST_MAC = bytes.fromhex("02000000000a")  # a machine behind our own device
BETA_MAC = bytes.fromhex("02000000000b")
BCAST_MAC = b"\xff" * 6
CLAMP = OPTION_CLAMP_MSS


def ip4(text: str) -> bytes:
    return ipaddress.IPv4Address(text).packed


def ip6(text: str) -> bytes:
    return ipaddress.IPv6Address(text).packed


def ones_sum(data: bytes) -> int:
    """Independent RFC 1071 sum: 16-bit words added, carries folded."""
    if len(data) % 2:
        data += b"\0"
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return total


def checksum(data: bytes) -> int:
    return ~ones_sum(data) & 0xFFFF


def ipv4_frame(src: str, dst: str, payload: bytes = b"data", *, ttl: int = 64, df: bool = True,
               proto: int = 17, dst_mac: bytes = bytes(6), src_mac: bytes = bytes(6),
               ) -> bytearray:
    header = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(payload), 7, 0x4000 if df else 0,
                         ttl, proto, 0, ip4(src), ip4(dst))
    header = header[:10] + struct.pack("!H", checksum(header)) + header[12:]
    return bytearray(dst_mac + src_mac + b"\x08\x00" + header + payload)


def ipv6_frame(src: str, dst: str, payload: bytes = b"data", *, hlim: int = 64, nxt: int = 17,
               dst_mac: bytes = bytes(6), src_mac: bytes = bytes(6)) -> bytearray:
    header = struct.pack("!IHBB16s16s", 0x6000_0000, len(payload), nxt, hlim, ip6(src), ip6(dst))
    return bytearray(dst_mac + src_mac + b"\x86\xdd" + header + payload)


def tcp_syn(src: str, dst: str, mss: int) -> bytearray:
    segment = struct.pack("!HHIIBBHHH", 40000, 80, 1, 0, 6 << 4, 0x02, 65535, 0, 0)
    segment += struct.pack("!BBH", 2, 4, mss)
    pseudo = ip4(src) + ip4(dst) + struct.pack("!BBH", 0, 6, len(segment))
    segment = segment[:16] + struct.pack("!H", checksum(pseudo + segment)) + segment[18:]
    return ipv4_frame(src, dst, segment, proto=6)



class Net:
    """alpha (us) — beta — gamma, beta ⇢ epsilon (indirect), omega unreachable.

    Subnets: alpha 198.18.0.0/24, beta 198.18.1.0/24, gamma 198.18.2.0/24,
    epsilon 198.18.3.0/24, omega 198.18.9.0/24 and the same in 2001:db8:N::/48.
    """

    def __init__(self, mode: str = "router", **options) -> None:
        self.graph = Graph(ME, options=CLAMP)
        self.link(ME, "beta")
        self.link("beta", "gamma")
        self.link("beta", "epsilon", indirect=True)
        self.graph.add_edge(Edge("omega", ME, None, CLAMP, 10))
        self.table = SubnetTable(self.graph.reachable)
        for i, name in enumerate((ME, "beta", "gamma", "epsilon")):
            self.table.add(name, Subnet.parse(f"198.18.{i}.0/24"))
            self.table.add(name, Subnet.parse(f"2001:db8:{i}::/48"))
        self.table.add("omega", Subnet.parse("198.18.9.0/24"))
        self.table.add("omega", Subnet.parse("2001:db8:9::/48"))
        self.clock = Clock()
        self.mtus: dict[str, int] = {}
        self.router = Router(ME, mode, self.table, clock=self.clock,
                             mtu=lambda name: self.mtus.get(name, 1518), **options)
        self.update()

    def link(self, a: str, b: str, *, indirect: bool = False, options: int = CLAMP) -> None:
        extra = OPTION_INDIRECT if indirect else 0
        self.graph.add_edge(Edge(a, b, ("192.0.2.1", "655"), options | extra, 10))
        self.graph.add_edge(Edge(b, a, ("192.0.2.2", "655"), options, 10))

    def update(self) -> None:
        self.router.apply(self.graph.compute())

    def route(self, source: str, packet: bytearray):
        return self.router.route(source, packet)


# --- router mode: unicast -----------------------------------------------------------


def test_ipv4_to_a_peer_and_to_ourselves() -> None:
    net = Net()
    decision = net.route(ME, ipv4_frame("198.18.0.5", "198.18.1.5"))
    assert decision == ToNode("beta")
    # The same preallocated object every time.
    assert net.route(ME, ipv4_frame("198.18.0.5", "198.18.1.6")) is decision
    assert net.route("beta", ipv4_frame("198.18.1.5", "198.18.0.5")) is TO_DEVICE
    assert net.route(ME, ipv4_frame("198.18.0.5", "198.18.2.5")) == ToNode("gamma")


def test_packets_looping_back_are_dropped() -> None:
    net = Net()
    assert net.route(ME, ipv4_frame("198.18.0.5", "198.18.0.6")) is DROP_LOOPING_BACK
    assert net.route("beta", ipv6_frame("2001:db8:1::1", "2001:db8:1::2")) is DROP_LOOPING_BACK


def test_routing_loop_through_the_sender() -> None:
    # A packet from beta for gamma: gamma is reached via gamma, fine; but a
    # packet from beta for epsilon goes via beta itself.
    net = Net()
    assert net.route("beta", ipv4_frame("198.18.1.5", "198.18.2.5")) == ToNode("gamma")
    assert net.route("beta", ipv4_frame("198.18.1.5", "198.18.3.5")) is DROP_ROUTING_LOOP


def test_too_short_and_unknown_types() -> None:
    net = Net()
    assert net.route(ME, bytearray(10)) is DROP_TOO_SHORT
    assert net.route(ME, bytearray(12) + b"\x08\x00" + bytes(10)) is DROP_TOO_SHORT
    assert net.route(ME, bytearray(12) + b"\x88\xcc" + bytes(50)) is DROP_UNKNOWN_TYPE


def icmp4_of(reply: Reply) -> tuple[bytes, bytes]:
    """The IPv4 header and ICMP message of a reply, checked for checksums."""
    packet = reply.packet[14:]
    assert ones_sum(packet[:20]) == 0xFFFF
    assert ones_sum(packet[20:]) == 0xFFFF
    return packet[:20], packet[20:]


def test_unknown_ipv4_destination_gets_net_unknown() -> None:
    net = Net()
    original = ipv4_frame("198.18.0.5", "198.19.44.1", b"hello")
    reply = net.route(ME, bytearray(original))
    assert isinstance(reply, Reply) and reply.to == ME
    ip, icmp = icmp4_of(reply)
    assert ip[8] == 255 and ip[9] == 1
    assert ip[12:16] == ip4("198.19.44.1") and ip[16:20] == ip4("198.18.0.5")
    assert icmp[:2] == bytes([3, 6])
    assert icmp[8:] == original[14:]


def test_unreachable_owner_gets_net_unreachable() -> None:
    net = Net()
    reply = net.route(ME, ipv4_frame("198.18.0.5", "198.18.9.1"))
    assert icmp4_of(reply)[1][:2] == bytes([3, 0])


def test_forwarding_off_refuses_transit_with_net_prohibited() -> None:
    net = Net(forwarding="off")
    reply = net.route("beta", ipv4_frame("198.18.1.5", "198.18.2.5"))
    assert isinstance(reply, Reply) and reply.to == "beta"
    assert icmp4_of(reply)[1][:2] == bytes([3, 9])
    # Our own traffic and traffic for us still flow.
    assert net.route(ME, ipv4_frame("198.18.0.5", "198.18.2.5")) == ToNode("gamma")
    assert net.route("beta", ipv4_frame("198.18.1.5", "198.18.0.5")) is TO_DEVICE


def test_forwarding_kernel_hands_everything_from_peers_to_the_device() -> None:
    net = Net(forwarding="kernel")
    assert net.route("beta", ipv4_frame("198.18.1.5", "198.18.2.5")) is TO_DEVICE
    assert net.route("beta", bytearray(3)) is TO_DEVICE
    assert net.route(ME, ipv4_frame("198.18.0.5", "198.18.2.5")) == ToNode("gamma")


def test_directonly_refuses_nodes_behind_a_relay() -> None:
    net = Net(directonly=True)
    assert net.route(ME, ipv4_frame("198.18.0.5", "198.18.2.5")) == ToNode("gamma")
    reply = net.route(ME, ipv4_frame("198.18.0.5", "198.18.3.5"))
    assert icmp4_of(reply)[1][:2] == bytes([3, 9])
    reply6 = net.route(ME, ipv6_frame("2001:db8::5", "2001:db8:3::5"))
    assert isinstance(reply6, Reply) and reply6.packet[54:56] == bytes([1, 1])


def test_too_big_with_df_gets_frag_needed() -> None:
    net = Net()
    net.mtus["beta"] = 1000
    original = ipv4_frame("198.18.0.5", "198.18.1.5", bytes(1300))
    reply = net.route(ME, bytearray(original))
    _ip, icmp = icmp4_of(reply)
    assert icmp[:2] == bytes([3, 4])
    assert struct.unpack("!H", icmp[6:8])[0] == 1000 - 14
    assert len(reply.packet) == 14 + 576
    assert icmp[8:] == original[14 : 14 + 548]


def test_too_big_check_never_below_590() -> None:
    net = Net()
    net.mtus["beta"] = 300
    assert net.route(ME, ipv4_frame("198.18.0.5", "198.18.1.5", bytes(556))) == ToNode("beta")
    reply = net.route(ME, ipv4_frame("198.18.0.5", "198.18.1.5", bytes(557)))
    assert struct.unpack("!H", icmp4_of(reply)[1][6:8])[0] == 590 - 14


def test_too_big_without_df_is_fragmented_for_the_via_node() -> None:
    net = Net()
    net.mtus["gamma"] = 1000
    payload = bytes(range(256)) * 5 + bytes(86)
    original = ipv4_frame("198.18.0.5", "198.18.2.5", payload, df=False)
    decision = net.route(ME, bytearray(original))
    assert isinstance(decision, Fragments) and decision.to == "gamma"
    pieces = []
    offsets = []
    for frag in decision.packets:
        assert frag[:14] == original[:14]
        ip = frag[14:34]
        assert ones_sum(ip) == 0xFFFF
        assert struct.unpack("!H", ip[2:4])[0] == len(frag) - 14
        assert len(frag) <= 1000
        flags_offset = struct.unpack("!H", ip[6:8])[0]
        offsets.append((flags_offset >> 13, (flags_offset & 0x1FFF) * 8))
        pieces.append(frag[34:])
    assert offsets == [(1, 0), (0, 960)]
    # Each fragment starts where the previous ones end (offsets count 8 bytes).
    assert [len(p) for p in pieces] == [960, len(payload) - 960]
    assert b"".join(pieces) == payload


def test_ipv6_unicast_and_errors() -> None:
    net = Net()
    assert net.route(ME, ipv6_frame("2001:db8::5", "2001:db8:1::5")) == ToNode("beta")

    def icmp6(reply: Reply) -> bytes:
        packet = reply.packet[14:]
        body = packet[40:]
        assert ones_sum(packet[8:40] + struct.pack("!II", len(body), 58) + body) == 0xFFFF
        assert packet[6:8] == bytes([58, 255])
        return body

    unknown = net.route(ME, ipv6_frame("2001:db8::5", "2001:db9::1"))
    assert icmp6(unknown)[:2] == bytes([1, 3])
    assert unknown.packet[14 + 8 : 14 + 24] == ip6("2001:db9::1")
    assert icmp6(net.route(ME, ipv6_frame("2001:db8::5", "2001:db8:9::1")))[:2] == bytes([1, 0])
    net.mtus["beta"] = 1400
    big = net.route(ME, ipv6_frame("2001:db8::5", "2001:db8:1::5", bytes(1400)))
    body = icmp6(big)
    assert body[:2] == bytes([2, 0]) and struct.unpack("!I", body[4:8])[0] == 1400 - 14
    net.mtus["beta"] = 1000
    fits = ipv6_frame("2001:db8::5", "2001:db8:1::5", bytes(1294 - 54))
    assert net.route(ME, fits) == ToNode("beta")


def test_ipv6_forwarding_off() -> None:
    net = Net(forwarding="off")
    reply = net.route("beta", ipv6_frame("2001:db8:1::5", "2001:db8:2::5"))
    assert isinstance(reply, Reply) and reply.packet[54:56] == bytes([1, 1])


def test_icmp_errors_are_rate_limited_to_three_per_second() -> None:
    net = Net()
    results = [net.route(ME, ipv4_frame("198.18.0.5", "198.19.0.1")) for _ in range(4)]
    assert [isinstance(r, Reply) for r in results] == [True, True, True, False]
    assert results[3] is DROP_RATE_LIMITED
    # IPv6 shares the budget.
    assert net.route(ME, ipv6_frame("2001:db8::5", "2001:db9::1")) is DROP_RATE_LIMITED
    net.clock.now += 1
    assert isinstance(net.route(ME, ipv6_frame("2001:db8::5", "2001:db9::1")), Reply)


# --- DecrementTTL ------------------------------------------------------------------------


def test_decrement_ttl_on_transit_keeps_the_header_valid() -> None:
    net = Net(decrement_ttl=True)
    packet = ipv4_frame("198.18.1.5", "198.18.2.5", ttl=64)
    assert net.route("beta", packet) == ToNode("gamma")
    assert packet[22] == 63
    assert ones_sum(bytes(packet[14:34])) == 0xFFFF
    # Not for our own packets or packets for us.
    own = ipv4_frame("198.18.0.5", "198.18.2.5", ttl=64)
    net.route(ME, own)
    assert own[22] == 64
    v6 = ipv6_frame("2001:db8:1::5", "2001:db8:2::5", hlim=9)
    assert net.route("beta", v6) == ToNode("gamma")
    assert v6[21] == 8


def test_expired_ttl_gets_time_exceeded_from_our_address() -> None:
    ours = ip4("198.18.0.1")
    asked = []

    def local_address(sender: bytes) -> bytes:
        asked.append(sender)
        return ours if len(sender) == 4 else ip6("2001:db8::1")

    net = Net(decrement_ttl=True, local_address=local_address)
    reply = net.route("beta", ipv4_frame("198.18.1.5", "198.18.2.5", ttl=1))
    assert isinstance(reply, Reply) and reply.to == "beta"
    ip, icmp = icmp4_of(reply)
    assert icmp[:2] == bytes([11, 0])
    assert ip[12:16] == ours and ip[16:20] == ip4("198.18.1.5")
    assert asked == [ip4("198.18.1.5")]
    reply6 = net.route("beta", ipv6_frame("2001:db8:1::5", "2001:db8:2::5", hlim=1))
    assert reply6.packet[54:56] == bytes([3, 0])
    assert reply6.packet[22:38] == ip6("2001:db8::1")


def test_no_time_exceeded_for_a_time_exceeded() -> None:
    net = Net(decrement_ttl=True)
    # An ICMPv6 time exceeded with hop limit 1 is dropped silently.
    packet = ipv6_frame("2001:db8:1::5", "2001:db8:2::5", bytes([3, 0]) + bytes(30), hlim=1,
                         nxt=58)
    assert net.route("beta", packet) is DROP_TTL


# --- broadcasts -------------------------------------------------------------------------


def test_ipv4_broadcast_and_multicast_follow_the_mst() -> None:
    net = Net()
    net.link(ME, "gamma")  # now alpha has two tree neighbours
    net.update()
    from_us = net.route(ME, ipv4_frame("198.18.0.5", "255.255.255.255"))
    assert from_us == Broadcast(("beta", "gamma"), False)
    # From beta: not back towards beta, and a copy for our device.
    assert net.route("beta", ipv4_frame("198.18.1.5", "224.0.0.251")) == Broadcast(
        ("gamma",), True)
    # epsilon is reached through beta, so its broadcasts do not go back to beta.
    assert net.route("epsilon", ipv4_frame("198.18.3.5", "239.1.1.1")) == Broadcast(
        ("gamma",), True)
    v6 = net.route(ME, ipv6_frame("2001:db8::5", "ff02::1"))
    assert v6 == Broadcast(("beta", "gamma"), False)


def test_broadcast_no_routes_broadcast_addresses_as_unicast() -> None:
    net = Net(broadcast="no")
    reply = net.route(ME, ipv4_frame("198.18.0.5", "255.255.255.255"))
    assert isinstance(reply, Reply)


def test_tunnelserver_does_not_forward_broadcasts() -> None:
    net = Net(tunnelserver=True)
    assert net.route("beta", ipv4_frame("198.18.1.5", "255.255.255.255")) == Broadcast((), True)
    assert net.route(ME, ipv4_frame("198.18.0.5", "255.255.255.255")) == Broadcast((), False)


def test_broadcast_direct_sends_to_direct_neighbours_only_from_us() -> None:
    net = Net(broadcast="direct")
    assert net.route(ME, ipv4_frame("198.18.0.5", "255.255.255.255")) == Broadcast(
        ("beta", "gamma"), False)
    assert net.route("beta", ipv4_frame("198.18.1.5", "255.255.255.255")) == Broadcast(
        (), True)


def test_decrement_ttl_on_forwarded_broadcast() -> None:
    net = Net(decrement_ttl=True)
    packet = ipv4_frame("198.18.1.5", "224.0.0.1", ttl=5)
    net.route("beta", packet)
    assert packet[22] == 4


# --- MSS clamping and MAC overwriting -----------------------------------------------------


def test_mss_clamped_to_the_smaller_mtu() -> None:
    net = Net()
    net.mtus["beta"] = 1200
    syn = tcp_syn("198.18.0.5", "198.18.1.5", 1460)
    assert net.route(ME, syn) == ToNode("beta")
    assert struct.unpack("!H", syn[56:58])[0] == 1200 - 54
    segment = bytes(syn[34:])
    assert ones_sum(bytes(syn[26:34]) + struct.pack("!BBH", 0, 6, len(segment)) + segment) == \
        0xFFFF
    # Towards us, the sender's MTU counts and our own ClampMSS option.
    inbound = tcp_syn("198.18.1.5", "198.18.0.5", 1460)
    assert net.route("beta", inbound) is TO_DEVICE
    assert struct.unpack("!H", inbound[56:58])[0] == 1200 - 54


def test_no_mss_clamping_without_the_option() -> None:
    net = Net()
    net.link(ME, "beta", options=0)
    net.update()
    net.mtus["beta"] = 1200
    syn = tcp_syn("198.18.0.5", "198.18.1.5", 1460)
    net.route(ME, syn)
    assert struct.unpack("!H", syn[56:58])[0] == 1460


def test_overwrite_mac_on_device_writes() -> None:
    mine = bytes.fromhex("02aabbccddee")
    net = Net(overwrite_mac=True, mymac=mine)
    packet = ipv4_frame("198.18.1.5", "198.18.0.5", dst_mac=bytes.fromhex("020000000099"))
    assert net.route("beta", packet) is TO_DEVICE
    assert packet[:6] == mine


# --- router mode on a tap device: ARP and neighbor discovery ------------------------------


def arp_request(target: str, sender: str = "198.18.0.10") -> bytearray:
    body = struct.pack("!HHBBH6s4s6s4s", 1, 0x0800, 6, 4, 1, HOST_MAC, ip4(sender), bytes(6),
                       ip4(target))
    return bytearray(BCAST_MAC + HOST_MAC + b"\x08\x06" + body + bytes(18))


def test_arp_request_for_a_vpn_address_is_answered() -> None:
    net = Net(overwrite_mac=True)
    request = arp_request("198.18.1.5")
    reply = net.route(ME, request)
    assert isinstance(reply, Reply) and reply.to == ME
    fake = HOST_MAC[:5] + bytes([HOST_MAC[5] ^ 0xFF])
    expected_body = struct.pack("!HHBBH6s4s6s4s", 1, 0x0800, 6, 4, 2, fake, ip4("198.18.1.5"),
                                HOST_MAC, ip4("198.18.0.10"))
    assert reply.packet == HOST_MAC + fake + b"\x08\x06" + expected_body + bytes(18)
    assert net.router.mymac == HOST_MAC


def test_arp_requests_not_answered() -> None:
    net = Net()
    assert net.route(ME, arp_request("198.18.0.7")) is DROP_OWN_TARGET
    assert net.route(ME, arp_request("198.19.0.7")) is DROP_UNKNOWN_TARGET
    assert net.route("beta", arp_request("198.18.1.5")) is DROP_FROM_PEER
    bad = arp_request("198.18.1.5")
    bad[21] = 2  # a reply, not a request
    assert net.route(ME, bad) is DROP_BAD_REQUEST
    assert net.route(ME, arp_request("198.18.1.5")[:30]) is DROP_TOO_SHORT


def neighbor_solicitation(target: str, src: str = "2001:db8::10", *,
                          option: bool = True) -> bytearray:
    dst = ip6("ff02::1:ff00:5")
    body = struct.pack("!BBHI16s", 135, 0, 0, 0, ip6(target))
    if option:
        body += bytes([1, 1]) + HOST_MAC
    pseudo = ip6(src) + dst + struct.pack("!II", len(body), 58)
    body = body[:2] + struct.pack("!H", checksum(pseudo + body)) + body[4:]
    header = struct.pack("!IHBB16s16s", 0x6000_0000, len(body), 58, 255, ip6(src), dst)
    return bytearray(bytes.fromhex("3333ff000005") + HOST_MAC + b"\x86\xdd" + header + body)


@pytest.mark.parametrize("option", [True, False])
def test_neighbor_solicitation_is_answered(option: bool) -> None:
    net = Net()
    reply = net.route(ME, neighbor_solicitation("2001:db8:1::5", option=option))
    assert isinstance(reply, Reply) and reply.to == ME
    packet = reply.packet
    fake = HOST_MAC[:5] + bytes([HOST_MAC[5] ^ 0xFF])
    assert packet[:12] == HOST_MAC + fake
    ip = packet[14:54]
    body = packet[54:]
    assert ip[8:24] == ip6("2001:db8:1::5") and ip[24:40] == ip6("2001:db8::10")
    assert ip[7] == 255
    assert body[0] == 136 and body[4:8] == b"\x40\0\0\0"
    assert body[8:24] == ip6("2001:db8:1::5")
    if option:
        assert body[24:32] == bytes([2, 1]) + fake
    pseudo = ip[8:40] + struct.pack("!II", len(body), 58)
    assert ones_sum(pseudo + body) == 0xFFFF


def test_neighbor_solicitations_not_answered() -> None:
    net = Net()
    assert net.route(ME, neighbor_solicitation("2001:db8::7")) is DROP_OWN_TARGET
    assert net.route(ME, neighbor_solicitation("2001:db9::7")) is DROP_UNKNOWN_TARGET
    assert net.route("beta", neighbor_solicitation("2001:db8:1::5")) is DROP_FROM_PEER
    corrupt = neighbor_solicitation("2001:db8:1::5")
    corrupt[-1] ^= 1
    assert net.route(ME, corrupt) is DROP_BAD_REQUEST


# --- switch mode ---------------------------------------------------------------------------


def eth(dst: bytes, src: bytes, payload: bytes = bytes(46), kind: bytes = b"\x88\xb5",
        ) -> bytearray:
    return bytearray(dst + src + kind + payload)


def switch_net(**options) -> Net:
    net = Net("switch", **options)
    net.table.add("beta", Subnet.from_address(BETA_MAC))
    return net


def test_switch_learns_source_macs_from_the_device() -> None:
    net = switch_net()
    assert net.route(ME, eth(BCAST_MAC, HOST_MAC)) == Broadcast(("beta",), False)
    learned = net.router.take_learned()
    assert learned == [Subnet("mac", HOST_MAC, 48, 10)]
    assert net.router.take_learned() == []
    assert net.table.lookup_mac(HOST_MAC).owner == ME
    net.route(ME, eth(BCAST_MAC, HOST_MAC))
    assert net.router.take_learned() == []
    # Not from peers.
    net.route("beta", eth(BCAST_MAC, bytes.fromhex("020000000077")))
    assert net.router.take_learned() == []


def test_switch_unicast_by_learned_and_announced_macs() -> None:
    net = switch_net()
    net.route(ME, eth(BCAST_MAC, HOST_MAC))
    assert net.route(ME, eth(BETA_MAC, HOST_MAC)) == ToNode("beta")
    assert net.route("beta", eth(HOST_MAC, BETA_MAC)) is TO_DEVICE
    assert net.route(ME, eth(HOST_MAC, HOST_MAC)) is DROP_LOOPING_BACK
    unknown = bytes.fromhex("020000000042")
    assert net.route("beta", eth(unknown, BETA_MAC)) == Broadcast((), True)


def test_switch_expiry_and_refresh() -> None:
    net = switch_net(mac_expire=600)
    net.route(ME, eth(BCAST_MAC, HOST_MAC))
    net.router.take_learned()
    net.clock.now += 500
    net.route(ME, eth(BETA_MAC, HOST_MAC))  # traffic refreshes the entry
    assert net.router.expire(net.clock.now + 200) == []
    gone = net.router.expire(net.clock.now + 600)
    assert gone == [Subnet("mac", HOST_MAC, 48, 10)]
    assert net.table.lookup_mac(HOST_MAC) is None
    assert net.router.expire(net.clock.now + 10_000) == []


def test_configured_mac_subnets_never_expire() -> None:
    net = switch_net()
    net.table.add(ME, Subnet.from_address(HOST_MAC))
    net.route(ME, eth(BCAST_MAC, HOST_MAC))
    assert net.router.take_learned() == []
    assert net.router.expire(net.clock.now + 10**6) == []


def test_roaming_mac_expires_at_the_next_check() -> None:
    net = switch_net()
    net.route(ME, eth(BCAST_MAC, HOST_MAC))
    subnet = net.router.take_learned()[0]
    net.router.roamed(subnet)
    assert net.router.expire(net.clock.now) == [subnet]


def test_switch_forwarding_off_and_unreachable_owner() -> None:
    net = switch_net(forwarding="off")
    net.table.add("gamma", Subnet.from_address(bytes.fromhex("02000000000c")))
    net.table.add("omega", Subnet.from_address(bytes.fromhex("02000000000d")))
    packet = eth(bytes.fromhex("02000000000c"), BETA_MAC)
    assert net.route("beta", packet) is DROP_NOT_FORWARDING
    assert net.route(ME, eth(bytes.fromhex("02000000000d"), HOST_MAC)) is DROP_UNREACHABLE


def test_switch_directonly() -> None:
    net = switch_net(directonly=True)
    net.table.add("epsilon", Subnet.from_address(bytes.fromhex("02000000000e")))
    assert net.route(ME, eth(bytes.fromhex("02000000000e"), HOST_MAC)) is DROP_NOT_DIRECT


def test_switch_too_big_ipv4_in_vlan_frame_gets_frag_needed() -> None:
    net = switch_net()
    net.mtus["beta"] = 1000
    inner = ipv4_frame("198.18.0.5", "198.18.1.5", bytes(1200))[14:]
    frame = bytearray(BETA_MAC + HOST_MAC + b"\x81\x00\x00\x07\x08\x00" + inner)
    reply = net.route(ME, frame)
    assert isinstance(reply, Reply)
    packet = reply.packet
    assert packet[:18] == HOST_MAC + BETA_MAC + b"\x81\x00\x00\x07\x08\x00"
    assert ones_sum(packet[18:38]) == 0xFFFF and ones_sum(packet[38:]) == 0xFFFF
    assert packet[38:40] == bytes([3, 4])
    # The next-hop MTU is what is left of the path MTU after the VLAN header.
    assert struct.unpack("!H", packet[44:46])[0] == 1000 - 18


def test_switch_too_big_ipv6_and_small_non_ip() -> None:
    net = switch_net()
    net.mtus["beta"] = 1300
    v6 = ipv6_frame("2001:db8::5", "2001:db8:1::5", bytes(1300), dst_mac=BETA_MAC,
                    src_mac=HOST_MAC)
    reply = net.route(ME, v6)
    assert isinstance(reply, Reply) and reply.packet[54] == 2
    assert struct.unpack("!I", reply.packet[58:62])[0] == 1300 - 14
    # Other frames go as they are, even when large.
    assert net.route(ME, eth(BETA_MAC, HOST_MAC, bytes(1400))) == ToNode("beta")


# --- hub mode ----------------------------------------------------------------------------


def test_hub_broadcasts_everything() -> None:
    net = Net("hub")
    assert net.route(ME, eth(BETA_MAC, HOST_MAC)) == Broadcast(("beta",), False)
    assert net.route("beta", eth(HOST_MAC, BETA_MAC)) == Broadcast((), True)


def test_routes_must_include_ourselves() -> None:
    net = Net()
    with pytest.raises(ValueError):
        net.router.set_routes({})
    with pytest.raises(ValueError):
        Router(ME, "bridge")  # type: ignore[arg-type]


# --- robustness -------------------------------------------------------------------------

DECISIONS = (ToNode, ToDevice, Broadcast, Reply, Fragments, Drop)

ethertypes = st.sampled_from([b"\x08\x00", b"\x86\xdd", b"\x08\x06", b"\x81\x00", b"\x12\x34"])
headers = st.sampled_from([
    b"", b"\x45\x00\x05\xdc\x00\x00\x40\x00\x01\x06\x00\x00\xc6\x12\x00\x05\xc6\x12\x01\x05",
    b"\x45\x00\x05\xdc\x00\x00\x00\x00\x01\x11\x00\x00\xc6\x12\x00\x05\xc6\x12\x02\x05",
    b"\x60\x00\x00\x00\x00\x20\x3a\xff" + ip6("2001:db8::1") + ip6("2001:db8:1::1"),
    b"\x60\x00\x00\x00\x00\x20\x06\x01" + ip6("2001:db8::1") + ip6("ff02::1"),
    b"\x00\x01\x08\x00\x06\x04\x00\x01" + HOST_MAC + bytes(10),
])
packets = st.one_of(
    st.binary(max_size=80),
    st.tuples(st.binary(min_size=12, max_size=12), ethertypes, headers,
              st.binary(max_size=1600)).map(lambda t: b"".join(t)),
)


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(["router", "switch", "hub"]), st.sampled_from([ME, "beta", "omega", "x"]),
       packets, st.booleans(), st.sampled_from(["off", "internal"]),
       st.sampled_from(["mst", "direct", "no"]), st.integers(0, 2000))
def test_route_never_raises(mode: str, source: str, data: bytes, ttl: bool, forwarding: str,
                            broadcast: str, mtu: int) -> None:
    net = Net(mode, decrement_ttl=ttl, forwarding=forwarding, broadcast=broadcast,
              overwrite_mac=ttl)
    net.mtus.update(beta=mtu, gamma=mtu)
    packet = bytearray(data)
    assert isinstance(net.route(source, packet), DECISIONS)


def test_decisions_need_no_allocation_for_common_paths() -> None:
    net = Net()
    first = net.route(ME, ipv4_frame("198.18.0.5", "198.18.1.5"))
    for _ in range(3):
        assert net.route(ME, ipv4_frame("198.18.0.5", "198.18.1.5")) is first
    broadcast = net.route(ME, ipv4_frame("198.18.0.5", "255.255.255.255"))
    assert net.route(ME, ipv4_frame("198.18.0.5", "255.255.255.255")) is broadcast

