"""What the node gives the per-peer paths: :class:`~tinca.core.peer_paths.PathServices`.

:class:`NodeServices` is built by the meta protocol, before the data path
exists (the protocol runs key exchanges on its own in tests), and the data
path fills in its part when it is built (:meth:`NodeServices.attach`). Until
then a datagram or frame handed to it goes nowhere.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from tinca.core.node.info import PathInfo
from tinca.core.node.keys import KeyExchange
from tinca.core.node.ratelog import RateLimitedLog
from tinca.core.node.state import Peer
from tinca.core.suite import CipherSuite


def _nowhere(*args: object) -> None:
    """Before the data path is attached: drop."""


class NodeServices:
    """:class:`~tinca.core.peer_paths.PathServices` over the meta protocol's parts
    (``keys``, ``info``, ``suite``) and, once attached, the data path."""

    def __init__(
        self,
        *,
        myself: str,
        my_options: int,
        peers: dict[str, Peer],
        suite: CipherSuite,
        log: RateLimitedLog,
        clock: Callable[[], float],
        keys: KeyExchange,
        info: PathInfo,
        key_arrived: Callable[[Peer], None],
    ) -> None:
        self.myself = myself
        self.my_options = my_options
        self.peers: Mapping[str, Peer] = peers
        self.log = log
        self.clock = clock
        self.answer_key_request = suite.answer_key_request
        self.accept_key_answer = suite.accept_key_answer
        self.link_towards = keys.link_towards
        self.send_towards = keys.send_towards
        self.send_udp_info = info.send_udp_info
        self.send_mtu_info = info.send_mtu_info
        self.key_arrived = key_arrived
        # Set by the data path (attach): plain attributes, one look-up per packet.
        self.send_datagram: Callable[[bytes, tuple[str, int]], None] = _nowhere
        self.deliver: Callable[[Peer, bytes | bytearray], None] = _nowhere
        self.send_packet: Callable[[str, bytes | bytearray], None] = _nowhere
        self.remember_address: Callable[[Peer], None] = _nowhere
        self.udp_address_changed: Callable[[Peer], None] = _nowhere
        self.receive_unknown: Callable[[bytes, tuple[str, int]], None] = _nowhere

    def attach(
        self,
        *,
        send_datagram: Callable[[bytes, tuple[str, int]], None],
        deliver: Callable[[Peer, bytes | bytearray], None],
        send_packet: Callable[[str, bytes | bytearray], None],
        remember_address: Callable[[Peer], None],
        udp_address_changed: Callable[[Peer], None],
        receive_unknown: Callable[[bytes, tuple[str, int]], None],
    ) -> None:
        """The data path's part: sockets, the router, the address index."""
        self.send_datagram = send_datagram
        self.deliver = deliver
        self.send_packet = send_packet
        self.remember_address = remember_address
        self.udp_address_changed = udp_address_changed
        self.receive_unknown = receive_unknown


__all__ = ["NodeServices"]
