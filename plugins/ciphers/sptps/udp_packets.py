"""VPN packets in SPTPS records: tinc 1.1's record types and compression flag.

tinc 1.1 puts each VPN packet in one application record of the per-node
SPTPS session (``send_sptps_packet`` and ``receive_sptps_record``,
src/net_packet.c:677-724 and :1049-1147). The record type is a set of flags
(src/net.h:106-108):

* ``PKT_PROBE`` (4): a UDP probe, the whole Ethernet-framed packet. A packet
  whose EtherType bytes (12 and 13) are both zero is a probe. Refused when it
  came over TCP.
* ``PKT_MAC`` (2): the packet keeps its 14-byte Ethernet header (switch and
  hub modes). Without it (router mode) the header is left out and the
  receiver rebuilds it: 12 zero bytes and the EtherType from the IP version.
* ``PKT_COMPRESSED`` (1): the payload is compressed with the receiver's level
  (the level it sent in its ANS_KEY). The sender sets it only when
  compression made the payload smaller.

Any other bit makes the receiver drop the record. These helpers are the data
path: they do not log; the caller reports a :class:`RecordError` once.
"""

from __future__ import annotations

from collections.abc import Callable

from tinca.core.errors import TincaError
from tinca.core.suite import PacketError

PKT_NORMAL = 0
"""An IP packet without its Ethernet header (router mode), uncompressed."""
PKT_COMPRESSED = 1
"""Flag: the payload is compressed (src/net.h:106)."""
PKT_MAC = 2
"""Flag: the payload keeps its Ethernet header (src/net.h:107)."""
PKT_PROBE = 4
"""A UDP probe record (src/net.h:108); never combined with the other flags."""

ETHER_HEADER_SIZE = 14
"""Bytes of the Ethernet header left out in router mode (``offset = 14``)."""

MTU = 1518
"""tinc's largest VPN packet without jumbograms (src/net.h); larger records are refused."""

_ETHERTYPE_BY_VERSION = {4: b"\x08\x00", 6: b"\x86\xdd"}
_ROUTER_PREFIX = bytes(12)


class RecordError(PacketError):
    """A record the data path refuses: bad type, wrong mode, bad compression, too big."""


def encode_packet(
    frame: bytes,
    *,
    router: bool,
    compress: Callable[[bytes], bytes] | None = None,
) -> tuple[int, bytes]:
    """The record type and data that carry the Ethernet-framed ``frame``.

    ``router`` is tinc's ``Mode = router`` (the header is left out);
    ``compress`` is the codec of the peer's announced level (``None`` for
    level 0). Raises :class:`RecordError` for a frame shorter than its header.
    """
    if len(frame) >= ETHER_HEADER_SIZE and not (frame[12] | frame[13]):
        return PKT_PROBE, frame
    if router:
        if len(frame) < ETHER_HEADER_SIZE:
            raise RecordError(f"packet of {len(frame)} bytes is shorter than its Ethernet header")
        record_type, payload = PKT_NORMAL, frame[ETHER_HEADER_SIZE:]
    else:
        record_type, payload = PKT_MAC, frame
    if compress is not None:
        try:
            packed = compress(payload)
        except TincaError:
            packed = b""  # tinc sends the packet uncompressed when compression fails
        if packed and len(packed) < len(payload):
            return record_type | PKT_COMPRESSED, packed
    return record_type, payload


def decode_record(
    record_type: int,
    data: bytes,
    *,
    router: bool,
    via_udp: bool = True,
    decompress: Callable[[bytes], bytes] | None = None,
) -> tuple[bool, bytes]:
    """``(is_probe, frame)`` from one received application record.

    ``frame`` is Ethernet-framed as the router and the MTU strategy expect.
    ``decompress`` is the codec of our own announced level. Raises
    :class:`RecordError` where tinc drops the record.
    """
    if len(data) > MTU:
        raise RecordError(f"Packet larger than maximum supported size ({len(data)} > {MTU})")
    if record_type == PKT_PROBE:
        if not via_udp:
            raise RecordError("Got SPTPS PROBE packet via TCP")
        return True, data
    if record_type & ~(PKT_COMPRESSED | PKT_MAC):
        raise RecordError(f"Unexpected SPTPS record type {record_type} len {len(data)}")
    with_mac = bool(record_type & PKT_MAC)
    if not router and not with_mac:
        raise RecordError("Received packet without MAC header (maybe Mode is not set correctly)")
    if record_type & PKT_COMPRESSED:
        if decompress is None:
            raise RecordError("Received a compressed packet but we asked for no compression")
        try:
            data = decompress(data)
        except TincaError as exc:
            raise RecordError(f"Cannot decompress packet: {exc}") from None
    if with_mac:
        return False, data
    if not data:
        raise RecordError("Received an empty IP packet")
    ethertype = _ETHERTYPE_BY_VERSION.get(data[0] >> 4)
    if ethertype is None:
        raise RecordError(f"Unknown IP version {data[0] >> 4}")
    return False, _ROUTER_PREFIX + ethertype + data


__all__ = [
    "ETHER_HEADER_SIZE",
    "MTU",
    "PKT_COMPRESSED",
    "PKT_MAC",
    "PKT_NORMAL",
    "PKT_PROBE",
    "RecordError",
    "decode_record",
    "encode_packet",
]
