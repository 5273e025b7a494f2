"""tinc 1.1's control socket, daemon side: ``tinc dump nodes`` and friends.

tinc 1.1's daemon listens on a UNIX socket beside its pidfile (the pidfile's
name with ``.socket`` for ``.pid``) and its ``tinc`` command line talks to it
in the meta protocol's line format (src/control.c, src/tincctl.c). tinca's
daemon speaks the same protocol, so ``tinca`` and a real tinc 1.1 ``tinc``
can both control it:

1. The client reads the pidfile (``PID COOKIE HOST port PORT``, see
   :mod:`tinca.core.pidfile`), connects and sends ``0 ^COOKIE 0`` (an ID
   request whose name is ``^`` and the cookie).
2. The daemon answers with its own ID, ``0 NAME 17.7``, and an ACK carrying
   the control protocol version and its pid, ``4 0 PID``
   (protocol_auth.c, ``id_h``). A wrong cookie ends the connection.
3. Each request is ``18 TYPE [ARGS]`` (18 is ``CONTROL``; the types are
   :class:`ControlRequest`). Commands answer ``18 TYPE RESULT`` (0 is
   success); dumps answer one ``18 TYPE FIELDS...`` line per item and end
   with a bare ``18 TYPE``; unknown types get ``18 -1``.
4. ``18 15 LEVEL COLOR`` turns the connection into a log stream: every log
   record at or below LEVEL (``-1``: the daemon's level) arrives as
   ``18 15 LENGTH`` followed by LENGTH bytes of text, without a newline
   (logger.c, ``real_logger``).

The dump lines carry exactly the fields tinc 1.1 prints (node.c ``dump_nodes``,
edge.c ``dump_edges``, subnet.c ``dump_subnets``, connection.c
``dump_connections``, node.c ``dump_traffic``), built here from what a
:class:`~tinca.core.node.shell.NodeRuntime` knows. Where tinca keeps no
exact equivalent of a tinc field, the closest fact is used; see
:func:`node_status` and :func:`dump_nodes`.

:class:`ControlSession` is the protocol without I/O (bytes in, bytes out);
:class:`ControlServer` is the asyncio shell the daemon starts, and
:class:`ControlLogHandler` forwards log records to ``tinca log`` clients.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import logging
import os
import socket
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from enum import IntEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from tinca.core.errors import TincaError
from tinca.core.logs import DEBUG_PROTOCOL, DEBUG_SCARY_THINGS, NOTICE, level_for
from tinca.core.meta import requests as rq
from tinca.core.mtu import MTU
from tinca.core.node.protocol import REQ_KEY_INTERVAL

if TYPE_CHECKING:
    from tinca.core.node.shell import NodeRuntime

log = logging.getLogger("tinca")

# ---------------------------------------------------------------------------
# wire constants

#: the request numbers a control connection uses (src/protocol.h ``request_t``)
ID = int(rq.RequestType.ID)
ACK = int(rq.RequestType.ACK)
CONTROL = int(rq.RequestType.CONTROL)
#: ``TINC_CTL_VERSION_CURRENT`` (src/control_common.h): the ACK's version
CONTROL_VERSION = 0
#: the ID minor version tinc 1.1 greets control clients with (17.7)
GREETING_MINOR = rq.PROT_MINOR_11
#: tinc's ``DEBUG_UNSET``: "stream logs at the daemon's own level"
DEBUG_UNSET = -1
#: reload failed: tinc 1.1 returns ``EINVAL`` from reload_configuration
RELOAD_FAILED = 22
#: a control line longer than this ends the connection (tinc: "Input buffer full")
MAX_LINE = 4096
#: tinc formats a log line into 1024 bytes (logger.c ``pretty``), and
#: tincctl refuses records longer than that: the text is cut to fit
MAX_LOG_TEXT = 1023
#: bytes of the control cookie before hex encoding (control.c: 64 hex digits)
COOKIE_BYTES = 32
#: bytes of SHA-512(name) that make a node's id (node.c ``node_add``)
NODE_ID_BYTES = 6
#: seconds a control client has to present its cookie; tinc times out
#: connections still authenticating after PingTimeout (5 s by default)
AUTH_TIMEOUT = 5.0
#: a log client that lets this much pile up unread loses records until it
#: catches up, so a stalled ``tinca log`` cannot eat the daemon's memory
MAX_LOG_BACKLOG = 4 * 1024 * 1024


class ControlRequest(IntEnum):
    """Control request types: ``enum request_type`` in src/control_common.h."""

    INVALID = -1
    STOP = 0
    RELOAD = 1
    RESTART = 2
    DUMP_NODES = 3
    DUMP_EDGES = 4
    DUMP_SUBNETS = 5
    DUMP_CONNECTIONS = 6
    DUMP_GRAPH = 7
    PURGE = 8
    SET_DEBUG = 9
    RETRY = 10
    CONNECT = 11
    DISCONNECT = 12
    DUMP_TRAFFIC = 13
    PCAP = 14
    LOG = 15


# Node status bits: the positions of ``node_status_t`` in src/node.h (1.1).
NODE_VALIDKEY = 1 << 1
NODE_WAITINGFORKEY = 1 << 2
NODE_VISITED = 1 << 3
NODE_REACHABLE = 1 << 4
NODE_INDIRECT = 1 << 5
NODE_SPTPS = 1 << 6
NODE_UDP_CONFIRMED = 1 << 7
NODE_SEND_LOCALLY = 1 << 8
NODE_UDPPACKET = 1 << 9
NODE_VALIDKEY_IN = 1 << 10
NODE_HAS_ADDRESS = 1 << 11
NODE_PING_SENT = 1 << 12

# Connection status bits: ``connection_status_t`` in src/connection.h (1.1).
CONNECTION_PINGED = 1 << 0
CONNECTION_CONNECTING = 1 << 2
CONNECTION_ENCRYPTOUT = 1 << 6
CONNECTION_DECRYPTIN = 1 << 7
CONNECTION_MST = 1 << 8
CONNECTION_CONTROL = 1 << 9
CONNECTION_PCAP = 1 << 10
CONNECTION_LOG = 1 << 11
CONNECTION_LOG_COLOR = 1 << 12


class ControlError(TincaError):
    """A control line that does not have the fields its type needs."""


# ---------------------------------------------------------------------------
# small helpers


def make_cookie(random: Callable[[int], bytes] = os.urandom) -> str:
    """A fresh control cookie: 64 lower-case hex digits (control.c ``init_control``)."""
    return random(COOKIE_BYTES).hex()


def node_id(name: str) -> str:
    """tinc 1.1's node id as ``dump nodes`` prints it: 12 hex digits of SHA-512(name)."""
    return hashlib.sha512(name.encode("latin-1", "replace")).digest()[:NODE_ID_BYTES].hex()


