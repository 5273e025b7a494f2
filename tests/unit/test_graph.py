"""The graph: tincd 1.0.36's shortest paths, reachability and spanning tree."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tinca.core.graph import (
    OPTION_INDIRECT,
    Edge,
    Graph,
    GraphError,
    Reachability,
)


def link(graph: Graph, a: str, b: str, weight: int = 10, *, options_ab: int = 0,
         options_ba: int = 0, addr_ab: tuple[str, str] | None = None,
         addr_ba: tuple[str, str] | None = None) -> None:
    """Both directions of a meta connection between ``a`` and ``b``."""
    graph.add_edge(Edge(a, b, addr_ab, options_ab, weight))
    graph.add_edge(Edge(b, a, addr_ba, options_ba, weight))


def test_alone_only_ourselves_reachable() -> None:
    graph = Graph("alpha")
    update = graph.compute()
    assert list(update.routes) == ["alpha"]
    me = update.routes["alpha"]
    assert (me.reachable, me.nexthop, me.via, me.distance) == (True, "alpha", "alpha", 0)
    assert update.changes == ()
    assert update.mst == frozenset()


def test_line_nexthop_via_distance() -> None:
    graph = Graph("alpha")
    link(graph, "alpha", "beta", addr_ab=("192.0.2.2", "655"))
    link(graph, "beta", "gamma", addr_ab=("192.0.2.3", "655"))
    update = graph.compute()
    beta, gamma = update.routes["beta"], update.routes["gamma"]
    assert (beta.nexthop, beta.via, beta.distance, beta.indirect) == ("beta", "beta", 1, False)
    assert (gamma.nexthop, gamma.via, gamma.distance) == ("beta", "gamma", 2)
    assert gamma.prevedge == graph.edge("beta", "gamma")
    assert beta.address == ("192.0.2.2", "655")
    assert gamma.address == ("192.0.2.3", "655")
    assert update.became_reachable == ("beta", "gamma")
    assert update.became_unreachable == ()


def test_one_way_edge_does_not_make_a_node_reachable() -> None:
    graph = Graph("alpha")
    graph.add_edge(Edge("alpha", "beta", None, 0, 10))
    update = graph.compute()
    assert not update.routes["beta"].reachable
    assert update.changes == ()
    # The other side confirming the edge is what makes it count.
    graph.add_edge(Edge("beta", "alpha", None, 0, 10))
    assert graph.compute().became_reachable == ("beta",)


def test_one_way_edge_further_away_is_ignored() -> None:
    graph = Graph("alpha")
    link(graph, "alpha", "beta")
    graph.add_edge(Edge("beta", "gamma", None, 0, 10))
    update = graph.compute()
    assert update.routes["beta"].reachable
    assert not update.routes["gamma"].reachable


def test_disconnected_component_is_unreachable() -> None:
    graph = Graph("alpha")
    link(graph, "alpha", "beta")
    link(graph, "delta", "epsilon", weight=1)
    update = graph.compute()
    assert update.became_reachable == ("beta",)
    assert not update.routes["delta"].reachable
    assert not update.routes["epsilon"].reachable
    # tincd's Kruskal never joins edges whose ends are both outside the tree.
    assert update.mst == frozenset({("alpha", "beta")})


def test_equal_paths_resolve_by_name_order() -> None:
    # alpha reaches delta over yankee and over zulu; tincd's edge tree is sorted
    # by target name, so yankee is queued (and explored) first.
    graph = Graph("alpha")
    for middle in ("zulu", "yankee"):
        link(graph, "alpha", middle)
        link(graph, middle, "delta")
    update = graph.compute()
    delta = update.routes["delta"]
    assert delta.nexthop == "yankee"
    assert delta.prevedge == graph.edge("yankee", "delta")


def test_bfs_counts_hops_not_weights() -> None:
    # tincd 1.0 uses breadth-first search: a heavy direct edge beats two light ones.
    graph = Graph("alpha")
    link(graph, "alpha", "beta", weight=1000)
    link(graph, "alpha", "gamma", weight=1)
    link(graph, "gamma", "beta", weight=1)
    assert graph.compute().routes["beta"].nexthop == "beta"


def test_indirect_edge_relays_udp_via_the_last_direct_node() -> None:
    graph = Graph("alpha")
    link(graph, "alpha", "beta")
    link(graph, "beta", "gamma", options_ab=OPTION_INDIRECT)
    link(graph, "gamma", "delta")
    update = graph.compute()
    gamma, delta = update.routes["gamma"], update.routes["delta"]
    assert (gamma.nexthop, gamma.via, gamma.indirect) == ("beta", "beta", True)
    assert gamma.options == OPTION_INDIRECT
    # Everything behind an indirect hop is indirect too.
    assert (delta.nexthop, delta.via, delta.indirect) == ("beta", "beta", True)
    assert delta.options == 0


def test_our_own_indirect_edge_gives_via_ourselves() -> None:
    graph = Graph("alpha")
    link(graph, "alpha", "beta", options_ab=OPTION_INDIRECT)
    beta = graph.compute().routes["beta"]
    assert (beta.nexthop, beta.via, beta.indirect) == ("beta", "alpha", True)


def test_node_first_found_indirectly_is_revisited_but_keeps_nexthop() -> None:
    # beta is reached over an indirect edge and reaches delta first; gamma's
    # direct path to delta later upgrades delta to direct. tincd keeps the
    # nexthop from the first visit.
    graph = Graph("alpha")
    link(graph, "alpha", "beta", options_ab=OPTION_INDIRECT)
    link(graph, "alpha", "gamma")
    link(graph, "beta", "delta")
    link(graph, "gamma", "delta")
    delta = graph.compute().routes["delta"]
    assert delta.indirect is False
    assert delta.via == "delta"
    assert delta.nexthop == "beta"
    assert delta.prevedge == graph.edge("gamma", "delta")


def test_address_comes_from_the_first_edge_and_sticks() -> None:
    graph = Graph("alpha")
    link(graph, "alpha", "beta", addr_ab=("192.0.2.2", "655"))
    graph.compute()
    assert graph.udp_address("beta") == ("192.0.2.2", "655")
    # A new address on the edge does not move a reachable node.
    graph.add_edge(Edge("alpha", "beta", ("198.51.100.2", "655"), 0, 10))
    assert graph.compute().routes["beta"].address == ("192.0.2.2", "655")


def test_unreachable_node_loses_its_address_and_reports_the_old_one() -> None:
    graph = Graph("alpha")
    link(graph, "alpha", "beta", addr_ab=("192.0.2.2", "655"))
    graph.compute()
    graph.del_edge("beta", "alpha")
    update = graph.compute()
    assert update.changes == (Reachability("beta", False, ("192.0.2.2", "655")),)
    assert graph.udp_address("beta") is None
    # Coming back, it takes the edge's current address.
    graph.add_edge(Edge("alpha", "beta", ("198.51.100.2", "655"), 0, 10))
    graph.add_edge(Edge("beta", "alpha", None, 0, 10))
    update = graph.compute()
    assert update.changes == (Reachability("beta", True, ("198.51.100.2", "655")),)


def test_non_numeric_edge_address_is_not_used() -> None:
    graph = Graph("alpha")
    link(graph, "alpha", "beta", addr_ab=("beta.example", "655"))
    link(graph, "gamma", "beta", addr_ab=("192.0.2.2", "655"))
    link(graph, "alpha", "gamma")
    # beta is first reached from alpha over the edge with a host name (tincd
    # cannot parse it); then gamma's edge to beta offers nothing new either,
    # since beta is already visited directly.
    assert graph.compute().routes["beta"].address is None


def test_set_udp_address_overrides_until_unreachable() -> None:
    graph = Graph("alpha")
    link(graph, "alpha", "beta", addr_ab=("192.0.2.2", "655"))
    graph.compute()
    graph.set_udp_address("beta", ("203.0.113.9", "40000"))
    assert graph.compute().routes["beta"].address == ("203.0.113.9", "40000")
    with pytest.raises(GraphError):
        graph.set_udp_address("alpha", ("192.0.2.1", "655"))
    with pytest.raises(GraphError):
        graph.set_udp_address("nobody", ("192.0.2.1", "655"))


def test_reachability_changes_interleave_in_name_order() -> None:
    graph = Graph("mike")
    link(graph, "mike", "alpha")
    link(graph, "mike", "zulu")
    graph.compute()
    graph.del_edge("alpha", "mike")
    link(graph, "mike", "bravo")
    graph.del_edge("zulu", "mike")
    link(graph, "mike", "yankee")
    update = graph.compute()
    assert [(c.name, c.reachable) for c in update.changes] == [
        ("alpha", False), ("bravo", True), ("yankee", True), ("zulu", False)]
    assert update.became_reachable == ("bravo", "yankee")
    assert update.became_unreachable == ("alpha", "zulu")
    assert graph.compute().changes == ()


def test_unreachable_route_has_no_hops_and_no_options() -> None:
    graph = Graph("alpha")
    link(graph, "alpha", "beta", options_ab=OPTION_INDIRECT)
    graph.compute()
    graph.del_edge("alpha", "beta")
    beta = graph.compute().routes["beta"]
    assert (beta.reachable, beta.nexthop, beta.via, beta.options) == (False, None, None, 0)
    assert graph.route("nobody").reachable is False
    assert not graph.reachable("beta")
    assert graph.reachable("alpha")


def test_mst_triangle_keeps_the_two_lightest_links() -> None:
    graph = Graph("alpha")
    link(graph, "alpha", "beta", weight=5)
    link(graph, "beta", "gamma", weight=7)
    link(graph, "alpha", "gamma", weight=9)
    update = graph.compute()
    assert update.mst == frozenset({("alpha", "beta"), ("beta", "gamma")})
    assert update.mst_peers == frozenset({"beta"})
    assert graph.mst_peers == frozenset({"beta"})


def test_mst_star_all_spokes() -> None:
    graph = Graph("hub")
    for i, spoke in enumerate(("a1", "a2", "a3", "a4")):
        link(graph, "hub", spoke, weight=10 + i)
    update = graph.compute()
    assert update.mst_peers == frozenset({"a1", "a2", "a3", "a4"})
    assert len(update.mst) == 4


def test_mst_restarts_after_a_skipped_edge() -> None:
    # Weight order: charlie-delta (1), alpha-bravo (2), bravo-charlie (3). The
    # tree starts at charlie (first edge from a reachable node), skips
    # alpha-bravo (neither end in the tree yet), adds bravo-charlie, and only
    # because tincd then starts over from the lightest edge does it add
    # alpha-bravo.
    graph = Graph("alpha")
    link(graph, "charlie", "delta", weight=1)
    link(graph, "alpha", "bravo", weight=2)
    link(graph, "bravo", "charlie", weight=3)
    update = graph.compute()
    assert update.mst == frozenset({("charlie", "delta"), ("bravo", "charlie"),
                                    ("alpha", "bravo")})
    assert update.mst_peers == frozenset({"bravo"})


def test_mst_ignores_one_way_edges() -> None:
    graph = Graph("alpha")
    link(graph, "alpha", "beta", weight=10)
    graph.add_edge(Edge("alpha", "gamma", None, 0, 1))
    update = graph.compute()
    assert update.mst == frozenset({("alpha", "beta")})


def test_mst_direction_is_the_first_in_weight_order() -> None:
    graph = Graph("zulu")
    link(graph, "zulu", "alpha", weight=10)
    # Equal weights: (10, alpha, zulu) sorts before (10, zulu, alpha).
    update = graph.compute()
    assert update.mst == frozenset({("alpha", "zulu")})
    assert update.mst_peers == frozenset({"alpha"})


def test_edges_in_weight_order_and_per_node() -> None:
    graph = Graph("alpha")
    link(graph, "alpha", "gamma", weight=3)
    link(graph, "alpha", "beta", weight=3)
    link(graph, "beta", "gamma", weight=1)
    assert [(e.weight, e.from_, e.to) for e in graph.edges()] == [
        (1, "beta", "gamma"), (1, "gamma", "beta"), (3, "alpha", "beta"),
        (3, "alpha", "gamma"), (3, "beta", "alpha"), (3, "gamma", "alpha")]
    assert [e.to for e in graph.edges_from("alpha")] == ["beta", "gamma"]
    assert [(e.from_, e.to) for e in graph][:2] == [("alpha", "beta"), ("alpha", "gamma")]
    assert graph.nodes() == ["alpha", "beta", "gamma"]


def test_add_edge_replaces_and_reorders() -> None:
    graph = Graph("alpha")
    link(graph, "alpha", "beta", weight=5)
    old = graph.add_edge(Edge("alpha", "beta", None, 0, 50))
    assert old is not None and old.weight == 5
    assert [e.weight for e in graph.edges()] == [5, 50]
    assert graph.del_edge("alpha", "beta") is not None
    assert graph.del_edge("alpha", "beta") is None
    with pytest.raises(GraphError):
        graph.add_edge(Edge("alpha", "alpha", None, 0, 1))


def test_del_node_rules() -> None:
    graph = Graph("alpha")
    link(graph, "alpha", "beta")
    with pytest.raises(GraphError):
        graph.del_node("alpha")
    with pytest.raises(GraphError, match="alpha"):
        graph.del_node("beta")
    graph.del_edge("alpha", "beta")
    graph.del_node("beta")
    assert "beta" not in graph
    assert graph.edges() == []


names = st.sampled_from(["alpha", "bravo", "charlie", "delta", "echo", "fox"])


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(names, names, st.integers(0, 3), st.booleans()), max_size=25))
def test_random_graphs_are_consistent(spec: list[tuple[str, str, int, bool]]) -> None:
    graph = Graph("alpha")
    for a, b, weight, indirect in spec:
        if a != b:
            graph.add_edge(Edge(a, b, None, OPTION_INDIRECT if indirect else 0, weight))
    update = graph.compute()
    reachable = {n for n, r in update.routes.items() if r.reachable}
    # Reachable = connected to us by edges confirmed in both directions.
    seen, todo = {"alpha"}, ["alpha"]
    while todo:
        n = todo.pop()
        for e in graph.edges_from(n):
            if graph.edge(e.to, n) and e.to not in seen:
                seen.add(e.to)
                todo.append(e.to)
    assert reachable == seen
    for name in reachable - {"alpha"}:
        route = update.routes[name]
        assert route.nexthop in reachable and graph.edge("alpha", route.nexthop)
        assert route.via in reachable
    # The tree spans exactly the reachable nodes without cycles.
    assert len(update.mst) == len(reachable) - 1
    assert {n for e in update.mst for n in e} <= reachable
    # A second run changes nothing.
    again = graph.compute()
    assert again.changes == ()
    assert again.routes == update.routes
