"""The pidfile: one running daemon per network, and ``tincad -k``.

tincd 1.0 writes only its pid. tinc 1.1 writes one line that also tells its
``tinc`` command line how to reach the control socket (src/pidfile.c,
``write_pidfile``): ``PID COOKIE HOST port PORT``, where ``COOKIE`` is 64 hex
digits the control client must present and ``HOST port PORT`` the daemon's
first listening address (a wildcard mapped to loopback). The file is made
with mode 0600, because the cookie is the only credential of the control
socket. Readers of the pid (``-k``, ``pid``) take the first word either way.
"""

from __future__ import annotations

import contextlib
import os
import signal
from dataclasses import dataclass
from pathlib import Path

from tinca.core.errors import TincaError

SIGNALS = {
    "HUP": signal.SIGHUP,
    "TERM": signal.SIGTERM,
    "KILL": signal.SIGKILL,
    "USR1": signal.SIGUSR1,
    "USR2": signal.SIGUSR2,
    "WINCH": signal.SIGWINCH,
    "INT": signal.SIGINT,
    "ALRM": signal.SIGALRM,
    "ABRT": signal.SIGABRT,
}
"""Signal names ``-k`` accepts, as tincd 1.0 accepts them."""


def read_pid(path: Path) -> int | None:
    """The pid in ``path`` (tinc 1.1 appends a cookie and more; the pid is first)."""
    try:
        first = path.read_text().split()
    except (OSError, UnicodeDecodeError):
        return None
    if not first or not first[0].isdigit():
        return None
    return int(first[0])


@dataclass(frozen=True)
class PidfileInfo:
    """tinc 1.1's pidfile: the daemon's pid, control cookie and listening address."""

    pid: int
    cookie: str
    host: str
    port: str

    def format(self) -> str:
        """The file's one line, with its newline."""
        return f"{self.pid} {self.cookie} {self.host} port {self.port}\n"


#: field widths of tinc 1.1's read_pidfile (``%20d %64s %128s port %128s``)
_COOKIE_WIDTH = 64
_HOST_WIDTH = 128


def read_pidfile(path: Path) -> PidfileInfo | None:
    """The pid, cookie and address in ``path``, or ``None`` without all four.

    A plain pid (tincd 1.0, or a tinca daemon that has not opened its control
    socket yet) gives ``None``: there is no cookie to present.
    """
    try:
        words = path.read_text().split()
    except (OSError, UnicodeDecodeError):
        return None
    if len(words) < 5 or words[3] != "port":
        return None
    pid, cookie, host, port = words[0], words[1], words[2], words[4]
    if not pid.isdigit() or len(cookie) > _COOKIE_WIDTH:
        return None
    if len(host) > _HOST_WIDTH or len(port) > _HOST_WIDTH:
        return None
    return PidfileInfo(int(pid), cookie, host, port)


def write_control_pidfile(path: Path, info: PidfileInfo) -> None:
    """Replace the pidfile with tinc 1.1's line, readable by its owner only.

    The new file is written beside the old one and renamed over it, so a
    reader never sees half a line and the cookie is never world-readable.
    """
    temporary = path.with_name(f".{path.name}.{info.pid}.tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write(info.format())
        os.replace(temporary, path)
    except OSError as err:
        with contextlib.suppress(OSError):
            temporary.unlink()
        raise TincaError(
            f"Cannot write control socket cookie file {path}: {err.strerror}"
        ) from None


def pid_alive(pid: int) -> bool:
    """Whether a process with this pid exists (it may belong to another user)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def check_pidfile(path: Path, netname: str | None) -> None:
    """Refuse to start when a live daemon already holds the pidfile."""
    old = read_pid(path)
    if old is not None and old != os.getpid() and pid_alive(old):
        net = f" for net `{netname}'" if netname else ""
        raise TincaError(f"A tincad is already running{net} with pid {old}.")


def write_pidfile(path: Path, netname: str | None, pid: int | None = None) -> None:
    """Claim the pidfile, refusing when a live daemon already holds it."""
    check_pidfile(path, netname)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(f"{pid or os.getpid()}\n")
    except OSError as err:
        raise TincaError(f"Could not write pid file {path}: {err.strerror}") from None


def remove_pidfile(path: Path) -> None:
    """Remove the pidfile if it is ours."""
    if read_pid(path) == os.getpid():
        with contextlib.suppress(OSError):
            path.unlink()


def parse_signal(text: str | None) -> int:
    """A ``-k`` argument: a name from :data:`SIGNALS` or a number; default TERM."""
    if text is None:
        return signal.SIGTERM
    named = SIGNALS.get(text.upper())
    if named is not None:
        return named
    if text.isdigit() and int(text) > 0:
        return int(text)
    raise TincaError(
        f"Invalid argument `{text}'; SIGNAL must be a number or one of " + ", ".join(SIGNALS) + "."
    )


def kill_other(path: Path, netname: str | None, signum: int) -> None:
    """Send ``signum`` to the daemon in ``path``, cleaning up a stale pidfile."""
    net = f" for net `{netname}'" if netname else ""
    pid = read_pid(path)
    if pid is None:
        raise TincaError(f"No other tincad is running{net}.")
    try:
        os.kill(pid, signum)
    except ProcessLookupError:
        with contextlib.suppress(OSError):
            path.unlink()
        raise TincaError(
            f"The tincad{net} is no longer running. Removing stale lock file."
        ) from None
