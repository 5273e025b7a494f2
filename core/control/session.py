"""One control connection as a sans-IO state machine: bytes in, bytes out.

:class:`ControlSession` checks the client's cookie, greets it as tinc 1.1's
daemon does (protocol_auth.c ``id_h``), splits the byte stream into
``18 TYPE ...`` requests, hands each to a :data:`RequestHandler` and queues
the reply lines; it also keeps a ``tinc log`` client's subscription and
queues the log records sent to it. It takes no clock and touches no socket:
the asyncio shell in :mod:`tinca.core.control.server` moves its bytes.
"""

from __future__ import annotations

import hmac
import logging
from collections.abc import Callable, Iterable

from tinca.core.control.records import (
    ACK,
    CONNECTION_CONTROL,
    CONNECTION_LOG,
    CONNECTION_LOG_COLOR,
    CONTROL,
    CONTROL_VERSION,
    DEBUG_UNSET,
    GREETING_MINOR,
    ID,
    MAX_LINE,
    ControlError,
    ControlRequest,
    c_int,
)
from tinca.core.logs import DEBUG_SCARY_THINGS
from tinca.core.meta import requests as rq

log = logging.getLogger("tinca")

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
