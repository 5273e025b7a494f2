"""The VPN's graph of nodes and edges, and what tincd 1.0.36 computes from it.

Every node announces an edge to each node it has a meta connection with
(ADD_EDGE). From all edges, :meth:`Graph.compute` derives what tincd's
``graph()`` (``graph.c``) derives, in the same order and with the same
tie-breaking:

1. **Shortest paths** (``sssp_bfs``): a breadth-first search from us. An edge
   counts only if its reverse edge exists too (both ends must agree they are
   connected). Nodes are visited in queue order and each node's edges in the
   order of their target's name, so equal-length paths resolve the way tincd
   resolves them. A node first reached over a path that is *indirect* (some
   edge on it has ``OPTION_INDIRECT``, or a node on it is reached indirectly)
   is revisited if a direct path turns up later. For every reachable node this
   gives

   - ``nexthop``: the neighbour of ours that meta traffic goes through (fixed
     at the first visit),
   - ``via``: the node UDP packets are sent to: the node itself when the path
     is direct, else the last node before the indirect part,
   - ``indirect``, ``options`` (those of the edge it was last reached over)
     and ``prevedge``.

   A node without a known UDP address takes the address of the edge it is
   reached over, if that address is numeric; once known the address sticks
   until the node becomes unreachable (or :meth:`Graph.set_udp_address`).

2. **Reachability** (end of ``sssp_bfs``): nodes are checked in name order;
   each node whose reachability changed is reported in that order (tincd runs
   ``host-up`` / ``host-down`` and the subnet scripts right there, then sends
   its key (``ANS_KEY``) to a newly reachable node it has a connection with).
   A node that became unreachable loses its UDP address and options.

3. **Minimum spanning tree** (``mst_kruskal``): Kruskal over the edges ordered
   by (weight, from, to), considering only edges with a reverse, starting at
   the first edge leaving a reachable node. Broadcasts travel over those of our
   meta connections that are in the tree (:attr:`GraphUpdate.mst_peers`).

Names compare as tincd's ``strcmp`` does (code point order equals UTF-8 byte
order). ``distance`` (hop count along the chosen path) is extra information:
tincd 1.0 does not keep it.
"""

from __future__ import annotations

import ipaddress
from bisect import bisect_left, insort
from collections import deque
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from types import MappingProxyType

from tinca.core.errors import TincaError

# Option bits of edges, nodes and connections are the meta protocol's (one
# definition, in tinca.core.meta.requests); re-exported for graph users.
from tinca.core.meta.requests import (
    OPTION_CLAMP_MSS,
    OPTION_INDIRECT,
    OPTION_PMTU_DISCOVERY,
    OPTION_TCPONLY,
)

__all__ = [
    "OPTION_CLAMP_MSS",
    "OPTION_INDIRECT",
    "OPTION_PMTU_DISCOVERY",
    "OPTION_TCPONLY",
    "UNREACHABLE",
    "Edge",
    "Graph",
    "GraphError",
    "GraphUpdate",
    "Reachability",
    "Route",
]


class GraphError(TincaError):
    """An operation on the graph that contradicts its contents."""


@dataclass(frozen=True, slots=True)
class Edge:
    """One direction of a meta connection, as announced by its ``from_`` end.

    ``address`` is ``(host, port)`` at which ``from_`` sees ``to``, as text,
    or ``None`` when unknown.
    """

    from_: str
    to: str
    address: tuple[str, str] | None
    options: int
    weight: int


@dataclass(frozen=True, slots=True)
class Route:
    """How a node is reached, as of the last :meth:`Graph.compute`.

    For unreachable nodes only ``reachable`` (``False``) is meaningful; the
    other fields are ``None``/``0``/``False`` (tincd leaves stale values).
    For our own node ``nexthop`` and ``via`` are our name and ``distance`` 0.
    """

    reachable: bool
    nexthop: str | None
    via: str | None
    distance: int | None
    indirect: bool
    address: tuple[str, str] | None
    options: int
    prevedge: Edge | None = None


UNREACHABLE = Route(False, None, None, None, False, None, 0, None)
"""The route of every node that cannot be reached."""


@dataclass(frozen=True, slots=True)
class Reachability:
    """A node whose reachability changed in a :meth:`Graph.compute`.

    ``address`` is its UDP address when the change happened (for a node that
    went down, the address it had, as tincd passes it to ``host-down``).
    """

    name: str
    reachable: bool
    address: tuple[str, str] | None


