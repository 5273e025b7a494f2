"""tinc 1.0's per-peer path: EVP packets under one-shot packet keys.

tincd 1.0.36's send_udppacket / receive_udppacket / try_harder's MAC check,
send_mtu_probe / mtu_probe_h (src/net_packet.c) and its key handling
(send_ans_key, req_key_h, ans_key_h, key_changed_h in src/protocol_key.c),
over the sealers and openers the suite builds (``peer.sealer`` protects what
we send, ``peer.opener`` checks what the peer sends). Probes are the format
of :mod:`.probes`.
"""

from __future__ import annotations

import logging

from tinca.core.errors import TincaError
from tinca.core.logs import DEBUG_PROTOCOL, DEBUG_TRAFFIC, level_for
from tinca.core.meta import requests as rq
from tinca.core.meta.requests import OPTION_PMTU_DISCOVERY, OPTION_TCPONLY
from tinca.core.node.keys import REQ_KEY_INTERVAL
from tinca.core.node.state import Link, Peer
from tinca.core.path import PeerPath
from tinca.core.peer_paths import PathServices, PeerPaths
from tinca.core.suite import PacketError
from tinca.plugins.ciphers.legacy import probes

log = logging.getLogger("tinca")
TRAFFIC = level_for(DEBUG_TRAFFIC)
PROTOCOL = level_for(DEBUG_PROTOCOL)

EMSGSIZE = 90


class LegacyPath(PeerPath):
    """tinc 1.0's path to ``peer`` (see the module docstring)."""

    def __init__(self, peer: Peer, paths: LegacyPaths) -> None:
        self.peer = peer
        self.paths = paths
        self.services = paths.services

    @property
    def verifiable(self) -> bool:
        """We hold the key the peer sends with: its MAC can be checked."""
        return self.peer.opener is not None

    def authenticates(self, datagram: bytes) -> bool:
        """Whether the peer's current key authenticates ``datagram``."""
        opener = self.peer.opener
        return opener is not None and opener.authenticates(datagram)

    # ------------------------------------------------------------------ sending

    def send(self, frame: bytes | bytearray) -> None:
        """tincd's send_packet: by UDP via ``via`` (its path carries it), or TCP."""
        peer = self.peer
        services = self.services
        via_name = peer.nexthop if peer.via == services.myself else peer.via
        via = peer if via_name == peer.name else services.peers.get(via_name or "")
        if via is None:
            return
        if (services.my_options | via.options) & OPTION_TCPONLY:
            self._send_tcp(via, frame)
        elif via is peer:
            self._send_udp(frame, False)
        elif via.path is not None:
            via.path.carry(frame)

    def carry(self, frame: bytes | bytearray) -> None:
        """tincd's send_udppacket to this peer."""
        self._send_udp(frame, False)

    def _send_tcp(self, peer: Peer, frame: bytes | bytearray) -> None:
        link = peer.link
        if link is None:
            hop = self.services.peers.get(peer.nexthop or "")
            link = hop.link if hop is not None else None
        if link is not None:
            link.send_packet(bytes(frame))

    def _send_udp(self, frame: bytes | bytearray, probe: bool) -> None:
        """Seal and send, or fall back to TCP (send_udppacket)."""
        peer = self.peer
        if not peer.reachable:
            return
        sealer = peer.sealer
        if sealer is None:
            self.paths.maybe_req_key(peer)
            self._send_tcp_towards(frame)
            return
        if not probe and peer.options & OPTION_PMTU_DISCOVERY:
            strategy = peer.mtu_strategy
            limit = strategy.udp_limit if strategy is not None else None
            if limit is not None and len(frame) > limit and (frame[12] | frame[13]):
                if peer.nexthop != peer.name:
                    self.services.send_packet(peer.nexthop or "", frame)
                else:
                    self._send_tcp_towards(frame)
                return
        address = peer.udp_address
        if address is None:
            self._send_tcp_towards(frame)
            return
        try:
            self.services.send_datagram(sealer.seal(frame), address)
        except OSError as err:
            if err.errno == EMSGSIZE and peer.mtu_strategy is not None:
                peer.mtu_strategy.send_too_big(len(frame))
            else:
                self.services.log.log(logging.WARNING, peer.name, "send",
                                      "Error sending packet to %s: %s", peer.name, err)

    def _send_tcp_towards(self, frame: bytes | bytearray) -> None:
        hop = self.services.peers.get(self.peer.nexthop or "")
        if hop is not None and hop.link is not None:
            hop.link.send_packet(bytes(frame))

    # ------------------------------------------------------------------ receiving

    def receive(self, datagram: bytes, address: tuple[str, int], learn: bool) -> None:
        """receive_udppacket: open, learn a new address, probe or deliver."""
        peer = self.peer
        services = self.services
        opener = peer.opener
        if opener is None:
            if not learn:
                # No key for the peer's packets: maybe someone else sends
                # from its address now (tincd tries harder then too).
                services.receive_unknown(datagram, address)
            return
        try:
            packet = opener.open(datagram)
        except PacketError as err:
            services.log.log(logging.WARNING, peer.name, type(err).__name__ + str(err)[:24],
                             "Dropped UDP packet from %s (%s port %d): %s", peer.name,
                             *address, err)
            return
        if learn:
            # Learn the new address only from a packet that also passed the
            # replay check: tincd moves on the MAC alone, which lets anyone
            # who replays an old datagram redirect the peer's traffic.
            peer.udp_address = address
            services.remember_address(peer)
        if probes.is_probe(packet):
            self._probe_received(packet)
            return
        services.deliver(peer, packet)

    # ------------------------------------------------------------------ MTU probes

    def send_probes(self, sizes: list[int]) -> None:
        """tinc 1.0 probe requests of these sizes, by UDP."""
        for size in sizes:
            self._send_udp(probes.probe_payload(size), True)

    def probing_starts(self) -> bool:
        """tinc 1.0 probes a peer when PMTU discovery is on with it."""
        return bool(self.peer.options & OPTION_PMTU_DISCOVERY)

    def _probe_received(self, packet: bytes) -> None:
        peer = self.peer
        if not probes.is_probe_reply(packet):
            # Answer with the same packet, marked as a reply (mtu_probe_h).
            self._send_udp(probes.probe_reply(packet), True)
            return
        strategy = peer.mtu_strategy
        if strategy is None:
            return
        opener = peer.opener
        inner = opener.last_inner_length if opener is not None else len(packet)
        compressed = bool(opener.compression) if opener is not None else False
        strategy.probe_replied(probes.reply_length(inner, compressed), self.services.clock())

    # ------------------------------------------------------------------ keys

    def reachability_changed(self, reachable: bool) -> None:
        """A neighbour that came up gets our key at once (graph.c); one that
        went forgets the key it sends with."""
        peer = self.peer
        if not reachable:
            peer.opener = None
        elif peer.link is not None:
            self.paths.send_ans_key(peer)

    def on_ans_key(self, request: rq.AnsKey) -> None:
        """ans_key_h for us: the sealer for the peer's key, and its view of
        our UDP address."""
        peer = self.peer
        peer.sealer = None
        try:
            peer.sealer = self.services.accept_key_answer(peer.name, request)
        except TincaError as err:
            log.error("Got bad ANS_KEY from %s: %s", peer.name, err)
            return
        if request.address and request.port and request.port.isdigit():
            log.log(PROTOCOL, "Using reflexive UDP address from %s: %s port %s", peer.name,
                    request.address, request.port)
            peer.udp_address = (request.address, int(request.port))
        self.services.key_arrived(peer)

    def key_changed(self) -> None:
        """key_changed_h: the peer's key is gone until it answers a REQ_KEY."""
        peer = self.peer
        peer.sealer = None
        peer.last_req_key = -1e9
        if peer.mtu_strategy is not None:
            peer.mtu_strategy.key_lost()

    def keys_expired(self) -> None:
        """Forget the key the peer sends to us with."""
        self.peer.opener = None

    def send_new_key(self) -> None:
        """A neighbour gets our new key at once (send_key_changed)."""
        if self.peer.link is not None:
            self.paths.send_ans_key(self.peer)

    def key_state(self) -> tuple[bool, bool] | None:
        """The peer's sealer and last REQ_KEY say (``None``)."""
        return None


