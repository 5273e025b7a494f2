"""The meta protocol after authentication: edges, subnets, keys, pings.

:class:`MetaProtocol` is tincd 1.0.36's request handlers (protocol_edge.c,
protocol_subnet.c, protocol_key.c, protocol_misc.c, ack_h and
terminate_connection) over the node's state. It does no I/O itself: it talks
to peers through :class:`~tinca.core.node.state.Link` objects and reports
lifecycle events through a callback, so it can be driven in tests with fake
links and a fake clock.

Flooding follows tincd: a request that changes the graph or the subnets is
forwarded, as received, to every other active connection, and the
:class:`~tinca.core.meta.past.PastRequests` cache stops it coming round again.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

from tinca.core.errors import TincaError
from tinca.core.graph import Edge, Graph, GraphUpdate
from tinca.core.logs import DEBUG_CONNECTIONS, DEBUG_PROTOCOL, DEBUG_STATUS, level_for
from tinca.core.meta import requests as rq
from tinca.core.meta.past import PastRequests
from tinca.core.node.ratelog import RateLimitedLog
from tinca.core.node.state import Link, Peer
from tinca.core.route.subnet_table import SubnetTable
from tinca.core.subnet import Subnet
from tinca.core.suite import Authenticated, ChannelStep, CipherSuite, PeerChannel

log = logging.getLogger("tinca")
CONNECTIONS = level_for(DEBUG_CONNECTIONS)
PROTOCOL = level_for(DEBUG_PROTOCOL)
STATUS = level_for(DEBUG_STATUS)

REQ_KEY_INTERVAL = 10
"""Seconds between two REQ_KEY for the same node (net_packet.c: last_req_key)."""
INFO_INTERVAL = 5
"""Seconds between our own UDP_INFO (or MTU_INFO) to one node (protocol_misc.c)."""
MIN_UDP_INFO_MINOR = 5
"""The next hop must speak this minor or later to get UDP_INFO."""
MIN_MTU_INFO_MINOR = 6
"""The next hop must speak this minor or later to get MTU_INFO."""
MAX_MTU = 1518
"""tinc's MTU: what a node says of the path towards itself."""


def minmtu(peer: Peer) -> int:
    """tincd's ``n->minmtu``: the largest packet known to reach ``peer`` by UDP
    (0: none, or PMTU discovery is off). The MTU strategy keeps it as the
    limit under which packets go by UDP."""
    strategy = peer.mtu_strategy
    if strategy is None:
        return peer.minmtu
    return strategy.udp_limit or 0


@dataclass(frozen=True)
class ProtocolSettings:
    """The server settings the request handlers consult."""

    tunnelserver: bool = False
    strictsubnets: bool = False
    pmtu: int | None = None


@dataclass(frozen=True)
class Lifecycle:
    """A lifecycle event for the shell to run hooks for, in order.

    ``kind`` is ``host-up``, ``host-down``, ``subnet-up`` or ``subnet-down``.
    """

    kind: str
    node: str
    address: tuple[str, str] | None = None
    subnet: Subnet | None = None


