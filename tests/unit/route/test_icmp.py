"""ICMP / ICMPv6 error replies byte for byte as tincd 1.0.36 builds them."""

from __future__ import annotations

import ipaddress
import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tinca.core.route.icmp import ipv4_unreachable, ipv6_unreachable
from tinca.core.route.packet import MalformedPacket

MAC_A = bytes.fromhex("020000000001")
MAC_B = bytes.fromhex("020000000002")
SRC4 = ipaddress.IPv4Address("198.18.0.1").packed
DST4 = ipaddress.IPv4Address("198.19.7.7").packed
SRC6 = ipaddress.IPv6Address("2001:db8::1").packed
DST6 = ipaddress.IPv6Address("2001:db8:99::7").packed


def ones_sum(data: bytes) -> int:
    """Independent RFC 1071 sum: add 16-bit words, fold the carries."""
    if len(data) % 2:
        data += b"\0"
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return total


def checksum(data: bytes) -> int:
    return ~ones_sum(data) & 0xFFFF


def ipv4_packet(payload: bytes, ttl: int = 64, proto: int = 17) -> bytes:
    header = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(payload), 0x1234, 0x4000, ttl,
                         proto, 0, SRC4, DST4)
    header = header[:10] + struct.pack("!H", checksum(header)) + header[12:]
    return header + payload


def ipv6_packet(payload: bytes, hlim: int = 64, nxt: int = 17) -> bytes:
    return struct.pack("!IHBB16s16s", 0x6000_0000, len(payload), nxt, hlim, SRC6, DST6) + payload


def expected_icmp4(link: bytes, original: bytes, icmp_type: int, code: int, mtu: int,
                   source: bytes = DST4) -> bytes:
    quote = original[:548]
    icmp = struct.pack("!BBHHH", icmp_type, code, 0, 0, mtu) + quote
    icmp = icmp[:2] + struct.pack("!H", checksum(icmp)) + icmp[4:]
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(icmp), 0, 0, 255, 1, 0, source, SRC4)
    ip = ip[:10] + struct.pack("!H", checksum(ip)) + ip[12:]
    return link + ip + icmp


def test_ipv4_net_unknown_on_tun_layer() -> None:
    original = ipv4_packet(b"hello, world")
    reply = ipv4_unreachable(original, 0, 3, 6)
    assert bytes(reply) == expected_icmp4(b"", original, 3, 6, 0)
    assert ones_sum(bytes(reply[:20])) == 0xFFFF
    assert ones_sum(bytes(reply[20:])) == 0xFFFF


def test_ipv4_frame_swaps_macs_and_keeps_vlan_tag() -> None:
    original = ipv4_packet(b"x" * 40)
    vlan = MAC_B + MAC_A + b"\x81\x00\x00\x05\x08\x00"
    reply = ipv4_unreachable(vlan + original, 18, 3, 0)
    assert bytes(reply) == expected_icmp4(MAC_A + MAC_B + b"\x81\x00\x00\x05\x08\x00",
                                          original, 3, 0, 0)


def test_ipv4_frag_needed_carries_the_mtu_and_quotes_548_bytes() -> None:
    original = ipv4_packet(bytes(range(256)) * 6)
    frame = MAC_B + MAC_A + b"\x08\x00" + original
    reply = ipv4_unreachable(frame, 14, 3, 4, length=1000)
    assert bytes(reply) == expected_icmp4(MAC_A + MAC_B + b"\x08\x00", original, 3, 4, 986)
    assert len(reply) == 14 + 576


def test_ipv4_time_exceeded_from_our_address() -> None:
    original = ipv4_packet(b"ping", ttl=1)
    ours = ipaddress.IPv4Address("198.18.200.1").packed
    reply = ipv4_unreachable(original, 0, 11, 0, reply_from=ours)
    assert bytes(reply) == expected_icmp4(b"", original, 11, 0, 0, source=ours)


def expected_icmp6(link: bytes, original: bytes, icmp_type: int, code: int, mtu: int) -> bytes:
    quote = original[:528]
    body = struct.pack("!BBHI", icmp_type, code, 0, mtu) + quote
    pseudo = DST6 + SRC6 + struct.pack("!II", len(body), 58)
    body = body[:2] + struct.pack("!H", checksum(pseudo + body)) + body[4:]
    ip6 = struct.pack("!IHBB16s16s", 0x6000_0000, len(body), 58, 255, DST6, SRC6)
    return link + ip6 + body


def test_ipv6_address_unreachable() -> None:
    original = ipv6_packet(b"payload")
    reply = ipv6_unreachable(MAC_B + MAC_A + b"\x86\xdd" + original, 14, 1, 3)
    assert bytes(reply) == expected_icmp6(MAC_A + MAC_B + b"\x86\xdd", original, 1, 3, 0)


def test_ipv6_packet_too_big_quotes_528_bytes() -> None:
    original = ipv6_packet(bytes(1400))
    reply = ipv6_unreachable(original, 0, 2, 0, length=1294)
    assert bytes(reply) == expected_icmp6(b"", original, 2, 0, 1294)
    assert len(reply) == 576


def test_short_packets_are_refused() -> None:
    with pytest.raises(MalformedPacket):
        ipv4_unreachable(bytes(30), 14, 3, 0)
    with pytest.raises(MalformedPacket):
        ipv6_unreachable(bytes(50), 14, 1, 0)
    with pytest.raises(ValueError):
        ipv4_unreachable(bytes(40), 14, 3, 0, length=41)
    with pytest.raises(ValueError):
        ipv4_unreachable(bytes(40), 13, 3, 0)


@given(st.binary(min_size=20, max_size=700), st.sampled_from([0, 14, 18]))
def test_ipv4_replies_always_check_out(data: bytes, ether_len: int) -> None:
    packet = bytes(ether_len) + data
    reply = ipv4_unreachable(packet, ether_len, 3, 1)
    body = bytes(reply[ether_len:])
    assert ones_sum(body[:20]) == 0xFFFF
    assert ones_sum(body[20:]) == 0xFFFF
    assert struct.unpack("!H", body[2:4])[0] == len(body) <= 576


@given(st.binary(min_size=40, max_size=700), st.sampled_from([0, 14]))
def test_ipv6_replies_always_check_out(data: bytes, ether_len: int) -> None:
    reply = bytes(ipv6_unreachable(bytes(ether_len) + data, ether_len, 1, 0))[ether_len:]
    body = reply[40:]
    pseudo = reply[8:40] + struct.pack("!II", len(body), 58)
    assert ones_sum(pseudo + body) == 0xFFFF
    assert len(reply) <= 576
