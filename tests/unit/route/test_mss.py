"""TCP MSS clamping as tincd 1.0.36's clamp_mss does it."""

from __future__ import annotations

import ipaddress
import struct

from hypothesis import given
from hypothesis import strategies as st

from tinca.core.route.mss import clamp_mss, clamp_mss_ip

SRC4 = ipaddress.IPv4Address("198.18.0.1").packed
DST4 = ipaddress.IPv4Address("198.18.0.2").packed
SRC6 = ipaddress.IPv6Address("2001:db8::1").packed
DST6 = ipaddress.IPv6Address("2001:db8::2").packed
MSS_1460 = b"\x02\x04\x05\xb4"


def ones_sum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\0"
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return total


def tcp_header(options: bytes, flags: int = 0x02) -> bytes:
    """A TCP header with ``options`` and a zero checksum."""
    offset = (20 + len(options)) // 4
    return struct.pack("!HHIIBBHHH", 40000, 80, 1, 0, offset << 4, flags, 65535, 0, 0) + options


def with_checksum(segment: bytes, pseudo: bytes) -> bytes:
    checksum = ~ones_sum(pseudo + segment) & 0xFFFF
    return segment[:16] + struct.pack("!H", checksum) + segment[18:]


def tcp4(options: bytes, flags: int = 0x02) -> bytes:
    segment = tcp_header(options, flags)
    segment = with_checksum(segment, SRC4 + DST4 + struct.pack("!BBH", 0, 6, len(segment)))
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(segment), 0, 0x4000, 64, 6, 0,
                     SRC4, DST4)
    return ip + segment


def tcp4_valid(packet: bytes) -> bool:
    ihl = (packet[0] & 0x0F) * 4
    segment = packet[ihl:]
    pseudo = packet[12:20] + struct.pack("!BBH", 0, 6, len(segment))
    return ones_sum(pseudo + segment) == 0xFFFF


def tcp6(options: bytes) -> bytes:
    segment = tcp_header(options)
    segment = with_checksum(segment, SRC6 + DST6 + struct.pack("!II", len(segment), 6))
    return struct.pack("!IHBB16s16s", 0x6000_0000, len(segment), 6, 64, SRC6, DST6) + segment


def tcp6_valid(packet: bytes) -> bool:
    segment = packet[40:]
    pseudo = packet[8:40] + struct.pack("!II", len(segment), 6)
    return ones_sum(pseudo + segment) == 0xFFFF


def frame(packet: bytes, vlan: bool = False) -> bytearray:
    kind = b"\x08\x00" if packet[0] >> 4 == 4 else b"\x86\xdd"
    tag = b"\x81\x00\x00\x07" if vlan else b""
    return bytearray(bytes(12) + tag + kind + packet)


def mss_of(packet: bytes, ip_len: int) -> int:
    return struct.unpack("!H", packet[ip_len + 22 : ip_len + 24])[0]


def test_ipv4_syn_clamped_to_frame_mtu() -> None:
    packet = frame(tcp4(MSS_1460 + b"\x01\x01\x04\x02"))
    assert clamp_mss(packet, 1400)
    # 1400 - 14 (Ethernet) - 20 (IPv4) - 20 (TCP)
    assert mss_of(bytes(packet[14:]), 20) == 1346
    assert tcp4_valid(bytes(packet[14:]))


def test_ipv6_syn_clamped() -> None:
    packet = frame(tcp6(MSS_1460))
    assert clamp_mss(packet, 1400)
    assert mss_of(bytes(packet[14:]), 40) == 1400 - 14 - 40 - 20
    assert tcp6_valid(bytes(packet[14:]))


def test_vlan_frame_clamped() -> None:
    packet = frame(tcp4(MSS_1460), vlan=True)
    assert clamp_mss(packet, 1300)
    assert mss_of(bytes(packet[18:]), 20) == 1300 - 18 - 20 - 20
    assert tcp4_valid(bytes(packet[18:]))


def test_bare_ip_packet_clamped_to_ip_mtu() -> None:
    packet = bytearray(tcp4(MSS_1460))
    assert clamp_mss_ip(packet, 1280)
    assert mss_of(bytes(packet), 20) == 1240
    assert tcp4_valid(bytes(packet))


def test_small_mss_untouched() -> None:
    original = frame(tcp4(b"\x02\x04\x02\x00"))
    packet = bytearray(original)
    assert not clamp_mss(packet, 1400)
    assert packet == original


def test_mss_after_other_options_is_left_alone_as_tincd_does() -> None:
    # tincd checks the first option's length byte (here a NOP) instead of the
    # MSS option's own, so an MSS that is not first is never clamped.
    original = frame(tcp4(b"\x01\x01" + MSS_1460 + b"\x01\x01\x01\x01"))
    packet = bytearray(original)
    assert not clamp_mss(packet, 1000)
    assert packet == original


def test_any_segment_with_mss_is_clamped_not_only_syn() -> None:
    packet = frame(tcp4(MSS_1460, flags=0x10))
    assert clamp_mss(packet, 1000)


def test_non_tcp_and_truncated_packets_untouched() -> None:
    udp = bytearray(bytes(12) + b"\x08\x00" + bytes([0x45]) + bytes(8) + b"\x11" + bytes(30))
    assert not clamp_mss(udp, 500)
    full = frame(tcp4(MSS_1460))
    for cut in range(0, len(full)):
        assert not clamp_mss(bytearray(full[:cut]), 500)
    assert not clamp_mss_ip(bytearray(), 500)


@given(st.binary(max_size=120), st.integers(0, 70000))
def test_random_frames_never_raise(data: bytes, mtu: int) -> None:
    clamp_mss(bytearray(data), mtu)
    clamp_mss(bytearray(bytes(12) + b"\x08\x00\x45" + bytes(8) + b"\x06" + data), mtu)
    clamp_mss(bytearray(bytes(12) + b"\x86\xdd" + bytes(6) + b"\x06" + bytes(33) + data), mtu)
    clamp_mss_ip(bytearray(data), mtu)


@given(st.integers(536, 65535), st.integers(600, 1518),
       st.lists(st.sampled_from([b"\x01", b"\x04\x02", b"\x08\x0a" + bytes(8)]), max_size=3))
def test_checksum_stays_valid(mss: int, mtu: int, tail: list[bytes]) -> None:
    options = b"\x02\x04" + struct.pack("!H", mss) + b"".join(tail)
    options += b"\0" * (-len(options) % 4)
    packet = frame(tcp4(options))
    changed = clamp_mss(packet, mtu)
    assert changed == (mss > mtu - 54)
    assert mss_of(bytes(packet[14:]), 20) == min(mss, mtu - 54)
    assert tcp4_valid(bytes(packet[14:]))
