"""Node IDs and the UDP framing of tinc 1.1's per-node SPTPS datagrams.

tinc 1.1 names nodes on the data path by a 6-byte ID: the first 6 bytes of
SHA-512 of the node's name (``node_add`` in src/node.c). A UDP payload to or
from a node that speaks protocol minor 4 or later (``relay_supported`` /
``relay_enabled``, src/net_packet.c:962 and :1761) is::

    destination ID (6) | source ID (6) | SPTPS datagram

The destination ID is all zero when the sender sends its own packet straight
to the destination (``direct``, src/net_packet.c:1005-1009); otherwise it is
the final destination's ID and the receiver is a relay, which passes the
datagram on unopened, keeping both IDs (src/net_packet.c:1768-1805). The same
12-byte prefix leads the raw bytes after ``21 LEN`` (SPTPS_PACKET) on a meta
connection (src/net_packet.c:968-978). Towards an older node (minor < 4) the
datagram goes bare, without IDs.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from tinca.core.suite import PacketError

NODE_ID_SIZE = 6
"""Bytes in a node ID (``node_id_t``, src/net.h)."""

NULL_NODE_ID = bytes(NODE_ID_SIZE)
"""The destination ID of a packet sent directly to its destination."""

FRAME_HEADER_SIZE = 2 * NODE_ID_SIZE
"""Bytes the two IDs add in front of each SPTPS datagram."""

MIN_RELAY_MINOR = 4
"""Protocol minor version from which a node frames its UDP datagrams with IDs."""


class FrameError(PacketError):
    """A UDP payload too short to hold the two node IDs."""


def node_id(name: str) -> bytes:
    """The 6-byte ID of node ``name``: SHA-512 of its name, truncated."""
    return hashlib.sha512(name.encode()).digest()[:NODE_ID_SIZE]


def pack_frame(dst_id: bytes, src_id: bytes, datagram: bytes) -> bytes:
    """The UDP payload carrying ``datagram`` from ``src_id`` to ``dst_id``."""
    return dst_id + src_id + datagram


@dataclass(frozen=True, slots=True)
class UdpFrame:
    """One UDP payload between 1.1 nodes: destination ID, source ID, SPTPS datagram."""

    dst_id: bytes
    src_id: bytes
    datagram: bytes

    @property
    def direct(self) -> bool:
        """Whether the sender addressed it to us directly (destination ID all zero)."""
        return self.dst_id == NULL_NODE_ID

    def pack(self) -> bytes:
        """The UDP payload bytes."""
        return pack_frame(self.dst_id, self.src_id, self.datagram)

    @classmethod
    def unpack(cls, payload: bytes) -> UdpFrame:
        """Split a UDP payload; raises :class:`FrameError` when it is too short."""
        if len(payload) < FRAME_HEADER_SIZE:
            raise FrameError(
                f"UDP payload of {len(payload)} bytes cannot hold the two node IDs "
                f"({FRAME_HEADER_SIZE} bytes)"
            )
        return cls(
            bytes(payload[:NODE_ID_SIZE]),
            bytes(payload[NODE_ID_SIZE:FRAME_HEADER_SIZE]),
            bytes(payload[FRAME_HEADER_SIZE:]),
        )


class NodeIdIndex:
    """Which node an ID names (tinc's ``node_id_tree`` and ``lookup_node_id``)."""

    __slots__ = ("_by_id",)

    def __init__(self) -> None:
        self._by_id: dict[bytes, str] = {}

    def add(self, name: str) -> bytes:
        """Index ``name``; returns its ID."""
        nid = node_id(name)
        self._by_id[nid] = name
        return nid

    def discard(self, name: str) -> None:
        """Forget ``name`` (no error if it was not indexed)."""
        nid = node_id(name)
        if self._by_id.get(nid) == name:
            del self._by_id[nid]

    def name_of(self, nid: bytes) -> str | None:
        """The node with ID ``nid``, or ``None``."""
        return self._by_id.get(nid)


__all__ = [
    "FRAME_HEADER_SIZE",
    "MIN_RELAY_MINOR",
    "NODE_ID_SIZE",
    "NULL_NODE_ID",
    "FrameError",
    "NodeIdIndex",
    "UdpFrame",
    "node_id",
    "pack_frame",
]
