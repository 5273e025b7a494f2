"""The node's I/O shell: sockets, timers and the wiring between the parts.

:class:`NodeRuntime` builds the node from a validated configuration stack —
the cipher suite, graph, subnet table, router, meta protocol and data path —
and connects them to the event loop: accepting and making meta connections
(with tincd's back-off), reading UDP datagrams and device packets in
batches, and a one-second tick for pings, key expiry, MAC expiry and MTU
probes. Everything it decides is delegated to the sans-IO parts.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import time
from collections.abc import Callable

from tinca.core.config.model import Configuration
from tinca.core.counters import Counters
from tinca.core.device import Device
from tinca.core.discovery import Discovery
from tinca.core.errors import ConfigError, PluginError, TincaError
from tinca.core.events import HostEvent, NodeEvent, PathWatch, SubnetEvent
from tinca.core.graph import Graph, GraphUpdate
from tinca.core.listeners import Listener
from tinca.core.logs import DEBUG_CONNECTIONS, level_for
from tinca.core.meta import requests as rq
from tinca.core.mtu import MTUSettings
from tinca.core.node.datapath import DataPath
from tinca.core.node.link import MetaLink
from tinca.core.node.outgoing import Outgoing
from tinca.core.node.protocol import Lifecycle, MetaProtocol, ProtocolSettings
from tinca.core.node.state import Peer
from tinca.core.policy import POLICIES_HOOK, PolicyContext, build_policies
from tinca.core.route.mode import MODES_HOOK
from tinca.core.route.router import DEFAULT_MAC, Router
from tinca.core.route.subnet_table import SubnetTable
from tinca.core.stack import Stack, cipher_suite
from tinca.core.subnet import Subnet
from tinca.core.suite import CipherSuite, MetaParams, SuiteContext

log = logging.getLogger("tinca")
CONNECTIONS = level_for(DEBUG_CONNECTIONS)

UDP_BATCH = 64
"""Datagrams (and device packets) taken per loop wake-up."""
TICK = 1.0
"""Seconds between housekeeping rounds."""
PROBE_TICK = 0.1
"""Seconds between looks at the MTU strategies' wake-up times (tinc 1.1 probes
every third of a second while discovering)."""

# Linux's per-socket path MTU discovery switch (<linux/in.h>, <linux/in6.h>);
# Python's socket module does not export them.
IP_MTU_DISCOVER = 10
IPV6_MTU_DISCOVER = 23
PMTUDISC_DO = 2
"""Set DF and never fragment locally: a too-large send fails with EMSGSIZE."""


def set_udp_buffers(udp: socket.socket, rcvbuf: int | None, sndbuf: int | None) -> None:
    """``UDPRcvBuf``/``UDPSndBuf``: socket buffer sizes in bytes; unset or 0
    keeps the OS default (tincd 1.0's behaviour, net_socket.c l.232-248)."""
    if rcvbuf:
        udp.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    if sndbuf:
        udp.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, sndbuf)


def udp_buffer_sizes(
    config: Configuration, default: int | None
) -> tuple[int | None, int | None]:
    """``(UDPRcvBuf, UDPSndBuf)`` to ask for; ``None`` keeps the OS default.

    Unset, a node takes ``default``: the suite's paths say which
    (:attr:`~tinca.core.peer_paths.PeerPaths.udp_buffer_size`; tinc 1.1 asks for
    1 MiB, tinc 1.0 keeps the OS default).
    """
    return tuple(  # type: ignore[return-value]
        config.lookup(name, None) if name in config.server else default
        for name in ("UDPRcvBuf", "UDPSndBuf")
    )


