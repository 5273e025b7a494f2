"""Logging with tincd's debug levels and destinations.

tincd filters by a debug level (``-d``, ``-d5``): 0 shows only starting,
stopping and problems; higher levels add connections, protocol requests,
traffic. tinca maps tinc level ``n`` to the Python level ``NOTICE - n``, so
one ``logging`` threshold does the filtering and plugins can use the standard
library with the same levels.

Destinations are tincd's: stderr with bare messages in the foreground (``-D``),
a logfile with ``date time tinc.NET[pid]: message`` (``--logfile``), or syslog
(``LOG_DAEMON``, ident ``tinc.NET``) when detached.
"""

from __future__ import annotations

import logging
import logging.handlers
import os
import time

NOTICE = logging.INFO
"""tincd's LOG_NOTICE: always shown (start, stop, Ready)."""

# tincd's debug categories (logger.h in tinc 1.0 and 1.1).
DEBUG_CONNECTIONS = 1
DEBUG_STATUS = 2
DEBUG_PROTOCOL = 3
DEBUG_META = 4
DEBUG_TRAFFIC = 5
DEBUG_PACKET = 6
DEBUG_SCARY_THINGS = 10


def level_for(debug: int) -> int:
    """The Python logging level at which tinc debug level ``debug`` shows."""
    return NOTICE - max(0, min(debug, 10))


for _debug, _name in (
    (DEBUG_CONNECTIONS, "CONNECTIONS"),
    (DEBUG_STATUS, "STATUS"),
    (DEBUG_PROTOCOL, "PROTOCOL"),
    (DEBUG_META, "META"),
    (DEBUG_TRAFFIC, "TRAFFIC"),
    (DEBUG_PACKET, "PACKET"),
    (DEBUG_SCARY_THINGS, "SCARY"),
):
    logging.addLevelName(level_for(_debug), _name)


class _FileFormatter(logging.Formatter):
    """``2026-11-28 03:30:00 tinc.NET[1234]: message``, as tincd's logfile."""

    def __init__(self, ident: str) -> None:
        super().__init__()
        self.ident = ident

    def format(self, record: logging.LogRecord) -> str:
        stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(record.created))
        return f"{stamp} {self.ident}[{os.getpid()}]: {record.getMessage()}"


def log_ident(netname: str | None) -> str:
    """tincd's log identity: ``tinc.NET`` or ``tinc``."""
    return f"tinc.{netname}" if netname else "tinc"


def setup_logging(
    debug: int,
    *,
    netname: str | None,
    logfile: str | None = None,
    syslog: bool = False,
    fallback_logfile: str | None = None,
) -> logging.Handler:
    """Route the root logger to one destination at the threshold for ``debug``.

    With ``syslog`` but no ``/dev/log`` (no syslog daemon), logs go to
    ``fallback_logfile`` instead.

    Returns the handler so the daemon can reopen a logfile on SIGHUP.
    """
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
        old.close()
    handler: logging.Handler
    if logfile:
        handler = logging.FileHandler(logfile, encoding="utf-8")
        handler.setFormatter(_FileFormatter(log_ident(netname)))
    elif syslog and os.path.exists("/dev/log"):
        handler = logging.handlers.SysLogHandler(
            address="/dev/log", facility=logging.handlers.SysLogHandler.LOG_DAEMON
        )
        handler.setFormatter(logging.Formatter(f"{log_ident(netname)}[%(process)d]: %(message)s"))
    elif syslog and fallback_logfile:
        # No syslog daemon (containers): keep the log rather than lose it.
        handler = logging.FileHandler(fallback_logfile, encoding="utf-8")
        handler.setFormatter(_FileFormatter(log_ident(netname)))
    else:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(message)s"))
    root.addHandler(handler)
    root.setLevel(level_for(debug))
    return handler