class LegacyPaths(PeerPaths):
    """tinc 1.0's paths for every peer, and its REQ_KEY/ANS_KEY answers."""

    def __init__(self, services: PathServices) -> None:
        self.services = services
        self._paths: dict[str, LegacyPath] = {}

    def path_for(self, peer: Peer) -> LegacyPath:
        """The peer's one legacy path."""
        path = self._paths.get(peer.name)
        if path is None or path.peer is not peer:
            path = self._paths[peer.name] = LegacyPath(peer, self)
        return path

    def identify(self, datagram: bytes) -> Peer | bool:
        """A tinc 1.0 datagram names no sender: try every key (``True``)."""
        return True

    def receive_raw(self, link: Link, data: bytes) -> None:
        """tinc 1.0 has no ``21 LEN``: drop it."""
        who = link.name or "unknown"
        self.services.log.log(logging.WARNING, who, "short-tcp",
                              "Got too short TCP SPTPS packet from %s", who)

    def key_request(self, source: Peer, request: rq.ReqKey) -> None:
        """req_key_h for us: a fresh key for the peer's packets."""
        self.send_ans_key(source)

    def relay_key_request(self, source: Peer, to: Peer, request: rq.ReqKey) -> bool:
        """Forwarded as it came."""
        return False

    # ------------------------------------------------------------------ keys

    def send_req_key(self, peer: Peer) -> None:
        """Ask ``peer`` for its packet key, through our next hop towards it."""
        services = self.services
        peer.last_req_key = services.clock()
        services.send_towards(peer, rq.ReqKey(services.myself, peer.name))

    def maybe_req_key(self, peer: Peer) -> None:
        """REQ_KEY unless one went out less than 10 s ago (send_udppacket)."""
        if peer.last_req_key + REQ_KEY_INTERVAL <= self.services.clock():
            self.send_req_key(peer)

    def send_ans_key(self, peer: Peer) -> None:
        """Make a fresh key for packets from ``peer`` and send it (send_ans_key)."""
        services = self.services
        offer, opener = services.answer_key_request(peer.name)
        peer.opener = opener
        services.send_towards(
            peer,
            rq.AnsKey(services.myself, peer.name, offer.key, offer.cipher, offer.digest,
                      offer.mac_length, offer.compression),
        )


__all__ = ["LegacyPath", "LegacyPaths"]
