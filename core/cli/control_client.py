"""The client side of tinc 1.1's control socket, for ``tinca``.

:class:`ControlClient` connects as tinc 1.1's ``tinc`` does (tincctl.c,
``connect_tincd``): it reads ``PID COOKIE HOST port PORT`` from the pidfile,
connects to the UNIX socket beside it, sends ``0 ^COOKIE 0`` and expects the
daemon's ID and ``4 0 PID``. It then sends ``18 TYPE`` requests and reads
replies (see :mod:`tinca.core.control` for the protocol).

The ``format_*``, :func:`graph_lines` and ``info_*`` functions turn reply
lines into the text tinc 1.1's ``tinc`` prints, so scripts that read
``tinc dump nodes`` read ``tinca dump nodes`` too. They are pure: lines in,
lines out.
"""

from __future__ import annotations

import contextlib
import socket
import struct
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, overload

from tinca.core.control import (
    ACK,
    CONTROL,
    CONTROL_VERSION,
    ID,
    NODE_REACHABLE,
    NODE_SPTPS,
    NODE_UDP_CONFIRMED,
    NODE_VALIDKEY,
    NODE_VISITED,
    ConnectionRecord,
    ControlError,
    ControlRequest,
    EdgeRecord,
    NodeRecord,
    SubnetRecord,
    c_int,
    is_end_of_dump,
    request_numbers,
)
from tinca.core.control.records import PLUGIN_LINE, PLUGIN_REQUEST
from tinca.core.errors import TincaError
from tinca.core.meta.requests import (
    OPTION_CLAMP_MSS,
    OPTION_INDIRECT,
    OPTION_PMTU_DISCOVERY,
    OPTION_TCPONLY,
    PROT_MAJOR,
    check_id,
    option_version,
)
from tinca.core.pidfile import pid_alive, read_pidfile
from tinca.core.subnet import DEFAULT_WEIGHT, Subnet

#: seconds to wait for a reply before giving up (a log stream waits forever)
REPLY_TIMEOUT = 30.0
#: tincctl's line buffer: a longer line is a broken reply
MAX_REPLY_LINE = 65536
#: tincctl reads a log record into 1024 bytes and stops on a longer one
MAX_LOG_RECORD = 1024


class ControlClientError(TincaError):
    """The daemon could not be reached, or answered something unexpected."""


# ---------------------------------------------------------------------------
# the connection


