"""The ``tinc10`` strategy probes and settles as tincd 1.0.36 does.

Hours of probing run against a fake clock and a fake UDP path: the schedule,
the probe sizes and the learned MTU are compared with what tincd 1.0.36's
``send_mtu_probe`` / ``mtu_probe_h`` (src/net_packet.c) would do.
"""

from __future__ import annotations

import heapq
import itertools
import random
from collections.abc import Callable, Iterator

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tinca.core.mtu import MTU, MTUSettings, MTUStrategy
from tinca.plugins.ciphers.legacy.probes import (
    COMPRESSION_ALLOWANCE,
    ProbeError,
    is_probe,
    is_probe_reply,
    probe_payload,
    probe_reply,
    reply_length,
)
from tinca.plugins.mtu.tinc10 import Tinc10Probing

T0 = 1000.0
RTT = 0.02

Passes = Callable[[int, float], bool]
Rounds = list[tuple[float, list[int]]]


def largest_probe(ip_mtu: int) -> int:
    """Largest probe that fits an IPv4 path of ``ip_mtu`` bytes with tincd 1.0's
    default data path: Blowfish-CBC (PKCS padding to 8 bytes over seqno +
    payload), a 4-byte MAC, 8 bytes UDP and 20 bytes IPv4 header."""

    def datagram(size: int) -> int:
        return ((size + 4) // 8 + 1) * 8 + 4 + 8 + 20

    return max(size for size in range(14, MTU + 1) if datagram(size) <= ip_mtu)


LIMIT_1400 = largest_probe(1400)


def seeded(seed: int) -> Callable[[int], bytes]:
    return random.Random(seed).randbytes


def make(seed: int = 1, **kwargs: object) -> Tinc10Probing:
    settings = kwargs.pop("settings", MTUSettings())
    return Tinc10Probing(settings, random=seeded(seed), **kwargs)  # type: ignore[arg-type]


def run(s: Tinc10Probing, until: float, passes: Passes, rtt: float = RTT) -> Rounds:
    """Drive ``s`` like a node would until ``until``: fire its timer, send what it
    asks for, and deliver a reply ``rtt`` later to every probe ``passes`` lets
    through. Returns each non-empty round as ``(time, sizes)``."""
    rounds: Rounds = []
    replies: list[tuple[float, int, int]] = []
    order = itertools.count()
    while True:
        wake = s.next_wakeup()
        if replies and (wake is None or replies[0][0] <= wake):
            when, _, size = heapq.heappop(replies)
            if when > until:
                break
            s.probe_replied(size, when)
            continue
        if wake is None or wake > until:
            break
        sizes = s.due_probes(wake)
        if sizes:
            rounds.append((wake, sizes))
        for size in sizes:
            if passes(size, wake):
                heapq.heappush(replies, (wake + rtt, next(order), size))
    return rounds


def path(limit: int) -> Passes:
    return lambda size, _t: size <= limit


def dead(_size: int, _t: float) -> bool:
    return False


def settle(s: Tinc10Probing, passes: Passes, start: float = T0) -> Rounds:
    s.start(start)
    rounds = run(s, start + SETTLE_DELAY, passes)
    assert s.mtu is not None
    return rounds


SETTLE_DELAY = 29  # round 30 runs 29 s after round 1


def probes_in(rounds: Rounds) -> Iterator[int]:
    for _, sizes in rounds:
        yield from sizes


# -- the first round, known answers ------------------------------------------


def scripted(*words: int) -> Callable[[int], bytes]:
    """A random source that hands out the given 32-bit words, big-endian."""
    stream = iter(words)

    def draw(n: int) -> bytes:
        assert n == 4
        return next(stream).to_bytes(4, "big")

    return draw


def test_first_round_sizes_follow_tincs_formula_by_hand() -> None:
    # size = minmtu + 1 + r % (maxmtu - minmtu) with minmtu 0, maxmtu 1518,
    # raised to 64: r=0 -> 1 -> 64, r=1517 -> 1518, r=1518+99 -> 100.
    s = Tinc10Probing(MTUSettings(), random=scripted(0, 1517, 1518 + 99))
    s.start(T0)
    assert s.next_wakeup() == T0
    assert s.due_probes(T0) == [64, MTU, 100]
    assert s.next_wakeup() == T0 + 1
    assert s.probes == 1


def test_known_answer_first_discovery_cycle_of_a_dead_path() -> None:
    s = make(seed=1036)
    s.start(T0)
    rounds = run(s, T0 + 100, dead)
    assert rounds == [
        (1000.0, [633, 613, 794]),
        (1001.0, [1352, 1342, 691]),
        (1002.0, [947, 85, 474]),
        (1003.0, [922, 1502, 1384]),
        (1004.0, [727, 64, 622]),
        (1005.0, [510, 339, 1301]),
        (1006.0, [64, 377, 662]),
        (1007.0, [1062, 327, 163]),
        (1008.0, [765, 241, 1498]),
        # round 10 gives up, sleeps PingInterval, then one keep-alive round
        (1069.0, [1156, 1319, 1320]),
    ]
    assert s.next_wakeup() == 1069.0 + 5 + 60


def test_nothing_is_due_before_start_or_before_the_timer() -> None:
    s = make()
    assert s.next_wakeup() is None
    assert s.due_probes(T0) == []
    s.start(T0)
    assert s.due_probes(T0 - 0.5) == []
    assert s.probes == 0
    assert len(s.due_probes(T0)) == 3


def test_start_while_the_timer_runs_changes_nothing() -> None:
    # tincd only calls send_mtu_probe from ANS_KEY when no probe event exists.
    s = make()
    s.start(T0)
    s.due_probes(T0)
    s.start(T0 + 0.5)
    assert s.next_wakeup() == T0 + 1
    assert s.probes == 1


def test_a_late_tick_is_one_tick_and_times_the_next_from_now() -> None:
    s = make()
    s.start(T0)
    s.due_probes(T0)
    assert len(s.due_probes(T0 + 7.5)) == 3
    assert s.probes == 2
    assert s.next_wakeup() == T0 + 8.5


# -- converging --------------------------------------------------------------


def test_path_of_1400_settles_on_the_largest_answered_probe_after_30_rounds() -> None:
    s = make(seed=7)
    answered: list[int] = []
    s.start(T0)

    def passes(size: int, _t: float) -> bool:
        if size <= LIMIT_1400:
            answered.append(size)
            return True
        return False

    rounds = run(s, T0 + SETTLE_DELAY, passes)
    assert [t for t, _ in rounds] == [T0 + k for k in range(29)]
    assert all(len(sizes) == 3 for _, sizes in rounds)  # 87 probes in all
    # tincd records the reply's length as is: no overhead is subtracted.
    assert s.mtu == max(answered)
    assert LIMIT_1400 - 16 <= s.mtu <= LIMIT_1400
    assert s.minmtu == s.maxmtu == s.node_mtu == s.mtu
    assert s.probes == 31
    assert s.next_wakeup() == T0 + SETTLE_DELAY + 60


@pytest.mark.parametrize("seed", range(20))
def test_settled_mtu_is_close_below_the_path_limit(seed: int) -> None:
    s = make(seed=seed)
    settle(s, path(LIMIT_1400))
    assert s.mtu is not None
    assert LIMIT_1400 - 16 <= s.mtu <= LIMIT_1400


def test_keepalives_push_the_mtu_to_within_8_bytes_of_the_path() -> None:
    # A first settle more than 8 bytes short gets its growth probe answered at
    # the first keep-alive, which reopens discovery for 20 rounds; this repeats
    # until the growth probe no longer fits.
    for seed in range(10):
        s = make(seed=seed)
        settle(s, path(LIMIT_1400))
        rounds = run(s, T0 + 3600, path(LIMIT_1400))
        assert s.mtu is not None
        assert LIMIT_1400 - 8 < s.mtu <= LIMIT_1400
        assert rounds[-1][1] == [s.mtu + 8, s.mtu, s.mtu, s.mtu]


def test_mtu_is_unknown_until_settled_but_small_packets_may_use_udp() -> None:
    s = make(seed=3)
    s.start(T0)
    assert s.udp_limit == 0  # before any reply, every data packet goes over TCP
    run(s, T0 + 5, path(LIMIT_1400))
    assert s.mtu is None
    assert s.node_mtu == MTU
    assert s.udp_limit is not None
    assert 0 < s.udp_limit <= LIMIT_1400
    assert s.udp_limit == s.minmtu


def test_an_unlimited_path_settles_on_1518_before_round_30() -> None:
    s = make(seed=11)
    s.start(T0)
    rounds = run(s, T0 + 60, path(MTU))
    assert s.mtu == MTU
    settled_at = rounds[-1][0] + 1
    assert settled_at < T0 + SETTLE_DELAY
    # Keep-alives at 1518 send no growth probe (1518 + 8 would exceed a frame).
    more = run(s, T0 + 200, path(MTU))
    assert more and all(sizes == [MTU] * 3 for _, sizes in more)


def test_steady_state_keepalive_every_65_seconds() -> None:
    s = make(seed=5)
    settle(s, path(LIMIT_1400))
    mtu = s.mtu
    assert mtu is not None
    # a path that carries exactly the settled MTU, so the growth probe fails
    rounds = run(s, T0 + 4 * 3600, path(mtu))
    settled = T0 + SETTLE_DELAY
    assert [t for t, _ in rounds] == [settled + 60 + 65 * k for k in range(len(rounds))]
    assert len(rounds) == (4 * 3600 - SETTLE_DELAY - 60) // 65 + 1
    assert all(sizes == [mtu + 8, mtu, mtu, mtu] for _, sizes in rounds)
    assert s.mtu == mtu


def test_custom_ping_interval_and_timeout() -> None:
    s = make(seed=5, ping_interval=20, ping_timeout=3)
    settle(s, path(LIMIT_1400))
    assert s.mtu is not None
    rounds = run(s, T0 + 200, path(s.mtu))
    settled = T0 + SETTLE_DELAY
    assert [t for t, _ in rounds][:3] == [settled + 20, settled + 43, settled + 66]


# -- a dead path -------------------------------------------------------------


def test_dead_path_gives_up_after_9_rounds_then_pings_every_65_seconds() -> None:
    s = make(seed=2)
    s.start(T0)
    rounds = run(s, T0 + 2 * 3600, dead)
    times = [t for t, _ in rounds]
    assert times[:9] == [T0 + k for k in range(9)]
    # round 10 (T0 + 9) sleeps 60 s; keep-alive rounds then come every 60 + 5 s
    assert times[9:] == [T0 + 69 + 65 * k for k in range(len(times) - 9)]
    assert times[-1] > T0 + 2 * 3600 - 65
    assert all(len(sizes) == 3 for _, sizes in rounds)
    # no MTU was ever learned: no growth probe, sizes anywhere in 64 .. 1518
    assert all(64 <= size <= MTU for size in probes_in(rounds))
    assert s.mtu is None
    assert s.udp_limit == 0


def test_dead_path_that_comes_back_is_discovered_from_round_1() -> None:
    s = make(seed=2)
    alive_from = T0 + 300
    s.start(T0)
    rounds = run(s, T0 + 600, lambda size, t: t >= alive_from and size <= LIMIT_1400)
    first_answered = next(t for t, _ in rounds if t >= alive_from)
    assert first_answered == T0 + 69 + 65 * 4  # the first keep-alive round after
    # the reply makes it round 1 again; the next tick comes after PingTimeout
    later = [t for t, _ in rounds if t > first_answered]
    assert later[:3] == [first_answered + 5, first_answered + 6, first_answered + 7]
    assert s.mtu is not None
    assert s.mtu <= LIMIT_1400


# -- path changes --------------------------------------------------------------


def test_a_lower_path_mtu_is_noticed_at_the_next_keepalive_and_relearned() -> None:
    s = make(seed=8)
    settle(s, path(LIMIT_1400))
    old = s.mtu
    assert old is not None
    settled = T0 + SETTLE_DELAY
    drop = settled + 100
    new_limit = largest_probe(1280)

    def passes(size: int, t: float) -> bool:
        return size <= (old if t < drop else new_limit)

    missed = settled + 60 + 65  # first keep-alive after the drop, unanswered
    restart = missed + 5
    rounds = run(s, restart + 0.5, passes)
    assert [t for t, _ in rounds] == [settled + 60, missed, restart]
    assert s.probes == 1  # round 1 goes out in the tick that notices
    assert len(rounds[-1][1]) == 3
    assert s.mtu == old  # tincd keeps n->mtu while it rediscovers
    run(s, restart + SETTLE_DELAY, passes)
    assert s.mtu is not None
    assert new_limit - 16 <= s.mtu <= new_limit


def test_udp_is_not_used_while_rediscovering() -> None:
    s = make(seed=8)
    settle(s, path(LIMIT_1400))
    settled = T0 + SETTLE_DELAY
    run(s, settled + 60 + 5, dead)  # keep-alive unanswered, restart at +65
    assert s.probes == 1
    assert s.udp_limit == 0


def test_a_larger_path_mtu_is_detected_by_the_growth_probe() -> None:
    s = make(seed=4)
    low = largest_probe(1280)
    settle(s, path(low))
    small = s.mtu
    assert small is not None
    settled = T0 + SETTLE_DELAY
    rounds = run(s, settled + 60 + 1, path(LIMIT_1400))
    assert rounds == [(settled + 60, [small + 8, small, small, small])]
    assert s.maxmtu == MTU
    assert s.probes == 10  # 20 discovery rounds left
    more = run(s, settled + 60 + 5 + 19, path(LIMIT_1400))
    assert [t for t, _ in more] == [settled + 65 + k for k in range(19)]
    assert s.mtu is not None
    assert small < s.mtu <= LIMIT_1400


def test_growth_reply_after_a_plain_reply_is_not_seen_as_growth() -> None:
    # tincd only checks for growth while the counter is above 30; a plain reply
    # that arrives first sets it to 30.
    s = make(seed=4)
    settle(s, path(largest_probe(1280)))
    mtu = s.mtu
    assert mtu is not None
    t = s.next_wakeup()
    assert t is not None
    assert s.due_probes(t)[0] == mtu + 8
    s.probe_replied(mtu, t + 0.01)
    s.probe_replied(mtu + 8, t + 0.02)
    assert s.maxmtu == mtu
    assert s.probes == 30
    assert s.due_probes(t + 5) == []
    assert s.probes == 31


def test_emsgsize_lowers_the_upper_bound_and_the_mtu() -> None:
    s = make(seed=9)
    s.start(T0)
    s.due_probes(T0)
    s.send_too_big(1300)
    assert s.maxmtu == 1299
    assert s.node_mtu == 1299
    sizes = run(s, T0 + SETTLE_DELAY, path(MTU))
    assert all(size <= 1299 for size in probes_in(sizes))
    assert s.mtu == 1299
    s.send_too_big(1400)  # larger than what is known: no change
    assert (s.maxmtu, s.mtu) == (1299, 1299)
    s.send_too_big(1200)
    assert (s.maxmtu, s.mtu) == (1199, 1199)


@pytest.mark.parametrize(
    ("refused", "keepalive"), [(1511, [1510] * 3), (1510, [1517] + [1509] * 3)]
)
def test_growth_probe_only_while_it_stays_below_a_full_frame(
    refused: int, keepalive: list[int]
) -> None:
    s = make(seed=9)
    s.start(T0)
    s.send_too_big(refused)
    run(s, T0 + SETTLE_DELAY, path(MTU))
    assert s.mtu == refused - 1
    wake = s.next_wakeup()
    assert wake is not None
    assert s.due_probes(wake) == keepalive


def test_replies_are_credited_at_most_the_upper_bound() -> None:
    s = make(seed=9)
    s.start(T0)
    s.due_probes(T0)
    s.send_too_big(1000)
    s.probe_replied(1200, T0 + RTT)  # sent before the bound came down
    assert s.minmtu == 999
    assert s.due_probes(T0 + 1) == []  # minmtu >= maxmtu: settles at once
    assert s.mtu == 999


# -- configuration: PMTU, PMTUDiscovery, LocalDiscovery ------------------------


@pytest.mark.parametrize(("pmtu", "expected"), [(None, MTU), (1400, 1400), (9000, MTU)])
def test_without_discovery_no_probes_and_the_mtu_is_pmtu(pmtu: int | None, expected: int) -> None:
    s = make(settings=MTUSettings(pmtu=pmtu, discovery=False))
    s.start(T0)
    assert s.next_wakeup() is None
    assert run(s, T0 + 3600, path(MTU)) == []
    assert s.mtu == expected
    assert s.udp_limit is None  # every data packet may use UDP


def test_pmtu_is_the_initial_mtu_that_discovery_then_replaces() -> None:
    # tinc 1.0: PMTU lowers n->mtu at ACK time; settling overwrites n->mtu with
    # what the probes found, even above PMTU.
    s = make(seed=6, settings=MTUSettings(pmtu=1200))
    s.start(T0)
    run(s, T0 + 10, path(LIMIT_1400))
    assert s.node_mtu == 1200
    assert s.mtu is None
    run(s, T0 + SETTLE_DELAY, path(LIMIT_1400))
    assert s.mtu is not None
    assert 1200 < s.mtu <= LIMIT_1400
    assert s.node_mtu == s.mtu


def test_local_discovery_adds_a_broadcast_probe_for_ten_rounds() -> None:
    s = make(seed=12, local_discovery=True)
    s.start(T0)
    flags: list[bool] = []
    for k in range(12):
        sizes = s.due_probes(T0 + k)
        assert len(sizes) == 4
        flags.append(s.last_probe_local)
        for size in sizes:
            if size <= LIMIT_1400:
                s.probe_replied(size, T0 + k + RTT)
    assert flags == [True] * 10 + [False] * 2


# -- resets, key changes, reachability ---------------------------------------


def test_reset_forgets_the_bounds_keeps_the_mtu_and_probes_at_once() -> None:
    s = make(seed=10)
    settle(s, path(LIMIT_1400))
    mtu = s.mtu
    later = T0 + 500
    s.reset(later)
    assert (s.minmtu, s.maxmtu, s.probes) == (0, MTU, 0)
    assert s.mtu == mtu
    assert s.udp_limit == 0
    assert s.next_wakeup() == later
    assert len(s.due_probes(later)) == 3
    assert s.probes == 1


def test_stop_cancels_probing_until_start() -> None:
    s = make(seed=10)
    s.start(T0)
    run(s, T0 + 3, path(LIMIT_1400))
    s.stop()
    assert s.next_wakeup() is None
    assert (s.minmtu, s.maxmtu) == (0, MTU)
    assert run(s, T0 + 3600, path(LIMIT_1400)) == []
    s.start(T0 + 3600)
    assert s.next_wakeup() == T0 + 3600


def test_key_lost_stops_at_the_next_tick_and_a_new_key_resettles_at_once() -> None:
    # What tincd does every KeyExpire: the old MTU is re-fixed without probes.
    s = make(seed=10)
    settle(s, path(LIMIT_1400))
    mtu = s.mtu
    wake = s.next_wakeup()
    assert wake is not None
    s.key_lost()
    assert s.due_probes(wake) == []
    assert s.probes == 0
    assert s.next_wakeup() is None
    assert (s.minmtu, s.maxmtu) == (mtu, mtu)  # bounds survive a key change
    s.start(wake + 2)
    assert s.due_probes(wake + 2) == []  # round 1 finds minmtu >= maxmtu: settled
    assert s.probes == 31
    assert s.mtu == mtu
    assert s.next_wakeup() == wake + 2 + 60


def test_a_new_key_before_the_tick_keeps_probing() -> None:
    s = make(seed=10)
    s.start(T0)
    s.due_probes(T0)
    s.key_lost()
    s.start(T0 + 0.5)
    assert len(s.due_probes(T0 + 1)) == 3
    assert s.probes == 2


# -- robustness ----------------------------------------------------------------


def test_is_an_mtu_strategy() -> None:
    assert isinstance(make(), MTUStrategy)


@pytest.mark.parametrize(("interval", "timeout"), [(0, 5), (60, 0), (10, 11)])
def test_rejects_ping_settings_tincd_would_never_use(interval: int, timeout: int) -> None:
    with pytest.raises(ValueError, match="ping_"):
        Tinc10Probing(MTUSettings(), ping_interval=interval, ping_timeout=timeout)


def test_rejects_a_negative_reply_size() -> None:
    with pytest.raises(ValueError, match="cannot be -1"):
        make().probe_replied(-1, T0)


@settings(max_examples=60, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    limit=st.integers(64, MTU),
    rtt=st.floats(0.001, 0.9),
)
def test_never_learns_more_than_the_path_carries(seed: int, limit: int, rtt: float) -> None:
    s = make(seed=seed)
    until = T0 + 600
    answered: list[int] = []

    def passes(size: int, t: float) -> bool:
        if size <= limit:
            if t + rtt <= until:  # the reply arrives within the run
                answered.append(size)
            return True
        return False

    s.start(T0)
    rounds = run(s, until, passes, rtt=rtt)
    assert all(64 <= size <= MTU for size in probes_in(rounds))
    # The lower bound is always one of the answers (the answer to a growth probe
    # only reopens discovery and is not credited), and no MTU exceeds the path.
    assert s.minmtu == 0 or s.minmtu in answered
    assert s.minmtu <= limit
    assert s.mtu is None or s.mtu <= limit


# -- probe packets ---------------------------------------------------------------


def test_probe_payload_layout() -> None:
    payload = probe_payload(100, scripted_bytes(b"\xaa" * 86))
    assert payload == bytes(14) + b"\xaa" * 86
    assert is_probe(payload)
    assert not is_probe_reply(payload)


def scripted_bytes(data: bytes) -> Callable[[int], bytes]:
    def draw(n: int) -> bytes:
        assert n == len(data)
        return data

    return draw


@given(size=st.integers(14, MTU), seed=st.integers(0, 2**32 - 1))
def test_reply_is_the_request_with_byte_0_set(size: int, seed: int) -> None:
    request = probe_payload(size, seeded(seed))
    reply = probe_reply(request)
    assert len(reply) == size
    assert reply[0] == 1
    assert reply[1:] == request[1:]
    assert is_probe(reply)
    assert is_probe_reply(reply)


@given(frame=st.binary(min_size=14, max_size=MTU))
def test_frames_with_an_ethertype_are_not_probes(frame: bytes) -> None:
    data = bytearray(frame)
    if data[12] == 0 and data[13] == 0:
        data[13] = 0x08
    assert not is_probe(data)
    with pytest.raises(ProbeError, match="not an MTU probe"):
        probe_reply(bytes(data))


def test_any_nonzero_first_byte_is_a_reply_and_is_not_answered() -> None:
    probe = bytearray(64)
    probe[0] = 0x7F
    assert is_probe_reply(probe)
    with pytest.raises(ProbeError, match="is a reply"):
        probe_reply(probe)


def test_short_packets_are_not_probes() -> None:
    assert not is_probe(bytes(13))
    with pytest.raises(ProbeError):
        probe_reply(bytes(13))


@pytest.mark.parametrize("size", [13, MTU + 1])
def test_probe_payload_rejects_impossible_sizes(size: int) -> None:
    with pytest.raises(ProbeError, match="14 to 1518"):
        probe_payload(size)


def test_probe_payload_rejects_a_short_random_source() -> None:
    with pytest.raises(ProbeError, match="random source"):
        probe_payload(64, lambda n: bytes(n - 1))


def test_reply_length_takes_tincs_compression_allowance_off() -> None:
    assert COMPRESSION_ALLOWANCE == 43
    assert reply_length(1400, compressed=False) == 1400
    assert reply_length(1400, compressed=True) == 1357
    assert reply_length(20, compressed=True) == 0
    with pytest.raises(ProbeError):
        reply_length(-1, compressed=False)
