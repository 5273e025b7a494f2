"""Log forwarding to ``tinc log`` clients over the control socket.

A client that sends ``18 15 LEVEL COLOR`` receives every log record at or
below LEVEL as ``18 15 LENGTH`` followed by the text (logger.c
``real_logger``). This module formats a record the way tinc does
(:func:`format_log_record`: date, syslog priority, optional ANSI colour, cut
to tinc's 1023 bytes) and holds :class:`ControlLogHandler`, the
:class:`logging.Handler` that hands records to the subscribed connections of
a :class:`~tinca.core.control.server.ControlServer`, from any thread, without
letting a stalled client eat the daemon's memory. It sees the server only
through :class:`LogSubscribers`, so the dependency runs one way: the server
imports this module, never the reverse.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Sequence
from typing import Protocol

from tinca.core.control.session import ControlSession
from tinca.core.logs import DEBUG_SCARY_THINGS, NOTICE

#: tinc formats a log line into 1024 bytes (logger.c ``pretty``), and
#: tincctl refuses records longer than that: the text is cut to fit
MAX_LOG_TEXT = 1023
#: a log client that lets this much pile up unread loses records until it
#: catches up, so a stalled ``tinca log`` cannot eat the daemon's memory
MAX_LOG_BACKLOG = 4 * 1024 * 1024

#: syslog priority names and ANSI colours as tinc's logger.c shows them
_SGR = {"red": "31;1", "green": "32;1", "yellow": "33;1", "blue": "34;1", "magenta": "35;1",
        "cyan": "36;1", "gray": "90", "reset": "0"}


class LogConnection(Protocol):
    """One control connection, as log forwarding sees it."""

    @property
    def session(self) -> ControlSession | None:
        """The connection's control session, ``None`` until it has greeted us."""
        ...

    def backlog(self) -> int:
        """Bytes written to the connection that the client has not read yet."""
        ...

    def flush(self) -> None:
        """Write out what the session has queued."""
        ...


class DebugLevel(Protocol):
    """Where the daemon's current tinc debug level is read from."""

    @property
    def debug(self) -> int:
        """The daemon's tinc debug level (``-d``, or REQ_SET_DEBUG's)."""
        ...


class LogSubscribers(Protocol):
    """What :class:`ControlLogHandler` needs from the control server."""

    @property
    def target(self) -> DebugLevel:
        """The daemon, for its debug level (a client may ask for "the daemon's")."""
        ...

    @property
    def connections(self) -> Sequence[LogConnection]:
        """The open control connections; those whose session streams logs get records."""
        ...


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


class ControlLogHandler(logging.Handler):
    """Sends log records to the control connections that asked for them.

    Installed on the root logger by the daemon. While no client streams logs
    its level is above every record's, so logging pays nothing for it.
    """

    #: the level while nobody listens: above CRITICAL
    IDLE = logging.CRITICAL + 10

    def __init__(self, server: LogSubscribers) -> None:
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