def c_int(text: str) -> int:
    """A decimal number as ``%d`` reads a whole word; :class:`ControlError` if not."""
    body = text[1:] if text[:1] in "+-" else text
    if not body.isascii() or not body.isdigit():
        raise ControlError(f"{text!r} is not a number")
    return int(text)


def c_hex(text: str) -> int:
    """A hexadecimal number as ``%x`` reads a whole word."""
    body = text[1:] if text[:1] in "+-" else text
    if body[:2].lower() == "0x":
        body = body[2:]
    if not body or any(c not in "0123456789abcdefABCDEF" for c in body):
        raise ControlError(f"{text!r} is not a hexadecimal number")
    return int(text, 16)


def request_numbers(line: str) -> tuple[int, int] | None:
    """``(code, type)`` of a reply line, or ``None`` when it has no two numbers."""
    words = line.split()
    try:
        return c_int(words[0]), c_int(words[1])
    except (IndexError, ControlError):
        return None


def is_end_of_dump(line: str, rtype: int) -> bool:
    """Whether ``line`` is the bare ``18 TYPE`` that ends a dump of ``rtype``."""
    words = line.split()
    return len(words) == 2 and request_numbers(line) == (CONTROL, rtype)


def end_of_dump(rtype: ControlRequest) -> str:
    """The line that ends a dump."""
    return f"{CONTROL} {int(rtype)}"


def _expect(line: str, rtype: ControlRequest, count: int) -> list[str]:
    """The words of a dump line after ``18 TYPE``; exactly ``count`` of them."""
    words = line.split()
    if request_numbers(line) != (CONTROL, int(rtype)) or len(words) != count + 2:
        raise ControlError(f"unexpected {rtype.name} line: {line!r}")
    return words[2:]


def _port_literal(word: str, line: str) -> None:
    if word != "port":
        raise ControlError(f"expected 'port' in {line!r}")


# ---------------------------------------------------------------------------
# dump records: one per line, parsed and printed the same way on both sides


@dataclass(frozen=True)
class NodeRecord:
    """One ``dump nodes`` line: the fields of node.c ``dump_nodes``, in order."""

    name: str
    id: str
    host: str
    port: str
    cipher: int
    digest: int
    maclength: int
    compression: int
    options: int
    status: int
    nexthop: str
    via: str
    distance: int
    pmtu: int
    minmtu: int
    maxmtu: int
    last_state_change: int
    udp_ping_rtt: int
    in_packets: int
    in_bytes: int
    out_packets: int
    out_bytes: int

    def reply(self) -> str:
        """The daemon's line for this node."""
        return (
            f"{CONTROL} {int(ControlRequest.DUMP_NODES)} {self.name} {self.id} "
            f"{self.host} port {self.port} {self.cipher} {self.digest} {self.maclength} "
            f"{self.compression} {self.options:x} {self.status:x} {self.nexthop} {self.via} "
            f"{self.distance} {self.pmtu} {self.minmtu} {self.maxmtu} "
            f"{self.last_state_change} {self.udp_ping_rtt} {self.in_packets} {self.in_bytes} "
            f"{self.out_packets} {self.out_bytes}"
        )

    @classmethod
    def parse(cls, line: str) -> NodeRecord:
        """Read a ``dump nodes`` line as tincctl's sscanf does; :class:`ControlError` if bad."""
        w = _expect(line, ControlRequest.DUMP_NODES, 23)
        _port_literal(w[3], line)
        ints = [c_int(x) for x in w[5:9]]
        return cls(
            w[0], w[1], w[2], w[4], *ints, c_hex(w[9]), c_hex(w[10]), w[11], w[12],
            *(c_int(x) for x in w[13:23]),
        )


@dataclass(frozen=True)
class EdgeRecord:
    """One ``dump edges`` line (edge.c ``dump_edges``)."""

    from_: str
    to: str
    host: str
    port: str
    local_host: str
    local_port: str
    options: int
    weight: int

    def reply(self) -> str:
        """The daemon's line for this edge."""
        return (
            f"{CONTROL} {int(ControlRequest.DUMP_EDGES)} {self.from_} {self.to} "
            f"{self.host} port {self.port} {self.local_host} port {self.local_port} "
            f"{self.options:x} {self.weight}"
        )

    @classmethod
    def parse(cls, line: str) -> EdgeRecord:
        """Read a ``dump edges`` line; :class:`ControlError` if bad."""
        w = _expect(line, ControlRequest.DUMP_EDGES, 10)
        _port_literal(w[3], line)
        _port_literal(w[6], line)
        return cls(w[0], w[1], w[2], w[4], w[5], w[7], c_hex(w[8]), c_int(w[9]))


