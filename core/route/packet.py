"""Header layouts and small helpers shared by the routing modules.

tincd 1.0 carries every VPN packet as an Ethernet frame, also in router mode:
a packet read from a tun device gets a 14-byte header whose MAC addresses are
zero and whose type field says IPv4 or IPv6 (``linux/device.c``,
``read_packet``), and the same framing travels between tinc 1.0 nodes. The
router therefore works on frames; :func:`frame_ip` and :func:`unframe` convert
at the tun device.

Offsets and sizes below are those of the C structures tincd copies in and out
of its packet buffer (``route.c``: ``ether_size``, ``ip_size``, ...).
"""

from __future__ import annotations

from tinca.core.errors import TincaError

# --- Ethernet (ethernet.h) --------------------------------------------------

ETHER_SIZE = 14
"""An Ethernet header: destination MAC, source MAC, type."""
VLAN_TAG_SIZE = 4
"""An 802.1Q tag, inserted before the type field."""
ETH_ALEN = 6
ETH_P_IP = 0x0800
ETH_P_ARP = 0x0806
ETH_P_IPV6 = 0x86DD
ETH_P_8021Q = 0x8100

# --- IPv4 / ICMP (ipv4.h) ---------------------------------------------------

IP_SIZE = 20
"""An IPv4 header without options."""
ICMP_SIZE = 8
"""The ICMP header tincd writes (type, code, checksum, 4 bytes of data)."""
IP_MSS = 576
"""RFC 791's minimum reassembly size; caps the ICMP reply (ipv4.h)."""
IPPROTO_ICMP = 1
IPPROTO_TCP = 6
IP_DF = 0x4000
IP_MF = 0x2000
IP_OFFMASK = 0x1FFF

ICMP_DEST_UNREACH = 3
ICMP_NET_UNREACH = 0
ICMP_FRAG_NEEDED = 4
ICMP_NET_UNKNOWN = 6
ICMP_NET_ANO = 9
ICMP_TIME_EXCEEDED = 11
ICMP_EXC_TTL = 0

# --- IPv6 / ICMPv6 / ND (ipv6.h) --------------------------------------------

IP6_SIZE = 40
ICMP6_SIZE = 8
IPPROTO_ICMPV6 = 58

ICMP6_DST_UNREACH = 1
ICMP6_DST_UNREACH_NOROUTE = 0
ICMP6_DST_UNREACH_ADMIN = 1
ICMP6_DST_UNREACH_ADDR = 3
ICMP6_PACKET_TOO_BIG = 2
ICMP6_TIME_EXCEEDED = 3
ICMP6_TIME_EXCEED_TRANSIT = 0

ND_NEIGHBOR_SOLICIT = 135
ND_NEIGHBOR_ADVERT = 136
ND_OPT_SOURCE_LINKADDR = 1
ND_OPT_TARGET_LINKADDR = 2
NS_SIZE = 24
"""A neighbor solicitation: ICMPv6 header plus the 16-byte target address."""
ND_OPT_HDR_SIZE = 2
"""An ND option header: type and length (in units of 8 bytes)."""

# --- ARP (RFC 826) ----------------------------------------------------------

ARP_SIZE = 28
"""An Ethernet/IPv4 ARP packet."""
ARPHRD_ETHER = 1
ARPOP_REQUEST = 1
ARPOP_REPLY = 2


class MalformedPacket(TincaError):
    """A packet too short or inconsistent for the operation asked of it."""


def inet_checksum(data: bytes | bytearray | memoryview, prev: int = 0xFFFF) -> int:
    """RFC 1071 checksum of ``data``, chained onto ``prev``.

    ``prev`` is a previous result of this function (``0xFFFF`` to start), so a
    checksum over several pieces equals the checksum over their concatenation
    as long as every piece but the last has even length, as in tincd's
    ``inet_checksum``. Returns the 16-bit value to store, big-endian.
    """
    if len(data) & 1:
        value = int.from_bytes(data, "big") << 8
    else:
        value = int.from_bytes(data, "big")
    # A big-endian number is its 16-bit words weighted by powers of 2**16, and
    # 2**16 == 1 (mod 0xFFFF), so the modulus is the one's-complement sum.
    total = value % 0xFFFF
    if total == 0 and value:
        total = 0xFFFF
    total += prev ^ 0xFFFF
    total = (total & 0xFFFF) + (total >> 16)
    total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def ethertype_of(frame: bytes | bytearray) -> tuple[int, int]:
    """The frame's type and its header length, looking through one VLAN tag.

    Raises :class:`MalformedPacket` for a frame shorter than its header.
    """
    if len(frame) < ETHER_SIZE:
        raise MalformedPacket(f"frame of {len(frame)} bytes has no Ethernet header")
    kind = frame[12] << 8 | frame[13]
    if kind != ETH_P_8021Q:
        return kind, ETHER_SIZE
    if len(frame) < ETHER_SIZE + VLAN_TAG_SIZE:
        raise MalformedPacket("frame is too short for its 802.1Q tag")
    return frame[16] << 8 | frame[17], ETHER_SIZE + VLAN_TAG_SIZE


_TYPE_OF_VERSION = {4: b"\x08\x00", 6: b"\x86\xdd"}
_ZERO_MACS = bytes(2 * ETH_ALEN)


def frame_ip(packet: bytes | bytearray | memoryview) -> bytearray:
    """Wrap an IP packet from a tun device as tincd 1.0 does.

    The MAC addresses are zero and the type follows the IP version nibble.
    Raises :class:`MalformedPacket` for an empty packet or one that is neither
    IPv4 nor IPv6.
    """
    if not packet:
        raise MalformedPacket("empty IP packet")
    kind = _TYPE_OF_VERSION.get(packet[0] >> 4)
    if kind is None:
        raise MalformedPacket(f"IP version {packet[0] >> 4} is neither 4 nor 6")
    frame = bytearray(_ZERO_MACS)
    frame += kind
    frame += packet
    return frame


def unframe(frame: bytes | bytearray) -> bytes:
    """The IP packet inside a frame, for writing to a tun device."""
    if len(frame) < ETHER_SIZE:
        raise MalformedPacket(f"frame of {len(frame)} bytes has no Ethernet header")
    return bytes(frame[ETHER_SIZE:])
