"""The contract of cipher suites: how a node authenticates peers and protects packets.

A cipher suite (registered through ``tinca_register_cipher_suites``) is built
once per node from its configuration. The core asks it for three things and
knows nothing of the algorithms behind them:

1. a sans-IO meta connection per TCP connection, which authenticates the peer
   and then carries request lines and packets (:class:`MetaSession`);
2. per-peer packet keys, negotiated through REQ_KEY/ANS_KEY
   (:meth:`CipherSuite.answer_key_request`, :meth:`CipherSuite.accept_key_answer`);
3. packet protection objects built once per key (:class:`PacketSealer`,
   :class:`PacketOpener`) for the data path.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from tinca.core.errors import TincaError

if TYPE_CHECKING:
    from tinca.core.config.model import Configuration
    from tinca.core.meta.requests import AnsKey


class MetaError(TincaError):
    """The peer broke the meta protocol or failed authentication."""


class PacketError(TincaError):
    """A data packet failed authentication, decryption or the replay check."""


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


MetaEvent = Authenticated | RequestLine | PacketReceived


class MetaSession(Protocol):
    """A sans-IO meta connection. Bytes in, events and bytes out."""

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


class PacketSealer(Protocol):
    """Protects our packets for one peer under one key."""

    def seal(self, packet: bytes) -> bytes:
        """The UDP payload for ``packet``."""
        ...


class PacketOpener(Protocol):
    """Checks and unwraps one peer's packets under one key."""

    def open(self, datagram: bytes) -> bytes:
        """The packet inside ``datagram``; raises :class:`PacketError`."""
        ...


@dataclass(frozen=True)
class KeyOffer:
    """Our packet key for one peer, as ANS_KEY carries it after the two names."""

    key: str
    cipher: int
    digest: int
    mac_length: int
    compression: int


@dataclass(frozen=True)
class MetaParams:
    """What a suite needs to start a meta connection."""

    my_name: str
    outgoing: bool
    expected_peer: str | None
    my_port: str
    my_options: int
    clock: Callable[[], float]


@dataclass(frozen=True)
class SuiteContext:
    """What a suite factory gets: the node's configuration and its tools.

    ``compression(level)`` returns the codec registered for a compression
    level (``None`` for level 0) and raises for a level nobody provides.
    """

    config: Configuration
    myself: str
    random: Callable[[int], bytes]
    clock: Callable[[], float]
    compression: Callable[[int], object | None]


class CipherSuite(Protocol):
    """One protocol family (tinc 1.0 legacy, tinc 1.1 SPTPS)."""

    name: str

    def meta_session(self, params: MetaParams) -> MetaSession:
        """A new sans-IO meta connection."""
        ...

    def answer_key_request(self, peer: str) -> tuple[KeyOffer, PacketOpener]:
        """Make a fresh key for packets *from* ``peer``: what to put in ANS_KEY,
        and the opener for that key."""
        ...

    def accept_key_answer(self, peer: str, answer: AnsKey) -> PacketSealer:
        """Build the sealer for packets *to* ``peer`` from its ANS_KEY.

        Raises :class:`PacketError` when the peer's parameters are unusable
        (unknown cipher, wrong key length, bogus MAC length or compression).
        """
        ...
