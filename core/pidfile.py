"""The pidfile: one running daemon per network, and ``tincad -k``."""

from __future__ import annotations

import contextlib
import os
import signal
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
