"""The contract of cipher suites: how a node authenticates peers and protects packets.

A cipher suite (registered through ``tinca_register_cipher_suites``) is built
once per node from its configuration. The core asks it for three things and
knows nothing of the algorithms behind them:

1. a sans-IO meta connection per TCP connection, which authenticates the peer
   and then carries request lines and packets (:class:`MetaSession`);
2. per-peer packet keys, negotiated through REQ_KEY/ANS_KEY: tinc 1.0's
   (:meth:`CipherSuite.answer_key_request`, :meth:`CipherSuite.accept_key_answer`)
   or, for peers that speak tinc 1.1's protocol, a stateful
   :class:`PeerChannel` per peer (:attr:`CipherSuite.channels`);
3. packet protection objects built once per key (:class:`PacketSealer`,
   :class:`PacketOpener`) for the data path.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from tinca.core.errors import TincaError

if TYPE_CHECKING:
    from tinca.core.config.model import Configuration
    from tinca.core.meta.requests import AnsKey, Request
    from tinca.core.registry import Registry


class SuiteError(TincaError):
    """Base of the errors a cipher suite raises about a peer's input.

    :attr:`reason` names the kind of fault; the node rate-limits its log
    lines per peer and reason, so one kind of bad input from a peer does
    not hide another.
    """

    #: what kind of fault this is: any value whose ``str()`` is short and
    #: stable (a string, an enum member); ``None`` (the default): the
    #: exception's class name stands for it
    reason: object = None


class MetaError(SuiteError):
    """The peer broke the meta protocol or failed authentication."""


class PacketError(SuiteError):
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


@dataclass(frozen=True, slots=True)
class RawPacketReceived:
    """Bytes that followed tinc 1.1's ``21 LEN`` (SPTPS_PACKET) outside the
    meta connection's protection: a destination and a source node ID, then a
    datagram of the source's per-node session (see :class:`PeerChannel`)."""

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

    def seal(self, packet: bytes) -> bytes:
        """The UDP payload for ``packet``."""
        ...

    def key_fields(self) -> tuple[int, int, int, int]:
        """Cipher NID, digest NID, MAC length and compression level of the
        key, as ANS_KEY carries them (0 for none), for ``dump nodes``."""
        ...


