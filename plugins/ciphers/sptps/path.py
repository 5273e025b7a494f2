"""tinc 1.1's per-peer path: SPTPS records framed with node IDs.

tinc 1.1's send_sptps_packet, send_sptps_data, handle_incoming_vpn_packet,
receive_tcppacket_sptps, try_tx and try_sptps (src/net_packet.c of the 1.1
branch), and its REQ_KEY extensions and SPTPS ANS_KEY (src/protocol_key.c),
over one :class:`~.channel.SptpsChannel` per peer. The channel seals and
opens; this module decides where a datagram goes:

* to the peer itself by UDP, framed ``dst_id | src_id | datagram`` for
  peers of minor 4 and up, with an all-zero destination when it is ours and
  sent straight to the destination;
* to a relay by UDP (the destination's ``via``, or its next hop while UDP
  with it is unconfirmed), which passes it on unopened;
* over the meta connection of the next hop, as ``21 LEN`` and the framed
  datagram (a ``REQ_KEY ... 21 <base64>`` for next hops older than minor 7),
  when UDP is off (``TCPOnly``), not confirmed for packets of this size, or
  the relay is too old to relay.

A packet to a direct neighbour that UDP cannot carry yet goes as a plain
``17 LEN`` packet on the (already protected) meta connection instead.

Peers older than minor 2 get tinc 1.0's path (:mod:`tinca.plugins.ciphers.legacy.path`).
"""

from __future__ import annotations

import logging
from typing import Protocol

from tinca.core.control.records import NODE_SPTPS
from tinca.core.errors import TincaError
from tinca.core.logs import DEBUG_PROTOCOL, DEBUG_TRAFFIC, level_for
from tinca.core.meta import requests as rq
from tinca.core.meta.requests import OPTION_TCPONLY, option_version
from tinca.core.node.keys import REQ_KEY_INTERVAL
from tinca.core.node.state import Link, Peer
from tinca.core.path import PeerPath
from tinca.core.peer_paths import PathServices, PeerPaths, minmtu, udp_confirmed
from tinca.core.suite import PacketError
from tinca.plugins.ciphers.legacy.path import LegacyPaths
from tinca.plugins.ciphers.sptps.channel import SptpsChannel
from tinca.plugins.ciphers.sptps.udp import KeyStep

log = logging.getLogger("tinca")
TRAFFIC = level_for(DEBUG_TRAFFIC)
PROTOCOL = level_for(DEBUG_PROTOCOL)

SPTPS_DATAGRAM_OVERHEAD = 21
"""Bytes an SPTPS datagram adds to its record: seqno 4, type 1, tag 16 (net.h)."""
SPTPS_MIN_MINOR = 2
"""tinc 1.1 runs SPTPS packets with a node whose options carry this minor or
more (graph.c, check_reachability)."""
MIN_RELAY_MINOR = 4
"""Protocol minor from which a node frames UDP datagrams with node IDs and relays them."""
MIN_RAW_TCP_MINOR = 7
"""Protocol minor from which a meta connection carries ``21 LEN`` raw datagrams."""
UDP_BUFFER_SIZE = 1024 * 1024
"""tinc 1.1's default ``UDPRcvBuf``/``UDPSndBuf`` (net_socket.c): SPTPS at
line rate overruns Linux's default of 208 KiB."""
ETHER_HEADER = 14
EMSGSIZE = 90


class PeerChannels(Protocol):
    """What the paths need from the suite (:class:`~.suite.SptpsSuite`):
    channels, node IDs and public keys."""

    #: bytes in a node ID
    id_size: int

    def node_id(self, name: str) -> bytes:
        """The ID that names node ``name`` in framed datagrams."""
        ...

    def channel(self, peer: str, peer_minor: int) -> SptpsChannel | None:
        """A new channel with ``peer``; ``None`` while we lack its public key."""
        ...

    def own_public_key(self) -> str:
        """Our public key as ANS_PUBKEY carries it."""
        ...

    def learn_public_key(self, peer: str, key: str) -> None:
        """Store a peer's public key (ANS_PUBKEY); raises
        :class:`~tinca.core.suite.MetaError` for a malformed key."""
        ...

    def request_packet(self, from_name: str, to_name: str, datagram: bytes) -> rq.Request:
        """A datagram as a meta request, for a next hop too old for raw ``21 LEN``."""
        ...

    def datagram_of(self, request: rq.Request) -> bytes:
        """The datagram inside such a request; raises :class:`PacketError`."""
        ...


