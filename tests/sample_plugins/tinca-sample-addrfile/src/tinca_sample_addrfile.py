"""tinca-sample-addrfile: a discovery source that watches a file of peer addresses.

tinca asks discovery methods where a ``ConnectTo`` peer can be reached; the
built-in ``static`` method reads ``Address`` lines in host files. This package
adds ``addrfile``, which reads them from one file that something else keeps
up to date (a provisioning tool, a cron job, a DHCP hook)::

    # tinc.conf
    ConnectTo = beta
    Discovery = addrfile static      # ask addrfile, then the host files
    AddressFile = /run/vpn/addresses # default: "addresses" in the config directory

    # the file: one "PEER HOST [PORT]" per line, # starts a comment
    beta 192.0.2.2 655

The host file of ``beta`` then needs no ``Address`` line at all.

What a discovery registration provides (hook ``tinca_register_discovery``)
    ``register(name, factory)`` where ``factory(context)`` gets a
    :class:`tinca.core.discovery.DiscoveryContext` (the validated
    configuration, and ``push(peer, candidates)``) and returns a
    :class:`tinca.core.discovery.DiscoverySource`. The node builds it once
    per configuration, calls ``start()`` from its running event loop and
    ``stop()`` at shutdown or before a SIGHUP replaces it.

Pull or push
    A source may answer ``candidates(peer)`` before each dial (pull: the
    ``static`` method does) or report addresses when it learns them (push).
    This one pushes: ``start()`` begins a task that looks at the file every
    :data:`POLL_INTERVAL` seconds and pushes each peer whose lines changed
    (an empty push withdraws a peer that was removed). A push ends the back-off
    of a waiting connection, so a peer added to the file is dialled at once.
    Each push is logged at INFO (``addrfile: beta at 192.0.2.2 port 655``).

Configuration variable ``AddressFile`` (hook ``tinca_config_variables``)
    Declared here, so tinca validates and documents it and ``tinca config
    convert`` carries it to the TOML form. A relative path is taken from the
    configuration directory.

Entry point: ``sample-addrfile = "tinca_sample_addrfile"`` in the ``tinca`` group.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tinca.core import hookimpl
from tinca.core.config.values import Text
from tinca.core.config.variables import Scope, Variable
from tinca.core.discovery import Candidate, DiscoveryContext, DiscoverySource, Push

log = logging.getLogger("tinca_sample_addrfile")

METHOD = "addrfile"
"""The name ``Discovery`` selects this source by."""
FILE_VARIABLE = "AddressFile"
DEFAULT_FILE = "addresses"
DEFAULT_PORT = "655"
POLL_INTERVAL = 1.0
"""Seconds between looks at the file (a cheap ``stat`` unless it changed)."""


def parse_addresses(text: str) -> dict[str, list[Candidate]]:
    """Every peer's candidates in ``text`` ("PEER HOST [PORT]" lines), in file order.

    Blank lines and ``#`` comments are skipped; a malformed line is logged and
    skipped, so one typo does not hide the other peers.
    """
    found: dict[str, list[Candidate]] = {}
    for number, line in enumerate(text.splitlines(), 1):
        words = line.split("#", 1)[0].split()
        if not words:
            continue
        if len(words) not in (2, 3):
            log.warning("addrfile: line %d: expected 'PEER HOST [PORT]', got %r", number, line)
            continue
        peer, host, *port = words
        found.setdefault(peer, []).append(Candidate(host, port[0] if port else DEFAULT_PORT,
                                                    METHOD))
    return found


class AddressFileSource(DiscoverySource):
    """Pushes the addresses listed in ``path`` whenever the file changes.

    :meth:`poll` does one look (no waiting: a test calls it directly); the
    task :meth:`start` creates calls it every ``interval`` seconds.
    """

    def __init__(self, path: Path, push: Push, interval: float = POLL_INTERVAL) -> None:
        self.path = path
        self.interval = interval
        self._push = push
        self._stamp: tuple[int, int] | None = None
        self._pushed: dict[str, list[Candidate]] = {}
        self._task: asyncio.Task[None] | None = None

    async def candidates(self, peer: str) -> list[Candidate]:
        """Nothing to pull: everything this source knows it has pushed."""
        return []

    def poll(self) -> None:
        """Read the file if it changed and push what changed (a missing file lists nobody)."""
        try:
            info = self.path.stat()
            stamp: tuple[int, int] | None = (info.st_mtime_ns, info.st_size)
        except FileNotFoundError:
            stamp = None
        if stamp == self._stamp:
            return
        self._stamp = stamp
        try:
            listed = parse_addresses(self.path.read_text()) if stamp else {}
        except OSError as err:
            log.warning("addrfile: cannot read %s: %s", self.path, err.strerror)
            return
        for peer in sorted(set(listed) | set(self._pushed)):
            candidates = listed.get(peer, [])
            if candidates == self._pushed.get(peer, []):
                continue
            where = ", ".join(f"{c.host} port {c.port}" for c in candidates) or "nowhere"
            log.info("addrfile: %s at %s", peer, where)
            self._push(peer, candidates)
        self._pushed = listed

    def start(self) -> None:
        """Look at the file now, then every ``interval`` seconds."""
        self.poll()
        self._task = asyncio.get_running_loop().create_task(self._watch())

    def stop(self) -> None:
        """Stop watching."""
        if self._task is not None:
            self._task.cancel()
            self._task = None

    async def _watch(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            self.poll()


def make_source(context: DiscoveryContext) -> AddressFileSource:
    """The factory tinca calls: read ``AddressFile`` from the configuration."""
    path = Path(context.config.server.get(FILE_VARIABLE))
    return AddressFileSource(Path(context.config.confbase) / path, context.push)


@hookimpl
def tinca_register_discovery(register: Callable[..., Any]) -> None:
    """Offer ``Discovery = addrfile``."""
    register(METHOD, make_source, doc="PEER HOST [PORT] lines of AddressFile, watched")


@hookimpl
def tinca_config_variables() -> list[Variable]:
    """Declare ``AddressFile``, which this plugin owns."""
    return [
        Variable(
            FILE_VARIABLE,
            Text(),
            "File of 'PEER HOST [PORT]' lines the addrfile discovery method watches.",
            default=DEFAULT_FILE,
            scope=Scope.SERVER,
            implemented=True,
            since="tinca",
        )
    ]