@dataclass(frozen=True)
class SubnetRecord:
    """One ``dump subnets`` line (subnet.c ``dump_subnets``): tinc 1.1's text and owner."""

    subnet: str
    owner: str

    def reply(self) -> str:
        """The daemon's line for this subnet."""
        return f"{CONTROL} {int(ControlRequest.DUMP_SUBNETS)} {self.subnet} {self.owner}"

    @classmethod
    def parse(cls, line: str) -> SubnetRecord:
        """Read a ``dump subnets`` line; :class:`ControlError` if bad."""
        w = _expect(line, ControlRequest.DUMP_SUBNETS, 2)
        return cls(w[0], w[1])


@dataclass(frozen=True)
class ConnectionRecord:
    """One ``dump connections`` line (connection.c ``dump_connections``)."""

    name: str
    host: str
    port: str
    options: int
    socket: int
    status: int

    def reply(self) -> str:
        """The daemon's line for this connection."""
        return (
            f"{CONTROL} {int(ControlRequest.DUMP_CONNECTIONS)} {self.name} {self.host} "
            f"port {self.port} {self.options:x} {self.socket} {self.status:x}"
        )

    @classmethod
    def parse(cls, line: str) -> ConnectionRecord:
        """Read a ``dump connections`` line; :class:`ControlError` if bad."""
        w = _expect(line, ControlRequest.DUMP_CONNECTIONS, 7)
        _port_literal(w[2], line)
        return cls(w[0], w[1], w[3], c_hex(w[4]), c_int(w[5]), c_hex(w[6]))


@dataclass(frozen=True)
class TrafficRecord:
    """One ``REQ_DUMP_TRAFFIC`` line (node.c ``dump_traffic``), what ``tinc top`` reads."""

    name: str
    in_packets: int
    in_bytes: int
    out_packets: int
    out_bytes: int

    def reply(self) -> str:
        """The daemon's line for this node's counters."""
        return (
            f"{CONTROL} {int(ControlRequest.DUMP_TRAFFIC)} {self.name} {self.in_packets} "
            f"{self.in_bytes} {self.out_packets} {self.out_bytes}"
        )


# ---------------------------------------------------------------------------
# dumps from a running node


def _hostname(address: tuple[Any, Any] | None, unknown: str = "unknown") -> tuple[str, str]:
    """``(host, port)`` as tinc's sockaddr2hostname prints an address."""
    if address is None:
        return unknown, unknown
    return str(address[0]), str(address[1])


def _strategy_int(strategy: object, attribute: str, default: int) -> int:
    value = getattr(strategy, attribute, None)
    return value if isinstance(value, int) else default


def node_status(runtime: NodeRuntime, name: str) -> int:
    """tinc 1.1's ``node_status_t`` bits for ``name``, from what tinca knows.

    Exact: ``reachable`` and ``visited`` (equal after every graph run),
    ``indirect`` (the graph's route; unreachable nodes show it, as tinc's
    shortest-path run sets it on every node it does not reach), ``validkey``
    (we hold the node's packet key) and ``validkey_in`` (it holds ours).
    Approximated: ``waitingforkey`` is "no key and a REQ_KEY went out in the
    last 10 s"; ``udp_confirmed`` is the MTU strategy's own flag, or for
    strategies without one "a UDP probe came back" (tinc 1.0 confirms an
    address the same way); ``has_address`` is "the host file has Address
    lines". Never set: ``sptps`` (tinca's meta and packet protocol is tinc
    1.0's), ``send_locally``, ``udppacket``, ``ping_sent``.
    """
    if name == runtime.myself:
        return NODE_VISITED | NODE_REACHABLE
    peer = runtime.protocol.peers.get(name)
    route = runtime.graph.route(name)
    status = 0
    if route.reachable:
        status |= NODE_VISITED | NODE_REACHABLE
        if route.indirect:
            status |= NODE_INDIRECT
    else:
        status |= NODE_INDIRECT
    if peer is None:
        return status
    if peer.sealer is not None:
        status |= NODE_VALIDKEY
    elif runtime.clock() - peer.last_req_key < REQ_KEY_INTERVAL:
        status |= NODE_WAITINGFORKEY
    if peer.opener is not None:
        status |= NODE_VALIDKEY_IN
    strategy = peer.mtu_strategy
    confirmed = getattr(strategy, "udp_confirmed", None)
    if confirmed is None:
        confirmed = _strategy_int(strategy, "minmtu", peer.minmtu) > 0
    if confirmed and route.reachable:
        status |= NODE_UDP_CONFIRMED
    try:
        if runtime.config.host(name).get_all("Address"):
            status |= NODE_HAS_ADDRESS
    except TincaError:
        pass
    return status


def _key_fields(sealer: object) -> tuple[int, int, int, int]:
    """Cipher NID, digest NID, MAC length and compression of a packet key."""
    fields = getattr(getattr(sealer, "params", None), "ans_key_fields", None)
    if callable(fields):
        values = fields()
        if isinstance(values, tuple) and len(values) == 4:
            return values
    return 0, 0, 0, 0