class MetaProtocol:
    """Request handling for node ``myself`` (see the module docstring)."""

    def __init__(
        self,
        *,
        myself: str,
        my_options: int,
        settings: ProtocolSettings,
        graph: Graph,
        subnets: SubnetTable,
        suite: CipherSuite,
        clock: Callable[[], float],
        random: Callable[[int], bytes],
        on_lifecycle: Callable[[Lifecycle], None],
        on_graph: Callable[[GraphUpdate], None],
        on_key: Callable[[Peer], None],
        on_subnet_roamed: Callable[[Subnet], None] = lambda subnet: None,
        host_settings: Callable[[str], dict[str, object]] = lambda name: {},
    ) -> None:
        self.myself = myself
        self.my_options = my_options
        self.settings = settings
        self.graph = graph
        self.subnets = subnets
        self.suite = suite
        self.clock = clock
        self.random = random
        self.on_lifecycle = on_lifecycle
        self.on_graph = on_graph
        self.on_key = on_key
        self.on_subnet_roamed = on_subnet_roamed
        self.host_settings = host_settings
        self.past = PastRequests(clock)
        self.peers: dict[str, Peer] = {}
        self.links: list[Link] = []
        self._handlers: dict[type, Callable[[Link, rq.Request, str], bool]] = {
            rq.Ping: self._ping,
            rq.Pong: self._pong,
            rq.AddSubnet: self._add_subnet,
            rq.DelSubnet: self._del_subnet,
            rq.AddEdge: self._add_edge,
            rq.DelEdge: self._del_edge,
            rq.KeyChanged: self._key_changed,
            rq.ReqKey: self._req_key,
            rq.AnsKey: self._ans_key,
            rq.TermReq: self._termreq,
            rq.UdpInfo: self._udp_info,
            rq.MtuInfo: self._mtu_info,
        }
        self.channels = suite.channels
        self.bad = RateLimitedLog(log, clock)
        #: a datagram of a peer's channel that came in a meta request (the
        #: data path opens it): ``on_datagram(peer, datagram)``
        self.on_datagram: Callable[[Peer, bytes], None] = lambda peer, datagram: None
        #: a channel datagram from ``source`` passing through us towards ``to``
        #: in a meta request: ``on_relay(to, source, datagram)``
        self.on_relay: Callable[[Peer, Peer, bytes], None] = lambda to, source, datagram: None
        #: a hint changed a peer's UDP address (the data path re-indexes it)
        self.on_udp_address: Callable[[Peer], None] = lambda peer: None
        self._udp_info_sent: dict[str, float] = {}
        self._mtu_info_sent: dict[str, float] = {}
        graph.add_node(myself)

    # ------------------------------------------------------------------ helpers

    def peer(self, name: str) -> Peer:
        """The record for ``name``, created on first mention (tincd's new_node)."""
        found = self.peers.get(name)
        if found is None:
            found = self.peers[name] = Peer(name)
            self.graph.add_node(name)
        return found

    def active_links(self) -> list[Link]:
        """Authenticated connections, in the order they were made."""
        return [link for link in self.links if link.active]

    def send(self, link: Link, request: rq.Request) -> None:
        """Send one request on one link."""
        line = request.format()
        log.log(PROTOCOL, "Sending %s to %s (%s)", request.type.name, link.name,
                link.address[0])
        link.send_line(line)

    def broadcast(self, request: rq.Request | str, *, exclude: Link | None = None) -> None:
        """Send to every active connection but ``exclude`` (tincd's ``everyone``
        and forward_request)."""
        line = request if isinstance(request, str) else request.format()
        for link in self.active_links():
            if link is not exclude:
                link.send_line(line)

    def nonce(self) -> int:
        """The random number tinc puts in flooded requests."""
        return rq.new_nonce(self.random)

    def _edge_request(self, edge: Edge) -> rq.AddEdge:
        host, port = edge.address or ("unknown", "unknown")
        return rq.AddEdge(self.nonce(), edge.from_, edge.to, host, port, edge.options, edge.weight)

    def _subnet_request(self, kind: type, owner: str, subnet: Subnet) -> rq.Request:
        return kind(self.nonce(), owner, subnet)

    # ------------------------------------------------------------------ links

    def link_added(self, link: Link) -> None:
        """A new (not yet authenticated) connection exists."""
        self.links.append(link)

    def activate(self, link: Link, ack: Authenticated) -> None:
        """The ACK exchange finished on ``link`` (tincd's ack_h)."""
        peer = self.peer(ack.peer_name)
        if peer.link is not None and peer.link is not link:
            log.log(CONNECTIONS, "Established a second connection with %s, closing old connection",
                    peer.name)
            old = peer.link
            old.close(report=False)
            self.run_graph()
        peer.link = link
        link.name = peer.name
        for pmtu in (self.host_settings(peer.name).get("PMTU"), self.settings.pmtu):
            if isinstance(pmtu, int) and pmtu < peer.mtu:
                peer.mtu = pmtu
        link.options = ack.options
        link.active = True
        log.log(CONNECTIONS, "Connection with %s (%s) activated", peer.name, link.address[0])
        self._send_everything(link)
        port = str(ack.peer_port) if ack.peer_port else link.address[1]
        edge = Edge(self.myself, peer.name, (link.address[0], port), ack.options, ack.weight)
        link.edge_weight = ack.weight
        self.graph.add_edge(edge)
        request = self._edge_request(edge)
        if self.settings.tunnelserver:
            self.send(link, request)
        else:
            self.broadcast(request)
        self.run_graph()

    def _send_everything(self, link: Link) -> None:
        """Every subnet and edge we know, to a newly activated peer (send_everything)."""
        if self.settings.tunnelserver:
            for subnet in self.subnets.subnets_of(self.myself):
                self.send(link, self._subnet_request(rq.AddSubnet, self.myself, subnet))
            return
        for name in sorted(set(self.graph.nodes()) | set(self.subnets.owners())):
            for subnet in self.subnets.subnets_of(name):
                self.send(link, self._subnet_request(rq.AddSubnet, name, subnet))
            for edge in self.graph.edges_from(name):
                self.send(link, self._edge_request(edge))

    def connection_closed(self, link: Link, report: bool) -> None:
        """A connection ended (tincd's terminate_connection)."""
        if link in self.links:
            self.links.remove(link)
        if not link.active or link.name is None:
            return
        link.active = False
        peer = self.peers.get(link.name)
        if peer is None or peer.link is not link:
            return
        peer.link = None
        log.log(CONNECTIONS, "Closing connection with %s (%s)", peer.name, link.address[0])
        edge = self.graph.edge(self.myself, peer.name)
        if edge is None:
            return
        if report and not self.settings.tunnelserver:
            self.broadcast(rq.DelEdge(self.nonce(), self.myself, peer.name))
        self.graph.del_edge(self.myself, peer.name)
        self.run_graph()
        if report and not self.graph.reachable(peer.name):
            reverse = self.graph.edge(peer.name, self.myself)
            if reverse is not None:
                if not self.settings.tunnelserver:
                    self.broadcast(rq.DelEdge(self.nonce(), peer.name, self.myself))
                self.graph.del_edge(peer.name, self.myself)

    # ------------------------------------------------------------------ graph

    def run_graph(self) -> GraphUpdate:
        """Recompute routes; update peers and announce reachability changes."""
        update = self.graph.compute()
        for name, route in update.routes.items():
            if name == self.myself:
                continue
            peer = self.peer(name)
            peer.reachable = route.reachable
            peer.nexthop = route.nexthop
            peer.via = route.via
            peer.options = route.options
            if route.reachable and route.address is not None:
                host, port = route.address
                if port.isdigit():
                    peer.udp_address = (host, int(port))
        self.on_graph(update)
        for change in update.changes:
            peer = self.peer(change.name)
            # Any change of reachability invalidates the key we send with and
            # the MTU state (graph.c check_reachability).
            peer.sealer = None
            peer.last_req_key = -1e9
            if peer.mtu_strategy is not None:
                peer.mtu_strategy.stop()
            if peer.channel is not None:
                peer.channel.stop()
            # tinc 1.1 speaks SPTPS with a node whose options carry minor 2 or
            # more (graph.c check_reachability), and forgets it when it goes.
            peer.sptps = change.reachable and self.channels is not None and (
                rq.option_version(peer.options) >= 2
            )
            if change.reachable:
                log.log(STATUS, "Node %s became reachable", change.name)
                self.on_lifecycle(Lifecycle("host-up", change.name, change.address))
                for subnet in self.subnets.subnets_of(change.name):
                    self.on_lifecycle(Lifecycle("subnet-up", change.name, change.address, subnet))
                if peer.link is not None and not peer.sptps:
                    # A neighbour that came up gets our key at once (graph.c).
                    self.send_ans_key(peer)
            else:
                log.log(STATUS, "Node %s became unreachable", change.name)
                peer.opener = None
                self.on_lifecycle(Lifecycle("host-down", change.name, change.address))
                for subnet in self.subnets.subnets_of(change.name):
                    self.on_lifecycle(
                        Lifecycle("subnet-down", change.name, change.address, subnet)
                    )
        return update

    # ------------------------------------------------------------------ requests

    def handle(self, link: Link, line: str) -> None:
        """One request line from an active peer; closes the link on bad input."""
        try:
            request = rq.parse_request(line)
        except rq.RequestError as err:
            log.error("Got bad request from %s (%s): %s", link.name, link.address[0], err)
            link.close(report=True)
            return
        handler = self._handlers.get(type(request))
        if handler is None:
            log.error("Got unexpected %s from %s (%s)", request.type.name, link.name,
                      link.address[0])
            link.close(report=True)
            return
        log.log(PROTOCOL, "Got %s from %s (%s)", request.type.name, link.name, link.address[0])
        try:
            keep = handler(link, request, line)
        except TincaError as err:
            log.error("Error handling %s from %s: %s", request.type.name, link.name, err)
            keep = False
        if not keep:
            link.close(report=True)

    def _ping(self, link: Link, request: rq.Request, line: str) -> bool:
        self.send(link, rq.Pong())
        return True

    def _pong(self, link: Link, request: rq.Request, line: str) -> bool:
        link.pinged = False
        return True

    def _termreq(self, link: Link, request: rq.Request, line: str) -> bool:
        return False

    def send_ping(self, link: Link) -> None:
        """PING a peer whose link has been quiet for PingInterval."""
        link.pinged = True
        link.last_ping_time = self.clock()
        self.send(link, rq.Ping())

    # -- subnets

    def add_own_subnet(self, subnet: Subnet) -> None:
        """A subnet of ours from the configuration (or learned in switch mode)."""
        if self.subnets.add(self.myself, subnet):
            self.broadcast(self._subnet_request(rq.AddSubnet, self.myself, subnet))

    def del_own_subnet(self, subnet: Subnet) -> None:
        """Withdraw a subnet of ours (an expired learned MAC address)."""
        if self.subnets.remove(self.myself, subnet):
            self.broadcast(self._subnet_request(rq.DelSubnet, self.myself, subnet))

    def _add_subnet(self, link: Link, request: rq.Request, line: str) -> bool:
        assert isinstance(request, rq.AddSubnet)
        if self.past.seen(line):
            return True
        owner, subnet = request.owner, request.subnet
        if self.settings.tunnelserver and owner not in (self.myself, link.name):
            log.log(PROTOCOL, "Ignoring indirect ADD_SUBNET from %s for %s", link.name, subnet)
            return True
        peer = self.peer(owner) if owner != self.myself else None
        if self.subnets.has(owner, subnet):
            return True
        if owner == self.myself:
            log.log(PROTOCOL, "Got ADD_SUBNET from %s for ourself", link.name)
            self.send(link, self._subnet_request(rq.DelSubnet, self.myself, subnet))
            return True
        if self.settings.tunnelserver or self.settings.strictsubnets:
            log.warning("Ignoring unauthorized ADD_SUBNET from %s: %s", link.name, subnet)
            if self.settings.strictsubnets and not self.settings.tunnelserver:
                self.broadcast(line, exclude=link)
            return True
        self.subnets.add(owner, subnet)
        assert peer is not None
        if peer.reachable:
            self.on_lifecycle(Lifecycle("subnet-up", owner, None, subnet))
        self.broadcast(line, exclude=link)
        if subnet.kind == "mac":
            self.on_subnet_roamed(subnet)
        return True

    def _del_subnet(self, link: Link, request: rq.Request, line: str) -> bool:
        assert isinstance(request, rq.DelSubnet)
        if self.past.seen(line):
            return True
        owner, subnet = request.owner, request.subnet
        if self.settings.tunnelserver and owner not in (self.myself, link.name):
            return True
        if owner != self.myself and owner not in self.peers:
            log.log(PROTOCOL, "Got DEL_SUBNET from %s for %s which is not in our node tree",
                    link.name, owner)
            return True
        if not self.subnets.has(owner, subnet):
            if self.settings.strictsubnets:
                self.broadcast(line, exclude=link)
            return True
        if owner == self.myself:
            log.log(PROTOCOL, "Got DEL_SUBNET from %s for ourself", link.name)
            self.send(link, self._subnet_request(rq.AddSubnet, self.myself, subnet))
            return True
        if self.settings.tunnelserver:
            return True
        self.broadcast(line, exclude=link)
        if self.settings.strictsubnets:
            return True
        if self.peers[owner].reachable:
            self.on_lifecycle(Lifecycle("subnet-down", owner, None, subnet))
        self.subnets.remove(owner, subnet)
        return True

    # -- edges

    def _add_edge(self, link: Link, request: rq.Request, line: str) -> bool:
        assert isinstance(request, rq.AddEdge)
        if self.past.seen(line):
            return True
        from_, to = request.from_name, request.to_name
        if self.settings.tunnelserver and from_ not in (self.myself, link.name) and to not in (
            self.myself,
            link.name,
        ):
            log.log(PROTOCOL, "Ignoring indirect ADD_EDGE from %s", link.name)
            return True
        if from_ != self.myself:
            self.peer(from_)
        if to != self.myself:
            self.peer(to)
        address = (request.address, request.port)
        existing = self.graph.edge(from_, to)
        new = Edge(from_, to, address, request.options, request.weight)
        if existing is not None:
            if (existing.weight, existing.options, existing.address) == (
                new.weight,
                new.options,
                new.address,
            ):
                return True
            if from_ == self.myself:
                log.log(PROTOCOL, "Got ADD_EDGE from %s for ourself which does not match",
                        link.name)
                self.send(link, self._edge_request(existing))
                return True
            self.graph.add_edge(new)
        elif from_ == self.myself:
            log.log(PROTOCOL, "Got ADD_EDGE from %s for ourself which does not exist", link.name)
            self.send(link, rq.DelEdge(self.nonce(), from_, to))
            return True
        else:
            self.graph.add_edge(new)
        if not self.settings.tunnelserver:
            self.broadcast(line, exclude=link)
        self.run_graph()
        return True

    def _del_edge(self, link: Link, request: rq.Request, line: str) -> bool:
        assert isinstance(request, rq.DelEdge)
        if self.past.seen(line):
            return True
        from_, to = request.from_name, request.to_name
        if self.settings.tunnelserver and from_ not in (self.myself, link.name) and to not in (
            self.myself,
            link.name,
        ):
            return True
        edge = self.graph.edge(from_, to)
        if edge is None:
            log.log(PROTOCOL, "Got DEL_EDGE from %s which does not appear in the edge tree",
                    link.name)
            return True
        if from_ == self.myself:
            log.log(PROTOCOL, "Got DEL_EDGE from %s for ourself", link.name)
            self.send(link, self._edge_request(edge))
            return True
        if not self.settings.tunnelserver:
            self.broadcast(line, exclude=link)
        self.graph.del_edge(from_, to)
        self.run_graph()
        if to != self.myself and not self.graph.reachable(to):
            reverse = self.graph.edge(to, self.myself)
            if reverse is not None:
                if not self.settings.tunnelserver:
                    self.broadcast(rq.DelEdge(self.nonce(), to, self.myself))
                self.graph.del_edge(to, self.myself)
        return True

    # -- keys

    def send_key_changed(self) -> None:
        """Our keys expired: tell everyone, re-key legacy neighbours at once
        and force a new key exchange on every keyed SPTPS channel."""
        self.broadcast(rq.KeyChanged(self.nonce(), self.myself))
        for link in self.active_links():
            peer = self.peers.get(link.name or "")
            if peer is not None and peer.reachable and not peer.sptps:
                self.send_ans_key(peer)
        for peer in self.peers.values():
            channel = peer.channel
            if peer.reachable and peer.sptps and channel is not None and channel.validkey:
                self._emit(peer, channel.force_kex())

    def expire_keys(self) -> None:
        """KeyExpire passed: forget the keys peers use to send to us."""
        log.log(STATUS, "Expiring symmetric keys")
        for peer in self.peers.values():
            if not peer.sptps:
                peer.opener = None
        self.send_key_changed()

    def send_req_key(self, peer: Peer) -> None:
        """Ask ``peer`` for its packet key, through our next hop towards it."""
        peer.last_req_key = self.clock()
        link = self._link_towards(peer)
        if link is not None:
            self.send(link, rq.ReqKey(self.myself, peer.name))

    def maybe_req_key(self, peer: Peer) -> None:
        """REQ_KEY unless one went out less than 10 s ago (send_udppacket)."""
        if peer.last_req_key + REQ_KEY_INTERVAL <= self.clock():
            self.send_req_key(peer)

    def send_ans_key(self, peer: Peer) -> None:
        """Make a fresh key for packets from ``peer`` and send it (send_ans_key)."""
        offer, opener = self.suite.answer_key_request(peer.name)
        peer.opener = opener
        link = self._link_towards(peer)
        if link is not None:
            self.send(
                link,
                rq.AnsKey(self.myself, peer.name, offer.key, offer.cipher, offer.digest,
                          offer.mac_length, offer.compression),
            )

    def _link_towards(self, peer: Peer) -> Link | None:
        hop = self.peers.get(peer.nexthop or "")
        return hop.link if hop is not None else None

    def _key_changed(self, link: Link, request: rq.Request, line: str) -> bool:
        assert isinstance(request, rq.KeyChanged)
        if self.past.seen(line):
            return True
        peer = self.peers.get(request.name)
        if peer is None:
            log.error("Got KEY_CHANGED from %s origin %s which does not exist", link.name,
                      request.name)
            return True
        if not peer.sptps:  # an SPTPS session re-keys itself (protocol_key.c)
            peer.sealer = None
            peer.last_req_key = -1e9
            if peer.mtu_strategy is not None:
                peer.mtu_strategy.key_lost()
        if not self.settings.tunnelserver:
            self.broadcast(line, exclude=link)
        return True

    def _key_route(
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
        hop = self._link_towards(target)
        return (source, hop) if hop is not None else (None, None)

    def _req_key(self, link: Link, request: rq.Request, line: str) -> bool:
        assert isinstance(request, rq.ReqKey)
        source, hop = self._key_route(link, "REQ_KEY", request.from_name, request.to_name)
        if hop is not None:
            assert source is not None
            target = self.peers[request.to_name]
            if request.ext in (rq.RequestType.REQ_KEY, rq.RequestType.SPTPS_PACKET) \
                    and self.channels is not None and target.via == self.myself:
                self.send_udp_info(None, source)
            if request.ext == rq.RequestType.SPTPS_PACKET and self.channels is not None:
                # Not forwarded as it is: the data path may have UDP towards
                # the destination (protocol_key.c req_key_ext_h).
                try:
                    datagram = self.channels.datagram_of(request)
                except TincaError as err:
                    self.bad.log(logging.WARNING, source.name, "SPTPS_PACKET", "%s", err)
                    return True
                self.on_relay(target, source, datagram)
            else:
                hop.send_line(line)
        elif source is not None:
            if request.ext is None or self.channels is None:
                self.send_ans_key(source)
            else:
                self._req_key_ext(source, request)
        return True

    # -- tinc 1.1's per-node channels (REQ_KEY extensions, SPTPS ANS_KEY)

    def _req_key_ext(self, source: Peer, request: rq.ReqKey) -> None:
        """A REQ_KEY with an extension number, for us (protocol_key.c req_key_ext_h)."""
        channels = self.channels
        assert channels is not None
        ext = request.ext
        if ext == rq.RequestType.REQ_PUBKEY:
            if channels.channel(source.name, 0) is None:
                self._send_towards(source, rq.ReqKey(self.myself, source.name,
                                                     int(rq.RequestType.REQ_PUBKEY)))
            self._send_towards(source, rq.ReqKey(self.myself, source.name,
                                                 int(rq.RequestType.ANS_PUBKEY),
                                                 channels.own_public_key()))
        elif ext == rq.RequestType.ANS_PUBKEY:
            if source.channel is not None or channels.channel(source.name, 0) is not None:
                log.log(PROTOCOL, "Got ANS_PUBKEY from %s even though we already have his "
                        "pubkey", source.name)
                return
            try:
                channels.learn_public_key(source.name, request.payload or "")
            except TincaError as err:
                log.error("Got bad ANS_PUBKEY from %s: %s", source.name, err)
                return
            log.log(PROTOCOL, "Learned Ed25519 public key from %s", source.name)
            if source.sptps:
                source.last_req_key = -1e9  # the key was what we waited for
                self.try_sptps(source)
        elif ext == rq.RequestType.REQ_KEY:
            self.send_udp_info(None, source)
            channel = self._channel(source)
            if channel is not None:
                self._emit(source, channel.on_request(request))
                self.send_mtu_info(None, source)
        elif ext == rq.RequestType.SPTPS_PACKET:
            try:
                datagram = channels.datagram_of(request)
            except TincaError as err:
                self.bad.log(logging.WARNING, source.name, "SPTPS_PACKET", "%s", err)
                return
            self.send_udp_info(None, source)
            self.on_datagram(source, datagram)
        else:
            log.error("Unknown extended REQ_KEY request from %s: %s", source.name, ext)

    def _channel(self, peer: Peer) -> PeerChannel | None:
        """``peer``'s channel, made on first use; without its public key we
        ask for it (REQ_PUBKEY) and return None (send_req_key)."""
        if peer.channel is None and self.channels is not None:
            peer.channel = self.channels.channel(peer.name, rq.option_version(peer.options))
            if peer.channel is None:
                log.log(PROTOCOL, "No Ed25519 key known for %s", peer.name)
                self._send_towards(peer, rq.ReqKey(self.myself, peer.name,
                                                   int(rq.RequestType.REQ_PUBKEY)))
        return peer.channel

    def try_sptps(self, peer: Peer) -> None:
        """Make sure a key exchange with an SPTPS peer runs (net_packet.c try_sptps)."""
        channel = peer.channel
        if channel is not None and channel.validkey:
            return
        if channel is None:
            if peer.last_req_key + REQ_KEY_INTERVAL > self.clock():
                return  # the REQ_PUBKEY went out recently
            peer.last_req_key = self.clock()
            channel = self._channel(peer)
            if channel is None:
                return
        self._emit(peer, channel.request_key(self.clock()))

    def _emit(self, peer: Peer, step: ChannelStep, report: bool = True) -> None:
        """Send a channel step's requests towards ``peer``; report its outcome
        (``report=False`` when the caller has logged the error already)."""
        for request in step.requests:
            self._send_towards(peer, request)
        error = step.error
        if error is not None and report:
            reason = error.reason or type(error).__name__
            self.bad.log(logging.WARNING, peer.name, f"kex {reason}",
                         "Key exchange with %s failed: %s", peer.name, error)
        done = step.done
        if done is not None:
            if done.initial:
                self.on_key(peer)
            else:
                log.log(PROTOCOL, "SPTPS re-key with %s finished", peer.name)

    def _send_towards(self, peer: Peer, request: rq.Request) -> None:
        link = self._link_towards(peer)
        if link is not None:
            self.send(link, request)

    def _ans_key(self, link: Link, request: rq.Request, line: str) -> bool:
        assert isinstance(request, rq.AnsKey)
        from_ = request.from_name
        source, hop = self._key_route(link, "ANS_KEY", from_, request.to_name)
        if source is None:
            return True
        if hop is None and source.sptps and self.channels is not None:
            channel = self._channel(source)
            if channel is not None:
                self._emit(source, channel.on_request(request))
                if channel.validkey and request.address and request.port \
                        and request.port.isdigit():
                    log.log(PROTOCOL, "Using reflexive UDP address from %s: %s port %s",
                            source.name, request.address, request.port)
                    source.udp_address = (request.address, int(request.port))
                    self.on_udp_address(source)
                self.send_mtu_info(None, source)
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
        source.sealer = None
        try:
            source.sealer = self.suite.accept_key_answer(from_, request)
        except TincaError as err:
            log.error("Got bad ANS_KEY from %s: %s", from_, err)
            return True
        if request.address and request.port and request.port.isdigit():
            log.log(PROTOCOL, "Using reflexive UDP address from %s: %s port %s", from_,
                    request.address, request.port)
            source.udp_address = (request.address, int(request.port))
        self.on_key(source)
        return True

    # -- UDP_INFO / MTU_INFO (tinc 1.1, protocol_misc.c)
    #
    # Hints that travel along a relay path: where a node's UDP packets are
    # seen to come from, and the MTU of the path towards it. Each hop keeps
    # what it learns and passes its own (possibly better) view on; a node
    # sends its own at most every INFO_INTERVAL seconds per destination.

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

    def _udp_info(self, link: Link, request: rq.Request, line: str) -> bool:
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
                self.on_udp_address(source)
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

    def _mtu_info(self, link: Link, request: rq.Request, line: str) -> bool:
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
