"""The meta protocol after authentication: links, flooding, edges, subnets, pings.

:class:`MetaProtocol` is tincd 1.0.36's request handlers (protocol_edge.c,
protocol_subnet.c, protocol_misc.c's PING/PONG, ack_h and
terminate_connection) over the node's state, and the one object the rest of
the node calls. It composes the key exchange (:mod:`.keys`: REQ_KEY, ANS_KEY,
KEY_CHANGED) and the path hints (:mod:`.info`: UDP_INFO, MTU_INFO); the
per-peer paths the cipher suite builds (:mod:`tinca.core.path`) get what they
need from the node through :class:`~tinca.core.node.services.NodeServices`.
It does no I/O itself: it talks to peers through
:class:`~tinca.core.node.state.Link` objects and reports lifecycle events
through a callback, so it can be driven in tests with fake links and a fake
clock.

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
from tinca.core.node.info import PathInfo
from tinca.core.node.keys import REQ_KEY_INTERVAL, KeyExchange
from tinca.core.node.ratelog import RateLimitedLog
from tinca.core.node.services import NodeServices
from tinca.core.node.settings import ProtocolSettings
from tinca.core.node.state import Link, Peer
from tinca.core.peer_paths import minmtu
from tinca.core.route.subnet_table import SubnetTable
from tinca.core.subnet import Subnet
from tinca.core.suite import Authenticated, CipherSuite

log = logging.getLogger("tinca")
CONNECTIONS = level_for(DEBUG_CONNECTIONS)
PROTOCOL = level_for(DEBUG_PROTOCOL)
STATUS = level_for(DEBUG_STATUS)

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
            rq.TermReq: self._termreq,
        }
        self.bad = RateLimitedLog(log, clock)
        #: REQ_KEY, ANS_KEY, KEY_CHANGED
        self.keys = KeyExchange(
            myself=myself, peers=self.peers, settings=settings, past=self.past,
            send=self.send, broadcast=self.broadcast, nonce=self.nonce,
        )
        #: UDP_INFO, MTU_INFO
        self.info = PathInfo(
            myself=myself, my_options=my_options, peers=self.peers, clock=clock,
            send=self.send,
            udp_address_changed=lambda peer: self.services.udp_address_changed(peer),
        )
        self._handlers.update({
            rq.KeyChanged: self.keys.key_changed,
            rq.ReqKey: self.keys.req_key,
            rq.AnsKey: self.keys.ans_key,
            rq.UdpInfo: self.info.udp_info,
            rq.MtuInfo: self.info.mtu_info,
        })
        #: what the paths get from the node (the data path fills in its part)
        self.services = NodeServices(
            myself=myself, my_options=my_options, peers=self.peers, suite=suite,
            log=self.bad, clock=clock, keys=self.keys, info=self.info,
            key_arrived=lambda peer: self.on_key(peer),
        )
        #: the suite's per-peer paths
        self.paths = self.keys.paths = suite.peer_paths(self.services)
        graph.add_node(myself)

    # ------------------------------------------------------------------ helpers

    def peer(self, name: str) -> Peer:
        """The record for ``name``, created on first mention (tincd's new_node)."""
        found = self.peers.get(name)
        if found is None:
            found = self.peers[name] = Peer(name)
            found.path = self.paths.path_for(found)
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

    def _subnet_request(
        self, kind: type[rq.AddSubnet] | type[rq.DelSubnet], owner: str, subnet: Subnet
    ) -> rq.Request:
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
            # the MTU state (graph.c check_reachability); the suite picks the
            # peer's path anew (tinc 1.1 runs a channel with a node of minor
            # 2 or more while it is reachable).
            peer.sealer = None
            peer.last_req_key = -1e9
            if peer.mtu_strategy is not None:
                peer.mtu_strategy.stop()
            old = peer.path
            path = peer.path = self.paths.path_for(peer)
            if old is not None and old is not path:
                old.reachability_changed(False)
            if change.reachable:
                log.log(STATUS, "Node %s became reachable", change.name)
                self.on_lifecycle(Lifecycle("host-up", change.name, change.address))
                for subnet in self.subnets.subnets_of(change.name):
                    self.on_lifecycle(Lifecycle("subnet-up", change.name, change.address, subnet))
                path.reachability_changed(True)
            else:
                log.log(STATUS, "Node %s became unreachable", change.name)
                path.reachability_changed(False)
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

    # ------------------------------------------------------------------ keys and hints

    def send_key_changed(self) -> None:
        """Our keys changed (see :meth:`KeyExchange.send_key_changed`)."""
        self.keys.send_key_changed()

    def expire_keys(self) -> None:
        """KeyExpire passed (see :meth:`KeyExchange.expire_keys`)."""
        self.keys.expire_keys()

    def send_udp_info(self, from_: Peer | None, to: Peer) -> None:
        """UDP_INFO about ``from_`` (None: us) towards ``to``'s static relay."""
        self.info.send_udp_info(from_, to)

    def send_mtu_info(self, from_: Peer | None, to: Peer) -> None:
        """MTU_INFO about the path towards ``from_`` (None: us), towards ``to``."""
        self.info.send_mtu_info(from_, to)


__all__ = ["REQ_KEY_INTERVAL", "Lifecycle", "MetaProtocol", "ProtocolSettings", "minmtu"]