def dump_nodes(
    runtime: NodeRuntime, state_changes: Mapping[str, float] | None = None
) -> list[NodeRecord]:
    """Every known node in name order, as tinc 1.1's ``dump_nodes`` lists them.

    Our own node is ``MYSELF port PORT``; a node without a known UDP address is
    ``unknown port unknown``. ``cipher``/``digest``/``maclength``/
    ``compression`` describe the key we send with (0 without one).
    ``state_changes`` maps names to the wall-clock time they last became
    reachable or unreachable. tinca counts packets per peer but not bytes, so
    the byte counters are 0; packets relayed or sent over TCP are not counted.
    """
    changes = state_changes or {}
    myself = runtime.myself
    peers = runtime.protocol.peers
    names = sorted(set(runtime.graph.nodes()) | set(peers) | {myself})
    records = []
    for name in names:
        if name == myself:
            records.append(NodeRecord(
                name, node_id(name), "MYSELF", str(runtime.port), 0, 0, 0, 0,
                runtime.options, node_status(runtime, name), name, name, 0,
                MTU, 0, MTU, int(changes.get(name, 0)), -1, 0, 0, 0, 0,
            ))
            continue
        peer = peers.get(name)
        route = runtime.graph.route(name)
        if peer is None:
            records.append(NodeRecord(
                name, node_id(name), "unknown", "unknown", 0, 0, 0, 0, 0,
                node_status(runtime, name), "-", "-", -1, MTU, 0, MTU,
                int(changes.get(name, 0)), -1, 0, 0, 0, 0,
            ))
            continue
        host, port = _hostname(peer.udp_address)
        cipher, digest, maclength, compression = _key_fields(peer.sealer)
        strategy = peer.mtu_strategy
        if strategy is not None:
            pmtu = strategy.node_mtu
            minmtu = _strategy_int(strategy, "minmtu", strategy.udp_limit or 0)
            maxmtu = _strategy_int(strategy, "maxmtu", peer.maxmtu)
            rtt = getattr(strategy, "rtt", None)
        else:
            pmtu, minmtu, maxmtu, rtt = peer.mtu, peer.minmtu, peer.maxmtu, None
        records.append(NodeRecord(
            name, node_id(name), host, port, cipher, digest, maclength, compression,
            peer.options, node_status(runtime, name), peer.nexthop or "-", peer.via or "-",
            route.distance if route.distance is not None else -1, pmtu, minmtu, maxmtu,
            int(changes.get(name, 0)),
            int(rtt * 1_000_000) if isinstance(rtt, int | float) else -1,
            peer.stats.get("in", 0), 0, peer.stats.get("out", 0), 0,
        ))
    return records


def _local_address(runtime: NodeRuntime, peer_name: str) -> tuple[str, str] | None:
    """Where our end of the meta connection to ``peer_name`` is, with our port:
    what tinc 1.1 records as the local address of its own edges (ack_h)."""
    peer = runtime.protocol.peers.get(peer_name)
    transport = getattr(peer.link, "transport", None) if peer is not None else None
    if transport is None:
        return None
    sockname = transport.get_extra_info("sockname")
    if not isinstance(sockname, tuple) or not sockname:
        return None
    return str(sockname[0]), str(runtime.port)


def dump_edges(runtime: NodeRuntime) -> list[EdgeRecord]:
    """Every edge, grouped by source node in name order, then by target name.

    The local address is known for our own edges only; tinc 1.0 peers do not
    announce it, and tinca does not keep it from tinc 1.1 peers, so other
    edges show ``unspec port unspec`` as tinc 1.1 shows edges of 1.0 nodes.
    """
    records = []
    for edge in runtime.graph:
        host, port = _hostname(edge.address)
        local = _local_address(runtime, edge.to) if edge.from_ == runtime.myself else None
        local_host, local_port = _hostname(local, "unspec")
        records.append(EdgeRecord(edge.from_, edge.to, host, port, local_host, local_port,
                                  edge.options, edge.weight))
    return records


def dump_subnets(runtime: NodeRuntime) -> list[SubnetRecord]:
    """Every subnet in the subnet tree's order, printed as tinc 1.1 prints it.

    tinc 1.1 also lists its broadcast subnets with owner ``(broadcast)``;
    tinca's router knows broadcast addresses without subnet entries, so there
    are none here.
    """
    return [SubnetRecord(m.subnet.format("1.1"), m.owner) for m in runtime.subnets]


def _fileno(transport: object) -> int:
    extra = getattr(transport, "get_extra_info", None)
    sock = extra("socket") if callable(extra) else None
    try:
        return int(sock.fileno()) if sock is not None else -1
    except (OSError, ValueError):
        return -1


def dump_connections(
    runtime: NodeRuntime, control: Iterable[ControlSession] = ()
) -> list[ConnectionRecord]:
    """Meta connections (authenticated or not), then control connections.

    tinc keeps both kinds in one list in the order they were made; here the
    meta connections come first. An active meta connection has
    ``encryptout`` and ``decryptin`` set, as a legacy connection in tinc
    has after its METAKEY exchange.
    """
    records = []
    for link in runtime.protocol.links:
        status = CONNECTION_PINGED if link.pinged else 0
        if link.active:
            status |= CONNECTION_ENCRYPTOUT | CONNECTION_DECRYPTIN
        if link.mst:
            status |= CONNECTION_MST
        host, port = _hostname(link.address)
        records.append(ConnectionRecord(link.name or "<unknown>", host, port, link.options,
                                        _fileno(getattr(link, "transport", None)), status))
    for session in control:
        records.append(ConnectionRecord("<control>", "localhost", "unix", 0, session.fileno,
                                        session.status))
    return records


