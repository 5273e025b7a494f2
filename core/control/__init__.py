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
:class:`~tinca.core.node.node.Node` knows. Where tinca keeps no
exact equivalent of a tinc field, the closest fact is used; see
:func:`node_status` and :func:`dump_nodes`.

:class:`ControlSession` is the protocol without I/O (bytes in, bytes out);
:class:`ControlServer` is the asyncio shell the daemon starts, and
:class:`ControlLogHandler` forwards log records to ``tinca log`` clients.

The package has one module per job, and re-exports their public names here:

- :mod:`~tinca.core.control.records`: wire constants, request types, status
  bits and the dump line records (parsed and printed);
- :mod:`~tinca.core.control.dumps`: dump records built from a running node;
- :mod:`~tinca.core.control.commands`: ``purge`` and ``disconnect``;
- :mod:`~tinca.core.control.session`: :class:`ControlSession`, the protocol;
- :mod:`~tinca.core.control.handler`: :class:`ControlHandler`, what each
  request does, and :class:`ControlTarget`, what it needs from the daemon;
- :mod:`~tinca.core.control.server`: :class:`ControlServer`, the asyncio shell;
- :mod:`~tinca.core.control.log_forwarding`: log records for ``tinca log``.
"""

from tinca.core.control.commands import disconnect, purge
from tinca.core.control.dumps import (
    dump_connections,
    dump_edges,
    dump_nodes,
    dump_subnets,
    dump_traffic,
    node_status,
)
from tinca.core.control.handler import ControlHandler, ControlTarget
from tinca.core.control.log_forwarding import (
    MAX_LOG_BACKLOG,
    MAX_LOG_TEXT,
    ControlLogHandler,
    format_log_record,
    record_debug_level,
    record_priority,
)
from tinca.core.control.records import (
    ACK,
    CONNECTION_CONNECTING,
    CONNECTION_CONTROL,
    CONNECTION_DECRYPTIN,
    CONNECTION_ENCRYPTOUT,
    CONNECTION_LOG,
    CONNECTION_LOG_COLOR,
    CONNECTION_MST,
    CONNECTION_PCAP,
    CONNECTION_PINGED,
    CONTROL,
    CONTROL_VERSION,
    COOKIE_BYTES,
    DEBUG_UNSET,
    GREETING_MINOR,
    ID,
    MAX_LINE,
    NODE_HAS_ADDRESS,
    NODE_ID_BYTES,
    NODE_INDIRECT,
    NODE_PING_SENT,
    NODE_REACHABLE,
    NODE_SEND_LOCALLY,
    NODE_SPTPS,
    NODE_UDP_CONFIRMED,
    NODE_UDPPACKET,
    NODE_VALIDKEY,
    NODE_VALIDKEY_IN,
    NODE_VISITED,
    NODE_WAITINGFORKEY,
    RELOAD_FAILED,
    ConnectionRecord,
    ControlError,
    ControlRequest,
    EdgeRecord,
    NodeRecord,
    SubnetRecord,
    TrafficRecord,
    c_hex,
    c_int,
    end_of_dump,
    is_end_of_dump,
    make_cookie,
    node_id,
    request_numbers,
)
from tinca.core.control.server import AUTH_TIMEOUT, ControlServer
from tinca.core.control.session import ControlSession, RequestHandler

__all__ = [
    "ACK",
    "AUTH_TIMEOUT",
    "CONNECTION_CONNECTING",
    "CONNECTION_CONTROL",
    "CONNECTION_DECRYPTIN",
    "CONNECTION_ENCRYPTOUT",
    "CONNECTION_LOG",
    "CONNECTION_LOG_COLOR",
    "CONNECTION_MST",
    "CONNECTION_PCAP",
    "CONNECTION_PINGED",
    "CONTROL",
    "CONTROL_VERSION",
    "COOKIE_BYTES",
    "DEBUG_UNSET",
    "GREETING_MINOR",
    "ID",
    "MAX_LINE",
    "MAX_LOG_BACKLOG",
    "MAX_LOG_TEXT",
    "NODE_HAS_ADDRESS",
    "NODE_ID_BYTES",
    "NODE_INDIRECT",
    "NODE_PING_SENT",
    "NODE_REACHABLE",
    "NODE_SEND_LOCALLY",
    "NODE_SPTPS",
    "NODE_UDPPACKET",
    "NODE_UDP_CONFIRMED",
    "NODE_VALIDKEY",
    "NODE_VALIDKEY_IN",
    "NODE_VISITED",
    "NODE_WAITINGFORKEY",
    "RELOAD_FAILED",
    "ConnectionRecord",
    "ControlError",
    "ControlHandler",
    "ControlLogHandler",
    "ControlRequest",
    "ControlServer",
    "ControlSession",
    "ControlTarget",
    "EdgeRecord",
    "NodeRecord",
    "RequestHandler",
    "SubnetRecord",
    "TrafficRecord",
    "c_hex",
    "c_int",
    "disconnect",
    "dump_connections",
    "dump_edges",
    "dump_nodes",
    "dump_subnets",
    "dump_traffic",
    "end_of_dump",
    "format_log_record",
    "is_end_of_dump",
    "make_cookie",
    "node_id",
    "node_status",
    "purge",
    "record_debug_level",
    "record_priority",
    "request_numbers",
]
