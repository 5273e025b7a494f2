"""The meta protocol's request handlers, driven with fake links (no sockets).

Each test plays requests at a :class:`MetaProtocol` the way tincd 1.0.36
peers would, and checks what it sends where, what it floods, and which
lifecycle events it reports.
"""

from __future__ import annotations

import pytest

from tests.unit.node.fakes import Harness
from tinca.core.meta import requests as rq
from tinca.core.subnet import Subnet


def test_activation_sends_everything_and_announces_our_edge() -> None:
    h = Harness()
    h.protocol.add_own_subnet(Subnet.parse("198.18.0.1/32"))
    beta = h.connect("beta")
    assert beta.active and beta.name == "beta"
    types = beta.types()
    # our subnet, then our new edge (sent to everyone, beta included)
    assert types == [rq.RequestType.ADD_SUBNET, rq.RequestType.ADD_EDGE]
    edge = rq.parse_request(beta.sent[-1])
    assert isinstance(edge, rq.AddEdge)
    assert (edge.from_name, edge.to_name, edge.address, edge.port) == (
        "alpha", "beta", "192.0.2.2", "655",
    )
    # beta is not reachable yet: tinc needs beta's edge back to us too
    assert not h.graph.reachable("beta")
    h.protocol.handle(beta, "12 1 beta alpha 192.0.2.1 655 c 10")
    assert h.graph.reachable("beta")
    assert [e.kind for e in h.events] == ["host-up"]
    # A neighbour that comes up is sent our key at once.
    assert rq.parse_request(beta.sent[-1]).type == rq.RequestType.ANS_KEY


def test_flooded_requests_are_forwarded_once_to_everyone_else() -> None:
    h = Harness()
    beta, gamma = h.connect("beta"), h.connect("gamma", "192.0.2.3")
    beta.sent.clear()
    gamma.sent.clear()
    line = "10 2a beta 198.18.0.2/32#10"
    h.protocol.handle(beta, line)
    h.protocol.handle(gamma, line)  # the same flood arriving by another way
    assert gamma.sent == [line]
    assert beta.sent == []
    assert h.protocol.subnets.has("beta", Subnet.parse("198.18.0.2/32"))


def test_add_subnet_for_ourselves_is_retaliated() -> None:
    h = Harness()
    beta = h.connect("beta")
    beta.sent.clear()
    h.protocol.handle(beta, "10 7 alpha 198.18.9.0/24#10")
    assert [rq.parse_request(x).type for x in beta.sent] == [rq.RequestType.DEL_SUBNET]
    assert not h.protocol.subnets.has("alpha", Subnet.parse("198.18.9.0/24"))


def test_strict_subnets_ignores_but_forwards() -> None:
    h = Harness(strictsubnets=True)
    beta, gamma = h.connect("beta"), h.connect("gamma", "192.0.2.3")
    gamma.sent.clear()
    h.protocol.handle(beta, "10 8 beta 198.18.0.2/32#10")
    assert not h.protocol.subnets.has("beta", Subnet.parse("198.18.0.2/32"))
    assert gamma.sent == ["10 8 beta 198.18.0.2/32#10"]


def test_tunnel_server_ignores_indirect_registrations() -> None:
    h = Harness(tunnelserver=True)
    beta = h.connect("beta")
    h.protocol.handle(beta, "12 9 gamma delta 192.0.2.9 655 c 10")
    assert h.graph.edge("gamma", "delta") is None
    h.protocol.handle(beta, "10 9 gamma 198.18.0.7/32#10")
    assert not h.protocol.subnets.has("gamma", Subnet.parse("198.18.0.7/32"))


def test_edge_contradictions_about_ourselves_are_corrected() -> None:
    h = Harness()
    beta = h.connect("beta")
    beta.sent.clear()
    # Someone claims we have an edge we do not have: tell them to delete it.
    h.protocol.handle(beta, "12 5 alpha gamma 192.0.2.3 655 c 10")
    assert rq.parse_request(beta.sent[-1]).type == rq.RequestType.DEL_EDGE
    # Someone deletes our real edge: send it back.
    h.protocol.handle(beta, "13 6 alpha beta")
    assert rq.parse_request(beta.sent[-1]).type == rq.RequestType.ADD_EDGE
    assert h.graph.edge("alpha", "beta") is not None


