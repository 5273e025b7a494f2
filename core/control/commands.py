"""Control commands that change the node: ``tinc purge`` and ``tinc disconnect``.

:func:`purge` forgets unreachable nodes with their edges and subnets and
tells the other nodes, as tinc's purge does; :func:`disconnect` closes the
meta connections with one node. Both act on a running
:class:`~tinca.core.node.node.Node` through its protocol, graph and
subnet table, and do no I/O of their own beyond what those send.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from tinca.core.logs import DEBUG_PROTOCOL, DEBUG_SCARY_THINGS, level_for
from tinca.core.meta import requests as rq

if TYPE_CHECKING:
    from tinca.core.node.node import Node

log = logging.getLogger("tinca")


def purge(runtime: Node) -> list[str]:
    """Forget unreachable nodes, their edges and subnets (``tinc purge``).

    As tinc's purge: every unreachable node's subnets are withdrawn
    (DEL_SUBNET to everyone; kept with StrictSubnets) and its edges deleted
    (DEL_EDGE to everyone unless TunnelServer). Then each unreachable node
    that no edge points to any more, and that keeps no subnet, is forgotten.
    Returns the names forgotten.
    """
    log.log(level_for(DEBUG_PROTOCOL), "Purging unreachable nodes")
    protocol, graph, subnets = runtime.protocol, runtime.graph, runtime.subnets
    settings = protocol.settings
    myself = runtime.myself
    unreachable = [n for n in graph.nodes() if n != myself and not graph.reachable(n)]
    for name in unreachable:
        log.log(level_for(DEBUG_SCARY_THINGS), "Purging node %s", name)
        for subnet in subnets.subnets_of(name):
            protocol.broadcast(rq.DelSubnet(protocol.nonce(), name, subnet))
            if not settings.strictsubnets:
                subnets.remove(name, subnet)
        for edge in graph.edges_from(name):
            if not settings.tunnelserver:
                protocol.broadcast(rq.DelEdge(protocol.nonce(), edge.from_, edge.to))
            graph.del_edge(edge.from_, edge.to)
    # tinc 1.0.36 skips a node that an edge still points to and goes on with
    # the next one (tinc 1.1 stops the whole loop there); tinca does the former.
    targets = {edge.to for edge in graph.edges()}
    forgotten = []
    for name in unreachable:
        if name in targets or subnets.subnets_of(name):
            continue
        graph.del_node(name)
        protocol.peers.pop(name, None)
        forgotten.append(name)
    return forgotten


def disconnect(runtime: Node, name: str) -> bool:
    """Close every meta connection with ``name``; whether there was one.

    An active connection is closed as after a failure, with DEL_EDGE to
    everyone (tinc: ``terminate_connection(c, c->edge)``), and an outgoing
    one is then re-established as usual.
    """
    found = False
    for link in list(runtime.protocol.links):
        if link.name == name:
            link.close(report=link.active)
            found = True
    return found
