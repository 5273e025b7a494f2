"""The node's I/O shell: sockets, the device, one timer, and the sans-IO node.

:class:`NodeRuntime` moves bytes between the event loop and a
:class:`~tinca.core.node.node.Node`, which makes every decision: it reads
UDP datagrams and device packets in batches, accepts and makes TCP meta
connections (an asyncio protocol per connection, :class:`MetaTransport`,
hands its bytes to the node's sans-IO link), resolves and tries the
addresses of the dials the node asks for, arms one timer at
:meth:`Node.next_timer`, and after every input drains what the node wants
sent, written, closed, dialled and fired.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import socket
import time
from collections.abc import Callable, Coroutine
from typing import Any, Protocol, cast

from tinca.core.config.model import Configuration
from tinca.core.device import Device
from tinca.core.errors import TincaError
from tinca.core.listeners import Listener
from tinca.core.logs import DEBUG_CONNECTIONS, level_for
from tinca.core.meta import requests as rq
from tinca.core.node.link import MetaConnection
from tinca.core.node.node import Dial, Node
from tinca.core.stack import Stack

log = logging.getLogger("tinca")
CONNECTIONS = level_for(DEBUG_CONNECTIONS)

UDP_BATCH = 64
"""Datagrams (and device packets) taken per loop wake-up."""

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
    def size(name: str) -> int | None:
        if name not in config.server:
            return default
        value = config.lookup(name, None)
        return None if value is None else int(value)

    return size("UDPRcvBuf"), size("UDPSndBuf")


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



class UdpSender:
    """Sends a datagram on the listening UDP socket of its address family."""

    def __init__(self, listeners: list[Listener]) -> None:
        # One UDP socket per address family sends everything; looked up once
        # here because socket.family builds an enum on every access.
        by_family: dict[int, Callable[[bytes, tuple[str, int]], int]] = {}
        for listener in listeners:
            by_family.setdefault(int(listener.udp.family), listener.udp.sendto)
        self._sendto4 = by_family.get(int(socket.AF_INET))
        self._sendto6 = by_family.get(int(socket.AF_INET6))

    def send(self, payload: bytes, address: tuple[str, int]) -> None:
        """Send ``payload`` to ``address``; a full kernel buffer drops it, as
        tincd does. Other errors (EMSGSIZE) go to the caller."""
        sendto = self._sendto6 if ":" in address[0] else self._sendto4
        if sendto is None:
            return
        try:
            sendto(payload, address)
        except BlockingIOError:
            pass


class MetaWriter(Protocol):
    """What the shell uses of a meta connection's transport."""

    def write(self, data: bytes) -> None:
        """Queue ``data`` for the peer."""
        ...

    def close(self) -> None:
        """Close once what is queued went out."""
        ...


class MetaTransport(asyncio.Protocol):
    """The asyncio side of one meta connection: bytes to and from its node link."""

    def __init__(self, shell: NodeRuntime, link: MetaConnection) -> None:
        self.shell = shell
        self.link = link

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        """Write what the link queued (its opening bytes, at least)."""
        self.shell.attached(self.link, transport)

    def data_received(self, data: bytes) -> None:
        """Hand the bytes to the node."""
        shell = self.shell
        shell.node.receive_meta(self.link, data, shell.clock())
        shell.flush()

    def connection_lost(self, exc: Exception | None) -> None:
        """The peer closed or the socket failed."""
        shell = self.shell
        shell.transports.pop(self.link, None)
        shell.node.meta_lost(self.link, shell.clock())
        shell.flush()