class SptpsPath(PeerPath):
    """tinc 1.1's path to ``peer``: its channel, made on first use."""

    status_bits = NODE_SPTPS
    rekeys_itself = True

    def __init__(self, peer: Peer, paths: SptpsPaths) -> None:
        self.peer = peer
        self.paths = paths
        self.services = paths.services
        #: the per-node SPTPS session (tinc's ``n->sptps``); kept while the
        #: peer comes and goes, stopped on each change of reachability
        self.channel: SptpsChannel | None = None

    @property
    def verifiable(self) -> bool:
        """Unframed datagrams (nodes older than minor 4) are checked by the channel."""
        return self.channel is not None

    def authenticates(self, datagram: bytes) -> bool:
        """Whether the channel would accept ``datagram``."""
        channel = self.channel
        return channel is not None and channel.verify(datagram)

    # ------------------------------------------------------------------ data

    def send(self, frame: bytes | bytearray) -> None:
        """tinc 1.1's send_sptps_packet, then try_tx."""
        paths = self.paths
        paths.send_channel_packet(self, frame)
        paths.try_tx(self.peer)

    def carry(self, frame: bytes | bytearray) -> None:
        """A legacy node's packet relayed through this SPTPS node."""
        if self.peer.reachable:
            self.send(frame)

    def receive(self, datagram: bytes, address: tuple[str, int], learn: bool) -> None:
        """A datagram from the peer's address (or naming the peer as source)."""
        self.paths.receive_channel_datagram(self.peer, datagram, address)

    def send_probes(self, sizes: list[int]) -> None:
        """Probe requests of these sizes (and a gratuitous reply if the
        strategy wants one), as tinc 1.1's probe records."""
        channel = self.channel
        if channel is None or not channel.validkey:
            return
        paths = self.paths
        for size in sizes:
            paths.seal_and_send(self, channel.probe_request(size), probe=True)
        strategy = self.peer.mtu_strategy
        gratuitous = strategy.gratuitous_reply if strategy is not None else None
        if gratuitous:
            paths.seal_and_send(self, channel.gratuitous_reply(gratuitous), probe=True)

    def probing_starts(self) -> bool:
        """tinc 1.1 probes every SPTPS node it sends to directly: UDP
        discovery always, sizes when PMTU discovery is on (try_tx_sptps)."""
        peer = self.peer
        tcponly = (self.services.my_options | peer.options) & OPTION_TCPONLY
        return peer.via == peer.name and not (tcponly and peer.link is not None)

    # ------------------------------------------------------------------ keys

    def ensure_channel(self) -> SptpsChannel | None:
        """The channel, made on first use; without the peer's public key we
        ask for it (REQ_PUBKEY) and return None (send_req_key)."""
        peer = self.peer
        if self.channel is None:
            self.channel = self.paths.suite.channel(peer.name, option_version(peer.options))
            if self.channel is None:
                log.log(PROTOCOL, "No Ed25519 key known for %s", peer.name)
                self.services.send_towards(peer, rq.ReqKey(
                    self.services.myself, peer.name, int(rq.RequestType.REQ_PUBKEY)))
        return self.channel

    def request_key(self) -> None:
        """Make sure a key exchange with the peer runs (net_packet.c try_sptps)."""
        channel = self.channel
        if channel is not None and channel.validkey:
            return
        peer = self.peer
        clock = self.services.clock
        if channel is None:
            if peer.last_req_key + REQ_KEY_INTERVAL > clock():
                return  # the REQ_PUBKEY went out recently
            peer.last_req_key = clock()
            channel = self.ensure_channel()
            if channel is None:
                return
        self.emit(channel.request_key(clock()))

    def emit(self, step: KeyStep, report: bool = True) -> None:
        """Send a channel step's requests towards the peer; report its outcome
        (``report=False`` when the caller has logged the error already)."""
        peer = self.peer
        services = self.services
        for request in step.requests:
            services.send_towards(peer, request)
        error = step.error
        if error is not None and report:
            reason = error.reason or type(error).__name__
            services.log.log(logging.WARNING, peer.name, f"kex {reason}",
                             "Key exchange with %s failed: %s", peer.name, error)
        done = step.done
        if done is not None:
            if done.initial:
                services.key_arrived(peer)
            else:
                log.log(PROTOCOL, "SPTPS re-key with %s finished", peer.name)

    def reachability_changed(self, reachable: bool) -> None:
        """The session no longer holds (check_reachability)."""
        if self.channel is not None:
            self.channel.stop()

    def on_ans_key(self, request: rq.AnsKey) -> None:
        """An SPTPS ANS_KEY: a step of the channel's key exchange."""
        channel = self.ensure_channel()
        if channel is None:
            return
        peer = self.peer
        self.emit(channel.on_request(request))
        if channel.validkey and request.address and request.port and request.port.isdigit():
            log.log(PROTOCOL, "Using reflexive UDP address from %s: %s port %s",
                    peer.name, request.address, request.port)
            peer.udp_address = (request.address, int(request.port))
            self.services.udp_address_changed(peer)
        self.services.send_mtu_info(None, peer)

    def key_changed(self) -> None:
        """An SPTPS session re-keys itself (protocol_key.c): nothing to forget."""

    def keys_expired(self) -> None:
        """The channel's keys are not KeyExpire's business."""

    def send_new_key(self) -> None:
        """Force a new key exchange on a keyed channel."""
        channel = self.channel
        if channel is not None and channel.validkey:
            self.emit(channel.force_kex())

    def key_state(self) -> tuple[bool, bool] | None:
        """The channel's ``(validkey, waiting_for_key)``; ``None`` without one."""
        channel = self.channel
        if channel is None:
            return None
        return channel.validkey, channel.waiting_for_key


