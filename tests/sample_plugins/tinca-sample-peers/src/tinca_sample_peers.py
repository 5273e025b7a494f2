"""tinca-sample-peers: ``tinca peers``, a table of the running node's peers.

A command line plugin has two halves: a ``tinca`` subcommand that runs in the
user's shell, and a control request that runs inside the daemon and answers
it over the control socket. This package adds both, named ``peers``::

    $ tinca -n vpn peers
    PEER   STATE        ADDRESS        PATH  PMTU  IN PACKETS  OUT PACKETS
    beta   reachable    192.0.2.2:655  udp   1451          12           12
    gamma  unreachable  -              -        0           0            0

``tinca peers NAME...`` shows only those peers.

What a CLI command registration provides (hook ``tinca_register_cli_commands``)
    ``register(name, handler)`` where ``handler(context, argv) -> int`` gets
    a :class:`tinca.core.cli.tinca.Context` (the network's names, the
    pidfile, ``plugin_request(name, *args)`` for the running daemon) and the
    words after the command's name, prints what it likes and returns the
    exit status. Raise :class:`tinca.core.errors.TincaError` for a mistake
    the user can fix: tinca prints it and exits with status 1. ``tinca
    help`` lists the command with its ``doc``.

What a control request registration provides (hook ``tinca_register_control_requests``)
    ``register(name, handler)`` where ``handler(view, args)`` runs on the
    daemon's event loop with a read-only
    :class:`tinca.core.control.handler.NodeView` (``nodes()`` gives the
    records ``tinca dump nodes`` prints) and returns the reply lines; raise
    :class:`tinca.core.control.handler.PluginRequestError` to fail with a
    status. It must be quick: the node waits while it runs.

The reply is plain words, one peer per line (:func:`peer_rows`), so the
daemon's half stays small and the command formats the table.

Entry point: ``sample-peers = "tinca_sample_peers"`` in the ``tinca`` group.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from tinca.core import hookimpl
from tinca.core.cli.tinca import Context
from tinca.core.control.handler import NodeView, PluginRequestError
from tinca.core.control.records import NODE_REACHABLE, NODE_UDP_CONFIRMED, NodeRecord
from tinca.core.errors import TincaError

NAME = "peers"
"""The command's and the control request's name."""
HEADER = ("PEER", "STATE", "ADDRESS", "PATH", "PMTU", "IN PACKETS", "OUT PACKETS")
NO_SUCH_PEER = 3
"""The request's status when a named peer is unknown."""


def peer_row(record: NodeRecord) -> tuple[str, ...]:
    """One table row (:data:`HEADER`'s columns) for a ``dump nodes`` record."""
    reachable = bool(record.status & NODE_REACHABLE)
    address = f"{record.host}:{record.port}" if reachable and record.host != "unknown" else "-"
    path = ("udp" if record.status & NODE_UDP_CONFIRMED else "tcp") if reachable else "-"
    return (record.name, "reachable" if reachable else "unreachable", address, path,
            str(record.pmtu), str(record.in_packets), str(record.out_packets))


def peer_rows(view: NodeView, args: list[str]) -> list[str]:
    """The control request: every peer (or those named in ``args``), one line
    of blank-separated words each, in name order."""
    records = {record.name: record for record in view.nodes() if record.name != view.name}
    unknown = [name for name in args if name not in records]
    if unknown:
        raise PluginRequestError(f"unknown peer {', '.join(unknown)}", NO_SUCH_PEER)
    wanted = args or sorted(records)
    return [" ".join(peer_row(records[name])) for name in wanted]


def table(rows: list[tuple[str, ...]]) -> str:
    """``rows`` under :data:`HEADER`, columns aligned (numbers to the right)."""
    everything = [HEADER, *rows]
    widths = [max(len(row[i]) for row in everything) for i in range(len(HEADER))]
    lines = []
    for row in everything:
        cells = [cell.rjust(w) if i >= 4 else cell.ljust(w)
                 for i, (cell, w) in enumerate(zip(row, widths, strict=True))]
        lines.append("  ".join(cells).rstrip())
    return "\n".join(lines)


def peers_command(ctx: Context, argv: list[str]) -> int:
    """``tinca peers [NAME...]``: ask the daemon, print the table."""
    reply = ctx.plugin_request(NAME, *argv)
    if reply.status != 0:
        raise TincaError("; ".join(reply.lines) or f"the daemon answered status {reply.status}")
    print(table([tuple(line.split()) for line in reply.lines]))
    return 0


@hookimpl
def tinca_register_cli_commands(register: Callable[..., Any]) -> None:
    """Offer ``tinca peers``."""
    register(NAME, peers_command, doc="A table of the running node's peers: peers [NAME...]")


@hookimpl
def tinca_register_control_requests(register: Callable[..., Any]) -> None:
    """Offer the ``peers`` control request that ``tinca peers`` sends."""
    register(NAME, peer_rows, doc="Every peer's state, address, path and packets.")