class ControlClient:
    """An authenticated connection to a running daemon's control socket."""

    def __init__(self, sock: socket.socket, pid: int, name: str) -> None:
        self.sock = sock
        #: the daemon's pid, from its ACK
        self.pid = pid
        #: the daemon's node name, from its ID
        self.name = name
        self._buffer = bytearray()

    @classmethod
    def connect(
        cls, pidfile: Path, socket_path: Path, timeout: float = REPLY_TIMEOUT
    ) -> ControlClient:
        """Connect and authenticate as ``tinc`` does; :class:`ControlClientError` if not.

        A pidfile whose daemon is gone is removed with its socket, as tinc does.
        """
        info = read_pidfile(pidfile)
        if info is None:
            if not pidfile.exists():
                raise ControlClientError(
                    f"Could not open pid file {pidfile}: No such file or directory"
                )
            raise ControlClientError(
                f"Pid file {pidfile} has no control cookie (is the daemon still starting, "
                "or is it a tinc 1.0 daemon?)"
            )
        if info.pid == 0 or not pid_alive(info.pid):
            with contextlib.suppress(OSError):
                pidfile.unlink()
            with contextlib.suppress(OSError):
                socket_path.unlink()
            raise ControlClientError(f"Could not find tincd running at pid {info.pid}")
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(timeout)
        try:
            sock.connect(str(socket_path))
        except OSError as err:
            sock.close()
            raise ControlClientError(
                f"Cannot connect to UNIX socket {socket_path}: {err.strerror or err}"
            ) from None
        client = cls(sock, info.pid, "")
        try:
            client.send_line(f"{ID} ^{info.cookie} {CONTROL_VERSION}")
            name = _greeting_name(client.recv_line())
            if name is None:
                raise ControlClientError("Cannot read greeting from control socket")
            client.name = name
            numbers = _ints(client.recv_line(), 3)
            if numbers is None or numbers[0] != ACK or numbers[1] != CONTROL_VERSION:
                raise ControlClientError("Could not fully establish control socket connection")
            client.pid = numbers[2]
        except OSError as err:
            sock.close()
            raise ControlClientError(f"Cannot read greeting from control socket: {err}") from None
        except ControlClientError:
            sock.close()
            raise
        return client

    def close(self) -> None:
        """Close the connection."""
        self.sock.close()

    def __enter__(self) -> ControlClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- lines and data ------------------------------------------------------

    def send_line(self, line: str) -> None:
        """Send one request line."""
        self.sock.sendall(line.encode("latin-1", "replace") + b"\n")

    def request(self, rtype: ControlRequest, *args: object) -> None:
        """Send ``18 TYPE ARGS...``."""
        self.send_line(" ".join([str(CONTROL), str(int(rtype)), *(str(a) for a in args)]))

    def _fill(self) -> bool:
        try:
            chunk = self.sock.recv(65536)
        except InterruptedError:
            return True
        if not chunk:
            return False
        self._buffer += chunk
        return True

    def recv_line(self) -> str | None:
        """The next line without its newline, or ``None`` when the daemon closed."""
        while True:
            end = self._buffer.find(b"\n")
            if end >= 0:
                line = self._buffer[:end].decode("latin-1")
                del self._buffer[: end + 1]
                return line
            if len(self._buffer) > MAX_REPLY_LINE:
                raise ControlClientError("reply line from the daemon is too long")
            if not self._fill():
                return None

    def recv_data(self, length: int) -> bytes | None:
        """Exactly ``length`` bytes, or ``None`` when the daemon closed first."""
        while len(self._buffer) < length:
            if not self._fill():
                return None
        data = bytes(self._buffer[:length])
        del self._buffer[:length]
        return data

    # -- requests ----------------------------------------------------------

    def result(self, rtype: ControlRequest) -> int | None:
        """The RESULT of a ``18 TYPE RESULT`` reply (``None``: no such reply)."""
        numbers = _ints(self.recv_line(), 3)
        if numbers is None or numbers[0] != CONTROL or numbers[1] != int(rtype):
            return None
        return numbers[2]

    def command(self, rtype: ControlRequest, *args: object) -> int | None:
        """Send a command and return its result (0 is success)."""
        self.request(rtype, *args)
        return self.result(rtype)

    def dump_lines(self, rtype: ControlRequest) -> Iterator[str]:
        """The reply lines of one dump already requested, without its end line.

        Raises :class:`ControlClientError` when the daemon closes early.
        """
        while True:
            line = self.recv_line()
            if line is None:
                raise ControlClientError("Error receiving dump.")
            if is_end_of_dump(line, int(rtype)):
                return
            yield line

    def dump(self, rtype: ControlRequest, *args: object) -> list[str]:
        """Request one dump and collect its lines."""
        self.request(rtype, *args)
        return list(self.dump_lines(rtype))

    def plugin_request(self, name: str, *args: object) -> PluginReply:
        """Send a plugin control request (``18 1000 NAME ARGS...``) and read its reply.

        Raises :class:`ControlClientError` when the daemon does not know
        plugin requests at all (a tinc daemon answers ``18 -1``) or closes
        the connection first. An unknown NAME is a reply with status -1.
        """
        words = [name, *(str(a) for a in args)]
        if any(not word or any(c.isspace() for c in word) for word in words):
            raise ControlClientError("plugin request words must be non-empty, without blanks")
        self.send_line(" ".join([str(CONTROL), str(PLUGIN_REQUEST), *words]))
        prefix = f"{CONTROL} {PLUGIN_REQUEST} {PLUGIN_LINE}"
        lines: list[str] = []
        while True:
            line = self.recv_line()
            if line is None:
                raise ControlClientError("Error receiving plugin request reply.")
            if line.startswith(prefix):
                lines.append(line[len(prefix):])
                continue
            numbers = _ints(line, 3)
            if numbers is not None and numbers[:2] == [CONTROL, PLUGIN_REQUEST]:
                return PluginReply(numbers[2], lines)
            if request_numbers(line) == (CONTROL, int(ControlRequest.INVALID)):
                raise ControlClientError("The daemon does not support plugin control requests.")
            raise ControlClientError(f"Unexpected reply to plugin request {name}: {line}")

    def stream_log(self, level: int, color: bool) -> Iterator[bytes]:
        """Ask for the daemon's log at ``level`` and yield each record's text."""
        self.sock.settimeout(None)
        self.request(ControlRequest.LOG, level, int(color))
        while True:
            numbers = _ints(self.recv_line(), 3)
            if numbers is None or numbers[:2] != [CONTROL, int(ControlRequest.LOG)]:
                return
            if not 0 <= numbers[2] <= MAX_LOG_RECORD:
                return
            data = self.recv_data(numbers[2])
            if data is None:
                return
            yield data

    def wait_closed(self) -> None:
        """Read until the daemon closes the connection (``tinc stop`` does this)."""
        self.sock.settimeout(None)
        with contextlib.suppress(OSError):
            while self._fill():
                self._buffer.clear()


