"""The asyncio control server: the daemon's UNIX control socket.

:class:`ControlServer` binds the socket beside the pidfile (mode 0600, and
refusing a path another daemon still answers on), makes the cookie the
pidfile carries, accepts connections on the running loop and gives each a
:class:`~tinca.core.control.session.ControlSession` answered by a
:class:`~tinca.core.control.handler.ControlHandler`. It drops clients that do
not authenticate in time, keeps the logger thresholds in step with the
daemon's debug level and its ``tinc log`` clients, and ends every
connection and removes the socket on :meth:`ControlServer.close`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import time
from collections.abc import Callable
from pathlib import Path
from typing import Protocol, runtime_checkable

from tinca.core.control.dumps import _fileno
from tinca.core.control.handler import ControlHandler, ControlTarget
from tinca.core.control.log_forwarding import ControlLogHandler
from tinca.core.control.records import DEBUG_UNSET, make_cookie
from tinca.core.control.session import ControlSession
from tinca.core.errors import TincaError
from tinca.core.logs import level_for

log = logging.getLogger("tinca")

#: seconds a control client has to present its cookie; tinc times out
#: connections still authenticating after PingTimeout (5 s by default)
AUTH_TIMEOUT = 5.0


@runtime_checkable
class _StreamTransport(Protocol):
    """The transport members a control connection uses.

    Checked by shape, not by class: uvloop's UNIX transports are not
    subclasses of :class:`asyncio.Transport`.
    """

    def write(self, data: bytes) -> None: ...

    def close(self) -> None: ...

    def get_write_buffer_size(self) -> int: ...


class _Connection(asyncio.Protocol):
    """Shuttles bytes between one accepted UNIX socket and its session."""

    def __init__(self, server: ControlServer) -> None:
        self.server = server
        self.session: ControlSession | None = None
        self.transport: _StreamTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        if not isinstance(transport, _StreamTransport):
            raise TypeError(f"control connections need a stream transport, not {transport!r}")
        self.transport = transport
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
