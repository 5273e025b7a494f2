"""The seen-requests cache that stops flooded requests from going round in circles."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tinca.core.meta.past import (
    AGE_INTERVAL_TINC11,
    AGE_INTERVAL_TINCD10,
    DEFAULT_LIFETIME,
    PastRequests,
)


class FakeClock:
    """A clock the test moves by hand."""

    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


ADD_SUBNET = "10 482d851e beta 198.18.0.2/32#10"
DEL_EDGE = "13 24290ead beta gamma"


def test_first_sight_is_remembered_second_is_seen() -> None:
    past = PastRequests(FakeClock())
    assert past.seen(ADD_SUBNET) is False
    assert past.seen(ADD_SUBNET) is True
    assert past.seen(ADD_SUBNET) is True
    assert past.seen(DEL_EDGE) is False
    assert len(past) == 2
    assert ADD_SUBNET in past


def test_lines_compare_exactly() -> None:
    past = PastRequests(FakeClock())
    past.seen(ADD_SUBNET)
    # another nonce, or the same subnet printed the tinc 1.1 way, is another request
    assert past.seen("10 482d851f beta 198.18.0.2/32#10") is False
    assert past.seen("10 482d851e beta 198.18.0.2") is False
    assert past.seen(ADD_SUBNET + " ") is False


def test_defaults_are_tincds() -> None:
    assert DEFAULT_LIFETIME == 60.0  # PingInterval
    assert AGE_INTERVAL_TINCD10 == 5.0  # PingTimeout
    assert AGE_INTERVAL_TINC11 == 10.0
    assert PastRequests(FakeClock()).lifetime == 60.0


def test_age_forgets_after_exactly_the_lifetime() -> None:
    clock = FakeClock(1000.0)
    past = PastRequests(clock)
    past.seen(ADD_SUBNET)
    assert past.age(1059.999) == 0
    assert past.seen(ADD_SUBNET) is True
    # tincd deletes when firstseen + pinginterval <= now
    assert past.age(1060.0) == 1
    assert len(past) == 0
    clock.now = 1060.0
    assert past.seen(ADD_SUBNET) is False


def test_seeing_again_does_not_extend_the_lifetime() -> None:
    clock = FakeClock(0.0)
    past = PastRequests(clock, lifetime=10)
    past.seen(ADD_SUBNET)
    clock.now = 9.0
    assert past.seen(ADD_SUBNET) is True
    assert past.age(10.0) == 1
    assert ADD_SUBNET not in past


def test_expired_lines_stay_seen_until_aged() -> None:
    clock = FakeClock(0.0)
    past = PastRequests(clock, lifetime=10)
    past.seen(ADD_SUBNET)
    clock.now = 25.0
    assert past.seen(ADD_SUBNET) is True
    assert past.age() == 1  # defaults to the clock
    assert past.seen(ADD_SUBNET) is False


def test_age_keeps_younger_lines() -> None:
    clock = FakeClock(0.0)
    past = PastRequests(clock, lifetime=60)
    for second in range(10):
        clock.now = float(second)
        past.seen(f"14 {second:x} alpha")
    assert past.age(64.5) == 5
    assert [f"14 {s:x} alpha" in past for s in range(10)] == [False] * 5 + [True] * 5
    assert past.next_expiry() == 65.0


def test_next_expiry() -> None:
    clock = FakeClock(5.0)
    past = PastRequests(clock, lifetime=60)
    assert past.next_expiry() is None
    past.seen(ADD_SUBNET)
    clock.now = 7.0
    past.seen(DEL_EDGE)
    assert past.next_expiry() == 65.0
    past.age(65.0)
    assert past.next_expiry() == 67.0
    past.age(67.0)
    assert past.next_expiry() is None


def test_many_lines_age_in_one_go() -> None:
    clock = FakeClock(0.0)
    past = PastRequests(clock, lifetime=60)
    for index in range(20000):
        clock.now = index / 1000
        past.seen(f"12 {index:x} alpha beta 192.0.2.1 655 c 10")
    # first seen at 0.000 .. 10.000 s: 10001 lines
    assert past.age(70.0) == 10001
    assert len(past) == 9999


def test_lifetime_must_be_positive() -> None:
    with pytest.raises(ValueError, match="positive"):
        PastRequests(FakeClock(), lifetime=0)


@given(
    st.lists(
        st.tuples(st.floats(0, 30), st.sampled_from(["a", "b", "c", "d"]), st.booleans()),
        max_size=60,
    )
)
def test_matches_a_simple_model(steps: list[tuple[float, str, bool]]) -> None:
    clock = FakeClock(0.0)
    past = PastRequests(clock, lifetime=20)
    model: dict[str, float] = {}
    for advance, line, age_now in steps:
        clock.now += advance
        if age_now:
            past.age()
            model = {k: t for k, t in model.items() if t + 20 > clock.now}
        assert past.seen(line) is (line in model)
        model.setdefault(line, clock.now)
        assert len(past) == len(model)