def configure_udp(udp: socket.socket, options: int) -> None:
    """Prepare a listening UDP socket for our option bits.

    With PMTU discovery on (``OPTION_PMTU_DISCOVERY``), datagrams are sent with
    DF set and a datagram larger than the known path MTU fails with EMSGSIZE
    instead of being fragmented locally, as tincd sets its UDP sockets up
    (net_socket.c, setup_vpn_in_socket, release-1.0.36 l.255-283). Discovery
    needs that: otherwise probes larger than the path still arrive, in
    fragments, and it settles on an MTU only fragmentation makes work.
    """
    if not options & rq.OPTION_PMTU_DISCOVERY:
        return
    if udp.family == socket.AF_INET6:
        udp.setsockopt(socket.IPPROTO_IPV6, IPV6_MTU_DISCOVER, PMTUDISC_DO)
    elif udp.family == socket.AF_INET:
        udp.setsockopt(socket.IPPROTO_IP, IP_MTU_DISCOVER, PMTUDISC_DO)


def device_mac_settings(mode: str, device: Device) -> tuple[bool, bytes]:
    """``(overwrite_mac, mymac)`` for the router, as tincd's device set-up decides.

    A tap device in router mode carries Ethernet frames the peers never
    addressed (router-mode packets travel with zero MAC addresses), so frames
    written to it get our interface's MAC as destination, and ARP/ND requests
    from it are answered by the router (linux/device.c, release-1.0.36
    l.95-152: overwrite_mac, then SIOCGIFHWADDR into mymac). The device
    plugin exposes the address it read as :attr:`Device.mac`; without one, tincd's
    default stays until the first ARP or ND request shows ours.
    """
    overwrite = mode == "router" and device.request.layer == "tap"
    mac = device.mac
    if overwrite and mac is not None and len(mac) == len(DEFAULT_MAC):
        return True, mac
    return overwrite, DEFAULT_MAC


def own_options(config: Configuration) -> int:
    """Our option bits as tincd's setup_myself computes them."""
    options = 0
    if config.lookup("IndirectData", None):
        options |= rq.OPTION_INDIRECT
    tcponly = bool(config.lookup("TCPOnly", None))
    if tcponly:
        options |= rq.OPTION_TCPONLY | rq.OPTION_INDIRECT
    pmtu = config.lookup("PMTUDiscovery", None)
    if pmtu if pmtu is not None else not tcponly:
        options |= rq.OPTION_PMTU_DISCOVERY
    clamp = config.lookup("ClampMSS", None)
    if clamp is None or clamp:
        options |= rq.OPTION_CLAMP_MSS
    return options


