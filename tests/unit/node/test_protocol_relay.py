"""Relaying ANS_KEY as tincd 1.0.36 does (protocol_key.c, ans_key_h).

When we pass a key answer on to a node we reach by UDP (its ``minmtu`` is
known), we append the address we see the answering node's UDP packets come
from, so the two can try to reach each other directly.
"""

from __future__ import annotations

from tests.unit.node.fakes import Harness
from tinca.core.mtu import MTUSettings, MTUStrategy

KEY = "AB" * 48


class Limit(MTUStrategy):
    """A strategy that only reports how large UDP packets may be."""

    def __init__(self, limit: int | None) -> None:
        super().__init__(MTUSettings())
        self.limit = limit

    @property
    def mtu(self) -> int | None:
        return None

    @property
    def udp_limit(self) -> int | None:
        return self.limit

    def due_probes(self, now: float) -> list[int]:
        return []

    def next_wakeup(self) -> float | None:
        return None

    def probe_replied(self, size: int, now: float) -> None:
        pass

    def reset(self, now: float) -> None:
        pass


def relay(limit: int | None) -> str:
    """What gamma gets when beta answers gamma's key request through us."""
    h = Harness()
    beta, gamma = h.connect("beta"), h.connect("gamma", "192.0.2.3")
    h.protocol.handle(beta, "12 1 beta alpha 192.0.2.1 655 c 10")
    h.protocol.handle(gamma, "12 2 gamma alpha 192.0.2.1 655 c 10")
    assert h.protocol.peers["beta"].udp_address == ("192.0.2.2", 655)
    h.protocol.peers["gamma"].mtu_strategy = Limit(limit)
    gamma.sent.clear()
    h.protocol.handle(beta, f"16 beta gamma {KEY} 427 672 4 0")
    return gamma.sent[-1]


def test_reflexive_address_is_appended_once_udp_to_the_target_works() -> None:
    assert relay(1400) == f"16 beta gamma {KEY} 427 672 4 0 192.0.2.2 655"


def test_no_address_before_a_probe_was_answered() -> None:
    assert relay(0) == f"16 beta gamma {KEY} 427 672 4 0"


def test_no_address_without_pmtu_discovery() -> None:
    # tincd's minmtu stays 0 when it never probes.
    assert relay(None) == f"16 beta gamma {KEY} 427 672 4 0"
