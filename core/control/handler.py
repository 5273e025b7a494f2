"""What each control request does: the daemon side of a control session.

:class:`ControlTarget` is what the control socket needs from the daemon
(its node, its debug level, stop/reload/retry/set-debug), and
:class:`ControlHandler` answers one authenticated request for such a target:
dumps through :mod:`tinca.core.control.dumps`, ``purge`` and ``disconnect``
through :mod:`tinca.core.control.commands`, the rest by calling the target.
It is the :data:`~tinca.core.control.session.RequestHandler` the server
gives every :class:`~tinca.core.control.session.ControlSession`.

Requests a plugin adds (``tinca_register_control_requests``) arrive as
``18 1000 NAME ARGS...`` (:data:`~tinca.core.control.records.PLUGIN_REQUEST`);
their handlers get a :class:`NodeView`, the node read-only, and answer with
text lines (:func:`~tinca.core.control.records.plugin_reply`).
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
    PLUGIN_FAILED,
    PLUGIN_REQUEST,
    PLUGIN_UNKNOWN,
    RELOAD_FAILED,
    ConnectionRecord,
    ControlError,
    ControlRequest,
    EdgeRecord,
    NodeRecord,
    SubnetRecord,
    c_int,
    end_of_dump,
    plugin_reply,
)
from tinca.core.errors import TincaError

if TYPE_CHECKING:
    from tinca.core.control.session import ControlSession
    from tinca.core.counters import CountersSnapshot
    from tinca.core.node.node import Node

log = logging.getLogger("tinca")

#: the registry hook that plugin control requests come from
CONTROL_REQUESTS_HOOK = "tinca_register_control_requests"


class PluginRequestError(TincaError):
    """Raised by a plugin control request handler to fail with ``status``.

    The client gets ``message`` as the one reply line, then ``status``
    (use a positive number; -1 and -2 are tinca's own).
    """

    def __init__(self, message: str, status: int = 1) -> None:
        super().__init__(message)
        self.status = status


class NodeView:
    """A running node as a plugin control request sees it: read-only.

    Each method builds fresh records from the node's state when called; call
    them from the handler (which runs on the daemon's loop), not from another
    thread. :meth:`counters` alone is safe from any thread. The records are
    the frozen ones ``tinca dump`` parses (:mod:`tinca.core.control.records`).
    """

    def __init__(
        self,
        runtime: Node,
        state_changes: Mapping[str, float],
        sessions: Callable[[], Iterable[ControlSession]],
    ) -> None:
        self._runtime = runtime
        self._state_changes = state_changes
        self._sessions = sessions

    @property
    def name(self) -> str:
        """Our node's name."""
        return self._runtime.myself

    def counters(self) -> CountersSnapshot:
        """Every traffic counter now (:class:`~tinca.core.counters.CountersSnapshot`)."""
        return self._runtime.counters.snapshot()

    def nodes(self) -> list[NodeRecord]:
        """What ``dump nodes`` lists, one record per known node, in name order."""
        return dump_nodes(self._runtime, self._state_changes)

    def edges(self) -> list[EdgeRecord]:
        """What ``dump edges`` lists."""
        return dump_edges(self._runtime)

    def subnets(self) -> list[SubnetRecord]:
        """What ``dump subnets`` lists."""
        return dump_subnets(self._runtime)

    def connections(self) -> list[ConnectionRecord]:
        """What ``dump connections`` lists: meta, then control connections."""
        return dump_connections(self._runtime, self._sessions())


#: a plugin control request handler: (view, argument words) -> reply lines
PluginRequestHandler = Callable[[NodeView, list[str]], Iterable[str]]


class ControlTarget(Protocol):
    """What the control server asks of the daemon it belongs to."""

    #: the running node (``None`` before it is built)
    node: Node | None
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
        if rtype == PLUGIN_REQUEST:
            return self._plugin_request(node, args)
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

    def _plugin_request(self, node: Node | None, args: list[str]) -> list[str]:
        """``18 1000 NAME ARGS...``: the registered handler's lines, then its status."""
        if node is None or not args:
            return plugin_reply((), PLUGIN_UNKNOWN)
        name = args[0]
        try:
            registry = node.stack.manager.registry(CONTROL_REQUESTS_HOOK)
        except TincaError as err:
            log.error("Cannot load plugin control requests: %s", err)
            return plugin_reply((), PLUGIN_FAILED)
        if name not in registry:
            return plugin_reply((), PLUGIN_UNKNOWN)
        entry = registry.get(name)
        handler: PluginRequestHandler = entry.value
        try:
            lines = list(handler(NodeView(node, self.state_changes, self.sessions), args[1:]))
        except PluginRequestError as err:
            return plugin_reply([str(err)], err.status)
        except Exception as err:  # a plugin bug must not end the session or the node
            log.error("plugin %s failed in control request %s: %s", entry.plugin, name, err)
            return plugin_reply((), PLUGIN_FAILED)
        return plugin_reply(lines)
