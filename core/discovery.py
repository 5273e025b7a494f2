"""The contract of discovery plugins: where can a peer be reached?

A discovery method (``Discovery = static ...`` in tinc.conf) is registered as a
factory; the node builds one source per method **once per configuration**
(again after a SIGHUP re-read, never per dial), calls :meth:`DiscoverySource.start`
once its event loop runs and :meth:`DiscoverySource.stop` at shutdown or
before the source is replaced.

Addresses reach the node two ways, and a source may use either or both:

* **pull**: before each round of connection attempts to a ``ConnectTo`` peer
  the node awaits :meth:`DiscoverySource.candidates` of every source, in
  ``Discovery`` order (a source that must ask the network, DNS-SD say, may
  take its time: it is a coroutine);
* **push**: a source that learns addresses by itself (an mDNS browser) calls
  :attr:`DiscoveryContext.push` at any time. The node remembers the latest
  push of each source per peer and offers it after that source's pulled
  candidates at the next dial; a push for a peer whose outgoing connection
  waits out its back-off makes it try again at once. What old sources pushed
  is forgotten when a re-read configuration replaces them.

Candidates are unresolved: the node resolves names without blocking its loop
and tries every address in order, as tincd walks its ``Address`` lines.
:class:`Discovery` is the node's side of the contract: the built sources,
what they pushed, and the pull in order.
"""

from __future__ import annotations

import abc
import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from tinca.core.errors import TincaError

if TYPE_CHECKING:
    from tinca.core.config.model import Configuration
    from tinca.core.registry import Registry

log = logging.getLogger("tinca")


@dataclass(frozen=True)
class Candidate:
    """One way to reach a peer: a host name or address, a port, and who said so."""

    host: str
    port: str
    source: str


Push = Callable[[str, Sequence[Candidate]], None]
"""``push(peer, candidates)``: a source's current list for ``peer``."""


@dataclass(frozen=True)
class DiscoveryContext:
    """What a discovery factory gets: ``factory(context) -> DiscoverySource``.

    ``config`` is the node's validated configuration. ``push(peer,
    candidates)`` reports the addresses the source now knows for ``peer``,
    best first; each push replaces the source's previous one for that peer
    (push an empty list to withdraw them). Call it from the node's event loop
    (a source with threads hands over with ``loop.call_soon_threadsafe``).
    """

    config: Configuration
    push: Push


class DiscoverySource(abc.ABC):
    """One discovery method, built once per configuration by its factory.

    Only :meth:`candidates` is required; a source that does work in the
    background overrides :meth:`start` and :meth:`stop`.
    """

    @abc.abstractmethod
    async def candidates(self, peer: str) -> list[Candidate]:
        """Addresses to try for ``peer`` now, best first (may be empty).

        Awaited before each round of connection attempts to ``peer``. Raising
        :class:`~tinca.core.errors.TincaError` (or ``OSError``) is logged and
        counts as no candidates; the other sources are still asked.
        """

    def start(self) -> None:  # noqa: B027 - optional hook, nothing to do by default
        """Begin background work; called once, from the running event loop,
        before the first dial (create tasks with ``asyncio.get_running_loop()``)."""

    def stop(self) -> None:  # noqa: B027 - optional hook, nothing to do by default
        """End background work (cancel tasks, close sockets); called once, at
        shutdown or before a re-read configuration replaces the source. Pushes
        after this are ignored."""


DiscoveryFactory = Callable[[DiscoveryContext], DiscoverySource]
"""What ``tinca_register_discovery`` registers."""


class Discovery:
    """The node's discovery sources for one configuration, and their pushes.

    ``methods`` are the registered names to build, in order (``Discovery`` in
    tinc.conf); ``on_push(peer)`` is called after a source pushed candidates
    for ``peer`` (the node retries a waiting connection there), not after it
    withdrew them.
    """

    def __init__(
        self,
        registry: Registry,
        config: Configuration,
        methods: Iterable[str],
        on_push: Callable[[str], None],
    ) -> None:
        self._on_push = on_push
        self._stopped = False
        #: (method name, source), in ``Discovery`` order
        self.sources: list[tuple[str, DiscoverySource]] = []
        #: method name -> peer -> the latest candidates it pushed
        self.pushed: dict[str, dict[str, list[Candidate]]] = {}
        for method in methods:
            factory: DiscoveryFactory = registry.get(method).value
            self.pushed[method] = {}
            source = factory(DiscoveryContext(config, self._push_for(method)))
            self.sources.append((method, source))

    def _push_for(self, method: str) -> Push:
        def push(peer: str, candidates: Sequence[Candidate]) -> None:
            if self._stopped:
                return
            self.pushed[method][peer] = list(candidates)
            if candidates:  # a withdrawal gives a waiting peer nothing new to try
                self._on_push(peer)

        return push

    def start(self) -> None:
        """Start every source, in order."""
        for method, source in self.sources:
            try:
                source.start()
            except Exception as err:  # a broken plugin must not stop the node
                log.error("Starting discovery method %s failed: %s", method, err)

    def stop(self) -> None:
        """Stop every source; later pushes are ignored."""
        self._stopped = True
        for method, source in self.sources:
            try:
                source.stop()
            except Exception as err:  # a broken plugin must not stop the node
                log.error("Stopping discovery method %s failed: %s", method, err)

    async def candidates(self, peer: str) -> list[Candidate]:
        """Every source's candidates for ``peer`` in ``Discovery`` order, each
        source's pulled ones before those it pushed (repeats are kept: tincd
        tries a repeated ``Address`` line again, too)."""
        found: list[Candidate] = []
        for method, source in self.sources:
            try:
                found.extend(await source.candidates(peer))
            except (TincaError, OSError) as err:
                log.error("Discovery method %s failed for %s: %s", method, peer, err)
            found.extend(self.pushed[method].get(peer, ()))
        return found
