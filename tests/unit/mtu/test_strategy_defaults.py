"""What a strategy that overrides only the abstract members gets from
:class:`~tinca.core.mtu.MTUStrategy`, and how the node reads those defaults
(as tinc 1.0, which has no UDP confirmation, behaves)."""

from __future__ import annotations

from tests.unit.node.fakes import Harness
from tinca.core.meta import requests as rq
from tinca.core.mtu import MTU, MTUSettings
from tinca.core.node.info import _mtu_bounds
from tinca.core.node.state import Peer
from tinca.core.peer_paths import udp_confirmed
from tinca.plugins.mtu.fixed import FixedMTU
from tinca.plugins.mtu.tinc10 import Tinc10Probing


def test_a_plain_strategy_gets_neutral_defaults() -> None:
    strategy = FixedMTU(MTUSettings(pmtu=1400))
    assert (strategy.minmtu, strategy.maxmtu) == (0, MTU)  # no UDP limit, no bound learned
    assert strategy.udp_confirmed is None
    assert strategy.rtt is None and strategy.gratuitous_reply is None
    strategy.key_lost()
    strategy.packet_received(1200)
    strategy.provisional_mtu(600)
    strategy.udp_address_changed()
    assert strategy.mtu == strategy.node_mtu == 1400


def test_minmtu_defaults_to_the_udp_limit() -> None:
    class Limited(FixedMTU):
        @property
        def udp_limit(self) -> int:
            return 1200

    peer = Peer("beta", mtu_strategy=Limited(MTUSettings()))
    assert _mtu_bounds(peer) == (1200, MTU)


def test_a_strategy_without_confirmation_counts_as_confirmed_on_the_channel_path() -> None:
    # tinc 1.1's data path sends straight to the peer then, as with no strategy.
    assert udp_confirmed(Peer("beta", mtu_strategy=FixedMTU(MTUSettings())))
    assert udp_confirmed(Peer("beta", mtu_strategy=Tinc10Probing(MTUSettings())))
    assert udp_confirmed(Peer("beta"))


def test_a_strategy_without_confirmation_lets_udp_info_move_the_address() -> None:
    h = Harness()
    beta = h.connect("beta")
    gamma = h.protocol.peer("gamma")
    gamma.via = "gamma"
    gamma.mtu_strategy = Tinc10Probing(MTUSettings())
    h.protocol.handle(beta, rq.UdpInfo("gamma", "alpha", "192.0.2.9", "655").format())
    assert gamma.udp_address == ("192.0.2.9", 655)
    assert beta.closed is None
