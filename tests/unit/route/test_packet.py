"""Header helpers: the RFC 1071 checksum, tun framing, Ethernet types."""

from __future__ import annotations

import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tinca.core.route.packet import (
    ETH_P_IP,
    ETH_P_IPV6,
    MalformedPacket,
    ethertype_of,
    frame_ip,
    inet_checksum,
    unframe,
)


def naive_checksum(data: bytes, prev: int = 0xFFFF) -> int:
    """tincd's inet_checksum, word by word."""
    if len(data) % 2:
        data += b"\0"
    total = prev ^ 0xFFFF
    for (word,) in struct.iter_unpack("!H", data):
        total += word
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def test_known_ipv4_header_checksum() -> None:
    # 198.18.0.1 -> 198.18.0.199, UDP, 115 bytes. By hand: the words add up
    # to 0x25270, folded 0x5272, complemented 0xad8d.
    header = bytes.fromhex("450000730000400040110000c6120001c61200c7")
    assert inet_checksum(header) == 0xAD8D


@given(st.binary(max_size=300), st.integers(0, 0xFFFF))
def test_checksum_matches_word_by_word_sum(data: bytes, prev: int) -> None:
    assert inet_checksum(data, prev) == naive_checksum(data, prev)


@given(st.binary(max_size=100).map(lambda b: b[: len(b) // 2 * 2]), st.binary(max_size=100))
def test_checksum_chains_over_pieces(first: bytes, second: bytes) -> None:
    assert inet_checksum(second, inet_checksum(first)) == inet_checksum(first + second)


def test_frame_ip_and_back() -> None:
    v4 = bytes([0x45]) + bytes(19)
    v6 = bytes([0x60]) + bytes(39)
    assert frame_ip(v4) == bytes(12) + b"\x08\x00" + v4
    assert frame_ip(v6) == bytes(12) + b"\x86\xdd" + v6
    assert unframe(frame_ip(v6)) == v6
    with pytest.raises(MalformedPacket):
        frame_ip(b"")
    with pytest.raises(MalformedPacket):
        frame_ip(b"\x50abc")
    with pytest.raises(MalformedPacket):
        unframe(b"short")


def test_ethertype_through_vlan_tag() -> None:
    assert ethertype_of(bytes(12) + b"\x08\x00") == (ETH_P_IP, 14)
    assert ethertype_of(bytes(12) + b"\x81\x00\x00\x01\x86\xdd") == (ETH_P_IPV6, 18)
    with pytest.raises(MalformedPacket):
        ethertype_of(bytes(12) + b"\x81\x00\x00")
    with pytest.raises(MalformedPacket):
        ethertype_of(bytes(5))
