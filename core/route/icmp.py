"""ICMP and ICMPv6 error replies, built from the offending packet as tincd does.

tincd answers a packet it cannot deliver with an error addressed back to the
packet's sender (``route.c``: ``route_ipv4_unreachable``,
``route_ipv6_unreachable``). The reply claims to come from the packet's
destination address (or, for "time exceeded", from an address of ours chosen
by the caller), has a TTL / hop limit of 255, and quotes the start of the
offending IP packet so that the whole reply fits in 576 bytes (``IP_MSS``).

Both builders accept a bare IP packet (``ether_len=0``, a tun layer) or an
Ethernet frame (``ether_len`` 14, or 18 with a VLAN tag). For frames the MAC
addresses are swapped and any VLAN tag is kept, so the reply can be written to
the device or sent back to the node the packet came from.
"""

from __future__ import annotations

from tinca.core.route.packet import (
    ETH_ALEN,
    ICMP6_PACKET_TOO_BIG,
    ICMP6_SIZE,
    ICMP_DEST_UNREACH,
    ICMP_FRAG_NEEDED,
    ICMP_SIZE,
    IP6_SIZE,
    IP_MSS,
    IP_SIZE,
    IPPROTO_ICMP,
    IPPROTO_ICMPV6,
    MalformedPacket,
    inet_checksum,
)

#: Most bytes of the offending IPv4 packet an ICMP reply quotes.
IPV4_QUOTE_LIMIT = IP_MSS - IP_SIZE - ICMP_SIZE
#: Most bytes of the offending IPv6 packet an ICMPv6 reply quotes (tincd uses
#: the IPv4 limit here too, not IPv6's 1280).
IPV6_QUOTE_LIMIT = IP_MSS - IP6_SIZE - ICMP6_SIZE

_REPLY_TTL = 255


def _link_header(packet: bytes | bytearray, ether_len: int) -> bytearray:
    """The offending frame's link header with source and destination swapped."""
    header = bytearray(packet[:ether_len])
    if ether_len:
        header[0:ETH_ALEN] = packet[ETH_ALEN : 2 * ETH_ALEN]
        header[ETH_ALEN : 2 * ETH_ALEN] = packet[0:ETH_ALEN]
    return header


def _check_sizes(packet: bytes | bytearray, ether_len: int, length: int | None,
                 header: int, family: str) -> int:
    if ether_len not in (0, 14, 18):
        raise ValueError(f"link header length {ether_len} is not 0, 14 or 18")
    if length is None:
        length = len(packet)
    if length > len(packet):
        raise ValueError(f"length {length} exceeds the packet's {len(packet)} bytes")
    if length < ether_len + header:
        raise MalformedPacket(f"packet of {length} bytes holds no {family} header")
    return length


def ipv4_unreachable(packet: bytes | bytearray, ether_len: int, icmp_type: int, code: int,
                     *, length: int | None = None, reply_from: bytes | None = None,
                     ) -> bytearray:
    """Build tincd's ICMP error reply to an IPv4 packet.

    ``packet`` is the offending packet (a frame when ``ether_len`` > 0);
    ``length`` is how much of it tincd considers, by default all of it. For
    "fragmentation needed" tincd first cuts the packet to the size it can
    send, so ``length`` carries that size and the reply's next-hop MTU is
    ``length - ether_len``. The reply comes from the packet's destination
    unless ``reply_from`` (4 bytes) names another source.

    Raises :class:`MalformedPacket` when the packet holds no IPv4 header.
    """
    length = _check_sizes(packet, ether_len, length, IP_SIZE, "IPv4")
    src = packet[ether_len + 12 : ether_len + 16]
    dst = packet[ether_len + 16 : ether_len + 20]
    if reply_from is not None:
        if len(reply_from) != 4:
            raise ValueError("an IPv4 reply source is 4 bytes")
        dst = reply_from
    quoted = min(length - ether_len, IPV4_QUOTE_LIMIT)
    next_mtu = length - ether_len if (icmp_type, code) == (ICMP_DEST_UNREACH,
                                                          ICMP_FRAG_NEEDED) else 0

    ip = bytearray(IP_SIZE)
    ip[0] = 0x45
    total = IP_SIZE + ICMP_SIZE + quoted
    ip[2:4] = total.to_bytes(2, "big")
    ip[8] = _REPLY_TTL
    ip[9] = IPPROTO_ICMP
    ip[12:16] = dst
    ip[16:20] = src
    ip[10:12] = inet_checksum(ip).to_bytes(2, "big")

    quote = packet[ether_len : ether_len + quoted]
    icmp = bytearray(ICMP_SIZE)
    icmp[0] = icmp_type
    icmp[1] = code
    icmp[6:8] = next_mtu.to_bytes(2, "big")
    icmp[2:4] = inet_checksum(quote, inet_checksum(icmp)).to_bytes(2, "big")

    reply = _link_header(packet, ether_len)
    reply += ip
    reply += icmp
    reply += quote
    return reply


def ipv6_unreachable(packet: bytes | bytearray, ether_len: int, icmp_type: int, code: int,
                     *, length: int | None = None, reply_from: bytes | None = None,
                     ) -> bytearray:
    """Build tincd's ICMPv6 error reply to an IPv6 packet.

    As :func:`ipv4_unreachable`; for "packet too big" the reply's MTU field is
    ``length - ether_len``. ``reply_from`` is a 16-byte source address.

    Raises :class:`MalformedPacket` when the packet holds no IPv6 header.
    """
    length = _check_sizes(packet, ether_len, length, IP6_SIZE, "IPv6")
    src = packet[ether_len + 8 : ether_len + 24]
    dst = packet[ether_len + 24 : ether_len + 40]
    if reply_from is not None:
        if len(reply_from) != 16:
            raise ValueError("an IPv6 reply source is 16 bytes")
        dst = reply_from
    payload = length - ether_len
    mtu = payload if icmp_type == ICMP6_PACKET_TOO_BIG else 0
    quoted = min(payload, IPV6_QUOTE_LIMIT)
    icmp_len = ICMP6_SIZE + quoted

    ip6 = bytearray(IP6_SIZE)
    ip6[0] = 0x60
    ip6[4:6] = icmp_len.to_bytes(2, "big")
    ip6[6] = IPPROTO_ICMPV6
    ip6[7] = _REPLY_TTL
    ip6[8:24] = dst
    ip6[24:40] = src

    quote = packet[ether_len : ether_len + quoted]
    icmp6 = bytearray(ICMP6_SIZE)
    icmp6[0] = icmp_type
    icmp6[1] = code
    icmp6[4:8] = mtu.to_bytes(4, "big")
    pseudo = bytes(dst) + bytes(src) + icmp_len.to_bytes(4, "big") + IPPROTO_ICMPV6.to_bytes(
        4, "big")
    checksum = inet_checksum(quote, inet_checksum(icmp6, inet_checksum(pseudo)))
    icmp6[2:4] = checksum.to_bytes(2, "big")

    reply = _link_header(packet, ether_len)
    reply += ip6
    reply += icmp6
    reply += quote
    return reply