@dataclass(frozen=True)
class PluginReply:
    """The answer to a plugin control request: its status and text lines.

    ``status`` is 0 on success, what the handler's
    :class:`~tinca.core.control.handler.PluginRequestError` said on failure,
    -1 when no plugin registered the name, -2 when its handler crashed.
    """

    status: int
    lines: list[str]


def _ints(line: str | None, count: int) -> list[int] | None:
    """The first ``count`` words of ``line`` as numbers (as ``sscanf`` with
    ``count`` ``%d``), or ``None`` when there are fewer."""
    words = line.split() if line is not None else []
    if len(words) < count:
        return None
    try:
        return [c_int(word) for word in words[:count]]
    except ControlError:
        return None


def _greeting_name(line: str | None) -> str | None:
    """The daemon's name from its ID line ``0 NAME 17.7`` (tinc reads
    ``%d %4095s %d`` and wants three fields and code 0)."""
    words = line.split() if line is not None else []
    if len(words) < 3:
        return None
    version = words[2].split(".", 1)[0]
    try:
        if c_int(words[0]) != ID:
            return None
        c_int(version)
    except ControlError:
        return None
    return words[1]


def wait_for_exit(pid: int, timeout: float) -> bool:
    """Wait until process ``pid`` is gone; whether it went within ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while pid_alive(pid):
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.05)
    return True


# ---------------------------------------------------------------------------
# what tinc prints


def format_node(record: NodeRecord) -> str:
    """A ``dump nodes`` line as tincctl prints it."""
    text = (
        f"{record.name} id {record.id} at {record.host} port {record.port} "
        f"cipher {record.cipher} digest {record.digest} maclength {record.maclength} "
        f"compression {record.compression} options {record.options:x} "
        f"status {record.status:04x} nexthop {record.nexthop} via {record.via} "
        f"distance {record.distance} pmtu {_short(record.pmtu)} "
        f"(min {_short(record.minmtu)} max {_short(record.maxmtu)}) "
        f"rx {record.in_packets} {record.in_bytes} tx {record.out_packets} {record.out_bytes}"
    )
    if record.udp_ping_rtt != -1:
        text += f" rtt {_rtt(record.udp_ping_rtt)}"
    return text


def _short(value: int) -> int:
    """tincctl reads the MTUs with ``%hd``: a C short."""
    (short,) = struct.unpack("h", struct.pack("H", value & 0xFFFF))
    return int(short)


def _rtt(microseconds: int) -> str:
    """A round-trip time in microseconds as milliseconds, ``%d.%03d``."""
    return f"{microseconds // 1000}.{microseconds % 1000:03d}"


def format_edge(record: EdgeRecord) -> str:
    """A ``dump edges`` line as tincctl prints it."""
    return (
        f"{record.from_} to {record.to} at {record.host} port {record.port} "
        f"local {record.local_host} port {record.local_port} options {record.options:x} "
        f"weight {record.weight}"
    )


def strip_weight(text: str) -> str:
    """A subnet's text without the default ``#10`` (tinc's strip_weight)."""
    suffix = f"#{DEFAULT_WEIGHT}"
    return text[: -len(suffix)] if len(text) >= 3 and text.endswith(suffix) else text


def format_subnet(record: SubnetRecord) -> str:
    """A ``dump subnets`` line as tincctl prints it."""
    return f"{strip_weight(record.subnet)} owner {record.owner}"


def format_connection(record: ConnectionRecord) -> str:
    """A ``dump connections`` line as tincctl prints it."""
    return (
        f"{record.name} at {record.host} port {record.port} options {record.options:x} "
        f"socket {record.socket} status {record.status:x}"
    )


def _f32(value: float) -> float:
    """``value`` rounded to a C float (tincctl computes edge lengths in floats)."""
    (rounded,) = struct.unpack("f", struct.pack("f", value))
    return float(rounded)


def _edge_length(weight: int) -> str:
    """``1.0f + 65536.0f / weight`` printed with ``%f``."""
    if weight == 0:
        return "inf"
    return f"{_f32(1.0 + _f32(65536.0 / _f32(float(weight)))):f}"


def graph_lines(
    nodes: Iterable[NodeRecord], edges: Iterable[EdgeRecord], directed: bool = False
) -> list[str]:
    """``dump graph`` (or ``digraph``): the DOT text tincctl prints.

    Nodes are coloured as tinc colours them: green and filled for ourselves,
    red when unreachable, orange when reached through another node, black
    without a key, green once UDP works (a positive minimum MTU).
    """
    out = ["digraph {" if directed else "graph {"]
    for node in nodes:
        if node.host == "MYSELF":
            color = "green"
        elif not node.status & NODE_REACHABLE:
            color = "red"
        elif node.via != node.name:
            color = "orange"
        elif not node.status & NODE_VALIDKEY:
            color = "black"
        elif node.minmtu > 0:
            color = "green"
        else:
            color = "black"
        style = ', style = "filled"' if node.host == "MYSELF" else ""
        out.append(f' "{node.name}" [label = "{node.name}", color = "{color}"{style}];')
    for edge in edges:
        length = _edge_length(edge.weight)
        if directed:
            out.append(f' "{edge.from_}" -> "{edge.to}" [w = {length}, weight = {length}];')
        elif edge.from_.encode("latin-1", "replace") > edge.to.encode("latin-1", "replace"):
            out.append(f' "{edge.from_}" -- "{edge.to}" [w = {length}, weight = {length}];')
    out.append("}")
    return out


def _timestamp(seconds: int) -> str:
    if not seconds:
        return "never"
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(seconds))


@dataclass(frozen=True)
class NodeInfo:
    """What ``info NODE`` shows: the node's record, its edges' targets, its subnets."""

    node: NodeRecord
    edges_to: list[str]
    subnets: list[str]

    def lines(self) -> list[str]:
        """The text of tinc 1.1's ``info NODE`` (info.c ``info_node``)."""
        n = self.node
        out = [
            f"Node:         {n.name}",
            f"Node ID:      {n.id}",
            f"Address:      {n.host} port {n.port}",
        ]
        if n.status & NODE_REACHABLE:
            out.append(f"Online since: {_timestamp(n.last_state_change)}")
        else:
            out.append(f"Last seen:    {_timestamp(n.last_state_change)}")
        flags = [
            (NODE_VALIDKEY, "validkey"), (NODE_VISITED, "visited"),
            (NODE_REACHABLE, "reachable"), (1 << 5, "indirect"), (NODE_SPTPS, "sptps"),
            (NODE_UDP_CONFIRMED, "udp_confirmed"),
        ]
        out.append("Status:      " + "".join(f" {w}" for bit, w in flags if n.status & bit))
        options = [
            (OPTION_INDIRECT, "indirect"), (OPTION_TCPONLY, "tcponly"),
            (OPTION_PMTU_DISCOVERY, "pmtu_discovery"), (OPTION_CLAMP_MSS, "clamp_mss"),
        ]
        out.append("Options:     " + "".join(f" {w}" for bit, w in options if n.options & bit))
        out.append(f"Protocol:     {PROT_MAJOR}.{option_version(n.options)}")
        if n.host == "MYSELF":
            out.append("Reachability: can reach itself")
        elif not n.status & NODE_REACHABLE:
            out.append("Reachability: unreachable")
        elif n.via != n.name:
            out.append(f"Reachability: indirectly via {n.via}")
        elif not n.status & NODE_VALIDKEY:
            out.append("Reachability: unknown")
        elif n.minmtu > 0:
            out.append("Reachability: directly with UDP")
            out.append(f"PMTU:         {_short(n.pmtu)}")
            if n.udp_ping_rtt != -1:
                out.append(f"RTT:          {_rtt(n.udp_ping_rtt)}")
        elif n.nexthop == n.name:
            out.append("Reachability: directly with TCP")
        else:
            out.append(f"Reachability: none, forwarded via {n.nexthop}")
        out.append(f"RX:           {n.in_packets} packets  {n.in_bytes} bytes")
        out.append(f"TX:           {n.out_packets} packets  {n.out_bytes} bytes")
        out.append("Edges:       " + "".join(f" {to}" for to in self.edges_to))
        out.append("Subnets:     " + "".join(f" {strip_weight(s)}" for s in self.subnets))
        return out