class SptpsPaths(PeerPaths):
    """tinc 1.1's paths: a channel per node of minor 2 or more, tinc 1.0's
    path for older ones, and the node IDs that frame and route datagrams."""

    udp_buffer_size = UDP_BUFFER_SIZE

    def __init__(self, services: PathServices, suite: PeerChannels) -> None:
        self.services = services
        self.suite = suite
        self.legacy = LegacyPaths(services)
        self.myself = myself = services.myself
        self.peers = services.peers
        self.id_size = suite.id_size
        self.my_id = suite.node_id(myself)
        self.null_id = bytes(self.id_size)
        self._paths: dict[str, SptpsPath] = {}
        self._by_id: dict[bytes, Peer] = {}
        self._ids: dict[str, bytes] = {myself: self.my_id}
        self._indexed = 0  # peers in the ID index when it was last built

    def sptps_path(self, peer: Peer) -> SptpsPath:
        """``peer``'s SPTPS path (with its channel), made on first use, also
        for a peer whose packets use tinc 1.0's path now."""
        path = self._paths.get(peer.name)
        if path is None or path.peer is not peer:
            path = self._paths[peer.name] = SptpsPath(peer, self)
        return path

    def path_for(self, peer: Peer) -> PeerPath:
        """A channel with a reachable node of minor 2 or more (graph.c
        check_reachability), tinc 1.0's path otherwise. A channel the peer
        has but no longer uses is stopped too: tinc stops ``n->sptps`` on
        every change of reachability."""
        if peer.reachable and option_version(peer.options) >= SPTPS_MIN_MINOR:
            return self.sptps_path(peer)
        unused = self._paths.get(peer.name)
        if unused is not None and unused.channel is not None:
            unused.channel.stop()
        return self.legacy.path_for(peer)

    def _channel(self, peer: Peer) -> SptpsChannel | None:
        path = self._paths.get(peer.name)
        return path.channel if path is not None else None

    def _peer_by_id(self, nid: bytes) -> Peer | None:
        peer = self._by_id.get(nid)
        # Rebuilt only when nodes were added since: a bogus ID costs a lookup.
        if peer is None and len(self.peers) != self._indexed:
            node_id = self.suite.node_id
            self._by_id = {node_id(p.name): p for p in self.peers.values()}
            self._indexed = len(self.peers)
            peer = self._by_id.get(nid)
        return peer

    def _id(self, name: str) -> bytes:
        """``name``'s node ID, hashed once (every framed datagram needs one)."""
        nid = self._ids.get(name)
        if nid is None:
            nid = self._ids[name] = self.suite.node_id(name)
        return nid

    # ------------------------------------------------------------------ sending

    def send_channel_packet(self, path: SptpsPath, frame: bytes | bytearray) -> None:
        """tinc 1.1's send_sptps_packet."""
        peer = path.peer
        channel = path.channel
        keyed = channel is not None and channel.validkey
        link = peer.link
        if not keyed and link is None:
            return
        probe = len(frame) >= ETHER_HEADER and not (frame[12] | frame[13])
        if probe:
            if keyed:
                self.seal_and_send(path, frame, probe=True)
            return
        if link is not None and len(frame) > minmtu(peer):
            # A neighbour UDP cannot carry this to yet: the meta connection
            # is protected already, so the packet goes as a plain PACKET.
            link.send_packet(bytes(frame))
            return
        if not keyed:
            self.services.log.log(TRAFFIC, peer.name, "handshake",
                                  "Handshake phase not finished yet with %s; dropping packet",
                                  peer.name)
            return
        self.seal_and_send(path, frame, probe=False)

    def seal_and_send(self, path: SptpsPath, frame: bytes | bytearray, probe: bool) -> None:
        """Seal ``frame`` in ``path``'s channel and send it on its way."""
        channel = path.channel
        assert channel is not None
        try:
            datagram = channel.seal(frame)
        except PacketError as err:
            self.services.log.log(logging.WARNING, path.peer.name, "seal",
                                  "Could not send packet to %s: %s", path.peer.name, err)
            return
        self.send_channel_datagram(path.peer, self.myself, datagram, probe)

    def send_channel_datagram(self, to: Peer, source: str, datagram: bytes, probe: bool) -> None:
        """tinc 1.1's send_sptps_data: ``datagram`` (from ``source``) on its way to ``to``."""
        peers = self.peers
        myself = self.myself
        services = self.services
        origlen = len(datagram) - SPTPS_DATAGRAM_OVERHEAD
        via = peers.get(to.via or "") if to.via != myself else None
        relay: Peer | None = via
        if via is None or not (probe or origlen <= minmtu(via)):
            relay = peers.get(to.nexthop or "")
        if relay is None:
            return
        direct = source == myself and relay is to
        relay_minor = option_version(relay.options)
        tcponly = (services.my_options | relay.options) & OPTION_TCPONLY
        address = relay.udp_address
        if (
            tcponly
            or (not direct and relay_minor < MIN_RELAY_MINOR)
            or (not probe and origlen > minmtu(relay))
            or address is None
        ):
            self._send_channel_tcp(to, source, datagram)
            return
        if relay_minor >= MIN_RELAY_MINOR:
            dst = self.null_id if direct else self._id(to.name)
            payload = dst + self._id(source) + datagram
        else:
            payload = datagram
        try:
            services.send_datagram(payload, address)
        except OSError as err:
            if err.errno == EMSGSIZE and relay.mtu_strategy is not None:
                relay.mtu_strategy.send_too_big(origlen)
            else:
                services.log.log(TRAFFIC, relay.name, "send",
                                 "Error sending UDP SPTPS packet to %s: %s", relay.name, err)

    def _send_channel_tcp(self, to: Peer, source: str, datagram: bytes) -> None:
        hop = self.peers.get(to.nexthop or "")
        link: Link | None = hop.link if hop is not None else None
        if link is None:
            return
        if option_version(link.options) >= MIN_RAW_TCP_MINOR:
            link.send_raw_packet(self._id(to.name) + self._id(source) + datagram)
            return
        request = self.suite.request_packet(source, to.name, datagram)
        link.send_line(request.format())

    def try_tx(self, peer: Peer) -> None:
        """tinc 1.1's try_tx for an SPTPS peer: keep a key exchange going with
        it and with the relay its packets use (UDP and MTU probes run on the
        node's timer instead)."""
        path = peer.path
        if not peer.reachable or not isinstance(path, SptpsPath):
            return
        channel = path.channel
        if (
            channel is not None and channel.validkey and peer.via == peer.name
            and (peer.nexthop == peer.name or udp_confirmed(peer))
        ):
            return  # keyed, direct, nothing to set up (the common case)
        services = self.services
        if peer.link is not None and (services.my_options | peer.options) & OPTION_TCPONLY:
            return
        if channel is None or not channel.validkey:
            path.request_key()
        myself = self.myself
        via_name = peer.nexthop if peer.via == myself else peer.via
        if via_name != peer.name:
            via = self.peers.get(via_name or "")
            if via is not None and option_version(via.options) >= MIN_RELAY_MINOR:
                self.try_tx(via)
            return
        if not udp_confirmed(peer) and peer.nexthop != peer.name:
            hop = self.peers.get(peer.nexthop or "")
            if hop is not None and option_version(hop.options) >= MIN_RELAY_MINOR:
                self.try_tx(hop)

    # ------------------------------------------------------------------ receiving

    def identify(self, datagram: bytes) -> Peer | bool:
        """The SPTPS node that sent a datagram from an address we do not know:
        the node its source ID names, if the datagram says it came straight
        from there and that node's channel accepts it (tinc 1.1's first guess
        in handle_incoming_vpn_packet). ``False`` when it names such a node
        but fails its check (it is from an unknown source, no need to try
        harder); ``True`` when it names none (try the other nodes)."""
        size = self.id_size
        if len(datagram) < 2 * size or datagram[:size] != self.null_id:
            return True
        peer = self._peer_by_id(datagram[size:2 * size])
        if peer is None:
            return True
        path = peer.path
        if not isinstance(path, SptpsPath) or path.channel is None:
            return True
        return peer if path.channel.verify(datagram[2 * size:]) else False

    def receive_channel_datagram(
        self, peer: Peer, datagram: bytes, address: tuple[str, int]
    ) -> None:
        """A UDP datagram that came from SPTPS node ``peer``'s address (or
        names ``peer`` as its source): for us, or to relay."""
        size = self.id_size
        services = self.services
        source = peer
        body = datagram
        if option_version(peer.options) >= MIN_RELAY_MINOR:
            if len(datagram) < 2 * size:
                services.log.log(TRAFFIC, peer.name, "short",
                                 "Got too short UDP packet from %s", peer.name)
                return
            dst = datagram[:size]
            body = datagram[2 * size:]
            src = datagram[size:2 * size]
            # Mostly the sender itself: no index lookup then.
            found = peer if src == self._id(peer.name) else self._peer_by_id(src)
            to_me = dst == self.null_id or dst == self.my_id
            to = None if to_me else self._peer_by_id(dst)
            if found is None or not isinstance(found.path, SptpsPath) \
                    or (not to_me and to is None):
                services.log.log(logging.WARNING, peer.name, "ids",
                                 "Received UDP packet from %s (%s port %d) with unknown source "
                                 "and/or destination ID", peer.name, *address)
                return
            source = found
            if peer.name != source.via and (to is None or to.via == self.myself):
                # It did not come straight from its static relay: tell that
                # relay where the source's packets really come from.
                services.send_udp_info(None, source)
            if to is not None:
                if not to.reachable:
                    services.log.log(TRAFFIC, to.name, "unreachable",
                                     "Cannot relay packet from %s because the destination, "
                                     "%s, is unreachable", source.name, to.name)
                    return
                self.send_channel_datagram(to, source.name, body, probe=False)
                self.try_tx(to)
                return
            direct = dst == self.null_id
        else:
            direct = True
        if not self._open_for_us(source, body, via_udp=True):
            return
        if direct and source.udp_address != address:
            # Learned only from a datagram that passed the channel's checks.
            source.udp_address = address
            services.udp_address_changed(source)
        if not direct:
            # Help the sender find the MTU of the relay path (MTU_INFO).
            services.send_mtu_info(None, peer)

    def receive_raw(self, link: Link, data: bytes) -> None:
        """``21 LEN`` raw bytes from a meta connection (receive_tcppacket_sptps)."""
        size = self.id_size
        services = self.services
        who = link.name or "unknown"
        if len(data) < 2 * size:
            services.log.log(logging.WARNING, who, "short-tcp",
                             "Got too short TCP SPTPS packet from %s", who)
            return
        dst = data[:size]
        source = self._peer_by_id(data[size:2 * size])
        to_me = dst == self.my_id
        to = None if to_me else self._peer_by_id(dst)
        if source is None or (not to_me and to is None):
            services.log.log(logging.WARNING, who, "ids-tcp",
                             "Got TCP SPTPS packet from %s with unknown source or destination ID",
                             who)
            return
        body = data[2 * size:]
        if to is None or to.via == self.myself:
            services.send_udp_info(None, source)
        if to is not None:
            if not to.reachable:
                return
            channel = self._channel(to)
            if channel is not None and channel.validkey:
                self.send_channel_datagram(to, source.name, body, probe=False)
            self.try_tx(to)
            return
        if self._open_for_us(source, body, via_udp=False):
            services.send_mtu_info(None, source)

    def _open_for_us(self, source: Peer, body: bytes, via_udp: bool) -> bool:
        path = self.sptps_path(source)
        channel = path.channel
        services = self.services
        if channel is None or source.path is not path:
            path.request_key()
            services.log.log(TRAFFIC, source.name, "nokey",
                             "Got packet from %s but we haven't exchanged keys yet",
                             source.name)
            return False
        try:
            opened = channel.open(body, via_udp)
        except PacketError as err:
            reason = err.reason
            services.log.log(logging.WARNING, source.name,
                             str(reason) if reason is not None else type(err).__name__,
                             "Dropped packet from %s: %s", source.name, err)
            path.emit(channel.after_bad_packet(err), report=False)
            return False
        if opened is None:
            return True
        probe, frame = opened
        strategy = source.mtu_strategy
        if via_udp and strategy is not None:
            strategy.packet_received(len(frame))
        if probe:
            self._channel_probe(path, frame)
        else:
            services.deliver(source, frame)
        return True

    def _channel_probe(self, path: SptpsPath, body: bytes) -> None:
        peer = path.peer
        channel = path.channel
        assert channel is not None
        try:
            is_request, length = channel.parse_probe(body)
        except PacketError as err:
            self.services.log.log(TRAFFIC, peer.name, "probe",
                                  "Bad probe from %s: %s", peer.name, err)
            return
        if is_request:
            reply = channel.probe_reply(body, option_version(peer.options))
            self.seal_and_send(path, reply, probe=True)
            return
        strategy = peer.mtu_strategy
        if strategy is not None:
            strategy.probe_replied(length, self.services.clock())

    # ------------------------------------------------------------------ REQ_KEY

    def key_request(self, source: Peer, request: rq.ReqKey) -> None:
        """A REQ_KEY for us: tinc 1.0's without an extension, else one of
        tinc 1.1's (protocol_key.c req_key_ext_h)."""
        if request.ext is None:
            self.legacy.key_request(source, request)
            return
        services = self.services
        suite = self.suite
        myself = services.myself
        ext = request.ext
        if ext == rq.RequestType.REQ_PUBKEY:
            if suite.channel(source.name, 0) is None:
                services.send_towards(source, rq.ReqKey(myself, source.name,
                                                        int(rq.RequestType.REQ_PUBKEY)))
            services.send_towards(source, rq.ReqKey(myself, source.name,
                                                    int(rq.RequestType.ANS_PUBKEY),
                                                    suite.own_public_key()))
        elif ext == rq.RequestType.ANS_PUBKEY:
            path = self.sptps_path(source)
            if path.channel is not None or suite.channel(source.name, 0) is not None:
                log.log(PROTOCOL, "Got ANS_PUBKEY from %s even though we already have his "
                        "pubkey", source.name)
                return
            try:
                suite.learn_public_key(source.name, request.payload or "")
            except TincaError as err:
                log.error("Got bad ANS_PUBKEY from %s: %s", source.name, err)
                return
            log.log(PROTOCOL, "Learned Ed25519 public key from %s", source.name)
            if source.path is path:
                source.last_req_key = -1e9  # the key was what we waited for
                path.request_key()
        elif ext == rq.RequestType.REQ_KEY:
            services.send_udp_info(None, source)
            path = self.sptps_path(source)
            channel = path.ensure_channel()
            if channel is not None:
                path.emit(channel.on_request(request))
                services.send_mtu_info(None, source)
        elif ext == rq.RequestType.SPTPS_PACKET:
            try:
                datagram = suite.datagram_of(request)
            except TincaError as err:
                services.log.log(logging.WARNING, source.name, "SPTPS_PACKET", "%s", err)
                return
            services.send_udp_info(None, source)
            # A datagram that came as ``REQ_KEY ... 21 <base64>`` addressed to us.
            if self._open_for_us(source, datagram, via_udp=False):
                services.send_mtu_info(None, source)
        else:
            log.error("Unknown extended REQ_KEY request from %s: %s", source.name, ext)

    def relay_key_request(self, source: Peer, to: Peer, request: rq.ReqKey) -> bool:
        """A REQ_KEY for ``to``: tell its static relay about the source, and
        take an SPTPS_PACKET off the meta connections if UDP can carry it on
        (protocol_key.c req_key_ext_h)."""
        services = self.services
        if request.ext in (rq.RequestType.REQ_KEY, rq.RequestType.SPTPS_PACKET) \
                and to.via == self.myself:
            services.send_udp_info(None, source)
        if request.ext != rq.RequestType.SPTPS_PACKET:
            return False
        try:
            datagram = self.suite.datagram_of(request)
        except TincaError as err:
            services.log.log(logging.WARNING, source.name, "SPTPS_PACKET", "%s", err)
            return True
        self.send_channel_datagram(to, source.name, datagram, probe=False)
        self.try_tx(to)
        return True


__all__ = [
    "MIN_RAW_TCP_MINOR",
    "MIN_RELAY_MINOR",
    "SPTPS_DATAGRAM_OVERHEAD",
    "SPTPS_MIN_MINOR",
    "UDP_BUFFER_SIZE",
    "PeerChannels",
    "SptpsPath",
    "SptpsPaths",
]
