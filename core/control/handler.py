"""What each control request does: the daemon side of a control session.

:class:`ControlTarget` is what the control socket needs from the daemon
(its node, its debug level, stop/reload/retry/set-debug), and
:class:`ControlHandler` answers one authenticated request for such a target:
dumps through :mod:`tinca.core.control.dumps`, ``purge`` and ``disconnect``
through :mod:`tinca.core.control.commands`, the rest by calling the target.
It is the :data:`~tinca.core.control.session.RequestHandler` the server
gives every :class:`~tinca.core.control.session.ControlSession`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Protocol

from tinca.core.control.commands import disconnect, purge
from tinca.core.control.dumps import (
    dump_connections,
    dump_edges,
    dump_nodes,
    dump_subnets,
    dump_traffic,
)
from tinca.core.control.records import (
    CONTROL,
    RELOAD_FAILED,
    ControlError,
    ControlRequest,
    c_int,
    end_of_dump,
)

if TYPE_CHECKING:
    from tinca.core.control.session import ControlSession
    from tinca.core.node.shell import NodeRuntime

log = logging.getLogger("tinca")


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