@dataclass(frozen=True)
class GraphUpdate:
    """The result of one :meth:`Graph.compute`."""

    #: every known node's route, in name order (our own node included)
    routes: Mapping[str, Route]
    #: the edges tincd's Kruskal picked, as (from, to) in the direction picked
    mst: frozenset[tuple[str, str]]
    #: our neighbours whose meta connection is in the spanning tree
    mst_peers: frozenset[str]
    #: reachability changes in the order tincd runs host-up/host-down
    changes: tuple[Reachability, ...]

    @property
    def became_reachable(self) -> tuple[str, ...]:
        """Names of nodes that became reachable, in script order."""
        return tuple(c.name for c in self.changes if c.reachable)

    @property
    def became_unreachable(self) -> tuple[str, ...]:
        """Names of nodes that became unreachable, in script order."""
        return tuple(c.name for c in self.changes if not c.reachable)


class _Node:
    __slots__ = ("address", "edges", "name", "reachable")

    def __init__(self, name: str) -> None:
        self.name = name
        #: outgoing edges by target name
        self.edges: dict[str, Edge] = {}
        self.reachable = False
        self.address: tuple[str, str] | None = None


def _numeric(address: tuple[str, str] | None) -> bool:
    """Whether tincd would parse ``address`` (numeric host and port only)."""
    if address is None:
        return False
    host, port = address
    try:
        ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        return False
    return port.isdigit()