def dump_traffic(runtime: NodeRuntime) -> list[TrafficRecord]:
    """Packet counters per node (``tinc top``); bytes are not counted by tinca."""
    return [
        TrafficRecord(r.name, r.in_packets, r.in_bytes, r.out_packets, r.out_bytes)
        for r in dump_nodes(runtime)
    ]


# ---------------------------------------------------------------------------
# commands that change the node


def purge(runtime: NodeRuntime) -> list[str]:
    """Forget unreachable nodes, their edges and subnets (``tinc purge``).

    As tinc's purge: every unreachable node's subnets are withdrawn
    (DEL_SUBNET to everyone; kept with StrictSubnets) and its edges deleted
    (DEL_EDGE to everyone unless TunnelServer). Then each unreachable node
    that no edge points to any more, and that keeps no subnet, is forgotten.
    Returns the names forgotten.
    """
    log.log(level_for(DEBUG_PROTOCOL), "Purging unreachable nodes")
    protocol, graph, subnets = runtime.protocol, runtime.graph, runtime.subnets
    settings = protocol.settings
    myself = runtime.myself
    unreachable = [n for n in graph.nodes() if n != myself and not graph.reachable(n)]
    for name in unreachable:
        log.log(level_for(DEBUG_SCARY_THINGS), "Purging node %s", name)
        for subnet in subnets.subnets_of(name):
            protocol.broadcast(rq.DelSubnet(protocol.nonce(), name, subnet))
            if not settings.strictsubnets:
                subnets.remove(name, subnet)
        for edge in graph.edges_from(name):
            if not settings.tunnelserver:
                protocol.broadcast(rq.DelEdge(protocol.nonce(), edge.from_, edge.to))
            graph.del_edge(edge.from_, edge.to)
    # tinc 1.0.36 skips a node that an edge still points to and goes on with
    # the next one (tinc 1.1 stops the whole loop there); tinca does the former.
    targets = {edge.to for edge in graph.edges()}
    forgotten = []
    for name in unreachable:
        if name in targets or subnets.subnets_of(name):
            continue
        graph.del_node(name)
        protocol.peers.pop(name, None)
        forgotten.append(name)
    return forgotten


def disconnect(runtime: NodeRuntime, name: str) -> bool:
    """Close every meta connection with ``name``; whether there was one.

    An active connection is closed as after a failure, with DEL_EDGE to
    everyone (tinc: ``terminate_connection(c, c->edge)``), and an outgoing
    one is then re-established as usual.
    """
    found = False
    for link in list(runtime.protocol.links):
        if link.name == name:
            link.close(report=link.active)
            found = True
    return found


# ---------------------------------------------------------------------------
# log records as tinc formats them for control clients

#: syslog priority names and ANSI colours as tinc's logger.c shows them
_SGR = {"red": "31;1", "green": "32;1", "yellow": "33;1", "blue": "34;1", "magenta": "35;1",
        "cyan": "36;1", "gray": "90", "reset": "0"}


def record_debug_level(record: logging.LogRecord) -> int:
    """The tinc debug level a record belongs to (0 for notices, warnings, errors)."""
    if record.levelno >= NOTICE:
        return 0
    return min(NOTICE - record.levelno, DEBUG_SCARY_THINGS)


def record_priority(record: logging.LogRecord) -> tuple[str, str]:
    """``(name, colour)`` of the syslog priority tinc would log ``record`` with.

    Python's levels carry no syslog priority of their own, so debug levels 1
    and 2 (connections, status) count as INFO and deeper ones as DEBUG.
    """
    level = record.levelno
    if level >= logging.CRITICAL:
        return "CRITICAL", "magenta"
    if level >= logging.ERROR:
        return "ERROR", "red"
    if level >= logging.WARNING:
        return "WARNING", "yellow"
    if level >= NOTICE:
        return "NOTICE", "cyan"
    if record_debug_level(record) <= 2:
        return "INFO", "green"
    return "DEBUG", "blue"


def format_log_record(record: logging.LogRecord, color: bool = False) -> bytes:
    """``DATE TIME PRIORITY message``, as tinc streams a record to ``tinc log``,
    cut to tinc's 1023 bytes."""
    stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(record.created))
    priority, hue = record_priority(record)
    try:
        message = record.getMessage()
    except (TypeError, ValueError) as err:  # a bad format string in some caller
        message = f"{record.msg!r} (unformattable: {err})"
    if color:
        text = (f"\x1b[{_SGR['gray']}m{stamp} \x1b[{_SGR[hue]}m{priority:<7}"
                f"\x1b[{_SGR['reset']}m {message}")
    else:
        text = f"{stamp} {priority:<7} {message}"
    return text.encode("utf-8", "replace")[:MAX_LOG_TEXT]


# ---------------------------------------------------------------------------
# one control connection, without I/O

#: handles one authenticated request: (session, type, words) -> reply lines,
#: or None to end the connection
RequestHandler = Callable[["ControlSession", int, list[str]], "list[str] | None"]


