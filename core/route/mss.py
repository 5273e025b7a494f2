"""TCP MSS clamping, as tincd's ``clamp_mss`` (``route.c``) does it.

When a TCP segment carries an MSS option larger than what fits the path, the
option is lowered in place and the TCP checksum patched incrementally (RFC
1624), so the two ends never try segments that would have to be fragmented.

tincd's quirks are kept on purpose, because a node should behave like tincd:

- the SYN flag is not checked: any segment with an MSS option is clamped;
- the option is found only when the *first* option's length byte is 4 (tincd
  tests ``data[start + 21]`` rather than the found option's length), which is
  the case for the SYNs of common stacks (MSS is sent first);
- IPv6 extension headers are not followed (only next header = TCP).

The one departure: where tincd would read past the end of a short packet (its
buffer is always 1518 bytes), the packet is left alone.
"""

from __future__ import annotations

from tinca.core.route.packet import (
    ETH_P_8021Q,
    ETH_P_IP,
    ETH_P_IPV6,
    ETHER_SIZE,
    IP6_SIZE,
    IPPROTO_TCP,
    VLAN_TAG_SIZE,
)

_TCP_HEADER = 20
_TCPOPT_EOL = 0
_TCPOPT_NOP = 1
_TCPOPT_MSS = 2


def _clamp(packet: bytearray, start: int, kind: int, mtu: int) -> bool:
    """Clamp the segment whose IP header starts at ``start``; see the module."""
    size = len(packet)
    if kind == ETH_P_IP:
        if size <= start + 9 or packet[start + 9] != IPPROTO_TCP:
            return False
        start += (packet[start] & 0x0F) * 4
    elif kind == ETH_P_IPV6:
        if size <= start + 6 or packet[start + 6] != IPPROTO_TCP:
            return False
        start += IP6_SIZE
    else:
        return False
    if size <= start + _TCP_HEADER:
        return False
    options = ((packet[start + 12] >> 4) - 5) * 4
    if size < start + _TCP_HEADER + options:
        return False
    # tincd only ever clamps when the first option's length byte is 4 (see
    # below); testing that first spares the option walk for most segments.
    if size <= start + 21 or packet[start + 21] != 4:
        return False
    base = start + _TCP_HEADER
    i = 0
    while i < options:
        kind_byte = packet[base + i]
        if kind_byte == _TCPOPT_EOL:
            return False
        if kind_byte == _TCPOPT_NOP:
            i += 1
            continue
        if i > options - 2:
            return False
        opt_len = packet[base + i + 1]
        if i > options - opt_len:
            return False
        if kind_byte != _TCPOPT_MSS:
            if opt_len < 2:
                return False
            i += opt_len
            continue
        # tincd checks the length byte of the first option, not of this one.
        if packet[start + 21] != 4 or base + i + 3 >= size:
            return False
        old = packet[base + i + 2] << 8 | packet[base + i + 3]
        new = (mtu - start - _TCP_HEADER) & 0xFFFF
        if old <= new:
            return False
        packet[base + i + 2] = new >> 8
        packet[base + i + 3] = new & 0xFF
        csum = packet[start + 16] << 8 | packet[start + 17]
        csum ^= 0xFFFF
        csum += old ^ 0xFFFF
        csum += new
        csum = (csum & 0xFFFF) + (csum >> 16)
        csum += csum >> 16
        csum ^= 0xFFFF
        packet[start + 16] = (csum >> 8) & 0xFF
        packet[start + 17] = csum & 0xFF
        return True
    return False


def clamp_mss(frame: bytearray, mtu: int) -> bool:
    """Clamp the MSS of a TCP segment in an Ethernet ``frame``, in place.

    ``mtu`` is tincd's MTU for the path: a frame size, Ethernet header
    included, so the new MSS is ``mtu`` minus the Ethernet, IP and TCP
    headers. Returns whether the frame was changed.
    """
    if len(frame) < ETHER_SIZE:
        return False
    kind = frame[12] << 8 | frame[13]
    start = ETHER_SIZE
    if kind == ETH_P_8021Q:
        if len(frame) < ETHER_SIZE + VLAN_TAG_SIZE:
            return False
        start += VLAN_TAG_SIZE
        kind = frame[16] << 8 | frame[17]
    return _clamp(frame, start, kind, mtu)


def clamp_mss_ip(packet: bytearray, mtu: int) -> bool:
    """Clamp the MSS of a TCP segment in a bare IP ``packet``, in place.

    ``mtu`` is the IP MTU (no link header). Returns whether it changed.
    """
    if not packet:
        return False
    version = packet[0] >> 4
    kind = ETH_P_IP if version == 4 else ETH_P_IPV6 if version == 6 else 0
    return _clamp(packet, 0, kind, mtu)
