"""The contract of cipher suites: how a node authenticates peers and protects packets.

A cipher suite (registered through ``tinca_register_cipher_suites``) is built
once per node from its configuration. The core asks it for three things and
knows nothing of the algorithms behind them:

1. a sans-IO meta connection per TCP connection, which authenticates the peer
   and then carries request lines and packets (:class:`MetaSession`);
2. the node's per-peer paths (:meth:`CipherSuite.peer_paths`; the contracts
   are :mod:`tinca.core.peer_paths` and :mod:`tinca.core.path`): how each
   peer's packets are sealed, framed, relayed and probed, and what a
   REQ_KEY/ANS_KEY for us means;
3. tinc 1.0's per-peer packet keys, negotiated through REQ_KEY/ANS_KEY
   (:meth:`CipherSuite.answer_key_request`, :meth:`CipherSuite.accept_key_answer`)
   as packet protection objects built once per key (:class:`PacketSealer`,
   :class:`PacketOpener`), which paths make and accept through the node's
   suite (so a suite that wraps another sees them).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from tinca.core.errors import TincaError
from tinca.core.sessions import (
    Authenticated,
    KeyOffer,
    MetaEvent,
    MetaSession,
    PacketOpener,
    PacketReceived,
    PacketSealer,
    PublicKeyOffered,
    RawPacketReceived,
    RequestLine,
)

if TYPE_CHECKING:
    from tinca.core.config.model import Configuration
    from tinca.core.meta.requests import AnsKey
    from tinca.core.peer_paths import PathServices, PeerPaths
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


@dataclass(frozen=True)
class MetaParams:
    """What a suite needs to start a meta connection."""

    my_name: str
    outgoing: bool
    expected_peer: str | None
    my_port: str
    my_options: int
    clock: Callable[[], float]


class CompressionCodec(Protocol):
    """What ``tinca_register_compressions`` registers for a level: a ready codec."""

    def compress(self, data: bytes) -> bytes:
        """``data`` compressed."""
        ...

    def decompress(self, data: bytes) -> bytes:
        """``data`` decompressed; raises on bad input."""
        ...


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
    compression: Callable[[int], CompressionCodec | None]
    registry: Callable[[str], Registry]


class CipherSuite(Protocol):
    """One protocol family (tinc 1.0 legacy, tinc 1.1 SPTPS)."""

    #: the name the suite is registered under, for log messages
    name: str

    def meta_session(self, params: MetaParams) -> MetaSession:
        """A new sans-IO meta connection."""
        ...

    def peer_paths(self, services: PathServices) -> PeerPaths:
        """The node's per-peer paths, built once per node (see
        :mod:`tinca.core.peer_paths`). ``services`` is what the node offers them;
        they make and accept tinc 1.0 packet keys through it, so those go
        through the suite the node runs (a suite that wraps this one sees
        them)."""
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


__all__ = [
    "Authenticated",
    "CipherSuite",
    "CompressionCodec",
    "KeyOffer",
    "MetaError",
    "MetaEvent",
    "MetaParams",
    "MetaSession",
    "PacketError",
    "PacketOpener",
    "PacketReceived",
    "PacketSealer",
    "PublicKeyOffered",
    "RawPacketReceived",
    "RequestLine",
    "SuiteContext",
    "SuiteError",
]