def test_closing_a_link_withdraws_our_edge_and_reports_host_down() -> None:
    h = Harness()
    beta, gamma = h.connect("beta"), h.connect("gamma", "192.0.2.3")
    h.protocol.handle(beta, "12 1 beta alpha 192.0.2.1 655 c 10")
    h.protocol.handle(beta, "10 2 beta 198.18.0.2/32#10")
    gamma.sent.clear()
    h.events.clear()
    h.protocol.connection_closed(beta, report=True)
    kinds = [rq.parse_request(x).type for x in gamma.sent]
    # DEL_EDGE for our edge, then for beta's edge back to us (beta is gone)
    assert kinds == [rq.RequestType.DEL_EDGE, rq.RequestType.DEL_EDGE]
    assert [(e.kind, e.node) for e in h.events] == [("host-down", "beta"), ("subnet-down", "beta")]
    assert h.graph.edge("alpha", "beta") is None and h.graph.edge("beta", "alpha") is None


def test_key_requests_are_answered_or_relayed() -> None:
    h = Harness()
    beta, gamma = h.connect("beta"), h.connect("gamma", "192.0.2.3")
    h.protocol.handle(beta, "12 1 beta alpha 192.0.2.1 655 c 10")
    h.protocol.handle(gamma, "12 2 gamma alpha 192.0.2.1 655 c 10")
    beta.sent.clear()
    gamma.sent.clear()
    # For us: answered with a fresh key towards the requester.
    h.protocol.handle(beta, "15 beta alpha")
    answer = rq.parse_request(beta.sent[-1])
    assert isinstance(answer, rq.AnsKey) and answer.to_name == "beta"
    assert h.protocol.peers["beta"].opener == "opener-for-beta"
    # For someone else: relayed unchanged towards them.
    h.protocol.handle(beta, "15 beta gamma")
    assert gamma.sent[-1] == "15 beta gamma"


def test_answers_install_a_sealer_and_bad_ones_do_not() -> None:
    h = Harness()
    beta = h.connect("beta")
    h.protocol.handle(beta, "12 1 beta alpha 192.0.2.1 655 c 10")
    h.protocol.handle(beta, "16 beta alpha " + "AB" * 48 + " 9999 672 4 0")
    assert h.protocol.peers["beta"].sealer is None
    assert beta.closed is None  # a bad key is not a reason to drop the peer
    h.protocol.handle(beta, "16 beta alpha " + "AB" * 48 + " 427 672 4 0")
    assert h.protocol.peers["beta"].sealer == "sealer-for-beta"


def test_key_changed_invalidates_the_sealer_and_floods() -> None:
    h = Harness()
    beta, gamma = h.connect("beta"), h.connect("gamma", "192.0.2.3")
    h.protocol.handle(beta, "12 1 beta alpha 192.0.2.1 655 c 10")
    h.protocol.handle(beta, "16 beta alpha " + "AB" * 48 + " 427 672 4 0")
    gamma.sent.clear()
    h.protocol.handle(beta, "14 3 beta")
    assert h.protocol.peers["beta"].sealer is None
    assert gamma.sent == ["14 3 beta"]


@pytest.mark.parametrize("line", ["99 what", "12 x", "10 1 beta not-a-subnet", "garbage"])
def test_bad_requests_close_the_link(line: str) -> None:
    h = Harness()
    beta = h.connect("beta")
    h.protocol.handle(beta, line)
    assert beta.closed is True


def test_ping_pong() -> None:
    h = Harness()
    beta = h.connect("beta")
    beta.sent.clear()
    h.protocol.handle(beta, "8")
    assert beta.sent == ["9"]
    h.protocol.send_ping(beta)
    assert beta.pinged and beta.sent[-1] == "8"
    h.protocol.handle(beta, "9")
    assert not beta.pinged