class PacketOpener(Protocol):
    """Checks and unwraps one peer's packets under one key."""

    #: the length of the last packet :meth:`open` returned, before
    #: decompression (tinc 1.0 measures answered MTU probes with it)
    last_inner_length: int
    #: the compression level of packets under this key (0: none)
    compression: int

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
    ``registry(hook_name)`` is the node's plugin registry filled by that
    registry hook (``registry("tinca_register_legacy_ciphers")``), so a
    suite resolves the names its configuration gives (ciphers, digests)
    through what the loaded plugins registered, not through its own tables.
    """

    config: Configuration
    myself: str
    random: Callable[[int], bytes]
    clock: Callable[[], float]
    compression: Callable[[int], object | None]
    registry: Callable[[str], Registry]


class ChannelStep(Protocol):
    """What one call into a :class:`PeerChannel` produced.

    ``requests``: REQ_KEY/ANS_KEY requests to send towards the peer, in order;
    ``done``: not ``None`` when a key exchange finished (its ``initial`` tells
    the first from a re-key); ``error``: the input was refused (the node logs
    it, rate-limited per peer and :attr:`SuiteError.reason`).
    """

    requests: list[Request]
    done: Any
    error: SuiteError | None


class PeerChannel(Protocol):
    """A per-peer packet session keyed over REQ_KEY/ANS_KEY (tinc 1.1's SPTPS).

    Unlike the legacy suite's sealer/opener pairs, one stateful object per
    peer does both directions, runs its own key exchange through the meta
    connections, and re-keys in place. ``seal``/``open`` are the data path.
    """

    @property
    def validkey(self) -> bool:
        """A key exchange finished: packets can be sealed and opened."""
        ...

    @property
    def waiting_for_key(self) -> bool:
        """A key exchange is under way."""
        ...

    def request_key(self, now: float) -> ChannelStep:
        """Make sure a key exchange runs: start one, or restart a stale one."""
        ...

    def on_request(self, request: Request) -> ChannelStep:
        """A REQ_KEY (with extension) or ANS_KEY of this channel from the peer."""
        ...

    def force_kex(self) -> ChannelStep:
        """Our keys expired: re-key an established session."""
        ...

    def stop(self) -> None:
        """Forget the session (the peer's reachability changed)."""
        ...

    def seal(self, frame: bytes | bytearray) -> bytes:
        """The datagram carrying one Ethernet-framed packet (or probe) to the
        peer; raises :class:`PacketError` before the key exchange finished."""
        ...

    def open(self, datagram: bytes, via_udp: bool = True) -> tuple[bool, bytes] | None:
        """``(is_probe, frame)`` from one datagram of the peer, ``None`` for a
        handshake step; raises :class:`PacketError`."""
        ...

    def verify(self, datagram: bytes) -> bool:
        """Whether ``datagram`` is the peer's and would be accepted (no state change)."""
        ...

    def after_bad_packet(self, error: Exception | None = None) -> ChannelStep:
        """A datagram of the peer failed: restart the session if the last
        start is old enough (tinc's storm guard)."""
        ...

    def probe_request(self, size: int) -> bytes:
        """The body of a path MTU probe of ``size`` bytes."""
        ...

    def probe_reply(self, request: bytes, peer_minor: int) -> bytes:
        """The answer to a probe request, in the form the peer's minor reads."""
        ...

    def gratuitous_reply(self, length: int) -> bytes:
        """An unsolicited reply telling the peer ``length`` bytes arrived."""
        ...

    def parse_probe(self, body: bytes) -> tuple[bool, int]:
        """``(is_request, length)`` of a probe; raises :class:`PacketError`."""
        ...


class PeerChannels(Protocol):
    """A suite's per-peer channels and the node IDs that frame their datagrams."""

    #: bytes in a node ID
    id_size: int

    def node_id(self, name: str) -> bytes:
        """The ID that names node ``name`` in framed datagrams."""
        ...

    def channel(self, peer: str, peer_minor: int) -> PeerChannel | None:
        """A new channel with ``peer``; ``None`` while we lack its public key."""
        ...

    def own_public_key(self) -> str:
        """Our public key as ANS_PUBKEY carries it."""
        ...

    def learn_public_key(self, peer: str, key: str) -> None:
        """Store a peer's public key (ANS_PUBKEY, key upgrade); raises
        :class:`MetaError` for a malformed key."""
        ...

    def request_packet(self, from_name: str, to_name: str, datagram: bytes) -> Request:
        """A datagram as a meta request, for a next hop too old for raw ``21 LEN``."""
        ...

    def datagram_of(self, request: Request) -> bytes:
        """The datagram inside such a request; raises :class:`PacketError`."""
        ...


class CipherSuite(Protocol):
    """One protocol family (tinc 1.0 legacy, tinc 1.1 SPTPS)."""

    #: the name the suite is registered under, for log messages
    name: str
    #: tinc 1.1's per-peer channels when the suite has them and they are on
    #: (``None``: every peer uses the legacy packet keys below)
    channels: PeerChannels | None

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

    def default_mtu_strategy(self, peer_options: int) -> str:
        """The MTU strategy (a registered name) a peer gets unless configured.

        ``peer_options`` are the option bits the peer announced (its protocol
        minor in the top byte). Each peer should get the probing of the tinc
        whose packet protocol the suite runs with it, so its path MTU comes
        out as that tinc's would. ``MTUStrategy`` in ``hosts/PEER``, then in
        tinc.conf, win over this answer.
        """
        ...

    def reconfigure(self, config: Configuration) -> None:
        """Use a re-read configuration (SIGHUP).

        Host files may have changed (public keys, per-host settings) and the
        suite must read them anew from ``config`` from now on; sessions and
        keys already established stay as they are.
        """
        ...
