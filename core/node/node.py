"""The node, sans-IO: every decision a running tinca node makes, and no I/O.

:class:`Node` assembles the plugin stack's parts (cipher suite, graph, subnet
table, routing mode and packet policies, meta protocol, data path, counters,
discovery sources) and owns every timer. It has no socket, no event loop and
no clock: the I/O shell feeds it what happened, with the time it happened
(``receive_datagrams(batch, now)``, ``receive_device(packets, now)``,
``receive_meta(link, data, now)``, ``handle_timer(now)``, ...), and after each
input drains what the node wants done (the aioquic shape):

- :meth:`Node.datagrams_to_send` — UDP payloads and where they go (unless
  the shell gave the node a ``send_datagram`` sink, see :class:`Node`);
- :attr:`Node.device_frames` — frames for the device, in order;
- :meth:`Node.links_to_flush` — meta connections with bytes to write, or to
  close once written (:meth:`MetaConnection.take_output`, ``closed``);
- :meth:`Node.dials_to_start` — ``ConnectTo`` peers to connect to (the shell
  resolves their candidates, tries the addresses in order and reports back
  with :meth:`Node.meta_connected` or :meth:`Node.dial_failed`);
- :meth:`Node.hook_calls` — event hooks to fire (host/subnet up and down,
  key, path MTU and UDP/TCP path changes), already translated, in order;
- :meth:`Node.next_timer` — when to call :meth:`Node.handle_timer` next.

Timers, as tincd keeps them: a one-second housekeeping round (dials whose
back-off passed; every ``PingTimeout`` the dead-connection check with PINGs,
ageing of seen requests, MAC expiry in switch mode and key expiry) and a
0.1 s look at the MTU strategies' due probes.

Sub-parts that read a clock (:class:`MetaProtocol`, :class:`DataPath`, the
router, the suite) get :attr:`Node.clock`, which returns the ``now`` of the
input being handled.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, cast

from tinca.core.config.model import Configuration
from tinca.core.counters import Counters
from tinca.core.device import Device, DeviceRequest
from tinca.core.discovery import Discovery
from tinca.core.errors import ConfigError, PluginError, TincaError
from tinca.core.events import HostEvent, NodeEvent, PathWatch, SubnetEvent
from tinca.core.graph import Graph, GraphUpdate
from tinca.core.logs import DEBUG_CONNECTIONS, level_for
from tinca.core.meta import requests as rq
from tinca.core.mtu import MTUSettings, MTUStrategy
from tinca.core.node.datapath import DataPath
from tinca.core.node.link import MetaConnection
from tinca.core.node.outgoing import Outgoing
from tinca.core.node.protocol import Lifecycle, MetaProtocol, ProtocolSettings
from tinca.core.node.state import Peer
from tinca.core.policy import POLICIES_HOOK, PolicyContext, build_policies
from tinca.core.route.mode import MODES_HOOK, mode_layer
from tinca.core.route.router import DEFAULT_MAC, BroadcastMode, Forwarding, Router
from tinca.core.route.subnet_table import SubnetTable
from tinca.core.stack import Stack, cipher_suite
from tinca.core.subnet import Subnet
from tinca.core.suite import CipherSuite, CompressionCodec, MetaParams, SuiteContext

log = logging.getLogger("tinca")
CONNECTIONS = level_for(DEBUG_CONNECTIONS)

TICK = 1.0
"""Seconds between housekeeping rounds."""
PROBE_TICK = 0.1
"""Seconds between looks at the MTU strategies' wake-up times (tinc 1.1 probes
every third of a second while discovering)."""


def device_mac_settings(uses_mac_addresses: bool, device: Device) -> tuple[bool, bytes]:
    """``(overwrite_mac, mymac)`` for the router, as tincd's device set-up decides.

    A tap device under a mode that routes on IP headers alone (tinc's router
    mode: ``uses_mac_addresses`` false) carries Ethernet frames the peers never
    addressed (router-mode packets travel with zero MAC addresses), so frames
    written to it get our interface's MAC as destination, and ARP/ND requests
    from it are answered by the router (linux/device.c, release-1.0.36
    l.95-152: overwrite_mac, then SIOCGIFHWADDR into mymac). The device
    plugin exposes the address it read as :attr:`Device.mac`; without one, tincd's
    default stays until the first ARP or ND request shows ours.
    """
    overwrite = not uses_mac_addresses and device.request.layer == "tap"
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


@dataclass(frozen=True)
class Dial:
    """Connect to ``ConnectTo`` peer ``name``.

    ``fresh``: start a round (ask discovery for the candidates and resolve
    them); otherwise go on with the addresses the last round left untried
    (a lost connection re-walks them at once, as tincd does).
    """

    name: str
    fresh: bool


@dataclass(frozen=True)
class HookCall:
    """An event hook the shell fires: ``hook(**kwargs)``."""

    hook: str
    kwargs: dict[str, Any] = field(default_factory=dict)


class DeviceOutbox:
    """What the data path writes to "the device": frames queued for the shell.

    It stands in for the :class:`Device` in the data path, which reads only
    the device's request (its layer) and calls :meth:`write`; ``write`` is
    the list's own ``append``, so queueing a frame costs no more than a call.
    """

    def __init__(self, request: DeviceRequest) -> None:
        self.request = request
        #: frames to write to the device, in order (the shell empties it)
        self.frames: list[bytes] = []
        self.write: Callable[[bytes], None] = self.frames.append


class Node:
    """A tinca node without I/O (see the module docstring).

    ``device`` is the opened device, read for facts only (its layer, its MAC
    address, its traffic counters): the node never reads from or writes to
    it. ``port`` is the port we listen on (tinc's ``myport``, sent in ID and
    ACK); ``random`` the random source for nonces and keys; ``now`` the time
    the node is built at.

    ``send_datagram(payload, address)``, when given, takes every UDP
    datagram at once instead of the queue :meth:`datagrams_to_send` drains.
    The shell gives its ``sendto`` here because the kernel's answer to a
    datagram sent with DF set is an input the data path needs on the spot:
    an ``OSError`` with EMSGSIZE lowers that peer's MTU for the very packet,
    as in tincd (a queue would lose which peer and packet it was).
    """

    def __init__(
        self,
        stack: Stack,
        node_event: NodeEvent,
        device: Device,
        *,
        port: str | None = None,
        random: Callable[[int], bytes] = os.urandom,
        now: float = 0.0,
        send_datagram: Callable[[bytes, tuple[str, int]], None] | None = None,
    ) -> None:
        self.now = now
        self.stack = stack
        self.config = config = stack.config
        self.node_event = node_event
        self.device = device
        self.random = random
        self.myself = config.name or ""
        self.options = own_options(config)
        self.port = port if port is not None else str(config.lookup("Port"))
        self.ping_interval = int(config.lookup("PingInterval"))
        self.ping_timeout = int(config.lookup("PingTimeout"))
        self.max_timeout = int(config.lookup("MaxTimeout"))
        self.key_lifetime = int(config.lookup("KeyExpire"))
        self.key_expires = now + self.key_lifetime
        clock = self.clock
        # CipherSuite, else the plugins' default (tinc 1.1's suite, which falls
        # back to the legacy protocol by itself; tinc 1.0's without it).
        self.suite: CipherSuite = cipher_suite(stack.manager, config).value(
            SuiteContext(config, self.myself, random, clock, self._compression,
                         stack.manager.registry)
        )
        self.graph = Graph(self.myself, self.options)
        self.subnets = SubnetTable(self.graph.reachable)
        self.mode = mode = str(config.lookup("Mode")).lower()
        modes = stack.manager.registry(MODES_HOOK)
        uses_mac = mode_layer(modes.get(mode).value) == "tap"
        overwrite_mac, mymac = device_mac_settings(uses_mac, device)
        self.router = Router(
            self.myself,
            mode,
            self.subnets,
            modes=modes,
            policies=build_policies(stack.manager.registry(POLICIES_HOOK),
                                    config.lookup("PacketPolicy", None) or (),
                                    PolicyContext(config, self.myself)),
            # The variables' Choice types admit only the values Router takes.
            forwarding=cast(Forwarding, str(config.lookup("Forwarding") or "internal").lower()),
            broadcast=cast(BroadcastMode, str(config.lookup("Broadcast") or "mst").lower()),
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
            random=random,
            on_lifecycle=self._lifecycle,
            on_graph=self._graph_changed,
            on_key=self._key_arrived,
            on_subnet_roamed=self.router.roamed,
            host_settings=self._host_settings,
        )
        #: frames for the device (:attr:`device_frames` is its list)
        self.device_outbox = DeviceOutbox(device.request)
        self._datagrams: list[tuple[bytes, tuple[str, int]]] = []
        self.datapath = DataPath(self.protocol, self.router, self.device_outbox,
                                 send_datagram or self._queue_datagram, clock)
        #: the one read-only index over the node's traffic counters
        self.counters = Counters(self.myself, self.protocol.peers, device, self.datapath.dropped)
        #: key, path MTU and UDP/TCP changes, reported once each
        self.path_watch = PathWatch(node_event)
        #: ``ConnectTo`` peers and where each stands in its dial/back-off cycle
        self.outgoing: dict[str, Outgoing] = {}
        # Built once per configuration (reconfigure builds them anew); the
        # shell starts and stops them (their sources may do I/O).
        self.discovery = self._build_discovery(stack)
        #: called when outputs were queued outside an input (a discovery push,
        #: a control command): the shell drains them soon
        self.on_output: Callable[[], None] = lambda: None
        self._dirty: dict[MetaConnection, None] = {}
        self._dials: list[Dial] = []
        self._hooks: list[HookCall] = []
        self._next_tick: float | None = None
        self._next_probe: float | None = None
        self._last_check = now
        self._stopped = False

    # ------------------------------------------------------------------ time

    def clock(self) -> float:
        """The node's time: the ``now`` of the input being handled."""
        return self.now

    # ------------------------------------------------------------------ outputs

    def _queue_datagram(self, payload: bytes, address: tuple[str, int]) -> None:
        self._datagrams.append((payload, address))

    def datagrams_to_send(self) -> list[tuple[bytes, tuple[str, int]]]:
        """UDP payloads queued since the last call, with their destinations."""
        out = self._datagrams
        if out:
            self._datagrams = []
        return out

    @property
    def queued_datagrams(self) -> list[tuple[bytes, tuple[str, int]]]:
        """The datagrams queued and not taken yet (the live list, for tests)."""
        return self._datagrams

    @property
    def device_frames(self) -> list[bytes]:
        """Frames to write to the device, in order; the shell empties the list."""
        return self.device_outbox.frames

    def links_to_flush(self) -> list[MetaConnection]:
        """Connections with queued bytes or closed since the last call, in the
        order they first had something (write ``take_output()``, then close
        the transport of those ``closed``)."""
        if not self._dirty:
            return []
        links = list(self._dirty)
        self._dirty.clear()
        return links

    def dials_to_start(self) -> list[Dial]:
        """Connections to make, in order."""
        dials = self._dials
        if dials:
            self._dials = []
        return dials

    def hook_calls(self) -> list[HookCall]:
        """Event hooks to fire, in the order the events happened."""
        calls = self._hooks
        if calls:
            self._hooks = []
        return calls

    def next_timer(self) -> float | None:
        """When :meth:`handle_timer` is due next (``None`` before :meth:`start`
        and after :meth:`stop`)."""
        if self._next_tick is None or self._next_probe is None:
            return None
        return min(self._next_tick, self._next_probe)

    def _fire(self, hook: str, **kwargs: Any) -> None:
        self._hooks.append(HookCall(hook, kwargs))
        self.on_output()

    def _dial(self, name: str, fresh: bool) -> None:
        self._dials.append(Dial(name, fresh))
        self.on_output()

    # ------------------------------------------------------------------ link owner

    def link_output(self, link: MetaConnection) -> None:
        """A connection queued bytes or closed (see :class:`LinkOwner`)."""
        if link not in self._dirty:
            self._dirty[link] = None
            self.on_output()

    def link_closed(self, link: MetaConnection) -> None:
        """A connection ended; an outgoing one is re-established (terminate_connection)."""
        if link.dial is None or self._stopped:
            return
        outgoing = self.outgoing.get(link.dial)
        if outgoing is None or outgoing.connected:
            return
        if link.upgraded:
            outgoing.timeout = 0
        self._dial(outgoing.name, fresh=False)

    # ------------------------------------------------------------------ set-up

    def _compression(self, level: int) -> CompressionCodec | None:
        if not level:
            return None
        registry = self.stack.manager.registry("tinca_register_compressions")
        try:
            codec: CompressionCodec = registry.get(str(level)).value
        except PluginError as err:
            raise ConfigError(f"Compression = {level}: {err}") from None
        return codec

    def _host_settings(self, name: str) -> dict[str, object]:
        try:
            host = self.config.host(name)
        except ConfigError:
            return {}
        return {"PMTU": host.get("PMTU", None), "ClampMSS": host.get("ClampMSS", None)}

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

    def load_own_subnets(self, now: float) -> None:
        """Our Subnet lines (tinc.conf or hosts/NAME), then subnet-up for each."""
        self.now = now
        texts = list(self.config.server.get_all("Subnet"))
        own = self.config.own_host()
        texts += [t for t in own.get_all("Subnet") if t not in texts]
        for text in texts:
            self.subnets.add(self.myself, Subnet.parse(text))
        for subnet in self.subnets.subnets_of(self.myself):
            self._lifecycle(Lifecycle("subnet-up", self.myself, None, subnet))

    def unload_own_subnets(self, now: float) -> None:
        """subnet-down for our own subnets at shutdown, before tinc-down."""
        self.now = now
        for subnet in self.subnets.subnets_of(self.myself):
            self._lifecycle(Lifecycle("subnet-down", self.myself, None, subnet))

    def start(self, now: float) -> None:
        """Dial every ``ConnectTo`` peer and start the timers."""
        self.now = now
        self._stopped = False
        for name in self.config.server.get_all("ConnectTo"):
            if name != self.myself:
                self._start_outgoing(name)
        self._next_tick = now + TICK
        self._next_probe = now + PROBE_TICK
        self._fire("tinca_metrics_start", counters=self.counters, node=self.node_event)

    def stop(self, now: float) -> None:
        """Close every connection (without DEL_EDGE, as tincd at exit); no
        connection is re-established and no timer runs after this."""
        self.now = now
        self._stopped = True
        self._next_tick = self._next_probe = None
        for outgoing in self.outgoing.values():
            outgoing.connected = True  # no reconnects while shutting down
        for link in list(self.protocol.links):
            link.close(report=False)

    # ------------------------------------------------------------------ UDP and device

    def receive_datagram(self, data: bytes, address: tuple[str, int], now: float) -> None:
        """One UDP datagram from ``address``."""
        self.now = now
        self.datapath.receive_datagram(data, address)

    def receive_datagrams(self, batch: Iterable[tuple[bytes, tuple[str, int]]],
                          now: float) -> None:
        """UDP datagrams read in one go, with their senders."""
        self.now = now
        receive = self.datapath.receive_datagram
        for data, address in batch:
            receive(data, address)

    def receive_device(self, packets: list[bytes], now: float) -> None:
        """A batch of packets read from our device."""
        self.now = now
        self.datapath.from_device(packets)
        if self.router.mode.learns_addresses:
            for subnet in self.router.take_learned():
                self.protocol.broadcast(rq.AddSubnet(self.protocol.nonce(), self.myself, subnet))

    # ------------------------------------------------------------------ meta connections

    def _params(self, outgoing: bool, expected: str | None) -> MetaParams:
        return MetaParams(self.myself, outgoing, expected, self.port, self.options, self.clock)

    def meta_accepted(self, address: tuple[str, str], now: float, *,
                      local_address: tuple[str, str] | None = None,
                      fd: int = -1) -> MetaConnection:
        """Someone connected to us from ``address`` (host, port); the new
        connection has its opening bytes queued."""
        self.now = now
        log.log(CONNECTIONS, "Connection from %s port %s", *address)
        link = MetaConnection(self, self.suite.meta_session(self._params(False, None)), address,
                              local_address=local_address, fd=fd)
        self.protocol.link_added(link)
        link.initiate()
        return link

    def meta_connected(self, name: str, address: tuple[str, str], now: float, *,
                       local_address: tuple[str, str] | None = None,
                       fd: int = -1) -> MetaConnection:
        """A dial to ``name`` reached ``address``; the new connection has
        its opening bytes queued."""
        self.now = now
        link = MetaConnection(self, self.suite.meta_session(self._params(True, name)), address,
                              dial=name, name=name, local_address=local_address, fd=fd)
        self.protocol.link_added(link)
        link.initiate()
        return link

    def receive_meta(self, link: MetaConnection, data: bytes, now: float) -> None:
        """Bytes that came on ``link``'s TCP connection."""
        self.now = now
        link.receive(data)

    def meta_lost(self, link: MetaConnection, now: float) -> None:
        """``link``'s TCP connection ended (closed by the peer, or failed)."""
        self.now = now
        link.lost()

    def meta_failed(self, link: MetaConnection, now: float) -> None:
        """The shell could not use ``link``'s socket: it ends without a word
        to the peer, and a dial goes on with the round's next address."""
        self.now = now
        link.close(report=False)

    def dial_failed(self, name: str, now: float) -> None:
        """Every address of a round to ``name`` failed: back off (retry_outgoing)."""
        self.now = now
        outgoing = self.outgoing.get(name)
        if outgoing is None:
            return
        log.log(CONNECTIONS, "Could not set up a meta connection to %s", name)
        outgoing.failed_round(now, self.max_timeout)
        log.log(CONNECTIONS, "Trying to re-establish outgoing connection in %d seconds",
                outgoing.timeout)

    def _start_outgoing(self, name: str) -> None:
        outgoing = self.outgoing.get(name)
        if outgoing is None:
            outgoing = self.outgoing[name] = Outgoing(name)
        outgoing.connected = False
        # The round runs now; the one-second housekeeping must not start a
        # second one while this one still waits for a slow address.
        outgoing.begin_attempt()
        self._dial(name, fresh=True)

    def _discovered(self, name: str) -> None:
        """A source pushed addresses for ``name``: a connection waiting out its
        back-off tries them now rather than when the delay is over."""
        outgoing = self.outgoing.get(name)
        if outgoing is None or not outgoing.waiting() or self._stopped:
            return
        log.log(CONNECTIONS, "New addresses for %s, retrying now", name)
        outgoing.begin_attempt()
        self._dial(name, fresh=True)

    def retry(self, now: float) -> None:
        """SIGALRM: retry outgoing connections now and ping every peer."""
        self.now = now
        for outgoing in self.outgoing.values():
            outgoing.retry_now(now)
        for link in self.protocol.active_links():
            self.protocol.send_ping(link)

    # ------------------------------------------------------------------ timers

    def handle_timer(self, now: float) -> None:
        """Run the timers that are due at ``now``."""
        self.now = now
        if self._next_tick is not None and self._next_tick <= now:
            try:
                self._housekeeping(now)
            except TincaError as err:  # never let a bad peer stop the timer
                log.error("%s", err)
            self._next_tick = now + TICK
        if self._next_probe is not None and self._next_probe <= now:
            try:
                self._run_probes(now)
            except TincaError as err:  # never let a bad peer stop the timer
                log.error("%s", err)
            self._next_probe = now + PROBE_TICK

    def _housekeeping(self, now: float) -> None:
        # Outgoing connections whose back-off has passed.
        active = {link.name for link in self.protocol.links if not link.closed}
        for outgoing in self.outgoing.values():
            if outgoing.name in active or outgoing.next_attempt > now:
                continue
            outgoing.begin_attempt()  # no other until this one finishes
            self._dial(outgoing.name, fresh=True)
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

    def _check_links(self, now: float) -> None:
        """tincd's check_dead_connections."""
        for link in list(self.protocol.links):
            if not isinstance(link, MetaConnection) or link.closed:
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
            self._fire(hook, event=path_event)

    # ------------------------------------------------------------------ SIGHUP

    def reconfigure(self, stack: Stack, now: float) -> None:
        """Use a re-read configuration: new ConnectTo peers are dialled, and
        connections to peers no longer listed stop being re-established;
        connections that are unaffected stay up.

        The discovery sources are built anew: the shell stops the old ones
        (the :attr:`discovery` before this call) and starts the new ones.
        """
        self.now = now
        self.stack = stack
        self.config = stack.config
        # Host files may have changed (keys, addresses): read them anew.
        self.suite.reconfigure(stack.config)
        self.discovery = self._build_discovery(stack)
        wanted = {n for n in stack.config.server.get_all("ConnectTo") if n != self.myself}
        for name in wanted - set(self.outgoing):
            self._start_outgoing(name)
        for name in set(self.outgoing) - wanted:
            outgoing = self.outgoing.pop(name)
            outgoing.connected = True  # stop re-establishing it

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
            self._fire(hook, event=HostEvent(self.node_event, event.node, host, port))
        else:
            assert event.subnet is not None
            hook = "tinca_subnet_up" if event.kind == "subnet-up" else "tinca_subnet_down"
            subnet = event.subnet
            self._fire(hook, event=SubnetEvent(self.node_event, event.node, subnet.format(),
                                               subnet.weight, host, port))

    def _graph_changed(self, update: GraphUpdate) -> None:
        self.router.apply(update)
        for name, route in update.routes.items():
            peer = self.protocol.peers.get(name)
            if peer is None:
                continue
            if route.reachable:
                self.datapath.remember_address(peer)
            elif peer.udp_address:
                self.datapath.by_address.pop(peer.udp_address, None)
        for link in self.protocol.links:
            link.mst = (link.name or "") in update.mst_peers

    def _key_arrived(self, peer: Peer) -> None:
        path = peer.path
        assert path is not None  # the protocol gives every peer one
        hook, key_event = self.path_watch.key_arrived(peer.name, path.rekeys_itself)
        self._fire(hook, event=key_event)
        self.datapath.remember_address(peer)
        strategy = peer.mtu_strategy
        if strategy is None:
            strategy = peer.mtu_strategy = self._mtu_strategy(peer)
        if path.probing_starts():
            strategy.start(self.now)

    def _mtu_strategy(self, peer: Peer) -> MTUStrategy:
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
        strategy: MTUStrategy = factory(settings)
        return strategy

    def _peer_mtu(self, name: str) -> int:
        peer = self.protocol.peers.get(name)
        if peer is None or peer.mtu_strategy is None:
            return peer.mtu if peer is not None else 1518
        return peer.mtu_strategy.node_mtu
