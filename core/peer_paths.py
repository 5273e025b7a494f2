"""The contract of a suite's per-peer paths, and what the node gives them.

:class:`PeerPaths` is built once per node by the cipher suite
(:meth:`~tinca.core.suite.CipherSuite.peer_paths`): it picks each peer's
:class:`~tinca.core.path.PeerPath` and handles what goes beyond one peer (the
sender of a datagram from an unknown address, tinc 1.1's ``21 LEN``, REQ_KEY
for us or passing through). What the node offers the paths is
:class:`PathServices`: sockets, the peers table, the meta connections, the
router, packet keys from the node's suite, the clock and the log, and
nothing of the data path's internals.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from typing import TYPE_CHECKING, Protocol

from tinca.core.node.state import Link, Peer
from tinca.core.path import PeerPath

if TYPE_CHECKING:
    from tinca.core.meta.requests import AnsKey, ReqKey, Request
    from tinca.core.node.ratelog import RateLimitedLog
    from tinca.core.sessions import KeyOffer, PacketOpener, PacketSealer


def minmtu(peer: Peer) -> int:
    """tincd's ``n->minmtu``: the largest packet known to reach ``peer`` by UDP
    (0: none, or PMTU discovery is off). The MTU strategy keeps it as the
    limit under which packets go by UDP."""
    strategy = peer.mtu_strategy
    if strategy is None:
        return peer.minmtu
    return strategy.udp_limit or 0


def udp_confirmed(peer: Peer) -> bool:
    """Whether a probe reply proved UDP with ``peer`` works (tinc 1.1's
    ``udp_confirmed``; strategies without the notion count as confirmed)."""
    strategy = peer.mtu_strategy
    confirmed = strategy.udp_confirmed if strategy is not None else None
    return True if confirmed is None else confirmed


class PathServices(Protocol):
    """What the node offers the paths (see the module docstring).

    The callables are plain attributes, so a path calls them with one
    attribute look-up per packet.
    """

    #: our node's name
    myself: str
    #: our option bits (``OPTION_*``, our protocol minor in the top byte)
    my_options: int
    #: every node we know of but ourselves, by name
    peers: Mapping[str, Peer]
    #: rate-limited warnings, per peer and kind of fault
    log: RateLimitedLog

    def answer_key_request(self, peer: str) -> tuple[KeyOffer, PacketOpener]:
        """A fresh tinc 1.0 packet key for packets from ``peer``, made by the
        suite the node runs (a suite that wraps another sees it)."""
        ...

    def accept_key_answer(self, peer: str, answer: AnsKey) -> PacketSealer:
        """The sealer for ``peer``'s ANS_KEY, from the suite the node runs;
        raises :class:`~tinca.core.suite.PacketError` for unusable parameters."""
        ...

    def clock(self) -> float:
        """The node's clock, in seconds."""
        ...

    def send_datagram(self, payload: bytes, address: tuple[str, int]) -> None:
        """Put one UDP datagram on the wire. Raises :class:`OSError` as
        ``sendto`` does (``EMSGSIZE`` above the path MTU)."""
        ...

    def deliver(self, source: Peer, frame: bytes | bytearray) -> None:
        """A VPN packet (Ethernet-framed) that came from ``source``: count it
        and route it (to our device or on to another node)."""
        ...

    def send_packet(self, name: str, frame: bytes | bytearray) -> None:
        """Route a frame towards node ``name`` as if it came from our device
        (counted there); for a frame a path cannot carry itself."""
        ...

    def link_towards(self, peer: Peer) -> Link | None:
        """The meta connection of our next hop towards ``peer``, if any."""
        ...

    def send_towards(self, peer: Peer, request: Request) -> None:
        """Send a meta request on the connection of our next hop towards ``peer``."""
        ...

    def remember_address(self, peer: Peer) -> None:
        """Index ``peer`` under its current :attr:`Peer.udp_address`."""
        ...

    def udp_address_changed(self, peer: Peer) -> None:
        """``peer``'s UDP address changed: index it and tell its MTU strategy."""
        ...

    def key_arrived(self, peer: Peer) -> None:
        """Packets can now be sealed for ``peer`` (the node starts MTU probing,
        reports the key event)."""
        ...

    def send_udp_info(self, from_: Peer | None, to: Peer) -> None:
        """UDP_INFO about ``from_`` (``None``: us) towards ``to``'s static relay."""
        ...

    def send_mtu_info(self, from_: Peer | None, to: Peer) -> None:
        """MTU_INFO about the path towards ``from_`` (``None``: us), towards ``to``."""
        ...

    def receive_unknown(self, datagram: bytes, address: tuple[str, int]) -> None:
        """A datagram no known peer's address matched, or that a path could
        not open (no key for it yet): find its sender anew."""
        ...


class PeerPaths(ABC):
    """A suite's paths, one per peer, and what goes beyond one peer."""

    #: ``UDPRcvBuf``/``UDPSndBuf`` bytes when unset (``None``: the OS default)
    udp_buffer_size: int | None = None

    @abstractmethod
    def path_for(self, peer: Peer) -> PeerPath:
        """The path for ``peer`` now; asked when it is first known and when
        its reachability changes (it may be the same object as before)."""

    @abstractmethod
    def identify(self, datagram: bytes) -> Peer | bool:
        """The sender of a datagram from an unknown address, as far as the
        datagram itself names it: that peer; ``True`` when it names none
        (the node tries every verifiable path, tinc's ``try_harder``);
        ``False`` when it names one that refuses it (drop it)."""

    @abstractmethod
    def receive_raw(self, link: Link, data: bytes) -> None:
        """Bytes of tinc 1.1's ``21 LEN`` that came over meta connection ``link``."""

    @abstractmethod
    def key_request(self, source: Peer, request: ReqKey) -> None:
        """A REQ_KEY from ``source``, for us."""

    @abstractmethod
    def relay_key_request(self, source: Peer, to: Peer, request: ReqKey) -> bool:
        """A REQ_KEY from ``source`` passing through us towards ``to``:
        ``True`` when the paths took care of it, ``False`` to forward it as
        it came."""


__all__ = ["PathServices", "PeerPaths", "minmtu", "udp_confirmed"]
