"""The contract of one peer's path: how its packets travel, whatever the protocol.

A cipher suite's paths (:class:`~tinca.core.peer_paths.PeerPaths`, built once
per node by :meth:`~tinca.core.suite.CipherSuite.peer_paths`) give every peer
one :class:`PeerPath` (``Peer.path``). The data path and the meta protocol
call only the members declared here: they route a frame to a peer, hand it
the datagrams that came from the peer's address, pass on what the MTU
strategy asks for, and tell it when the peer's reachability or our keys
changed. How a datagram is framed, sealed, relayed or probed is the path's
business (tinc 1.0's EVP packets, tinc 1.1's records with node IDs), so core
holds no packet constant and no protocol branch.

A path is bound to its peer when it is built, so no member names the peer.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tinca.core.meta.requests import AnsKey


class PeerPath(ABC):
    """One peer's data channel: how frames reach it and its datagrams reach us.

    Built by :meth:`PeerPaths.path_for`. The node counts packets; the path
    seals, frames, picks UDP or TCP and the relay, and drops what it cannot
    send (logging through :attr:`PathServices.log`).
    """

    #: the bits of tinc's node status (``NODE_*`` in
    #: :mod:`tinca.core.control.records`) this path sets for ``dump nodes``,
    #: besides the key bits (tinc 1.1 sets ``NODE_SPTPS`` for its channels)
    status_bits: int = 0
    #: the path runs its own key exchange and re-keys in place (tinc 1.1's
    #: per-node channel), rather than tinc 1.0's one-shot packet keys
    rekeys_itself: bool = False
    @property
    def verifiable(self) -> bool:
        """:meth:`authenticates` can tell this peer's datagrams from others
        now (the path holds the key the peer sends with)."""
        return False

    @abstractmethod
    def send(self, frame: bytes | bytearray) -> None:
        """A routed frame for this peer (counted already)."""

    @abstractmethod
    def carry(self, frame: bytes | bytearray) -> None:
        """Send ``frame`` over UDP to this peer itself, as destination or as
        the relay another peer's path chose (tinc's ``send_udppacket``)."""

    @abstractmethod
    def receive(self, datagram: bytes, address: tuple[str, int], learn: bool) -> None:
        """A datagram from ``address``: the peer's known address, or one
        that :meth:`PeerPaths.identify` or :meth:`authenticates` matched to
        this peer (``learn``: the address is new for it, take it once the
        datagram passes the checks)."""

    @abstractmethod
    def authenticates(self, datagram: bytes) -> bool:
        """Whether ``datagram`` is this peer's, without changing any state
        (tinc's ``try_mac``/``sptps_verify_datagram``). Asked only when
        :attr:`verifiable`."""

    @abstractmethod
    def send_probes(self, sizes: list[int]) -> None:
        """Send path MTU probes of these sizes (the MTU strategy's
        ``due_probes``), in this path's own probe format."""

    @abstractmethod
    def probing_starts(self) -> bool:
        """A key arrived: whether this peer's MTU strategy starts now."""

    @abstractmethod
    def reachability_changed(self, reachable: bool) -> None:
        """The graph made the peer (un)reachable, and chose this path for it:
        forget the keys and sessions that no longer hold."""

    @abstractmethod
    def on_ans_key(self, request: AnsKey) -> None:
        """An ANS_KEY from this peer, for us."""

    @abstractmethod
    def key_changed(self) -> None:
        """The peer's KEY_CHANGED arrived: its keys to us are new."""

    @abstractmethod
    def keys_expired(self) -> None:
        """Our KeyExpire passed: forget the keys the peer sends to us with."""

    @abstractmethod
    def send_new_key(self) -> None:
        """After our KEY_CHANGED went out: re-key with the peer now if its
        protocol wants that (tinc 1.0: a neighbour gets ANS_KEY; tinc 1.1:
        a keyed channel forces a new key exchange)."""

    @abstractmethod
    def key_state(self) -> tuple[bool, bool] | None:
        """``(validkey, waitingforkey)`` from the path's own session for
        ``dump nodes``; ``None``: the peer's packet-key fields say."""


__all__ = ["PeerPath"]