def info_node(client: ControlClient, name: str) -> NodeInfo:
    """Ask the daemon about node ``name``; :class:`ControlClientError` if unknown."""
    nodes = parse_dump(ControlRequest.DUMP_NODES, client.dump(ControlRequest.DUMP_NODES, name))
    found = next((record for record in nodes if record.name == name), None)
    if found is None:
        raise ControlClientError(f"Unknown node {name}.")
    edges = parse_dump(ControlRequest.DUMP_EDGES, client.dump(ControlRequest.DUMP_EDGES, name))
    subnets = parse_dump(
        ControlRequest.DUMP_SUBNETS, client.dump(ControlRequest.DUMP_SUBNETS, name)
    )
    return NodeInfo(
        found,
        [edge.to for edge in edges if edge.from_ == name],
        [subnet.subnet for subnet in subnets if subnet.owner == name],
    )


def matching_subnets(item: str, records: Iterable[SubnetRecord]) -> list[SubnetRecord]:
    """The subnets ``info ITEM`` shows (info.c ``info_subnet``).

    An address (no ``/``) matches every subnet that contains it; a subnet
    matches the same network and prefix length; with ``#WEIGHT`` the weight
    must match too. Raises :class:`ControlClientError` for an unparsable item.
    """
    try:
        find = Subnet.parse(item, check_host_bits=False)
    except ValueError:
        raise ControlClientError(f"Could not parse subnet or address '{item}'.") from None
    address = "/" not in item
    weighted = "#" in item
    found = []
    for record in records:
        try:
            subnet = Subnet.parse(record.subnet, check_host_bits=False)
        except ValueError:
            raise ControlClientError("Unable to parse subnet dump from tincd.") from None
        if subnet.kind != find.kind or (weighted and subnet.weight != find.weight):
            continue
        if subnet.kind == "mac":
            if subnet.address != find.address:
                continue
        elif address:
            if not subnet.contains(find.address):
                continue
        elif subnet.prefix != find.prefix or subnet.address != find.address:
            continue
        found.append(record)
    return found


