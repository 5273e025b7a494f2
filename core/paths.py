"""Where a network's files live, named the way tincd names them.

``-n NET`` means ``/etc/tinc/NET``; the pidfile is ``/var/run/tinc.NET.pid``,
the control socket sits beside it with ``.socket``, and the default logfile is
``/var/log/tinc.NET.log``. Two environment variables move the system folders
(for tests and unusual installs): ``TINCA_CONFDIR`` replaces ``/etc/tinc`` and
``TINCA_RUNDIR`` replaces ``/var/run``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from tinca.core.config.loader import confbase_for
from tinca.core.logs import log_ident

RUNDIR_ENV = "TINCA_RUNDIR"


@dataclass(frozen=True)
class Names:
    """The file names of one network, from the command line and defaults."""

    netname: str | None
    confbase: Path
    pidfile: Path
    logfile: Path

    @property
    def ident(self) -> str:
        """``tinc.NET`` (or ``tinc``): log identity and file stem."""
        return log_ident(self.netname)

    @property
    def control_socket(self) -> Path:
        """The UNIX control socket: the pidfile with ``.socket`` for ``.pid``."""
        text = str(self.pidfile)
        return Path(text[:-4] + ".socket" if text.endswith(".pid") else text + ".socket")


def make_names(
    netname: str | None = None,
    confbase: str | None = None,
    pidfile: str | None = None,
    logfile: str | None = None,
) -> Names:
    """Resolve every name the daemon and the control command line share."""
    if netname is None:
        netname = os.environ.get("NETNAME") or None  # tinc 1.1 honours $NETNAME too
    if netname == ".":
        netname = None
    ident = log_ident(netname)
    rundir = Path(os.environ.get(RUNDIR_ENV) or "/var/run")
    return Names(
        netname=netname,
        confbase=confbase_for(netname, confbase),
        pidfile=Path(pidfile) if pidfile else rundir / f"{ident}.pid",
        logfile=Path(logfile) if logfile else Path("/var/log") / f"{ident}.log",
    )