class ControlSession:
    """One control connection as a state machine: bytes in, bytes out.

    The first line must be ``0 ^COOKIE ...`` with our cookie; the session
    then greets with ``0 NAME 17.7`` and ``4 0 PID``. After that only
    ``18 TYPE ...`` lines are allowed; each goes to ``handler``, and the
    lines it returns are sent back. Anything else (a wrong cookie, another
    request number, a line that is not a request, a line over
    :data:`MAX_LINE`) ends the session: :attr:`closed` turns true and the
    shell closes the connection once :meth:`data_to_send` is flushed.

    ``18 15 LEVEL COLOR`` (REQ_LOG) is handled here: it sets
    :attr:`log_level` and :attr:`log_color`, and ``on_log_change`` is called
    so the shell can adjust the loggers.
    """

    def __init__(
        self,
        *,
        cookie: str,
        myself: str,
        pid: int,
        handler: RequestHandler,
        on_log_change: Callable[[], None] = lambda: None,
        fileno: int = -1,
    ) -> None:
        self.cookie = cookie
        self.myself = myself
        self.pid = pid
        self.handler = handler
        self.on_log_change = on_log_change
        #: the socket's descriptor, for ``dump connections``
        self.fileno = fileno
        self.authenticated = False
        self.closed = False
        #: ``None``: not streaming logs; else the tinc debug level asked for
        self.log_level: int | None = None
        self.log_color = False
        self._buffer = bytearray()
        self._out = bytearray()

    @property
    def status(self) -> int:
        """tinc's connection status bits for this control connection."""
        status = CONNECTION_CONTROL
        if self.log_level is not None:
            status |= CONNECTION_LOG
            if self.log_color:
                status |= CONNECTION_LOG_COLOR
        return status

    def receive_data(self, data: bytes) -> None:
        """Feed bytes from the client; replies collect in :meth:`data_to_send`."""
        if self.closed:
            return
        self._buffer += data
        while not self.closed:
            end = self._buffer.find(b"\n")
            if end < 0:
                if len(self._buffer) > MAX_LINE:
                    self._refuse("line too long")
                return
            line = self._buffer[:end].decode("latin-1")
            del self._buffer[: end + 1]
            self._line(line)

    def data_to_send(self) -> bytes:
        """Bytes to send now (then empty until more arrive or a log record does)."""
        out = bytes(self._out)
        self._out.clear()
        return out

    def send_lines(self, lines: Iterable[str]) -> None:
        """Queue reply lines."""
        for line in lines:
            self._out += line.encode("latin-1", "replace") + b"\n"

    def send_log(self, text: bytes) -> None:
        """Queue one log record for a streaming client (``18 15 LENGTH`` + text)."""
        if not self.closed:
            self._out += f"{CONTROL} {int(ControlRequest.LOG)} {len(text)}\n".encode() + text

    def wants_log(self, debug: int, daemon_level: int) -> bool:
        """Whether a record of tinc debug level ``debug`` goes to this client."""
        level = self.log_level
        if level is None:
            return False
        return debug <= (daemon_level if level == DEBUG_UNSET else level)

    # -- internals ---------------------------------------------------------

    def _refuse(self, why: str) -> None:
        log.error("Error on control connection (localhost port unix): %s", why)
        self.closed = True
        if self.log_level is not None:
            self.log_level = None
            self.on_log_change()

    def _line(self, line: str) -> None:
        words = line.split()
        try:
            number = c_int(words[0]) if words else None
        except ControlError:
            number = None
        if number is None:
            self._refuse("bogus data received")
            return
        if not self.authenticated:
            self._identify(number, words)
            return
        if number != CONTROL:
            self._refuse(f"unauthorized request {number}")
            return
        try:
            rtype = c_int(words[1])
        except (IndexError, ControlError):
            self._refuse("got bad CONTROL request")
            return
        if rtype == ControlRequest.LOG:
            self._subscribe(words)
            return
        replies = self.handler(self, rtype, words[2:])
        if replies is None:
            self._refuse(f"got bad CONTROL request {line!r}")
            return
        self.send_lines(replies)

    def _identify(self, number: int, words: list[str]) -> None:
        if number != ID or len(words) < 2:
            self._refuse("unauthorized request before ID")
            return
        name = words[1]
        given = name[1:].encode("latin-1", "replace")
        if not name.startswith("^") or not hmac.compare_digest(given, self.cookie.encode()):
            self._refuse("wrong control cookie")
            return
        self.authenticated = True
        self.send_lines([
            f"{ID} {self.myself} {rq.PROT_MAJOR}.{GREETING_MINOR}",
            f"{ACK} {CONTROL_VERSION} {self.pid}",
        ])

    def _subscribe(self, words: list[str]) -> None:
        # tinc reads "%*d %*d %d %d" into variables that start at 0
        def number(index: int) -> int:
            try:
                return c_int(words[index])
            except (IndexError, ControlError):
                return 0

        self.log_level = max(DEBUG_UNSET, min(number(2), DEBUG_SCARY_THINGS))
        self.log_color = bool(number(3))
        self.on_log_change()


# ---------------------------------------------------------------------------
# the daemon side: what the control server needs from it


class ControlTarget(Protocol):
    """What the control server asks of the daemon it belongs to."""

    #: the running node (``None`` before it is built)
    node: NodeRuntime | None
    #: the daemon's tinc debug level
    debug: int

    def control_stop(self) -> None:
        """Begin an orderly shutdown (REQ_STOP)."""

    def control_reload(self) -> bool:
        """Re-read the configuration; whether that worked (REQ_RELOAD)."""

    def control_retry(self) -> None:
        """Retry outgoing connections now (REQ_RETRY)."""

    def control_set_debug(self, level: int) -> None:
        """Use tinc debug level ``level`` from now on (REQ_SET_DEBUG)."""


