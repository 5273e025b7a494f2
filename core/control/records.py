"""Control protocol records: wire constants, request types and dump lines.

Everything both ends of a tinc 1.1 control connection agree on lives here:
the request numbers and control request types (src/control_common.h), the
node and connection status bits a dump carries (src/node.h,
src/connection.h), the cookie and node-id formats, tinc's C-style number
parsing, and one frozen dataclass per dump line (:class:`NodeRecord`,
:class:`EdgeRecord`, :class:`SubnetRecord`, :class:`ConnectionRecord`,
:class:`TrafficRecord`) that the daemon prints with ``reply()`` and the
client parses with ``parse()``. It does no I/O and knows nothing of a node.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from enum import IntEnum

from tinca.core.errors import TincaError
from tinca.core.meta import requests as rq

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
#: bytes of the control cookie before hex encoding (control.c: 64 hex digits)
COOKIE_BYTES = 32
#: bytes of SHA-512(name) that make a node's id (node.c ``node_add``)
NODE_ID_BYTES = 6


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


#: The control request type of every request a plugin adds
#: (``tinca_register_control_requests``): ``18 1000 NAME ARGS...``. tinc 1.1's
#: own types run from 0 to 15 (``enum request_type`` in src/control_common.h,
#: grown by one every few years), so a number this far out cannot collide
#: with them; a real tincd answers it as any unknown type, ``18 -1``.
PLUGIN_REQUEST = 1000
#: what starts each reply line of a plugin request after ``18 1000``: the
#: line's text follows it directly (so an empty text still differs from the
#: ``18 1000 STATUS`` line that ends the reply)
PLUGIN_LINE = ":"
#: ending status of a plugin request no plugin registered
PLUGIN_UNKNOWN = -1
#: ending status of a plugin request whose handler failed
PLUGIN_FAILED = -2


def plugin_reply(lines: Iterable[str], status: int = 0) -> list[str]:
    """The reply lines of a plugin request: each text line, then the status."""
    prefix = f"{CONTROL} {PLUGIN_REQUEST} {PLUGIN_LINE}"
    out = [prefix + part for line in lines for part in (line.splitlines() or [""])]
    out.append(f"{CONTROL} {PLUGIN_REQUEST} {status}")
    return out


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
        cipher, digest, maclength, compression = (c_int(x) for x in w[5:9])
        distance, pmtu, minmtu, maxmtu, changed, rtt, in_p, in_b, out_p, out_b = (
            c_int(x) for x in w[13:23]
        )
        return cls(
            w[0], w[1], w[2], w[4], cipher, digest, maclength, compression,
            c_hex(w[9]), c_hex(w[10]), w[11], w[12],
            distance, pmtu, minmtu, maxmtu, changed, rtt, in_p, in_b, out_p, out_b,
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