def info_subnet(client: ControlClient, item: str) -> list[str]:
    """Ask the daemon which subnets hold ``item``; the lines ``info`` prints."""
    records = parse_dump(
        ControlRequest.DUMP_SUBNETS, client.dump(ControlRequest.DUMP_SUBNETS, item)
    )
    found = matching_subnets(item, records)
    if not found:
        kind = "address" if "/" not in item else "subnet"
        raise ControlClientError(f"Unknown {kind} {item}.")
    out = []
    for record in found:
        out += [f"Subnet: {strip_weight(record.subnet)}", f"Owner:  {record.owner}"]
    return out


def classify_info_item(item: str) -> str:
    """``node``, ``subnet`` or ``invalid``, as tinc's ``info`` decides."""
    if check_id(item):
        return "node"
    if "." in item or ":" in item:
        return "subnet"
    return "invalid"


#: a line of any ``dump``
DumpRecord = NodeRecord | EdgeRecord | SubnetRecord | ConnectionRecord

#: how each dump's lines are read, and what tinc calls them in its complaint
_PARSERS: dict[ControlRequest, tuple[Callable[[str], DumpRecord], str]] = {
    ControlRequest.DUMP_NODES: (NodeRecord.parse, "node"),
    ControlRequest.DUMP_EDGES: (EdgeRecord.parse, "edge"),
    ControlRequest.DUMP_SUBNETS: (SubnetRecord.parse, "subnet"),
    ControlRequest.DUMP_CONNECTIONS: (ConnectionRecord.parse, "connection"),
}


@overload
def parse_dump(
    rtype: Literal[ControlRequest.DUMP_NODES], lines: Iterable[str]
) -> list[NodeRecord]: ...
@overload
def parse_dump(
    rtype: Literal[ControlRequest.DUMP_EDGES], lines: Iterable[str]
) -> list[EdgeRecord]: ...
@overload
def parse_dump(
    rtype: Literal[ControlRequest.DUMP_SUBNETS], lines: Iterable[str]
) -> list[SubnetRecord]: ...
@overload
def parse_dump(
    rtype: Literal[ControlRequest.DUMP_CONNECTIONS], lines: Iterable[str]
) -> list[ConnectionRecord]: ...
@overload
def parse_dump(rtype: ControlRequest, lines: Iterable[str]) -> list[Any]: ...


def parse_dump(rtype: ControlRequest, lines: Iterable[str]) -> Sequence[DumpRecord]:
    """Parse dump lines into records; :class:`ControlClientError` names the bad one.

    The records are of the dump's type (:class:`NodeRecord` for
    ``DUMP_NODES``, ...); the overloads say which.
    """
    parse, what = _PARSERS[rtype]
    records: list[DumpRecord] = []
    for line in lines:
        try:
            records.append(parse(line))
        except ControlError:
            raise ControlClientError(f"Unable to parse {what} dump from tincd: {line}") from None
    return records
