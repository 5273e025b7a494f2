"""What a cipher suite builds per connection and per packet key.

The sans-IO meta connection (:class:`MetaSession`) with the events it
reports, and tinc 1.0's packet protection objects (:class:`PacketSealer`,
:class:`PacketOpener`, made from a :class:`KeyOffer` exchange). They are part
of the cipher suite contract (:mod:`tinca.core.suite` re-exports them, import
them from there); they live in a module of their own because the node's
state (:mod:`tinca.core.node.state`) holds them, while the suite contract
refers to that state through the per-peer paths (:mod:`tinca.core.peer_paths`).
Errors are :class:`~tinca.core.suite.MetaError` and
:class:`~tinca.core.suite.PacketError`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True, slots=True)
class Authenticated:
    """Both sides proved their keys and exchanged ACKs; the connection is active.

    ``peer_port`` is the port the peer announced; ``peer_options`` the option
    bits it sent and ``options`` the connection's options once both sides'
    are combined as tincd does; ``weight`` the edge weight (the mean of both
    sides' estimates) and ``peer_weight`` the peer's own estimate.
    """

    peer_name: str
    peer_port: int
    peer_options: int
    weight: int
    options: int
    peer_weight: int


@dataclass(frozen=True, slots=True)
class RequestLine:
    """One request line (without the newline) from an authenticated peer."""

    line: str


@dataclass(frozen=True, slots=True)
class PacketReceived:
    """A VPN packet that came over the meta connection (tinc's ``PACKET``)."""

    data: bytes


@dataclass(frozen=True, slots=True)
class RawPacketReceived:
    """Bytes that followed tinc 1.1's ``21 LEN`` (SPTPS_PACKET) outside the
    meta connection's protection: a destination and a source node ID, then a
    datagram of the source's per-node session (the suite's paths handle it,
    :meth:`~tinca.core.peer_paths.PeerPaths.receive_raw`)."""

    data: bytes


@dataclass(frozen=True, slots=True)
class PublicKeyOffered:
    """The peer sent its public key instead of an ACK (tinc 1.1's key upgrade,
    protocol minor 1): the node should store it, then the connection ends and
    is made again with the newer protocol."""

    peer_name: str
    key: str


MetaEvent = Authenticated | RequestLine | PacketReceived | RawPacketReceived | PublicKeyOffered


class MetaSession(Protocol):
    """A sans-IO meta connection. Bytes in, events and bytes out.

    The node uses every member below and nothing else: implement them all.
    """

    def initiate(self) -> bytes:
        """Bytes to send when the TCP connection is established."""
        ...

    def receive_data(self, data: bytes) -> list[MetaEvent]:
        """Feed received bytes; returns the events they complete.

        Replies the session wants to send are collected by
        :meth:`data_to_send`. Raises :class:`MetaError` on a protocol
        violation (the connection must then be closed).
        """
        ...

    def data_to_send(self) -> bytes:
        """Bytes queued by :meth:`receive_data` (handshake replies), then empty."""
        ...

    def send_request(self, line: str) -> bytes:
        """Bytes carrying one request line (after authentication)."""
        ...

    def send_packet(self, packet: bytes) -> bytes:
        """Bytes carrying one VPN packet over the meta connection."""
        ...

    def send_raw_packet(self, data: bytes) -> bytes:
        """Bytes carrying ``data`` unprotected by the connection: an already
        protected datagram of a per-peer channel, with its node IDs (tinc
        1.1's ``21 LEN``, see :class:`RawPacketReceived`).

        Raises :class:`MetaError` when the connection's protocol cannot
        carry such data (the node then drops it).
        """
        ...

    @property
    def peer_name(self) -> str | None:
        """The name the peer gave in its ID line; ``None`` before it came."""
        ...

    @property
    def finished(self) -> bool:
        """The session ended the connection by itself, after sending its last
        bytes (tinc 1.1's key upgrade): the node closes the connection and
        dials again at once."""
        ...

    @property
    def status_bits(self) -> int:
        """Bits of tinc's connection status (``CONNECTION_*`` in
        :mod:`tinca.core.control.records`) that the session's protocol sets on
        an active connection, for ``dump connections``: tinc 1.0's protocol,
        which encrypts the stream with the keys of its METAKEY exchange, sets
        ``CONNECTION_ENCRYPTOUT | CONNECTION_DECRYPTIN``; tinc 1.1's SPTPS
        sets none."""
        ...


class PacketSealer(Protocol):
    """Protects our packets for one peer under one key."""

    def seal(self, packet: bytes | bytearray) -> bytes:
        """The UDP payload for ``packet``."""
        ...

    def key_fields(self) -> tuple[int, int, int, int]:
        """Cipher NID, digest NID, MAC length and compression level of the
        key, as ANS_KEY carries them (0 for none), for ``dump nodes``."""
        ...


class PacketOpener(Protocol):
    """Checks and unwraps one peer's packets under one key."""

    @property
    def last_inner_length(self) -> int:
        """The length of the last packet :meth:`open` returned, before
        decompression (tinc 1.0 measures answered MTU probes with it)."""
        ...

    @property
    def compression(self) -> int:
        """The compression level of packets under this key (0: none)."""
        ...

    def open(self, datagram: bytes) -> bytes:
        """The packet inside ``datagram``; raises :class:`PacketError`."""
        ...

    def authenticates(self, datagram: bytes) -> bool:
        """Whether ``datagram`` carries a valid MAC for this key, without
        changing any state (tinc's ``try_mac``): finds the sender of a
        datagram from an unknown address. ``False`` when the key's packets
        carry no MAC."""
        ...


@dataclass(frozen=True)
class KeyOffer:
    """Our packet key for one peer, as ANS_KEY carries it after the two names."""

    key: str
    cipher: int
    digest: int
    mac_length: int
    compression: int


__all__ = [
    "Authenticated",
    "KeyOffer",
    "MetaEvent",
    "MetaSession",
    "PacketOpener",
    "PacketReceived",
    "PacketSealer",
    "PublicKeyOffered",
    "RawPacketReceived",
    "RequestLine",
]