class ControlHandler:
    """Answers authenticated control requests for one daemon.

    ``sessions()`` lists the open control sessions (for ``dump
    connections``); ``state_changes`` maps node names to when they last
    became reachable or unreachable.
    """

    def __init__(
        self,
        target: ControlTarget,
        sessions: Callable[[], Iterable[ControlSession]] = tuple,
        state_changes: Mapping[str, float] | None = None,
        on_debug_change: Callable[[], None] = lambda: None,
    ) -> None:
        self.target = target
        self.sessions = sessions
        self.state_changes = state_changes if state_changes is not None else {}
        self.on_debug_change = on_debug_change

    def __call__(self, session: ControlSession, rtype: int, args: list[str]) -> list[str] | None:
        """Reply lines for one request (``None``: end the connection)."""
        R = ControlRequest
        node = self.target.node

        def dump(kind: ControlRequest, lines: Iterable[str]) -> list[str]:
            return [*lines, end_of_dump(kind)]

        def result(kind: ControlRequest, code: int = 0) -> list[str]:
            return [f"{CONTROL} {int(kind)} {code}"]

        if rtype == R.STOP:
            self.target.control_stop()
            return result(R.STOP)
        if rtype == R.RELOAD:
            log.info("Got 'reload' command, rereading configuration")
            return result(R.RELOAD, 0 if self.target.control_reload() else RELOAD_FAILED)
        if rtype == R.RETRY:
            self.target.control_retry()
            return result(R.RETRY)
        if rtype == R.SET_DEBUG:
            if not args:
                return None
            try:
                level = c_int(args[0])
            except ControlError:
                return None
            old = self.target.debug
            if level >= 0:
                self.target.control_set_debug(level)
                self.on_debug_change()
            return result(R.SET_DEBUG, old)
        if rtype == R.PCAP:
            log.warning("Packet capture over the control socket is not supported by tinca")
            return [f"{CONTROL} {int(R.INVALID)}"]
        if node is None:
            dumps = {R.DUMP_NODES, R.DUMP_EDGES, R.DUMP_SUBNETS, R.DUMP_CONNECTIONS,
                     R.DUMP_TRAFFIC}
            if rtype in dumps:
                return dump(R(rtype), ())
            if rtype == R.PURGE:
                return result(R.PURGE)
            if rtype == R.DISCONNECT:
                return result(R.DISCONNECT, -2 if args else -1)
            return [f"{CONTROL} {int(R.INVALID)}"]
        if rtype == R.DUMP_NODES:
            return dump(R.DUMP_NODES, (r.reply() for r in dump_nodes(node, self.state_changes)))
        if rtype == R.DUMP_EDGES:
            return dump(R.DUMP_EDGES, (r.reply() for r in dump_edges(node)))
        if rtype == R.DUMP_SUBNETS:
            return dump(R.DUMP_SUBNETS, (r.reply() for r in dump_subnets(node)))
        if rtype == R.DUMP_CONNECTIONS:
            records = dump_connections(node, self.sessions())
            return dump(R.DUMP_CONNECTIONS, (r.reply() for r in records))
        if rtype == R.DUMP_TRAFFIC:
            return dump(R.DUMP_TRAFFIC, (r.reply() for r in dump_traffic(node)))
        if rtype == R.PURGE:
            purge(node)
            return result(R.PURGE)
        if rtype == R.DISCONNECT:
            if not args:
                return result(R.DISCONNECT, -1)
            return result(R.DISCONNECT, 0 if disconnect(node, args[0]) else -2)
        # RESTART, DUMP_GRAPH (the client builds it from two dumps) and
        # CONNECT have no handler in tinc 1.1's daemon either.
        return [f"{CONTROL} {int(R.INVALID)}"]


# ---------------------------------------------------------------------------
# asyncio shell


class _Connection(asyncio.Protocol):
    """Shuttles bytes between one accepted UNIX socket and its session."""

    def __init__(self, server: ControlServer) -> None:
        self.server = server
        self.session: ControlSession | None = None
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # uvloop's is not a subclass
        self.session = self.server._new_session(_fileno(transport))
        self.server.connections.append(self)
        asyncio.get_running_loop().call_later(AUTH_TIMEOUT, self._check_authenticated)

    def _check_authenticated(self) -> None:
        if self.session is not None and not self.session.authenticated and not self.session.closed:
            log.error("Timeout on control connection (localhost port unix) during authentication")
            self.session.closed = True
            if self.transport is not None:
                self.transport.close()

    def backlog(self) -> int:
        """Bytes written but not yet taken by the client."""
        return self.transport.get_write_buffer_size() if self.transport is not None else 0

    def data_received(self, data: bytes) -> None:
        assert self.session is not None
        self.session.receive_data(data)
        self.flush()

    def flush(self) -> None:
        """Write what the session queued; close once it has ended."""
        if self.session is None or self.transport is None:
            return
        out = self.session.data_to_send()
        if out:
            self.transport.write(out)
        if self.session.closed:
            self.transport.close()

    def connection_lost(self, exc: Exception | None) -> None:
        if self in self.server.connections:
            self.server.connections.remove(self)
        if self.session is not None:
            had_log = self.session.log_level is not None
            self.session.closed = True
            self.session.log_level = None
            if had_log:
                self.server.refresh_log_levels()