class NodeRuntime:
    """A running node on an asyncio loop."""

    def __init__(
        self,
        stack: Stack,
        node_event: NodeEvent,
        device: Device,
        listeners: list[Listener],
        fire: Callable[..., None],
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.stack = stack
        self.config = config = stack.config
        self.node_event = node_event
        self.device = device
        self.listeners = listeners
        self.fire = fire
        self.clock = clock
        self.myself = config.name or ""
        self.options = own_options(config)
        self.port = str(listeners[0].address[1]) if listeners else str(config.lookup("Port"))
        self.ping_interval = int(config.lookup("PingInterval"))
        self.ping_timeout = int(config.lookup("PingTimeout"))
        self.max_timeout = int(config.lookup("MaxTimeout"))
        self.key_lifetime = int(config.lookup("KeyExpire"))
        self.key_expires = clock() + self.key_lifetime
        # CipherSuite, else the plugins' default (tinc 1.1's suite, which falls
        # back to the legacy protocol by itself; tinc 1.0's without it).
        self.suite: CipherSuite = cipher_suite(stack.manager, config).value(
            SuiteContext(
                config, self.myself, os.urandom, clock, self._compression, stack.manager.registry
            )
        )
        self.graph = Graph(self.myself, self.options)
        self.subnets = SubnetTable(self.graph.reachable)
        mode = str(config.lookup("Mode")).lower()
        self.mode = mode
        overwrite_mac, mymac = device_mac_settings(mode, device)
        policy_context = PolicyContext(config, self.myself)
        self.router = Router(
            self.myself,
            mode,
            self.subnets,
            modes=stack.manager.registry(MODES_HOOK),
            policies=build_policies(stack.manager.registry(POLICIES_HOOK),
                                    config.lookup("PacketPolicy", None) or (), policy_context),
            forwarding=str(config.lookup("Forwarding") or "internal").lower(),  # type: ignore[arg-type]
            broadcast=str(config.lookup("Broadcast") or "mst").lower(),  # type: ignore[arg-type]
            decrement_ttl=bool(config.lookup("DecrementTTL", None)),
            directonly=bool(config.lookup("DirectOnly", None)),
            tunnelserver=bool(config.lookup("TunnelServer", None)),
            overwrite_mac=overwrite_mac,
            mymac=mymac,
            mac_expire=float(config.lookup("MACExpire") or 600),
            options=self.options,
            mtu=self._peer_mtu,
            clock=clock,
        )
        self.protocol = MetaProtocol(
            myself=self.myself,
            my_options=self.options,
            settings=ProtocolSettings(
                tunnelserver=bool(config.lookup("TunnelServer", None)),
                strictsubnets=bool(config.lookup("StrictSubnets", None))
                or bool(config.lookup("TunnelServer", None)),
                pmtu=config.lookup("PMTU", None),
            ),
            graph=self.graph,
            subnets=self.subnets,
            suite=self.suite,
            clock=clock,
            random=os.urandom,
            on_lifecycle=self._lifecycle,
            on_graph=self._graph_changed,
            on_key=self._key_arrived,
            on_subnet_roamed=self.router.roamed,
            host_settings=self._host_settings,
        )
        self.datapath = DataPath(self.protocol, self.router, device, self._send_datagram, clock)
        #: the one read-only index over the node's traffic counters
        self.counters = Counters(self.myself, self.protocol.peers, device, self.datapath.dropped)
        #: key, path MTU and UDP/TCP changes, reported once each
        self.path_watch = PathWatch(node_event)
        self.outgoing: dict[str, Outgoing] = {}
        # Built once per configuration (reconfigure builds them anew).
        self.discovery = self._build_discovery(stack)
        self.tasks: set[asyncio.Task[None]] = set()
        self.loop: asyncio.AbstractEventLoop | None = None
        self._tick_handle: asyncio.TimerHandle | None = None
        self._probe_handle: asyncio.TimerHandle | None = None
        #: called when the node cannot go on (the daemon stops)
        self.on_fatal: Callable[[], None] | None = None
        self._last_check = clock()
        # One UDP socket per address family sends everything; looked up once
        # here because socket.family builds an enum on every access.
        by_family: dict[int, Callable[[bytes, tuple[str, int]], int]] = {}
        for listener in listeners:
            by_family.setdefault(int(listener.udp.family), listener.udp.sendto)
        self._sendto4 = by_family.get(int(socket.AF_INET))
        self._sendto6 = by_family.get(int(socket.AF_INET6))

    # ------------------------------------------------------------------ set-up

    def _compression(self, level: int) -> object | None:
        if not level:
            return None
        registry = self.stack.manager.registry("tinca_register_compressions")
        try:
            return registry.get(str(level)).value
        except PluginError as err:
            raise ConfigError(f"Compression = {level}: {err}") from None

    def _host_settings(self, name: str) -> dict[str, object]:
        try:
            host = self.config.host(name)
        except ConfigError:
            return {}
        return {"PMTU": host.get("PMTU", None), "ClampMSS": host.get("ClampMSS", None)}

    def load_own_subnets(self) -> None:
        """Our Subnet lines (tinc.conf or hosts/NAME), then subnet-up for each."""
        texts = list(self.config.server.get_all("Subnet"))
        own = self.config.own_host()
        texts += [t for t in own.get_all("Subnet") if t not in texts]
        for text in texts:
            subnet = Subnet.parse(text)
            self.subnets.add(self.myself, subnet)
        for subnet in self.subnets.subnets_of(self.myself):
            self._lifecycle(Lifecycle("subnet-up", self.myself, None, subnet))

    def unload_own_subnets(self) -> None:
        """subnet-down for our own subnets at shutdown, before tinc-down."""
        for subnet in self.subnets.subnets_of(self.myself):
            self._lifecycle(Lifecycle("subnet-down", self.myself, None, subnet))

    def start(self, loop: asyncio.AbstractEventLoop) -> None:
        """Start accepting, reading and connecting."""
        self.loop = loop
        for listener in self.listeners:
            try:
                configure_udp(listener.udp, self.options)
            except OSError as err:
                log.warning("Could not set up path MTU discovery on UDP socket: %s", err)
            default = self.protocol.paths.udp_buffer_size
            try:
                set_udp_buffers(listener.udp, *udp_buffer_sizes(self.config, default))
            except OSError as err:
                log.warning("Could not set UDP socket buffer sizes: %s", err)
            loop.add_reader(listener.tcp.fileno(), self._accept, listener.tcp)
            loop.add_reader(listener.udp.fileno(), self._read_udp, listener.udp)
        if self.device.fileno() is not None:
            loop.add_reader(self.device.fileno(), self._read_device)
        self.discovery.start()
        for name in self.config.server.get_all("ConnectTo"):
            if name == self.myself:
                continue
            self._start_outgoing(name)
        self._tick_handle = loop.call_later(TICK, self._tick)
        self._probe_handle = loop.call_later(PROBE_TICK, self._probe_tick)
        self.fire("tinca_metrics_start", counters=self.counters, node=self.node_event)

    def stop(self) -> None:
        """Close every connection (without DEL_EDGE, as tincd at exit)."""
        loop = self.loop
        if loop is None:
            return
        if self._tick_handle is not None:
            self._tick_handle.cancel()
        if self._probe_handle is not None:
            self._probe_handle.cancel()
        for task in list(self.tasks):
            task.cancel()
        self.discovery.stop()
        for listener in self.listeners:
            loop.remove_reader(listener.tcp.fileno())
            loop.remove_reader(listener.udp.fileno())
        if self.device.fileno() is not None:
            loop.remove_reader(self.device.fileno())
        for outgoing in self.outgoing.values():
            outgoing.connected = True  # no reconnects while shutting down
        for link in list(self.protocol.links):
            link.close(report=False)

    # ------------------------------------------------------------------ events

    def _lifecycle(self, event: Lifecycle) -> None:
        address = event.address
        host, port = (address[0], int(address[1]) if address[1].isdigit() else None) if (
            address
        ) else (None, None)
        if event.node == self.myself and event.kind.startswith("subnet"):
            host = port = None
        if event.kind in ("host-up", "host-down"):
            hook = "tinca_host_up" if event.kind == "host-up" else "tinca_host_down"
            self.fire(hook, event=HostEvent(self.node_event, event.node, host, port))
        else:
            assert event.subnet is not None
            hook = "tinca_subnet_up" if event.kind == "subnet-up" else "tinca_subnet_down"
            subnet = event.subnet
            self.fire(
                hook,
                event=SubnetEvent(
                    self.node_event,
                    event.node,
                    subnet.format(),
                    subnet.weight,
                    host,
                    port,
                ),
            )

    def _graph_changed(self, update: GraphUpdate) -> None:
        self.router.apply(update)
        for name, route in update.routes.items():
            peer = self.protocol.peers.get(name)
            if peer is None:
                continue
            if route.reachable:
                self.datapath.remember_address(peer)
            else:
                self.datapath.by_address.pop(peer.udp_address, None) if peer.udp_address else None
        for link in self.protocol.links:
            link.mst = (link.name or "") in update.mst_peers

    def _key_arrived(self, peer: Peer) -> None:
        path = peer.path
        assert path is not None  # the protocol gives every peer one
        hook, key_event = self.path_watch.key_arrived(peer.name, path.rekeys_itself)
        self.fire(hook, event=key_event)
        self.datapath.remember_address(peer)
        strategy = peer.mtu_strategy
        if strategy is None:
            strategy = peer.mtu_strategy = self._mtu_strategy(peer)
        if path.probing_starts():
            strategy.start(self.clock())

    def _mtu_strategy(self, peer: Peer):  # type: ignore[no-untyped-def]
        try:
            host = self.config.host(peer.name)
            name = host.get("MTUStrategy", None)
            pmtu = host.get("PMTU", None)
            discovery = host.get("PMTUDiscovery", None)
        except ConfigError:
            name = pmtu = discovery = None
        # Unless configured, the suite says which probing the peer gets.
        name = (
            name
            or self.config.lookup("MTUStrategy", None)
            or self.suite.default_mtu_strategy(peer.options)
        )
        settings = MTUSettings(
            pmtu=pmtu or self.config.lookup("PMTU", None),
            discovery=bool(peer.options & rq.OPTION_PMTU_DISCOVERY)
            if discovery is None
            else bool(discovery),
            ping_interval=self.ping_interval,
            ping_timeout=self.ping_timeout,
            local_discovery=bool(self.config.lookup("LocalDiscovery", None)),
            peer=peer.name,
            peer_minor=rq.option_version(peer.options),
        )
        factory = self.stack.manager.registry("tinca_register_mtu_strategies").get(name).value
        return factory(settings)

    def _peer_mtu(self, name: str) -> int:
        peer = self.protocol.peers.get(name)
        if peer is None or peer.mtu_strategy is None:
            return peer.mtu if peer is not None else 1518
        return peer.mtu_strategy.node_mtu

    # ------------------------------------------------------------------ UDP and device

    def _send_datagram(self, payload: bytes, address: tuple[str, int]) -> None:
        sendto = self._sendto6 if ":" in address[0] else self._sendto4
        if sendto is None:
            return
        try:
            sendto(payload, address)
        except BlockingIOError:
            pass  # the kernel's buffer is full: drop, as tincd does

    def _read_udp(self, udp: socket.socket) -> None:
        receive = self.datapath.receive_datagram
        for _ in range(UDP_BATCH):
            try:
                data, address = udp.recvfrom(2048)
            except (BlockingIOError, InterruptedError):
                return
            except OSError as err:
                log.debug("Receiving packet failed: %s", err)
                return
            receive(data, (address[0], address[1]))

    def _read_device(self) -> None:
        try:
            packets = self.device.read_batch(UDP_BATCH)
        except TincaError as err:
            # The device is gone (interface deleted): nothing left to serve.
            log.error("%s; stopping", err)
            if self.on_fatal is not None:
                self.on_fatal()
            return
        if packets:
            self.datapath.from_device(packets)
            if self.router.mode.learns_addresses:
                for subnet in self.router.take_learned():
                    self.protocol.broadcast(rq.AddSubnet(self.protocol.nonce(), self.myself,
                                                         subnet))

    # ------------------------------------------------------------------ meta connections

    def _params(self, outgoing: bool, expected: str | None) -> MetaParams:
        return MetaParams(self.myself, outgoing, expected, self.port, self.options, self.clock)

    def _accept(self, server: socket.socket) -> None:
        try:
            sock, peer = server.accept()
        except (BlockingIOError, InterruptedError):
            return
        except OSError as err:
            log.error("Accepting a new connection failed: %s", err)
            return
        host, port = peer[0], str(peer[1])
        log.log(CONNECTIONS, "Connection from %s port %s", host, port)
        link = MetaLink(self, self.suite.meta_session(self._params(False, None)), (host, port))
        self.protocol.link_added(link)
        self._spawn(self._attach(link, sock))

    async def _attach(self, link: MetaLink, sock: socket.socket) -> None:
        assert self.loop is not None
        sock.setblocking(False)
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        try:
            await self.loop.connect_accepted_socket(lambda: link, sock)
        except OSError as err:
            log.error("Could not attach connection from %s: %s", link.hostname, err)
            link.close(report=False)

    def _spawn(self, coroutine) -> None:  # type: ignore[no-untyped-def]
        assert self.loop is not None
        task = self.loop.create_task(coroutine)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    def _start_outgoing(self, name: str) -> None:
        outgoing = self.outgoing.get(name)
        if outgoing is None:
            outgoing = self.outgoing[name] = Outgoing(name)
        outgoing.connected = False
        # The round runs now; the one-second housekeeping must not start a
        # second one while this one still waits for a slow address.
        outgoing.begin_attempt()
        self._spawn(self._connect(outgoing))

    def _build_discovery(self, stack: Stack) -> Discovery:
        """The sources ``Discovery`` lists, built from ``stack``'s plugins."""
        return Discovery(
            stack.manager.registry("tinca_register_discovery"),
            stack.config,
            # the declared default (the discovery plugin's) when unset; none
            # at all when no plugin declares the variable
            stack.config.lookup("Discovery") or (),
            self._discovered,
        )

    def _discovered(self, name: str) -> None:
        """A source pushed addresses for ``name``: a connection waiting out its
        back-off tries them now rather than when the delay is over."""
        outgoing = self.outgoing.get(name)
        if outgoing is None or not outgoing.waiting() or self.loop is None:
            return
        if self.loop.is_closed():
            return
        log.log(CONNECTIONS, "New addresses for %s, retrying now", name)
        outgoing.begin_attempt()
        self._spawn(self._connect(outgoing))

    def _bind_address(self, family: int) -> tuple | None:
        """tincd binds outgoing sockets to its listening address when it has
        exactly one of that family (do_outgoing_connection)."""
        same = [each for each in self.listeners if each.tcp.family == family]
        if len(same) != 1:
            return None
        address = same[0].tcp.getsockname()
        return (address[0], 0, *address[2:])

    async def _resolve(self, outgoing: Outgoing) -> None:
        """Start a round: every address of every candidate, in order."""
        assert self.loop is not None
        outgoing.pending = []
        candidates = await self.discovery.candidates(outgoing.name)
        if not candidates:
            log.error("No address specified for %s", outgoing.name)
        for candidate in candidates:
            try:
                infos = await self.loop.getaddrinfo(
                    candidate.host, candidate.port, type=socket.SOCK_STREAM
                )
            except (OSError, UnicodeError) as err:
                log.log(CONNECTIONS, "Could not resolve %s: %s", candidate.host, err)
                continue
            outgoing.pending.extend(infos)

    async def _connect(self, outgoing: Outgoing, fresh: bool = True) -> None:
        """Try the round's next addresses; when none is left, back off.

        A lost connection continues the round where it left off, so, as in
        tincd, a peer that keeps dropping us is retried with growing delays.
        """
        assert self.loop is not None
        name = outgoing.name
        if fresh:
            await self._resolve(outgoing)
        while outgoing.pending:
            family, kind, proto, _, address = outgoing.pending.pop(0)
            host, port = address[0], str(address[1])
            log.log(CONNECTIONS, "Trying to connect to %s (%s port %s)", name, host, port)
            sock = socket.socket(family, kind, proto)
            sock.setblocking(False)
            try:
                bind = self._bind_address(family)
                if bind is not None:
                    sock.bind(bind)
                await asyncio.wait_for(
                    self.loop.sock_connect(sock, address), timeout=self.ping_timeout
                )
            except (OSError, TimeoutError) as err:
                sock.close()
                log.log(CONNECTIONS, "%s port %s: %s", host, port, err or "timed out")
                continue
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            link = MetaLink(
                self, self.suite.meta_session(self._params(True, name)), (host, port),
                outgoing=outgoing, name=name,
            )
            self.protocol.link_added(link)
            try:
                await self.loop.create_connection(lambda link=link: link, sock=sock)
            except OSError as err:
                link.close(report=False)
                log.log(CONNECTIONS, "Could not use connection to %s: %s", name, err)
                continue
            return
        log.log(CONNECTIONS, "Could not set up a meta connection to %s", name)
        outgoing.failed_round(self.clock(), self.max_timeout)
        log.log(CONNECTIONS, "Trying to re-establish outgoing connection in %d seconds",
                outgoing.timeout)

    def link_closed(self, link: MetaLink) -> None:
        """A connection ended; an outgoing one is re-established (terminate_connection)."""
        outgoing = link.outgoing
        if outgoing is None or self.loop is None or self.loop.is_closed():
            return
        if outgoing.connected:
            return
        self._spawn(self._connect(outgoing, fresh=False))

    def retry(self) -> None:
        """SIGALRM: retry outgoing connections now and ping every peer."""
        now = self.clock()
        for outgoing in self.outgoing.values():
            outgoing.retry_now(now)
        for link in self.protocol.active_links():
            self.protocol.send_ping(link)

    # ------------------------------------------------------------------ housekeeping

    def _tick(self) -> None:
        assert self.loop is not None
        now = self.clock()
        try:
            self._housekeeping(now)
        except TincaError as err:  # never let a bad peer stop the timer
            log.error("%s", err)
        self._tick_handle = self.loop.call_later(TICK, self._tick)

    def _housekeeping(self, now: float) -> None:
        # Outgoing connections whose back-off has passed.
        active = {link.name for link in self.protocol.links if not link.closed}
        for outgoing in self.outgoing.values():
            if outgoing.name in active or outgoing.next_attempt > now:
                continue
            outgoing.begin_attempt()  # no other until this one finishes
            self._spawn(self._connect(outgoing))
        if self._last_check + self.ping_timeout > now:
            return
        self._last_check = now
        self._check_links(now)
        self.protocol.past.age(now)
        if self.router.mode.learns_addresses:
            for subnet in self.router.expire(now):
                self.protocol.broadcast(rq.DelSubnet(self.protocol.nonce(), self.myself, subnet))
        if self.key_expires <= now:
            self.protocol.expire_keys()
            self.key_expires = now + self.key_lifetime

    def _probe_tick(self) -> None:
        assert self.loop is not None
        try:
            self._run_probes(self.clock())
        except TincaError as err:  # never let a bad peer stop the timer
            log.error("%s", err)
        self._probe_handle = self.loop.call_later(PROBE_TICK, self._probe_tick)

    def _run_probes(self, now: float) -> None:
        """Send the probes every MTU strategy has due."""
        for peer in list(self.protocol.peers.values()):
            strategy = peer.mtu_strategy
            if strategy is None:
                continue
            wake = strategy.next_wakeup()
            if wake is None or wake > now:
                continue
            self.datapath.send_probes(peer, strategy.due_probes(now))
        # Replies change the strategies between ticks: report what moved since.
        for hook, path_event in self.path_watch.observe_peers(self.protocol.peers.values()):
            self.fire(hook, event=path_event)

    def _check_links(self, now: float) -> None:
        """tincd's check_dead_connections."""
        for link in list(self.protocol.links):
            if not isinstance(link, MetaLink) or link.closed:
                continue
            if link.last_ping_time + self.ping_timeout > now:
                continue
            if link.active:
                if link.pinged:
                    log.log(CONNECTIONS, "%s (%s) didn't respond to PING in %d seconds",
                            link.name, link.address[0], int(now - link.last_ping_time))
                    link.close(report=True)
                elif link.last_ping_time + self.ping_interval <= now:
                    self.protocol.send_ping(link)
            else:
                who = link.name or link.session.peer_name or "unknown"
                log.log(CONNECTIONS, "Timeout from %s (%s) during authentication",
                        who, link.address[0])
                link.close(report=False)

    # ------------------------------------------------------------------ SIGHUP

    def reconfigure(self, stack: Stack) -> None:
        """Use a re-read configuration: new ConnectTo peers are dialled, and
        connections to peers no longer listed stop being re-established;
        connections that are unaffected stay up."""
        self.stack = stack
        self.config = stack.config
        # Host files may have changed (keys, addresses): read them anew.
        self.suite.reconfigure(stack.config)
        # Discovery sources are built per configuration: replace them.
        self.discovery.stop()
        self.discovery = self._build_discovery(stack)
        if self.loop is not None:
            self.discovery.start()
        wanted = {n for n in stack.config.server.get_all("ConnectTo") if n != self.myself}
        for name in wanted - set(self.outgoing):
            self._start_outgoing(name)
        for name in set(self.outgoing) - wanted:
            outgoing = self.outgoing.pop(name)
            outgoing.connected = True  # stop re-establishing it
