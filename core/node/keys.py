"""Key exchange between nodes: REQ_KEY, ANS_KEY and KEY_CHANGED.

tincd's protocol_key.c as far as it is the same for every packet protocol:
where a request goes (for us, or on towards its destination), the reflexive
UDP address a hop appends to an ANS_KEY, KEY_CHANGED flooding, and our
KeyExpire. What a request *for us* means is the business of the peer's path
(:class:`~tinca.core.path.PeerPath`) or of the suite's paths
(:class:`~tinca.core.peer_paths.PeerPaths`): tinc 1.0 answers with a fresh packet
key, tinc 1.1 runs its channel's key exchange and REQ_KEY extensions.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from tinca.core.logs import DEBUG_PROTOCOL, DEBUG_STATUS, level_for
from tinca.core.meta import requests as rq
from tinca.core.meta.past import PastRequests
from tinca.core.node.settings import ProtocolSettings
from tinca.core.node.state import Link, Peer
from tinca.core.peer_paths import PeerPaths, minmtu

log = logging.getLogger("tinca")
PROTOCOL = level_for(DEBUG_PROTOCOL)
STATUS = level_for(DEBUG_STATUS)

REQ_KEY_INTERVAL = 10
"""Seconds between two REQ_KEY for the same node (net_packet.c: last_req_key)."""


class KeyExchange:
    """REQ_KEY/ANS_KEY/KEY_CHANGED for node ``myself``.

    ``send(link, request)``, ``broadcast(request_or_line, exclude=link)`` and
    ``nonce()`` are the meta protocol's; :attr:`paths` is set once the suite
    built them.
    """

    #: the suite's per-peer paths: what a request for us means
    paths: PeerPaths

    def __init__(
        self,
        *,
        myself: str,
        peers: dict[str, Peer],
        settings: ProtocolSettings,
        past: PastRequests,
        send: Callable[[Link, rq.Request], None],
        broadcast: Callable[..., None],
        nonce: Callable[[], int],
    ) -> None:
        self.myself = myself
        self.peers = peers
        self.settings = settings
        self.past = past
        self.send = send
        self.broadcast = broadcast
        self.nonce = nonce

    def link_towards(self, peer: Peer) -> Link | None:
        """The meta connection of our next hop towards ``peer``."""
        hop = self.peers.get(peer.nexthop or "")
        return hop.link if hop is not None else None

    def send_towards(self, peer: Peer, request: rq.Request) -> None:
        """Send ``request`` on the connection of our next hop towards ``peer``."""
        link = self.link_towards(peer)
        if link is not None:
            self.send(link, request)

    # ------------------------------------------------------------------ our keys

    def send_key_changed(self) -> None:
        """Our keys changed: tell everyone, then let each reachable peer's
        path re-key as its protocol wants (tinc 1.0's neighbours get our key
        at once, tinc 1.1's keyed channels force a new key exchange)."""
        self.broadcast(rq.KeyChanged(self.nonce(), self.myself))
        for peer in list(self.peers.values()):
            path = peer.path
            if peer.reachable and path is not None:
                path.send_new_key()

    def expire_keys(self) -> None:
        """KeyExpire passed: forget the keys peers use to send to us."""
        log.log(STATUS, "Expiring symmetric keys")
        for peer in self.peers.values():
            if peer.path is not None:
                peer.path.keys_expired()
        self.send_key_changed()

    # ------------------------------------------------------------------ requests

    def key_changed(self, link: Link, request: rq.Request, line: str) -> bool:
        """KEY_CHANGED (key_changed_h)."""
        assert isinstance(request, rq.KeyChanged)
        if self.past.seen(line):
            return True
        peer = self.peers.get(request.name)
        if peer is None:
            log.error("Got KEY_CHANGED from %s origin %s which does not exist", link.name,
                      request.name)
            return True
        if peer.path is not None:
            peer.path.key_changed()
        if not self.settings.tunnelserver:
            self.broadcast(line, exclude=link)
        return True

    def key_route(
        self, link: Link, kind: str, from_: str, to: str
    ) -> tuple[Peer | None, Link | None]:
        """Where a REQ_KEY/ANS_KEY goes (req_key_h, ans_key_h): returns the
        source peer and, when it is for someone else, the link towards them.
        ``(None, None)`` means drop it (already logged)."""
        source = self.peers.get(from_)
        if source is None:
            log.error("Got %s from %s origin %s which does not exist in our connection list",
                      kind, link.name, from_)
            return None, None
        if to == self.myself:
            return source, None
        target = self.peers.get(to)
        if target is None:
            log.error("Got %s from %s destination %s which does not exist", kind, link.name, to)
            return None, None
        if self.settings.tunnelserver:
            return None, None
        if not target.reachable:
            log.warning("Got %s from %s destination %s which is not reachable", kind, link.name,
                        to)
            return None, None
        hop = self.link_towards(target)
        return (source, hop) if hop is not None else (None, None)

    def req_key(self, link: Link, request: rq.Request, line: str) -> bool:
        """REQ_KEY (req_key_h): on towards its destination, or to the suite's paths."""
        assert isinstance(request, rq.ReqKey)
        source, hop = self.key_route(link, "REQ_KEY", request.from_name, request.to_name)
        paths = self.paths
        if hop is not None:
            assert source is not None
            target = self.peers[request.to_name]
            if not paths.relay_key_request(source, target, request):
                hop.send_line(line)
        elif source is not None:
            paths.key_request(source, request)
        return True

    def ans_key(self, link: Link, request: rq.Request, line: str) -> bool:
        """ANS_KEY (ans_key_h): on towards its destination, or to the source's path."""
        assert isinstance(request, rq.AnsKey)
        source, hop = self.key_route(link, "ANS_KEY", request.from_name, request.to_name)
        if source is None:
            return True
        if hop is not None:
            target = self.peers[request.to_name]
            if request.address is None and source.udp_address is not None and minmtu(target):
                # Tell the destination where we see the source's UDP packets
                # come from (tincd appends the reflexive address).
                host, port = source.udp_address
                hop.send_line(f"{line} {host} {port}")
            else:
                hop.send_line(line)
            return True
        if source.path is not None:
            source.path.on_ans_key(request)
        return True


__all__ = ["REQ_KEY_INTERVAL", "KeyExchange"]