class NodeRuntime:
    """A :class:`Node` on an asyncio loop, with its sockets and device.

    ``fire(hook, **kwargs)`` runs an event hook (the daemon queues it);
    ``clock`` is the monotonic clock whose readings the node gets as ``now``.
    """

    def __init__(
        self,
        node: Node,
        device: Device,
        listeners: list[Listener],
        fire: Callable[..., None],
        clock: Callable[[], float] = time.monotonic,
        sender: UdpSender | None = None,
    ) -> None:
        self.node = node
        self.device = device
        self.listeners = listeners
        self.fire = fire
        self.clock = clock
        #: the transport of every attached meta connection
        self.transports: dict[MetaConnection, MetaWriter] = {}
        #: per dialled peer, the resolved addresses its round has not tried yet
        self.pending: dict[str, list[tuple[Any, ...]]] = {}
        self.tasks: set[asyncio.Task[None]] = set()
        self.loop: asyncio.AbstractEventLoop | None = None
        #: called when the node cannot go on (the daemon stops)
        self.on_fatal: Callable[[], None] | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._timer_at: float | None = None
        self._flush_soon = False
        #: sends what the node queued (a node built by :meth:`build` sends
        #: through it directly)
        self.sender = sender if sender is not None else UdpSender(listeners)
        node.on_output = self._output_queued

    @classmethod
    def build(
        cls,
        stack: Stack,
        node_event: Any,
        device: Device,
        listeners: list[Listener],
        fire: Callable[..., None],
        clock: Callable[[], float] = time.monotonic,
    ) -> NodeRuntime:
        """A :class:`Node` for ``stack`` with the facts our sockets and
        device give, in a shell around them."""
        port = str(listeners[0].address[1]) if listeners else None
        sender = UdpSender(listeners)
        node = Node(stack, node_event, device, port=port, now=clock(), send_datagram=sender.send)
        return cls(node, device, listeners, fire, clock, sender)

    # ------------------------------------------------------------------ outputs

    def _output_queued(self) -> None:
        """The node queued outputs outside an input of ours: drain them soon."""
        if self._flush_soon or self.loop is None or self.loop.is_closed():
            return
        self._flush_soon = True
        self.loop.call_soon(self.flush)

    def flush(self) -> None:
        """Carry out everything the node queued, and re-arm the timer."""
        self._flush_soon = False
        node = self.node
        datagrams = node.datagrams_to_send()
        if datagrams:
            send = self.sender.send
            for payload, address in datagrams:
                with contextlib.suppress(OSError):  # too late to tell the data path
                    send(payload, address)
        frames = node.device_frames
        if frames:
            write = self.device.write
            for frame in frames:
                write(frame)
            frames.clear()
        for link in node.links_to_flush():
            transport = self.transports.get(link)
            if transport is not None:  # else written once attached
                self._drain(link, transport)
        for dial in node.dials_to_start():
            if self.loop is not None and not self.loop.is_closed():
                self._spawn(self._connect(dial))
        for call in node.hook_calls():
            self.fire(call.hook, **call.kwargs)
        when = node.next_timer()
        if when != self._timer_at:
            self._arm(when)

    def _drain(self, link: MetaConnection, transport: MetaWriter) -> None:
        data = link.take_output()
        if data:
            transport.write(data)
        if link.closed:
            self.transports.pop(link, None)
            transport.close()

    def attached(self, link: MetaConnection, transport: asyncio.BaseTransport) -> None:
        """``link`` has its transport: write what it queued meanwhile."""
        if link.closed:
            transport.close()
            return
        # uvloop's transports are not asyncio.Transport subclasses; what the
        # shell needs of one is declared by MetaWriter.
        writer = cast(MetaWriter, transport)
        self.transports[link] = writer
        self._drain(link, writer)

    # ------------------------------------------------------------------ the timer

    def _arm(self, when: float | None) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._timer_at = when
        if when is not None and self.loop is not None:
            self._timer = self.loop.call_later(max(0.0, when - self.clock()), self._on_timer)

    def _on_timer(self) -> None:
        self._timer = None
        self._timer_at = None
        self.node.handle_timer(self.clock())
        self.flush()

    # ------------------------------------------------------------------ life

    def load_own_subnets(self) -> None:
        """Our own subnets into the table, subnet-up for each."""
        self.node.load_own_subnets(self.clock())
        self.flush()

    def unload_own_subnets(self) -> None:
        """subnet-down for our own subnets at shutdown, before tinc-down."""
        self.node.unload_own_subnets(self.clock())
        self.flush()

    def start(self, loop: asyncio.AbstractEventLoop) -> None:
        """Start accepting, reading and connecting."""
        self.loop = loop
        node = self.node
        for listener in self.listeners:
            try:
                configure_udp(listener.udp, node.options)
            except OSError as err:
                log.warning("Could not set up path MTU discovery on UDP socket: %s", err)
            default = node.protocol.paths.udp_buffer_size
            try:
                set_udp_buffers(listener.udp, *udp_buffer_sizes(node.config, default))
            except OSError as err:
                log.warning("Could not set UDP socket buffer sizes: %s", err)
            loop.add_reader(listener.tcp.fileno(), self._accept, listener.tcp)
            loop.add_reader(listener.udp.fileno(), self._read_udp, listener.udp)
        device_fd = self.device.fileno()
        if device_fd is not None:
            loop.add_reader(device_fd, self._read_device)
        node.discovery.start()
        node.start(self.clock())
        self.flush()

    def stop(self) -> None:
        """Close every connection (without DEL_EDGE, as tincd at exit)."""
        loop = self.loop
        if loop is None:
            return
        self.node.stop(self.clock())
        for task in list(self.tasks):
            task.cancel()
        self.node.discovery.stop()
        for listener in self.listeners:
            loop.remove_reader(listener.tcp.fileno())
            loop.remove_reader(listener.udp.fileno())
        device_fd = self.device.fileno()
        if device_fd is not None:
            loop.remove_reader(device_fd)
        self.flush()
        self.loop = None  # nothing is dialled or armed from here on
        self._arm(None)

    def reconfigure(self, stack: Stack) -> None:
        """SIGHUP: the node takes the new configuration; its discovery
        sources are replaced (see :meth:`Node.reconfigure`)."""
        old = self.node.discovery
        old.stop()
        self.node.reconfigure(stack, self.clock())
        if self.loop is not None:
            self.node.discovery.start()
        self.flush()

    def retry(self) -> None:
        """SIGALRM: retry outgoing connections now and ping every peer."""
        self.node.retry(self.clock())
        self.flush()

    # ------------------------------------------------------------------ UDP and device

    def _read_udp(self, udp: socket.socket) -> None:
        batch: list[tuple[bytes, tuple[str, int]]] = []
        recvfrom = udp.recvfrom
        for _ in range(UDP_BATCH):
            try:
                data, address = recvfrom(2048)
            except (BlockingIOError, InterruptedError):
                break
            except OSError as err:
                log.debug("Receiving packet failed: %s", err)
                break
            batch.append((data, (address[0], address[1])))
        if batch:
            self.node.receive_datagrams(batch, self.clock())
            self.flush()

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
            self.node.receive_device(packets, self.clock())
            self.flush()

    # ------------------------------------------------------------------ meta connections

    def _accept(self, server: socket.socket) -> None:
        try:
            sock, peer = server.accept()
        except (BlockingIOError, InterruptedError):
            return
        except OSError as err:
            log.error("Accepting a new connection failed: %s", err)
            return
        link = self.node.meta_accepted((peer[0], str(peer[1])), self.clock(),
                                       local_address=_sockname(sock), fd=sock.fileno())
        self._spawn(self._attach(link, sock))

    async def _attach(self, link: MetaConnection, sock: socket.socket) -> None:
        assert self.loop is not None
        sock.setblocking(False)
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        try:
            await self.loop.connect_accepted_socket(lambda: MetaTransport(self, link), sock)
        except OSError as err:
            log.error("Could not attach connection from %s: %s", link.hostname, err)
            sock.close()
            self.node.meta_failed(link, self.clock())
            self.flush()

    def _spawn(self, coroutine: Coroutine[Any, Any, None]) -> None:
        assert self.loop is not None
        task = self.loop.create_task(coroutine)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    def _bind_address(self, family: int) -> tuple[Any, ...] | None:
        """tincd binds outgoing sockets to its listening address when it has
        exactly one of that family (do_outgoing_connection)."""
        same = [each for each in self.listeners if each.tcp.family == family]
        if len(same) != 1:
            return None
        address = same[0].tcp.getsockname()
        return (address[0], 0, *address[2:])

    async def _resolve(self, name: str) -> list[tuple[Any, ...]]:
        """A round's addresses: every address of every candidate, in order."""
        assert self.loop is not None
        found: list[tuple[Any, ...]] = []
        candidates = await self.node.discovery.candidates(name)
        if not candidates:
            log.error("No address specified for %s", name)
        for candidate in candidates:
            try:
                infos = await self.loop.getaddrinfo(
                    candidate.host, candidate.port, type=socket.SOCK_STREAM
                )
            except (OSError, UnicodeError) as err:
                log.log(CONNECTIONS, "Could not resolve %s: %s", candidate.host, err)
                continue
            found.extend(infos)
        return found

    async def _connect(self, dial: Dial) -> None:
        """Try the round's next addresses; when none is left, tell the node.

        A lost connection continues the round where it left off (the node
        asks for a dial that is not ``fresh``), so, as in tincd, a peer that
        keeps dropping us is retried with growing delays.
        """
        assert self.loop is not None
        name = dial.name
        if dial.fresh:
            self.pending[name] = await self._resolve(name)
        pending = self.pending.setdefault(name, [])
        while pending:
            family, kind, proto, _, address = pending.pop(0)
            host, port = address[0], str(address[1])
            log.log(CONNECTIONS, "Trying to connect to %s (%s port %s)", name, host, port)
            sock = socket.socket(family, kind, proto)
            sock.setblocking(False)
            try:
                bind = self._bind_address(family)
                if bind is not None:
                    sock.bind(bind)
                await asyncio.wait_for(
                    self.loop.sock_connect(sock, address), timeout=self.node.ping_timeout
                )
            except (OSError, TimeoutError) as err:
                sock.close()
                log.log(CONNECTIONS, "%s port %s: %s", host, port, err or "timed out")
                continue
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            link = self.node.meta_connected(name, (host, port), self.clock(),
                                            local_address=_sockname(sock), fd=sock.fileno())
            try:
                await self.loop.create_connection(functools.partial(MetaTransport, self, link),
                                                  sock=sock)
            except OSError as err:
                log.log(CONNECTIONS, "Could not use connection to %s: %s", name, err)
                sock.close()
                # The node goes on with the round's next address.
                self.node.meta_failed(link, self.clock())
                self.flush()
            return
        self.node.dial_failed(name, self.clock())
        self.flush()


def _sockname(sock: socket.socket) -> tuple[str, str] | None:
    try:
        name = sock.getsockname()
    except OSError:
        return None
    return (str(name[0]), str(name[1])) if name else None