class ControlServer:
    """The daemon's control socket at ``path``, answering for ``target``.

    Use: :meth:`bind` (before dropping privileges, as tinc does it while
    setting up the network), write :attr:`cookie` into the pidfile,
    :meth:`start` on the running loop, and :meth:`close` at shutdown, which
    also ends every control connection (``tinc stop`` waits for that).
    """

    def __init__(
        self,
        path: Path,
        target: ControlTarget,
        *,
        random: Callable[[int], bytes] = os.urandom,
        pid: int | None = None,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self.path = path
        self.target = target
        self.cookie = make_cookie(random)
        self.pid = pid if pid is not None else os.getpid()
        self.wall_clock = wall_clock
        #: node name -> wall-clock time it last became reachable or unreachable
        self.state_changes: dict[str, float] = {}
        self.connections: list[_Connection] = []
        self.handler = ControlHandler(
            target, self.sessions, self.state_changes, self.refresh_log_levels
        )
        self.log_handler = ControlLogHandler(self)
        self._sock: socket.socket | None = None
        self._server: asyncio.AbstractServer | None = None

    def bind(self) -> None:
        """Create the socket (mode 0600 through the umask, as tinc does).

        Raises :class:`TincaError` when the path is too long for a UNIX
        socket, when another daemon still answers on it, or when binding fails.
        """
        path = str(self.path)
        if len(os.fsencode(path)) >= 108:  # sizeof(sun_path) on Linux
            raise TincaError(f"UNIX socket filename {path} is too long!")
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
            try:
                probe.connect(path)
            except OSError:
                pass
            else:
                raise TincaError(f"UNIX socket {path} is still in use!")
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        mask = os.umask(0o077)
        try:
            sock.bind(path)
            sock.listen(3)
        except OSError as err:
            sock.close()
            raise TincaError(f"Could not bind UNIX socket to {path}: {err.strerror}") from None
        finally:
            os.umask(mask)
        sock.setblocking(False)
        self._sock = sock

    async def start(self) -> None:
        """Accept control connections on the running loop."""
        if self._sock is None:
            self.bind()
        loop = asyncio.get_running_loop()
        self.log_handler.attach(loop)
        self._server = await loop.create_unix_server(lambda: _Connection(self), sock=self._sock)

    def close(self) -> None:
        """Stop accepting, end every control connection and remove the socket."""
        if self._server is not None:
            self._server.close()
            self._server = None
        elif self._sock is not None:
            self._sock.close()
        self._sock = None
        for connection in list(self.connections):
            if connection.transport is not None:
                connection.flush()
                connection.transport.close()
        with contextlib.suppress(OSError):
            os.unlink(self.path)

    def sessions(self) -> list[ControlSession]:
        """The open control sessions, oldest first."""
        return [c.session for c in self.connections if c.session is not None]

    def host_state_changed(self, name: str) -> None:
        """Note that ``name`` just became reachable or unreachable."""
        self.state_changes[name] = self.wall_clock()

    def refresh_log_levels(self) -> None:
        """Set logger thresholds for the daemon's level and every log client.

        The root logger lets through what the deepest client asks for; the
        daemon's own handlers keep showing only the daemon's level.
        """
        root = logging.getLogger()
        debug = self.target.debug
        for handler in root.handlers:
            if handler is not self.log_handler:
                handler.setLevel(level_for(debug))
        wanted = [
            debug if s.log_level == DEBUG_UNSET else s.log_level
            for s in self.sessions()
            if s.log_level is not None
        ]
        if wanted:
            deepest = max(wanted)
            self.log_handler.setLevel(level_for(deepest))
            root.setLevel(level_for(max(debug, deepest)))
        else:
            self.log_handler.setLevel(ControlLogHandler.IDLE)
            root.setLevel(level_for(debug))

    def _new_session(self, fileno: int) -> ControlSession:
        node = self.target.node
        return ControlSession(
            cookie=self.cookie,
            myself=node.myself if node is not None else "",
            pid=self.pid,
            handler=self.handler,
            on_log_change=self.refresh_log_levels,
            fileno=fileno,
        )


class ControlLogHandler(logging.Handler):
    """Sends log records to the control connections that asked for them.

    Installed on the root logger by the daemon. While no client streams logs
    its level is above every record's, so logging pays nothing for it.
    """

    #: the level while nobody listens: above CRITICAL
    IDLE = logging.CRITICAL + 10

    def __init__(self, server: ControlServer) -> None:
        super().__init__(level=self.IDLE)
        self.server = server
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: int | None = None
        self._busy = False

    def attach(self, loop: asyncio.AbstractEventLoop) -> None:
        """Deliver on ``loop``; records from other threads are handed to it."""
        self._loop = loop
        self._thread = threading.get_ident()

    def emit(self, record: logging.LogRecord) -> None:
        """Queue ``record`` on every subscribed connection whose level takes it."""
        if self._thread is not None and threading.get_ident() != self._thread:
            if self._loop is not None and not self._loop.is_closed():
                self._loop.call_soon_threadsafe(self._deliver, record)
            return
        self._deliver(record)

    def _deliver(self, record: logging.LogRecord) -> None:
        if self._busy:  # a record logged while sending one: drop it, as tinc does
            return
        self._busy = True
        try:
            debug = record_debug_level(record)
            daemon_level = self.server.target.debug
            texts: dict[bool, bytes] = {}
            for connection in list(self.server.connections):
                session = connection.session
                if session is None or not session.wants_log(debug, daemon_level):
                    continue
                if connection.backlog() > MAX_LOG_BACKLOG:
                    continue
                color = session.log_color
                text = texts.get(color)
                if text is None:
                    text = texts[color] = format_log_record(record, color)
                session.send_log(text)
                connection.flush()
        finally:
            self._busy = False