class Graph:
    """Nodes and edges of the VPN as seen from ``myself``.

    ``options`` are our own node's option bits (reported in our route).
    Changes take effect at the next :meth:`compute`; lookups of routes and
    reachability answer from the last one.
    """

    def __init__(self, myself: str, options: int = 0) -> None:
        self.myself = myself
        self.options = options
        self._nodes: dict[str, _Node] = {}
        self._edges: dict[tuple[str, str], Edge] = {}
        #: (weight, from, to) of every edge, sorted: tincd's edge_weight_tree
        self._by_weight: list[tuple[int, str, str]] = []
        me = self._node(myself)
        me.reachable = True
        self._routes: Mapping[str, Route] = MappingProxyType(
            {myself: Route(True, myself, myself, 0, False, None, options, None)})
        self._mst_peers: frozenset[str] = frozenset()

    # -- nodes --------------------------------------------------------------

    def _node(self, name: str) -> _Node:
        node = self._nodes.get(name)
        if node is None:
            node = self._nodes[name] = _Node(name)
        return node

    def add_node(self, name: str) -> None:
        """Make ``name`` known (unreachable until edges connect it)."""
        self._node(name)

    def del_node(self, name: str) -> None:
        """Forget ``name`` and the edges it announced.

        Raises :class:`GraphError` for our own node or while other nodes still
        announce edges to it (tincd deletes a node only then, in ``purge``).
        """
        if name == self.myself:
            raise GraphError("cannot delete our own node")
        node = self._nodes.get(name)
        if node is None:
            return
        pointing = [f for (f, t) in self._edges if t == name and f != name]
        if pointing:
            raise GraphError(f"node {name} still has edges from {', '.join(sorted(pointing))}")
        for to in list(node.edges):
            self.del_edge(name, to)
        del self._nodes[name]

    def nodes(self) -> list[str]:
        """All known node names, sorted (tincd's node_tree order)."""
        return sorted(self._nodes)

    def __contains__(self, name: object) -> bool:
        return name in self._nodes

    # -- edges --------------------------------------------------------------

    def add_edge(self, edge: Edge) -> Edge | None:
        """Add ``edge``, creating unknown nodes; replaces an edge with the same
        ends and returns the replaced one (or ``None``)."""
        if edge.from_ == edge.to:
            raise GraphError(f"edge from {edge.from_} to itself")
        old = self.del_edge(edge.from_, edge.to)
        self._node(edge.from_).edges[edge.to] = edge
        self._node(edge.to)
        self._edges[edge.from_, edge.to] = edge
        insort(self._by_weight, (edge.weight, edge.from_, edge.to))
        return old

    def del_edge(self, from_: str, to: str) -> Edge | None:
        """Remove the edge ``from_`` → ``to``; returns it, or ``None`` if absent."""
        edge = self._edges.pop((from_, to), None)
        if edge is None:
            return None
        del self._nodes[from_].edges[to]
        key = (edge.weight, from_, to)
        del self._by_weight[bisect_left(self._by_weight, key)]
        return edge

    def edge(self, from_: str, to: str) -> Edge | None:
        """The edge ``from_`` → ``to``, or ``None``."""
        return self._edges.get((from_, to))

    def edges(self) -> list[Edge]:
        """All edges in tincd's weight order: (weight, from, to)."""
        edges = self._edges
        return [edges[f, t] for (_, f, t) in self._by_weight]

    def edges_from(self, name: str) -> list[Edge]:
        """The edges ``name`` announced, ordered by target name."""
        node = self._nodes.get(name)
        if node is None:
            return []
        return [node.edges[to] for to in sorted(node.edges)]

    def __iter__(self) -> Iterator[Edge]:
        """Edges grouped by source node, in name order (``dump edges``)."""
        for name in sorted(self._nodes):
            yield from self.edges_from(name)

    # -- addresses ----------------------------------------------------------

    def udp_address(self, name: str) -> tuple[str, str] | None:
        """Where UDP packets for ``name`` go now, or ``None`` if unknown."""
        node = self._nodes.get(name)
        return None if node is None else node.address

    def set_udp_address(self, name: str, address: tuple[str, str] | None) -> None:
        """Record that ``name`` sends from ``address`` (tincd's update_node_udp).

        Raises :class:`GraphError` for our own node or an unknown one.
        """
        if name == self.myself:
            raise GraphError("cannot set the UDP address of our own node")
        node = self._nodes.get(name)
        if node is None:
            raise GraphError(f"unknown node {name}")
        node.address = address

    # -- results ------------------------------------------------------------

    def reachable(self, name: str) -> bool:
        """Whether ``name`` was reachable at the last :meth:`compute`."""
        node = self._nodes.get(name)
        return node is not None and node.reachable

    def route(self, name: str) -> Route:
        """The route to ``name`` from the last :meth:`compute`."""
        return self._routes.get(name, UNREACHABLE)

    @property
    def routes(self) -> Mapping[str, Route]:
        """All routes from the last :meth:`compute`, in name order."""
        return self._routes

    @property
    def mst_peers(self) -> frozenset[str]:
        """Our neighbours in the spanning tree, from the last :meth:`compute`."""
        return self._mst_peers

    # -- the algorithms -----------------------------------------------------

    def compute(self) -> GraphUpdate:
        """Run tincd's shortest paths, reachability check and spanning tree."""
        nodes = self._nodes
        edges = self._edges
        me = self.myself

        # Shortest paths: breadth-first, revisiting nodes first found indirectly.
        indirect: dict[str, bool] = {me: False}
        nexthop: dict[str, str] = {me: me}
        via: dict[str, str] = {me: me}
        prevedge: dict[str, Edge] = {}
        options: dict[str, int] = {}
        distance: dict[str, int] = {me: 0}
        targets: dict[str, list[str]] = {}
        queue = deque((me,))
        while queue:
            name = queue.popleft()
            order = targets.get(name)
            if order is None:
                order = targets[name] = sorted(nodes[name].edges)
            out = nodes[name].edges
            path_indirect = indirect[name]
            for to in order:
                if (to, name) not in edges:
                    continue
                edge = out[to]
                now_indirect = path_indirect or bool(edge.options & OPTION_INDIRECT)
                seen = to in indirect
                if seen and (not indirect[to] or now_indirect):
                    continue
                if not seen:
                    nexthop[to] = to if nexthop[name] == me else nexthop[name]
                indirect[to] = now_indirect
                prevedge[to] = edge
                via[to] = via[name] if now_indirect else to
                options[to] = edge.options
                distance[to] = distance[name] + 1
                target = nodes[to]
                if target.address is None and to != me and _numeric(edge.address):
                    target.address = edge.address
                queue.append(to)

        # Reachability, in name order as tincd runs its scripts.
        changes: list[Reachability] = []
        routes: dict[str, Route] = {}
        for name in sorted(nodes):
            node = nodes[name]
            visited = name in indirect
            if visited != node.reachable:
                node.reachable = visited
                changes.append(Reachability(name, visited, node.address))
                if not visited:
                    node.address = None
            if name == me:
                routes[name] = Route(True, me, me, 0, False, None, self.options, None)
            elif visited:
                routes[name] = Route(True, nexthop[name], via[name], distance[name],
                                     indirect[name], node.address, options[name],
                                     prevedge[name])
            else:
                routes[name] = UNREACHABLE

        mst = self._kruskal()
        peers = frozenset(t if f == me else f for (f, t) in mst if me in (f, t))
        self._routes = MappingProxyType(routes)
        self._mst_peers = peers
        return GraphUpdate(self._routes, frozenset(mst), peers, tuple(changes))

    def _kruskal(self) -> set[tuple[str, str]]:
        """tincd's ``mst_kruskal``, including its restart-after-skip loop."""
        order = self._by_weight
        edges = self._edges
        nodes = self._nodes
        tree: set[tuple[str, str]] = set()
        if not order:
            return tree
        joined: set[str] = set()
        for _, f, _t in order:
            if nodes[f].reachable:
                joined.add(f)
                break
        skipped = False
        i = 0
        while i < len(order):
            _, f, t = order[i]
            if (t, f) not in edges or (f in joined) == (t in joined):
                skipped = True
                i += 1
                continue
            joined.add(f)
            joined.add(t)
            tree.add((f, t))
            if skipped:
                skipped = False
                i = 0
                continue
            i += 1
        return tree
