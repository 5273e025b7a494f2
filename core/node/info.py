"""UDP_INFO and MTU_INFO: hints about a peer's UDP address and path MTU.

tinc 1.1's protocol_misc.c (protocol minor 5 and 6). Hints travel along a
relay path: where a node's UDP packets are seen to come from, and the MTU of
the path towards it. Each hop keeps what it learns and passes its own
(possibly better) view on; a node sends its own at most every
:data:`INFO_INTERVAL` seconds per destination.

These are meta requests like any other and carry no packet format, so they
live in core; the per-peer paths ask for them through
:class:`~tinca.core.peer_paths.PathServices`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from tinca.core.logs import DEBUG_PROTOCOL, level_for
from tinca.core.meta import requests as rq
from tinca.core.node.state import Link, Peer

log = logging.getLogger("tinca")
PROTOCOL = level_for(DEBUG_PROTOCOL)

INFO_INTERVAL = 5
"""Seconds between our own UDP_INFO (or MTU_INFO) to one node (protocol_misc.c)."""
MIN_UDP_INFO_MINOR = 5
"""The next hop must speak this minor or later to get UDP_INFO."""
MIN_MTU_INFO_MINOR = 6
"""The next hop must speak this minor or later to get MTU_INFO."""
MAX_MTU = 1518
"""tinc's MTU: what a node says of the path towards itself."""


class PathInfo:
    """UDP_INFO/MTU_INFO for node ``myself`` (see the module docstring).

    ``send(link, request)`` is the meta protocol's; ``udp_address_changed(peer)``
    is called when a hint moved a peer's UDP address.
    """

    def __init__(
        self,
        *,
        myself: str,
        my_options: int,
        peers: dict[str, Peer],
        clock: Callable[[], float],
        send: Callable[[Link, rq.Request], None],
        udp_address_changed: Callable[[Peer], None],
    ) -> None:
        self.myself = myself
        self.my_options = my_options
        self.peers = peers
        self.clock = clock
        self.send = send
        self.udp_address_changed = udp_address_changed
        self._udp_info_sent: dict[str, float] = {}
        self._mtu_info_sent: dict[str, float] = {}

    def _static_relay(self, to: Peer) -> Peer | None:
        name = to.nexthop if to.via == self.myself else to.via
        return None if name == self.myself else self.peers.get(name or "")

    def send_udp_info(self, from_: Peer | None, to: Peer) -> None:
        """UDP_INFO about ``from_`` (None: us) towards ``to``'s static relay."""
        relay = self._static_relay(to)
        if relay is None or not relay.reachable:
            return
        now = self.clock()
        if from_ is None:
            if relay.link is not None or now - self._udp_info_sent.get(relay.name, -1e9) \
                    < INFO_INTERVAL:
                return
        from_options = self.my_options if from_ is None else from_.options
        if (self.my_options | from_options | relay.options) & rq.OPTION_TCPONLY:
            return
        hop = self.peers.get(relay.nexthop or "")
        if hop is None or hop.link is None or rq.option_version(hop.options) < MIN_UDP_INFO_MINOR:
            return
        if from_ is None:
            # The first hop knows our address better and ignores this one.
            host, port = hop.link.local_address or ("0.0.0.0", "0")
            self._udp_info_sent[relay.name] = now
        elif from_.udp_address is not None:
            host, port = from_.udp_address[0], str(from_.udp_address[1])
        else:
            return
        self.send(hop.link, rq.UdpInfo(from_.name if from_ else self.myself, relay.name,
                                       host, str(port)))

    def _info_origin(self, link: Link, kind: str, name: str) -> Peer | None:
        found = self.peers.get(name)
        if found is None:
            log.error("Got %s from %s origin %s which does not exist in our connection list",
                      kind, link.name, name)
        return found

    def _info_destination(self, link: Link, kind: str, name: str) -> Peer | None:
        """The node a hint goes on to; None for us, or unknown (logged)."""
        if name == self.myself:
            return None
        found = self.peers.get(name)
        if found is None:
            log.error("Got %s from %s destination %s which does not exist in our "
                      "connection list", kind, link.name, name)
        return found

    def udp_info(self, link: Link, request: rq.Request, line: str) -> bool:
        assert isinstance(request, rq.UdpInfo)
        source = self._info_origin(link, "UDP_INFO", request.from_name)
        if source is None:
            return True
        if source.via != source.name:
            log.log(PROTOCOL, "Got UDP info message from %s which we can't reach directly",
                    source.name)
            return True
        strategy = source.mtu_strategy
        # A strategy without the notion (None) counts as unconfirmed here.
        confirmed = strategy.udp_confirmed if strategy is not None else None
        if source.link is None and not confirmed and request.port.isdigit():
            address = (request.address, int(request.port))
            if source.udp_address != address:
                source.udp_address = address
                self.udp_address_changed(source)
        to = self._info_destination(link, "UDP_INFO", request.to_name)
        if to is not None:
            self.send_udp_info(source, to)
        return True

    def send_mtu_info(self, from_: Peer | None, to: Peer, mtu: int = MAX_MTU) -> None:
        """MTU_INFO about the path towards ``from_`` (None: us), towards ``to``."""
        if not to.reachable:
            return
        now = self.clock()
        if from_ is None:
            if to.link is not None or now - self._mtu_info_sent.get(to.name, -1e9) \
                    < INFO_INTERVAL:
                return
        hop = self.peers.get(to.nexthop or "")
        if hop is None or hop.link is None or rq.option_version(hop.options) < MIN_MTU_INFO_MINOR:
            return
        if from_ is not None:
            # Ours may be better: a direct measurement, or the relay path's.
            low, high = _mtu_bounds(from_)
            relay = self._static_relay(from_)
            if low == high and from_.via == self.myself:
                mtu = low
            elif relay is not None and _measured(relay):
                mtu = min(mtu, _mtu_bounds(relay)[0])
            elif relay is not None:
                hop_of_relay = self.peers.get(relay.nexthop or "")
                if hop_of_relay is not None and _measured(hop_of_relay):
                    mtu = min(mtu, _mtu_bounds(hop_of_relay)[0])
        else:
            self._mtu_info_sent[to.name] = now
        if mtu < rq.MIN_MTU_INFO:
            return  # tinc refuses an MTU_INFO below 512 by closing the connection
        self.send(hop.link, rq.MtuInfo(from_.name if from_ else self.myself, to.name, mtu))

    def mtu_info(self, link: Link, request: rq.Request, line: str) -> bool:
        assert isinstance(request, rq.MtuInfo)
        source = self._info_origin(link, "MTU_INFO", request.from_name)
        if source is None:
            return True
        mtu = min(request.mtu, MAX_MTU)
        if source.mtu_strategy is not None:
            source.mtu_strategy.provisional_mtu(mtu)
        to = self._info_destination(link, "MTU_INFO", request.to_name)
        if to is not None:
            self.send_mtu_info(source, to, mtu)
        return True


def _mtu_bounds(peer: Peer) -> tuple[int, int]:
    """``(minmtu, maxmtu)`` as the peer's MTU strategy knows them."""
    strategy = peer.mtu_strategy
    if strategy is None:
        return peer.minmtu, peer.maxmtu
    return strategy.minmtu, strategy.maxmtu


def _measured(peer: Peer) -> bool:
    low, high = _mtu_bounds(peer)
    return low == high
