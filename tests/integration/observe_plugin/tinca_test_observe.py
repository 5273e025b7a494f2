"""A metrics-and-commands plugin for tests/integration/test_observability.py.

Loaded with ``LoadPlugin = tinca_test_observe`` (this directory on
PYTHONPATH). It fills the observability and command slots the way a
Prometheus exporter and its command line would:

- ``tinca_metrics_start`` keeps the node's counters handle; the ``scrape``
  control request reads it from another thread, as an exporter's HTTP
  thread would.
- ``tinca_peer_key_changed`` and ``tinca_path_mtu_changed`` log one line each.
- The ``counters`` control request answers from the read-only node view.
- ``tinca peer-counts view|scrape NAME`` prints what the daemon answered.
"""

from __future__ import annotations

import logging
import threading

from tinca.core.cli.tinca import Context
from tinca.core.control.handler import NodeView, PluginRequestError
from tinca.core.counters import Counters, CountersSnapshot
from tinca.core.events import NodeEvent, PathMTUEvent, PeerKeyEvent
from tinca.core.hookspecs import Register
from tinca.core.markers import hookimpl

log = logging.getLogger("tinca")
_handle: list[Counters] = []


@hookimpl
def tinca_metrics_start(counters: Counters, node: NodeEvent) -> None:
    _handle[:] = [counters]
    log.warning("observe: metrics for %s", node.name)


@hookimpl
def tinca_peer_key_changed(event: PeerKeyEvent) -> None:
    log.warning("observe: key from %s rekey=%s", event.peer, event.rekey)


@hookimpl
def tinca_path_mtu_changed(event: PathMTUEvent) -> None:
    log.warning("observe: mtu of %s %s -> %s", event.peer, event.old, event.mtu)


def _lines(snapshot: CountersSnapshot, names: list[str]) -> list[str]:
    out = []
    for name in names:
        if name not in snapshot.peers:
            raise PluginRequestError(f"no peer {name}", 3)
        t = snapshot.peer(name)
        out.append(f"{name} {t.in_packets} {t.in_bytes} {t.out_packets} {t.out_bytes}")
    return out


def counters(view: NodeView, args: list[str]) -> list[str]:
    return _lines(view.counters(), args)


def scrape(view: NodeView, args: list[str]) -> list[str]:
    if not _handle:
        raise PluginRequestError("tinca_metrics_start was never called", 4)
    taken: list[CountersSnapshot] = []
    thread = threading.Thread(target=lambda: taken.append(_handle[0].snapshot()))
    thread.start()
    thread.join()
    return _lines(taken[0], args)


@hookimpl
def tinca_register_control_requests(register: Register) -> None:
    register("counters", counters, doc="Packets and bytes per peer, from the node view.")
    register("scrape", scrape, doc="The same, from the metrics handle in another thread.")


def peer_counts(ctx: Context, argv: list[str]) -> int:
    source, *names = argv
    reply = ctx.plugin_request("counters" if source == "view" else "scrape", *names)
    for line in reply.lines:
        print(line)
    return reply.status


@hookimpl
def tinca_register_cli_commands(register: Register) -> None:
    register("peer-counts", peer_counts, doc="Packets and bytes per peer: view|scrape NAME...")
