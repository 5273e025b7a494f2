"""The ``tinc11`` strategy probes and fixes the path MTU as tinc 1.1 does.

The size schedule is checked against an independent single-precision
computation (``array('f')`` rounding and a 40-digit ``Decimal`` power) over
every input tinc can reach, and against glibc's own ``powf``/``lrintf``.
Hours of UDP and MTU discovery run against a fake clock and a fake UDP path;
the schedule and the MTU found are compared with what tinc 1.1's ``try_udp``,
``try_mtu`` and ``udp_probe_h`` (src/net_packet.c, branch 1.1) would do with
traffic flowing. The probe packet helpers are checked against the UDP probes
in the capture of two real tinc 1.1 daemons (shared/vectors/sptps/meta.json).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import heapq
import itertools
import random
import struct
from array import array
from collections.abc import Callable
from decimal import ROUND_HALF_EVEN, Context, Decimal
from functools import cache
from weakref import WeakKeyDictionary

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.vectors import load_vector
from tinca.core.logs import DEBUG_TRAFFIC, level_for
from tinca.core.mtu import MTU, MTUSettings, MTUStrategy
from tinca.plugins.mtu.tinc11 import (
    DISCOVERY_GAP,
    FIRST_DRAFT_2014,
    MIN_PROBE_SIZE,
    PKT_PROBE,
    REPLY_TYPE1,
    REPLY_TYPE2,
    REQUEST,
    TINC_1_1,
    TINC_1_1PRE18,
    ProbeError,
    ProbeRecord,
    ProbeSchedule,
    Tinc11Probing,
    float32,
    gratuitous_reply_record,
    initial_maxmtu,
    parse_probe_record,
    probe_reply_record,
    probe_request,
    probe_size,
)

T0 = 1000.0
RTT = 0.02

Passes = Callable[[int, float], bool]
Rounds = list[tuple[float, list[int]]]

# Replies on their way back, per strategy, as (arrival, order, size).
_IN_FLIGHT: WeakKeyDictionary[Tinc11Probing, list[tuple[float, int, int]]] = WeakKeyDictionary()
_ORDER = itertools.count()


def largest_probe(ip_mtu: int) -> int:
    """Largest probe an IPv4 path of ``ip_mtu`` carries between SPTPS peers of
    protocol 17.4+: IPv4 20, UDP 8, two node IDs 12, seqno 4, type 1, tag 16."""
    return ip_mtu - (20 + 8 + 12 + 4 + 1 + 16)


LIMIT_1400 = largest_probe(1400)  # 1339
LIMIT_1280 = largest_probe(1280)  # 1219
LIMIT_1500 = largest_probe(1500)  # 1439


def make(**kwargs: object) -> Tinc11Probing:
    mtu_settings = kwargs.pop("settings", MTUSettings())
    return Tinc11Probing(mtu_settings, **kwargs)  # type: ignore[arg-type]


def run(
    s: Tinc11Probing,
    until: float,
    passes: Passes,
    rtt: float = RTT,
    refuses: Callable[[int], bool] | None = None,
    observe: Callable[[list[int]], None] | None = None,
) -> Rounds:
    """Drive ``s`` like a node: fire its timer, send what it asks for, deliver a
    reply ``rtt`` later to each probe ``passes`` lets through, and report
    EMSGSIZE for each size ``refuses`` names. ``observe`` sees each answer
    before it is sent. Returns every non-empty call as ``(time, sizes)``;
    refused sizes are recorded negated. Replies still in flight at ``until``
    arrive in the next run on the same strategy."""
    rounds: Rounds = []
    replies = _IN_FLIGHT.setdefault(s, [])
    calls = 0
    while True:
        calls += 1
        assert calls < 100_000, "the strategy keeps asking to be called"
        wake = s.next_wakeup()
        if replies and (wake is None or replies[0][0] <= wake):
            if replies[0][0] > until:
                break
            when, _, size = heapq.heappop(replies)
            s.packet_received(MIN_PROBE_SIZE)  # replies are 18-byte type 2 records
            s.probe_replied(size, when)
            continue
        if wake is None or wake > until:
            break
        sizes = s.due_probes(wake)
        after = s.next_wakeup()
        assert after is None or after > wake, "the strategy would be called again at once"
        if observe is not None:
            observe(sizes)
        sent: list[int] = []
        for size in sizes:
            if refuses is not None and refuses(size):
                s.send_too_big(size)
                sent.append(-size)
                continue
            sent.append(size)
            if passes(size, wake):
                heapq.heappush(replies, (wake + rtt, next(_ORDER), size))
        if sent:
            rounds.append((wake, sent))
    return rounds


def path(limit: int) -> Passes:
    return lambda size, _t: size <= limit


def dead(_size: int, _t: float) -> bool:
    return False


def times(rounds: Rounds) -> list[float]:
    return [t for t, _ in rounds]


def mtu_probes(rounds: Rounds) -> Rounds:
    """The rounds without the 18-byte UDP discovery probes."""
    out = []
    for t, sizes in rounds:
        rest = [size for size in sizes if size != MIN_PROBE_SIZE]
        if rest:
            out.append((t, rest))
    return out


def discovery_times(start: float, count: int) -> list[float]:
    """When tinc sends ``count`` discovery probes, the first at ``start``: each
    as soon as DISCOVERY_GAP has passed since the one before (float steps, as
    the strategy adds them)."""
    out = [start]
    for _ in range(count - 1):
        out.append(out[-1] + DISCOVERY_GAP)
    return out


def confirmed(**kwargs: object) -> Tinc11Probing:
    """A strategy whose UDP path was just confirmed at T0 + RTT."""
    s = make(**kwargs)
    s.start(T0)
    s.due_probes(T0)
    s.probe_replied(MIN_PROBE_SIZE, T0 + RTT)
    return s


# -- the size schedule: an independent single-precision computation ----------------

_DEC = Context(prec=40)


def f32(value: float) -> float:
    """Single-precision rounding by a different route than the module's."""
    return array("f", [value])[0]


def f32_neighbours(value: Decimal) -> tuple[float, float]:
    """The two single-precision numbers around ``value`` (equal if exact)."""
    near = f32(float(value))
    bits = struct.unpack("<I", struct.pack("<f", near))[0]
    if Decimal(near) == value:
        return near, near
    other = bits + 1 if Decimal(near) < value else bits - 1
    far = struct.unpack("<f", struct.pack("<I", other))[0]
    return (near, far) if near < far else (far, near)


def exponent(multiplier: float, position: int) -> float:
    return f32(f32(f32(multiplier) * position) / 7.0)


@cache
def exact_power(interval: int, multiplier: float, position: int) -> Decimal:
    """``interval ** exponent`` to 40 digits, the exponent as tinc's floats give it."""
    e = Decimal(exponent(multiplier, position))
    if e in (0, 1):
        return Decimal(interval) ** int(e)  # exact: powf(x, 0) = 1, powf(x, 1) = x
    return _DEC.exp(_DEC.multiply(_DEC.ln(Decimal(interval)), e))


def expected_size(minmtu: int, maxmtu: int, k: int, schedule_name: str) -> int:
    """What tinc sends as discovery probe ``k``, computed independently."""
    floor = 64 if schedule_name == "draft" else 512
    low = max(minmtu, floor)
    interval = maxmtu - low
    if interval <= 0:
        return low
    if schedule_name == "draft":
        multiplier = 0.982
    else:
        multiplier = 0.97 if maxmtu == 1518 else 1.0
    power = f32(float(exact_power(interval, multiplier, 7 - k % 8)))
    if schedule_name == "branch":
        return low + int(Decimal(power).quantize(Decimal(1), rounding=ROUND_HALF_EVEN))
    return low + int(power)


SCHEDULES = {"branch": TINC_1_1, "pre18": TINC_1_1PRE18, "draft": FIRST_DRAFT_2014}

# Every (interval, multiplier, position) tinc 1.1 can reach: the lower bound is
# at least 512 and maxmtu at most 1518, so 1 .. 1006; multiplier 1 only while
# maxmtu is below 1518, so 1 .. 1005.
REACHABLE = [
    (interval, multiplier, position)
    for multiplier, largest in ((0.97, 1006), (1.0, 1005))
    for position in range(8)
    for interval in range(1, largest + 1)
]


def test_float32_rounds_to_single_precision() -> None:
    assert float32(0.97) == f32(0.97) == 0.9700000286102295
    assert float32(1 / 3) == 0.3333333432674408
    assert float32(16777217.0) == 16777216.0  # ties to even at 2**24 + 1


@pytest.mark.parametrize("name", ["branch", "pre18"])
def test_every_reachable_size_matches_an_independent_float32_computation(name: str) -> None:
    schedule = SCHEDULES[name]
    for interval, multiplier, position in REACHABLE:
        k = 7 - position
        # maxmtu 1518 selects 0.97; any other maxmtu selects 1.0.
        maxmtu = 1518 if multiplier == 0.97 else 512 + interval
        minmtu = maxmtu - interval
        got = probe_size(minmtu, maxmtu, k, schedule)
        assert got == expected_size(minmtu, maxmtu, k, name), (interval, multiplier, k)
        assert probe_size(minmtu, maxmtu, k + 8, schedule) == got  # cycles of 8


def test_no_reachable_size_depends_on_the_last_bit_of_powf() -> None:
    # Any powf within one unit in the last place returns one of the two floats
    # around the true power; both round to the same integer, either way tinc
    # rounds. So sizes are the same whatever libm tinc was linked with.
    for interval, multiplier, position in REACHABLE:
        lower, upper = f32_neighbours(exact_power(interval, multiplier, position))
        assert round(lower) == round(upper), (interval, multiplier, position)
        assert int(lower) == int(upper), (interval, multiplier, position)


def _libm() -> ctypes.CDLL:
    name = ctypes.util.find_library("m")
    assert name is not None, "no C math library to compare with"
    libm = ctypes.CDLL(name)
    libm.powf.restype = ctypes.c_float
    libm.powf.argtypes = [ctypes.c_float, ctypes.c_float]
    libm.lrintf.restype = ctypes.c_long
    libm.lrintf.argtypes = [ctypes.c_float]
    return libm


def test_every_reachable_size_matches_the_c_library() -> None:
    # tinc's own expression, evaluated by the system's powf and lrintf.
    libm = _libm()
    for interval, multiplier, position in REACHABLE:
        k = 7 - position
        maxmtu = 1518 if multiplier == 0.97 else 512 + interval
        minmtu = maxmtu - interval
        power = libm.powf(float(interval), exponent(multiplier, position))
        assert probe_size(minmtu, maxmtu, k) == minmtu + libm.lrintf(power)
        assert probe_size(minmtu, maxmtu, k, TINC_1_1PRE18) == minmtu + int(power)


def test_known_answers_from_tincs_own_comments() -> None:
    # net_packet.c l.1411: "a 1329-byte first probe, followed (if there was a
    # reply) by a 1407-byte probe" -- written when the power was truncated.
    assert probe_size(0, 1518, 0, TINC_1_1PRE18) == 1329
    assert probe_size(1329, 1518, 1, TINC_1_1PRE18) == 1407
    # lrintf (January 2022) rounds 817.6 and 77.6 up instead.
    assert probe_size(0, 1518, 0) == 1330
    assert probe_size(1330, 1518, 1) == 1408
    # commit 24d28adf: "a 1339-byte first probe, followed ... by a 1417-byte probe"
    assert probe_size(0, 1518, 0, FIRST_DRAFT_2014) == 1339
    assert probe_size(1339, 1518, 1, FIRST_DRAFT_2014) == 1417
    # commit f89319f9: IP_MTU gave 1442, multiplier 1: the first probe is maxmtu.
    assert probe_size(0, 1442, 0) == 1442


@pytest.mark.parametrize(
    ("name", "minmtu", "expected"),
    [
        ("branch", 0, [1330, 826, 632, 558, 530, 519, 515, 513]),
        ("pre18", 0, [1329, 825, 632, 558, 529, 518, 514, 513]),
        ("branch", 1339, [1492, 1414, 1375, 1357, 1348, 1343, 1341, 1340]),
        ("pre18", 1339, [1492, 1413, 1375, 1356, 1347, 1343, 1341, 1340]),
        ("draft", 0, [1339, 523, 229, 123, 85, 71, 66, 65]),
    ],
)
def test_known_answer_cycles(name: str, minmtu: int, expected: list[int]) -> None:
    schedule = SCHEDULES[name]
    got = [probe_size(minmtu, MTU, k, schedule) for k in range(8)]
    assert got == expected
    assert got == [expected_size(minmtu, MTU, k, name) for k in range(8)]
    assert got[-1] == max(minmtu, schedule.floor) + 1  # each cycle ends 1 byte up


def test_first_draft_sizes_match_the_independent_computation() -> None:
    for interval in range(1, 1518 - 64 + 1, 3):
        for k in range(8):
            minmtu = 1518 - interval
            expected = expected_size(minmtu, 1518, k, "draft")
            assert probe_size(minmtu, 1518, k, FIRST_DRAFT_2014) == expected


def test_sizes_at_and_below_the_floor() -> None:
    # maxmtu not above 512: tinc 1.1 skips powf and probes the floor itself.
    assert probe_size(0, 512, 0) == 512
    assert probe_size(0, 400, 3) == 512
    assert probe_size(600, 600, 0) == 600


def test_schedules_store_single_precision_constants() -> None:
    assert TINC_1_1.multiplier == f32(0.97)
    assert FIRST_DRAFT_2014.multiplier == f32(0.982)
    custom = ProbeSchedule(multiplier=0.5, reduced_multiplier=0.75, floor=100, nearest=True)
    assert [probe_size(0, 1518, k, custom) for k in (0, 7)] == [
        100 + round(f32(1418**0.5)),
        101,
    ]


# -- initial maxmtu from the interface MTU -------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        ({"ip_mtu": 1500}, 1439),  # 1500 - 20 - 8 - 21 - 12
        ({"ip_mtu": 1500, "ipv6": True}, 1419),
        ({"ip_mtu": 1500, "peer_minor": 3}, 1451),  # no node IDs before 17.4
        # legacy: Blowfish-CBC (8), HMAC-SHA1 truncated to 4: (1468 - 4) // 8 * 8 - 1 - 4
        ({"ip_mtu": 1500, "sptps": False, "digest_length": 4, "block_size": 8}, 1459),
        ({"ip_mtu": 1500, "sptps": False, "digest_length": 20, "block_size": 1}, 1448),
        ({"ip_mtu": 65536}, MTU),  # loopback: capped
        ({"ip_mtu": 511}, MTU),  # "absurdly small": ignored
        ({"ip_mtu": 512}, 451),
    ],
)
def test_initial_maxmtu(kwargs: dict[str, int], expected: int) -> None:
    assert initial_maxmtu(**kwargs) == expected  # type: ignore[arg-type]


def test_largest_probe_matches_initial_maxmtu() -> None:
    for ip_mtu in (1280, 1400, 1500):
        assert largest_probe(ip_mtu) == initial_maxmtu(ip_mtu)


# -- UDP discovery --------------------------------------------------------------------


def test_nothing_is_due_before_start() -> None:
    s = make()
    assert s.next_wakeup() is None
    assert s.due_probes(T0) == []
    assert s.try_tx(T0) == []


def test_dead_path_sends_only_small_udp_probes_every_2_seconds() -> None:
    s = make()
    s.start(T0)
    assert s.next_wakeup() == T0
    rounds = run(s, T0 + 600, dead)
    assert times(rounds) == [T0 + 2 * k for k in range(301)]
    assert all(sizes == [MIN_PROBE_SIZE] for _, sizes in rounds)
    assert not s.udp_confirmed
    assert s.rtt is None
    assert s.mtu is None
    assert s.udp_limit == 0  # every data packet over TCP
    assert s.probes == 0


def test_first_reply_confirms_udp_and_starts_discovery_at_once() -> None:
    s = make()
    s.start(T0)
    assert s.due_probes(T0) == [MIN_PROBE_SIZE]
    assert s.next_wakeup() == T0 + 2
    s.probe_replied(MIN_PROBE_SIZE, T0 + RTT)
    assert s.udp_confirmed
    assert s.rtt == pytest.approx(RTT)
    assert s.minmtu == MIN_PROBE_SIZE  # the small reply already counts
    assert s.udp_limit == MIN_PROBE_SIZE
    assert s.next_wakeup() == T0 + RTT
    assert s.due_probes(T0 + RTT) == [1330]
    assert s.probes == 1
    assert s.next_wakeup() == T0 + RTT + DISCOVERY_GAP


def test_udp_keepalive_every_10_seconds_once_confirmed() -> None:
    s = make(settings=MTUSettings(discovery=False))
    s.start(T0)
    rounds = run(s, T0 + 100, path(MTU))
    assert times(rounds) == [T0 + 10 * k for k in range(11)]
    assert all(sizes == [MIN_PROBE_SIZE] for _, sizes in rounds)


def test_rtt_is_measured_from_the_small_probe() -> None:
    s = make(settings=MTUSettings(discovery=False))
    s.start(T0)
    run(s, T0 + 25, path(MTU), rtt=0.125)
    assert s.rtt == pytest.approx(0.125)


def test_udp_timeout_unconfirms_and_forgets_the_bounds_but_not_the_mtu() -> None:
    s = make()
    s.start(T0)
    died = T0 + 35
    rounds = run(s, T0 + 80, lambda size, t: size <= LIMIT_1400 and t < died)
    # The last reply answered the UDP keep-alive at T0 + 30; the keep-alives at
    # T0 + 40, 50 and 60 go unanswered; 30 s after that reply UDP is no longer
    # confirmed, and the small probes go back to every 2 s from the last one.
    # (The next MTU keep-alive pair, due at T0 + 66.7, is never sent.)
    after = [(t, sizes) for t, sizes in rounds if t > died]
    assert times(after) == [T0 + 40, T0 + 50, T0 + 60] + [T0 + 62 + 2 * k for k in range(10)]
    assert all(sizes == [MIN_PROBE_SIZE] for _, sizes in after)
    assert not s.udp_confirmed
    assert (s.minmtu, s.maxmtu, s.probes) == (0, MTU, 0)
    assert s.mtu == LIMIT_1400  # tinc keeps n->mtu
    assert s.rtt is None
    assert s.udp_limit == 0


def test_dead_path_that_comes_back_is_confirmed_and_discovered() -> None:
    s = make()
    s.start(T0)
    back = T0 + 101
    rounds = run(s, T0 + 120, lambda size, t: t >= back and size <= LIMIT_1400)
    first = next(t for t, _ in rounds if t >= back)
    assert first == T0 + 102  # the next small probe on the 2 s grid
    assert mtu_probes(rounds)[0] == (first + RTT, [1330])
    assert s.mtu == LIMIT_1400
    fixed = first + RTT + 20 * DISCOVERY_GAP
    assert mtu_probes(rounds)[-1] == (pytest.approx(fixed), [LIMIT_1400, LIMIT_1400 + 1])


def test_logs_what_tinc_logs(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(level_for(DEBUG_TRAFFIC), logger="tinca.plugins.mtu.tinc11")
    s = make(peer="beta")
    s.start(T0)
    run(s, T0 + 100, lambda size, t: size <= LIMIT_1400 and t < T0 + 65)
    messages = [record.getMessage() for record in caplog.records]
    assert messages[0] == "Fixing MTU of beta to 1339 after 20 probes"
    assert "Decrease in PMTU to beta detected, restarting PMTU discovery" in messages
    assert "Fixing MTU of beta to 0 after 20 probes" in messages
    assert messages[-1] == (
        "Too much time has elapsed since last UDP ping response from beta, "
        "stopping UDP communication"
    )
    caplog.clear()
    grows = confirmed(peer="beta", system_maxmtu=lambda: 1219)
    grows.due_probes(T0 + RTT)
    grows.probe_replied(1219, T0 + 2 * RTT)
    grows.probe_replied(1300, T0 + 3 * RTT)
    assert [record.getMessage() for record in caplog.records] == [
        "Fixing MTU of beta to 1219 after 1 probes",
        "Increase in PMTU to beta detected, restarting PMTU discovery",
    ]


def test_local_discovery_doubles_the_small_probe_until_confirmed() -> None:
    s = make(settings=MTUSettings(discovery=False, local_discovery=True))
    s.start(T0)
    assert s.due_probes(T0) == [MIN_PROBE_SIZE, MIN_PROBE_SIZE]
    assert s.last_probe_local
    assert s.due_probes(T0 + 2) == [MIN_PROBE_SIZE, MIN_PROBE_SIZE]
    s.probe_replied(MIN_PROBE_SIZE, T0 + 2.1)
    assert s.due_probes(T0 + 12) == [MIN_PROBE_SIZE]
    assert not s.last_probe_local


# -- converging -----------------------------------------------------------------------


@pytest.mark.parametrize("limit", [LIMIT_1400, LIMIT_1500])
def test_path_without_help_from_the_system_fixes_after_20_probes(limit: int) -> None:
    s = make()
    s.start(T0)
    rounds = run(s, T0 + 9, path(limit))
    probes = mtu_probes(rounds)
    start = T0 + RTT  # the first reply confirms UDP
    assert times(probes) == discovery_times(start, 21)
    assert all(len(sizes) == 1 for _, sizes in probes[:20])
    # the 21st call fixes, then sends the first keep-alive pair at once
    assert probes[20][1] == [limit, limit + 1]
    assert s.mtu == s.node_mtu == s.minmtu == s.maxmtu == limit
    assert s.udp_limit == limit
    # the maxmtu probe was answered: counter -1, next pair a PingInterval later
    assert s.probes == -1
    again = probes[20][0] + RTT + 60
    later = mtu_probes(run(s, again + 1, path(limit)))
    assert later == [(pytest.approx(again), [limit, limit + 1])]


def test_known_answer_discovery_on_a_1400_byte_path() -> None:
    s = make()
    s.start(T0)
    rounds = run(s, T0 + 9, path(LIMIT_1400))
    sizes = [size for _, group in mtu_probes(rounds) for size in group]
    assert sizes == [
        1330, 1408, 1368, 1348, 1339, 1343, 1341, 1340,  # cycle 1: 1339 found
        1492, 1414, 1375, 1357, 1348, 1343, 1341, 1340,  # cycle 2 from 1339
        1492, 1414, 1375, 1357,  # probes 17-20
        1339, 1340,  # fixed: maxmtu and maxmtu + 1
    ]  # fmt: skip


def test_a_1280_byte_path_fixes_short_then_grows_at_the_first_keepalive() -> None:
    s = make()
    s.start(T0)
    fixed = T0 + RTT + 20 * DISCOVERY_GAP
    run(s, fixed - 0.01, path(LIMIT_1280))
    assert s.mtu is None
    rounds = run(s, fixed + RTT + 0.001, path(LIMIT_1280))
    assert rounds == [(pytest.approx(fixed), [1209, 1210])]
    assert s.mtu == 1209  # 20 probes were not enough to find 1219 exactly
    # 1210 was answered too: the path "grew", and discovery resumes at
    # counter 1 with maxmtu 1518 and 19 probes to go.
    assert s.probes == 1
    assert (s.minmtu, s.maxmtu) == (1210, MTU)
    rounds = run(s, T0 + 20, path(LIMIT_1280))
    assert s.mtu == LIMIT_1280
    # the reply to 1209 came first and restarted the wait from its arrival
    again = [t for t, sizes in rounds if sizes == [LIMIT_1280, LIMIT_1280 + 1]]
    assert again == [pytest.approx(fixed + RTT + 20 * DISCOVERY_GAP, abs=1e-6)]


@pytest.mark.parametrize("ip_mtu", [1280, 1400, 1500])
def test_with_the_systems_mtu_one_probe_fixes_it(ip_mtu: int) -> None:
    # IP_MTU known: maxmtu starts at the right value, the multiplier is 1, so
    # the first probe is maxmtu and its reply fixes the MTU at once.
    limit = largest_probe(ip_mtu)
    s = make(system_maxmtu=lambda: initial_maxmtu(ip_mtu))
    s.start(T0)
    rounds = run(s, T0 + 1, path(limit))
    assert mtu_probes(rounds) == [(T0 + RTT, [limit])]
    assert s.mtu == limit
    assert s.probes == -1  # fixed by the reply itself, at T0 + 2 * RTT
    rounds = run(s, T0 + 61, path(limit))
    pair = [limit, limit + 1] if limit + 1 < MTU else [limit]
    # PingInterval counts from when the probe went out, not from the reply
    assert mtu_probes(rounds) == [(pytest.approx(T0 + RTT + 60), pair)]


@pytest.mark.parametrize("ip_mtu", [1280, 1400, 1500])
def test_emsgsize_lowers_maxmtu_and_retries_at_once(ip_mtu: int) -> None:
    # The kernel knows the path MTU but tinc could not ask it (no IP_MTU):
    # too large probes fail with EMSGSIZE and are replaced on the spot.
    limit = largest_probe(ip_mtu)
    s = make()
    s.start(T0)
    probes = mtu_probes(run(s, T0 + 12, path(limit), refuses=lambda size: size > limit))
    assert s.mtu == limit
    refused = [k for k, (_, sizes) in enumerate(probes) if sizes[0] < 0]
    assert refused
    for k in refused:
        (when, sizes), (again, retry) = probes[k], probes[k + 1]
        assert len(sizes) == 1 and -sizes[0] > limit
        # a smaller replacement goes out in the same instant (and may be
        # refused again: with multiplier 1 the first probe of a cycle is maxmtu)
        assert again == when
        assert abs(retry[0]) < -sizes[0]
    # every refusal lowered maxmtu below the refused size
    assert all(size <= limit for _, sizes in probes[refused[-1] + 1 :] for size in sizes)


def test_emsgsize_retry_keeps_the_counter_and_uses_the_new_bound() -> None:
    s = confirmed()
    assert s.due_probes(T0 + RTT) == [1330]
    s.send_too_big(1330)
    assert (s.maxmtu, s.node_mtu, s.probes) == (1329, 1329, 0)
    assert s.next_wakeup() == T0 + RTT  # now
    retry = s.due_probes(T0 + RTT)
    # counter 0 again, maxmtu 1329 (multiplier 1): 512 + 817
    assert retry == [probe_size(MIN_PROBE_SIZE, 1329, 0)] == [1329]
    assert s.probes == 1
    assert s.next_wakeup() == T0 + RTT + DISCOVERY_GAP


def test_emsgsize_of_the_probe_that_fixes_the_mtu_ends_the_call() -> None:
    s = confirmed()
    s.probe_replied(1339, T0 + RTT)  # e.g. a gratuitous reply from the peer
    now = T0 + RTT
    sent = []
    for _ in range(8):
        sent += s.due_probes(now)
        now += DISCOVERY_GAP
    assert sent == [1492, 1414, 1375, 1357, 1348, 1343, 1341, 1340]
    s.send_too_big(1340)  # maxmtu 1339 = minmtu: fixed inside tinc's loop
    assert (s.mtu, s.maxmtu, s.probes) == (1339, 1339, -1)
    wake = s.next_wakeup()
    assert wake is not None and wake > now  # no re-sent probe


def test_emsgsize_that_leaves_maxmtu_alone_counts_the_probe_and_does_not_retry() -> None:
    # maxmtu 400 from the system: probes are 512, and EMSGSIZE never takes
    # maxmtu below 512, so the bound does not move.
    s = confirmed(system_maxmtu=lambda: 400)
    assert s.due_probes(T0 + RTT) == [512]
    s.send_too_big(512)
    assert (s.maxmtu, s.node_mtu, s.probes) == (400, 512, 1)
    assert s.next_wakeup() == T0 + RTT + DISCOVERY_GAP


def test_emsgsize_never_lowers_below_512() -> None:
    s = confirmed()
    s.send_too_big(100)
    assert (s.maxmtu, s.node_mtu) == (512, 512)


def test_emsgsize_for_a_data_packet_does_not_retry() -> None:
    s = confirmed()
    assert s.due_probes(T0 + RTT) == [1330]
    s.send_too_big(1400)  # not the probe just sent (1330)
    assert (s.maxmtu, s.probes) == (1399, 1)
    assert s.next_wakeup() == T0 + RTT + DISCOVERY_GAP


def test_mtu_fixes_as_soon_as_the_bounds_meet() -> None:
    s = confirmed(system_maxmtu=lambda: 1400)
    assert s.due_probes(T0 + RTT) == [1400]
    s.probe_replied(1400, T0 + 2 * RTT)
    assert (s.mtu, s.probes) == (1400, -1)


# -- after fixing: keep-alives, growth, decrease -------------------------------------------


def test_steady_state_keepalive_pairs_every_ping_interval_plus_rtt() -> None:
    s = make()
    s.start(T0)
    rounds = run(s, T0 + 4 * 3600, path(LIMIT_1400))
    pairs = [(t, sizes) for t, sizes in rounds if sizes == [LIMIT_1400, LIMIT_1400 + 1]]
    fixed = T0 + RTT + 20 * DISCOVERY_GAP
    # each answered maxmtu probe restarts the PingInterval wait from the reply
    expected = [fixed + k * (60 + RTT) for k in range(len(pairs))]
    assert times(pairs) == pytest.approx(expected, abs=1e-6)
    assert len(pairs) == int((4 * 3600 - 7) // 60.02) + 1
    small = [t for t, sizes in rounds if sizes == [MIN_PROBE_SIZE]]
    assert small == [T0 + 10 * k for k in range(len(small))]
    assert len(rounds) == len(pairs) + len(small) + 20  # nothing else
    assert s.mtu == LIMIT_1400


def test_custom_ping_and_udp_intervals() -> None:
    s = make(
        settings=MTUSettings(ping_interval=20),
        udp_discovery_interval=3,
        udp_keepalive_interval=7,
        udp_discovery_timeout=15,
    )
    s.start(T0)
    assert times(run(s, T0 + 10, dead)) == [T0, T0 + 3, T0 + 6, T0 + 9]
    rounds = run(s, T0 + 80, path(LIMIT_1400))
    small = [t for t, sizes in rounds if MIN_PROBE_SIZE in sizes]
    assert small == [T0 + 12, T0 + 19, T0 + 26, T0 + 33, T0 + 40, T0 + 47, T0 + 54, T0 + 61,
                     T0 + 68, T0 + 75]  # fmt: skip
    pairs = [t for t, sizes in rounds if sizes == [LIMIT_1400, LIMIT_1400 + 1]]
    assert pairs[1] - pairs[0] == pytest.approx(20 + RTT)


def test_lost_keepalives_restart_discovery_and_a_dead_path_fixes_at_zero() -> None:
    s = make()
    s.start(T0)
    died = T0 + 65
    rounds = run(s, T0 + 200, lambda size, t: size <= LIMIT_1400 and t < died)
    keepalive = T0 + RTT + 20 * DISCOVERY_GAP + 60 + RTT  # the first unanswered pair
    after = [(t, sizes) for t, sizes in mtu_probes(rounds) if t >= keepalive - 1e-9]
    assert after[0] == (pytest.approx(keepalive), [LIMIT_1400, LIMIT_1400 + 1])
    assert after[1] == (pytest.approx(keepalive + 1), [LIMIT_1400])  # counter -2
    assert after[2] == (pytest.approx(keepalive + 2), [LIMIT_1400])  # counter -3
    # counter -4: "Decrease in PMTU", discovery from 0 with minmtu 0 at once
    assert after[3] == (pytest.approx(keepalive + 3), [1330])
    # UDP is still confirmed (last reply T0 + 60.02), so 20 probes go out
    # unanswered and tinc fixes the MTU at minmtu = 0; its keep-alive pair,
    # maxmtu 0 and 1, goes out raised to 18 bytes ...
    fix = keepalive + 3 + 20 * DISCOVERY_GAP
    zero = [(t, sizes) for t, sizes in rounds if t == pytest.approx(fix)]
    assert zero == [(pytest.approx(fix), [MIN_PROBE_SIZE, MIN_PROBE_SIZE])]
    # ... until the UDP timeout, 30 s after the last reply, ends MTU probing.
    timeout = T0 + 60 + RTT + 30
    assert all(sizes == [MIN_PROBE_SIZE] for t, sizes in rounds if t > timeout)
    assert times(rounds)[-1] == T0 + 200
    assert s.mtu == 0  # tinc's n->mtu after fixing on nothing
    assert (s.minmtu, s.maxmtu, s.probes, s.udp_confirmed) == (0, MTU, 0, False)


def test_a_lower_path_mtu_is_found_again() -> None:
    s = make()
    s.start(T0)
    run(s, T0 + 10, path(LIMIT_1400))
    assert s.mtu == LIMIT_1400
    run(s, T0 + 150, path(LIMIT_1280))
    assert s.mtu == LIMIT_1280


def test_a_larger_path_mtu_is_detected_by_the_maxmtu_plus_one_probe() -> None:
    s = make()
    s.start(T0)
    run(s, T0 + 30, path(LIMIT_1280))
    assert s.mtu == LIMIT_1280
    rounds = mtu_probes(run(s, T0 + 80, path(LIMIT_1400)))
    # (fixed twice, see the 1280-byte test; the pair a PingInterval after the reply)
    fixed = T0 + 2 * RTT + 40 * DISCOVERY_GAP
    assert rounds[0] == (pytest.approx(fixed + RTT + 60), [LIMIT_1280, LIMIT_1280 + 1])
    # the reply to 1220 restarts discovery from counter 1: 19 probes above 1220
    assert len(rounds) == 20
    assert all(sizes[0] > LIMIT_1280 + 1 for _, sizes in rounds[1:])
    run(s, T0 + 90, path(LIMIT_1400))
    assert s.mtu == LIMIT_1400


@pytest.mark.parametrize(("mtu", "pair"), [(1516, [1516, 1517]), (1517, [1517]), (MTU, [MTU])])
def test_no_plus_one_probe_at_or_beyond_a_full_frame(mtu: int, pair: list[int]) -> None:
    s = make(system_maxmtu=lambda: mtu)
    s.start(T0)
    run(s, T0 + 10, path(mtu))
    assert s.mtu == mtu
    rounds = mtu_probes(run(s, T0 + 80, path(mtu)))
    assert [sizes for _, sizes in rounds] == [pair]


def test_gratuitous_reply_larger_than_maxmtu_restarts_discovery() -> None:
    s = make()
    s.start(T0)
    run(s, T0 + 10, path(LIMIT_1280))
    run(s, T0 + 30, path(LIMIT_1280))
    assert s.mtu == LIMIT_1280
    s.probe_replied(1450, T0 + 31)  # the peer received a 1450-byte packet from us
    assert (s.minmtu, s.maxmtu, s.probes) == (1450, MTU, 1)
    assert s.udp_limit == 1450


def test_only_a_maxmtu_reply_restarts_the_keepalive_wait() -> None:
    s = make()
    s.start(T0)
    run(s, T0 + 9, path(LIMIT_1400))
    assert (s.minmtu, s.maxmtu, s.probes) == (LIMIT_1400, LIMIT_1400, -1)
    s.probe_replied(700, T0 + 9)  # smaller than maxmtu: changes nothing
    assert (s.minmtu, s.maxmtu, s.probes) == (LIMIT_1400, LIMIT_1400, -1)
    s.probe_replied(LIMIT_1400, T0 + 30)  # e.g. relayed late: the wait restarts
    rounds = mtu_probes(run(s, T0 + 95, path(LIMIT_1400)))
    assert rounds == [(T0 + 90, [LIMIT_1400, LIMIT_1400 + 1])]


def test_bogus_reply_lengths_are_clamped_at_the_next_call() -> None:
    s = make()
    s.start(T0)
    s.due_probes(T0)
    s.probe_replied(65535, T0 + RTT)
    assert (s.minmtu, s.maxmtu, s.probes) == (65535, MTU, 1)
    assert s.due_probes(T0 + 1) == [MTU]  # fixed at 1518, keep-alive only
    assert (s.mtu, s.minmtu) == (MTU, MTU)


# -- gratuitous replies ------------------------------------------------------------------


def test_gratuitous_replies_report_the_largest_packet_every_9_seconds() -> None:
    s = make(settings=MTUSettings(discovery=False))
    s.start(T0)
    s.due_probes(T0)
    s.packet_received(MIN_PROBE_SIZE)
    s.probe_replied(MIN_PROBE_SIZE, T0 + RTT)
    assert s.next_wakeup() == T0 + RTT  # never sent one: due at once
    assert s.due_probes(T0 + RTT) == []
    assert s.gratuitous_reply == MIN_PROBE_SIZE
    s.packet_received(1200)
    s.packet_received(800)
    assert s.next_wakeup() == T0 + 9 + RTT
    assert s.due_probes(T0 + 5) == []
    assert s.gratuitous_reply is None
    assert s.due_probes(T0 + 9 + RTT) == []
    assert s.gratuitous_reply == 1200
    assert s.next_wakeup() == T0 + 10  # the UDP keep-alive; nothing more to report
    assert s.due_probes(T0 + 10) == [MIN_PROBE_SIZE]
    assert s.gratuitous_reply is None


def test_no_gratuitous_replies_before_protocol_17_3_or_confirmation() -> None:
    old = make(settings=MTUSettings(discovery=False), peer_minor=2)
    old.start(T0)
    old.due_probes(T0)
    old.packet_received(500)
    old.probe_replied(MIN_PROBE_SIZE, T0 + RTT)
    wakes = []
    for _ in range(6):
        wake = old.next_wakeup()
        assert wake is not None
        wakes.append(wake)
        assert old.due_probes(wake) == [MIN_PROBE_SIZE]
        assert old.gratuitous_reply is None
        old.packet_received(MIN_PROBE_SIZE)
        old.probe_replied(MIN_PROBE_SIZE, wake + RTT)
    assert wakes == [T0 + 10 * k for k in range(1, 7)]
    unconfirmed = make(settings=MTUSettings(discovery=False))
    unconfirmed.start(T0)
    unconfirmed.packet_received(500)
    unconfirmed.due_probes(T0)
    assert unconfirmed.gratuitous_reply is None
    assert unconfirmed.next_wakeup() == T0 + 2


# -- on demand: tinc's traffic-driven calls ---------------------------------------------


def test_on_demand_timer_does_udp_discovery_only() -> None:
    s = make(on_demand=True)
    s.start(T0)
    rounds = run(s, T0 + 60, path(LIMIT_1400))
    assert all(sizes == [MIN_PROBE_SIZE] for _, sizes in rounds)
    assert times(rounds) == [T0, T0 + 10, T0 + 20, T0 + 30, T0 + 40, T0 + 50, T0 + 60]
    assert s.mtu is None
    assert s.probes == 0


def test_on_demand_size_probes_go_with_traffic_at_most_every_third_of_a_second() -> None:
    s = confirmed(on_demand=True)
    assert s.next_wakeup() == T0 + 10  # the timer only keeps UDP alive
    assert s.try_tx(T0 + 0.1) == [1330]  # a packet is sent: probe at once
    assert s.try_tx(T0 + 0.2) == []  # too soon
    assert s.try_tx(T0 + 0.1 + DISCOVERY_GAP) == [826]  # 1330 went unanswered
    assert s.try_tx(T0 + 5, mtu=False) == []  # timer calls never probe sizes
    assert s.probes == 2
    assert s.try_tx(T0 + 10, mtu=False) == [MIN_PROBE_SIZE]
    assert s.probes == 2


def test_try_tx_without_mtu_holds_size_probing_until_confirmed() -> None:
    s = make(on_demand=True)
    s.start(T0)
    assert s.try_tx(T0) == [MIN_PROBE_SIZE]
    assert s.try_tx(T0 + 0.5) == []  # unconfirmed: try_mtu only resets
    assert s.probes == 0


# -- PMTU, PMTUDiscovery, UDPDiscovery ---------------------------------------------------


@pytest.mark.parametrize(("pmtu", "expected"), [(None, MTU), (1400, 1400), (9000, MTU)])
def test_without_pmtu_discovery_only_udp_probes_and_the_mtu_is_pmtu(
    pmtu: int | None, expected: int
) -> None:
    s = make(settings=MTUSettings(pmtu=pmtu, discovery=False))
    s.start(T0)
    rounds = run(s, T0 + 600, path(MTU))
    assert all(sizes == [MIN_PROBE_SIZE] for _, sizes in rounds)
    assert s.mtu == s.node_mtu == expected
    # tinc 1.1's SPTPS path still sends only packets up to minmtu by UDP, and
    # without size probes minmtu is what the small probes proved.
    assert s.udp_limit == MIN_PROBE_SIZE


def test_pmtu_is_the_starting_mtu_that_fixing_replaces() -> None:
    s = make(settings=MTUSettings(pmtu=1200))
    s.start(T0)
    run(s, T0 + 3, path(LIMIT_1400))
    assert (s.mtu, s.node_mtu) == (None, 1200)
    run(s, T0 + 9, path(LIMIT_1400))
    assert s.mtu == s.node_mtu == LIMIT_1400  # above PMTU, as in tinc


def test_without_udp_discovery_size_probing_starts_at_once() -> None:
    s = make(udp_discovery=False)
    s.start(T0)
    rounds = run(s, T0 + 9, path(LIMIT_1400))
    assert MIN_PROBE_SIZE not in [size for _, sizes in rounds for size in sizes]
    assert times(rounds) == discovery_times(T0, 21)
    assert s.mtu == LIMIT_1400
    assert s.next_wakeup() == pytest.approx(T0 + 20 * DISCOVERY_GAP + RTT + 60)


def test_without_udp_discovery_a_dead_path_fixes_at_zero_and_keeps_trying() -> None:
    s = make(udp_discovery=False)
    s.start(T0)
    rounds = run(s, T0 + 10, dead)
    assert s.mtu == 0
    assert rounds[20] == (pytest.approx(T0 + 20 * DISCOVERY_GAP), [MIN_PROBE_SIZE] * 2)
    # maxmtu 0: the keep-alives are raised to 18 bytes; three lost restart discovery
    assert [sizes for _, sizes in rounds[21:24]] == [[MIN_PROBE_SIZE], [MIN_PROBE_SIZE], [1330]]


# -- MTU_INFO, resets, reachability --------------------------------------------------------


def test_mtu_info_is_provisional_until_measured() -> None:
    s = make()
    s.start(T0)
    s.provisional_mtu(1300)
    assert (s.node_mtu, s.mtu) == (1300, None)
    s.provisional_mtu(20000)
    assert s.node_mtu == MTU
    run(s, T0 + 9, path(LIMIT_1400))
    assert s.measured
    s.provisional_mtu(600)
    assert s.node_mtu == LIMIT_1400
    with pytest.raises(ValueError, match="below 512"):
        s.provisional_mtu(511)


def test_stop_forgets_the_path_keeps_the_mtu_and_the_probe_times() -> None:
    s = make()
    s.start(T0)
    run(s, T0 + 9, path(LIMIT_1400))
    s.stop()
    assert s.next_wakeup() is None
    assert (s.udp_confirmed, s.minmtu, s.maxmtu, s.probes) == (False, 0, MTU, 0)
    assert s.mtu == LIMIT_1400
    s.probe_replied(LIMIT_1400, T0 + 9.5)  # a late reply to a stopped peer
    assert not s.udp_confirmed
    # Unconfirmed again: the next small probe is due 2 s after the last one
    # (T0), which has long passed.
    s.start(T0 + 9.6)
    assert s.next_wakeup() == T0 + 9.6
    s.reset(T0 + 9.7)
    assert s.due_probes(T0 + 9.7) == [MIN_PROBE_SIZE]
    s.reset(T0 + 10.5)
    assert s.next_wakeup() == T0 + 11.7  # 2 s after the last small probe


def test_udp_address_change_unconfirms_but_keeps_probing() -> None:
    s = make()
    s.start(T0)
    run(s, T0 + 9, path(LIMIT_1400))
    s.udp_address_changed()
    assert (s.udp_confirmed, s.minmtu, s.probes) == (False, 0, 0)
    wake = s.next_wakeup()
    assert wake is not None and wake < T0 + 9  # long due: probe the new address now
    assert s.due_probes(T0 + 9) == [MIN_PROBE_SIZE]


def test_key_lost_pauses_without_forgetting() -> None:
    s = make()
    s.start(T0)
    run(s, T0 + 9, path(LIMIT_1400))
    s.key_lost()
    assert s.next_wakeup() is None
    assert s.due_probes(T0 + 15) == []
    assert s.minmtu == s.maxmtu == LIMIT_1400
    s.start(T0 + 20)
    rounds = run(s, T0 + 70, path(LIMIT_1400))
    assert rounds[0] == (T0 + 20, [MIN_PROBE_SIZE])  # the overdue UDP keep-alive
    keepalive = T0 + 2 * RTT + 20 * DISCOVERY_GAP + 60  # as if never paused
    assert mtu_probes(rounds) == [(pytest.approx(keepalive), [LIMIT_1400, LIMIT_1400 + 1])]


def test_start_while_running_changes_nothing() -> None:
    s = make()
    s.start(T0)
    s.due_probes(T0)
    s.start(T0 + 1)
    assert s.next_wakeup() == T0 + 2


# -- robustness --------------------------------------------------------------------------


def test_is_an_mtu_strategy_built_from_settings_alone() -> None:
    s = Tinc11Probing(MTUSettings())
    assert isinstance(s, MTUStrategy)
    assert s.node_mtu == MTU


@pytest.mark.parametrize(
    "kwargs",
    [
        {"settings": MTUSettings(ping_interval=0)},
        {"udp_discovery_interval": 0},
        {"udp_keepalive_interval": 0},
        {"udp_discovery_timeout": -1},
    ],
)
def test_rejects_intervals_below_a_second(kwargs: dict[str, object]) -> None:
    with pytest.raises(ValueError, match="at least 1 second"):
        make(**kwargs)


@pytest.mark.parametrize("size", [-1, 65536])
def test_rejects_reply_lengths_the_wire_cannot_carry(size: int) -> None:
    with pytest.raises(ValueError, match="0 to 65535"):
        make().probe_replied(size, T0)


def test_rejects_a_system_maxmtu_of_zero() -> None:
    s = make(udp_discovery=False, system_maxmtu=lambda: 0)
    s.start(T0)
    with pytest.raises(ValueError, match="system_maxmtu"):
        s.due_probes(T0)


@settings(max_examples=60, deadline=None)
@given(
    limit=st.integers(MIN_PROBE_SIZE, MTU),
    kernel=st.one_of(st.none(), st.integers(512, MTU)),
    loss=st.floats(0, 0.6),
    rtt=st.floats(0.001, 0.3),
    seed=st.integers(0, 2**32 - 1),
    udp_discovery=st.booleans(),
)
def test_sizes_stay_within_the_bounds_and_never_exceed_the_path(
    limit: int, kernel: int | None, loss: float, rtt: float, seed: int, udp_discovery: bool
) -> None:
    rng = random.Random(seed)
    s = make(udp_discovery=udp_discovery)
    s.start(T0)
    until = T0 + 300
    answered: list[int] = []
    discovery = 0

    def passes(size: int, t: float) -> bool:
        ok = size <= limit and rng.random() >= loss
        if ok and t + rtt <= until:
            answered.append(size)
        return ok

    def observe(sizes: list[int]) -> None:
        nonlocal discovery
        assert all(MIN_PROBE_SIZE <= size <= MTU for size in sizes)
        assert -4 <= s.probes <= 20
        probe = [size for size in sizes if size >= 512]
        if s.probes > 0 and probe:
            # a discovery call: its probe lies between the bounds it used
            assert len(probe) == 1
            assert max(s.minmtu, 512) <= probe[0] <= max(s.maxmtu, 512)
            discovery += 1

    refuses = None if kernel is None else (lambda size: size > kernel)
    rounds = run(s, until, passes, rtt=rtt, refuses=refuses, observe=observe)
    assert rounds
    assert discovery > 0 or not s.udp_confirmed
    assert s.minmtu <= limit
    if s.mtu is not None:
        assert s.mtu <= min(limit, kernel or MTU)
        assert s.mtu == 0 or s.mtu in answered or s.mtu == s.maxmtu


_OPS = st.one_of(
    st.tuples(st.just("start")),
    st.tuples(st.just("stop")),
    st.tuples(st.just("reset")),
    st.tuples(st.just("key_lost")),
    st.tuples(st.just("address")),
    st.tuples(st.just("reply"), st.integers(0, 0xFFFF)),
    st.tuples(st.just("too_big"), st.integers(1, 70000)),
    st.tuples(st.just("received"), st.integers(0, 0xFFFF)),
    st.tuples(st.just("mtu_info"), st.integers(512, 70000)),
    st.tuples(st.just("due")),
    st.tuples(st.just("try_tx"), st.booleans()),
    st.tuples(st.just("advance"), st.floats(0, 120)),
)


@settings(max_examples=200, deadline=None)
@given(
    ops=st.lists(_OPS, max_size=80),
    udp_discovery=st.booleans(),
    on_demand=st.booleans(),
    discovery=st.booleans(),
    peer_minor=st.integers(0, 7),
    system=st.one_of(st.none(), st.integers(1, 3000)),
)
def test_any_sequence_of_events_never_raises_and_keeps_invariants(
    ops: list[tuple],
    udp_discovery: bool,
    on_demand: bool,
    discovery: bool,
    peer_minor: int,
    system: int | None,
) -> None:
    s = make(
        settings=MTUSettings(discovery=discovery, local_discovery=True),
        udp_discovery=udp_discovery,
        on_demand=on_demand,
        peer_minor=peer_minor,
        system_maxmtu=None if system is None else (lambda: system),
    )
    now = seen = T0  # the test's clock, and the latest time the strategy was given
    for op in ops:
        name = op[0]
        sizes: list[int] = []
        if name in ("start", "reset", "reply", "due", "try_tx"):
            seen = now
        if name == "start":
            s.start(now)
        elif name == "stop":
            s.stop()
        elif name == "reset":
            s.reset(now)
        elif name == "key_lost":
            s.key_lost()
        elif name == "address":
            s.udp_address_changed()
        elif name == "reply":
            s.probe_replied(op[1], now)
        elif name == "too_big":
            s.send_too_big(op[1])
        elif name == "received":
            s.packet_received(op[1])
        elif name == "mtu_info":
            s.provisional_mtu(op[1])
        elif name == "due":
            wake = s.next_wakeup()
            now = seen = now if wake is None else max(now, wake)
            sizes = s.due_probes(now)
            after = s.next_wakeup()
            assert after is None or after > now  # every gate moved on
        elif name == "try_tx":
            sizes = s.try_tx(now, op[1])
        else:
            now += op[1]
        assert all(MIN_PROBE_SIZE <= size <= MTU for size in sizes)
        assert sizes.count(MIN_PROBE_SIZE) <= 2 or s.maxmtu < MIN_PROBE_SIZE + 1
        assert -4 <= s.probes <= 20
        assert 0 <= s.node_mtu <= MTU
        assert s.gratuitous_reply is None or peer_minor >= 3
        wake = s.next_wakeup()
        assert wake is None or wake >= seen


# -- probe records -----------------------------------------------------------------------------




def scripted_bytes(data: bytes) -> Callable[[int], bytes]:
    def draw(n: int) -> bytes:
        assert n == len(data)
        return data

    return draw


def test_probe_records_match_the_capture_of_two_tinc_11_daemons() -> None:
    vector = load_vector("meta.json")
    records = vector["derived"]["udp_session"]["records"]
    probes = {
        direction: [r for r in records[direction] if r["type"] == PKT_PROBE]
        for direction in ("alpha2beta", "beta2alpha")
    }
    assert PKT_PROBE == 4
    padding = [
        bytes.fromhex(draw["hex"])
        for draw in vector["nodes"]["alpha"]["random"]
        if draw["role"] == "probe_padding"
    ]
    # alpha's draws: the probe it sent over TCP, the UDP probe, the gratuitous reply
    request = probe_request(MIN_PROBE_SIZE, scripted_bytes(padding[1]))
    assert request.hex() == probes["alpha2beta"][0]["data_hex"]
    assert parse_probe_record(request) == ProbeRecord(REQUEST, 18)
    # beta answers with a type 2 reply built from alpha's request
    reply = probe_reply_record(request)
    assert reply.hex() == probes["beta2alpha"][0]["data_hex"]
    assert parse_probe_record(reply) == ProbeRecord(REPLY_TYPE2, 18)
    # then alpha tells beta, unasked, that 18 bytes arrived
    gratuitous = gratuitous_reply_record(18, scripted_bytes(padding[2]))
    assert gratuitous.hex() == probes["alpha2beta"][1]["data_hex"]
    # and the probe alpha sent before the UDP session was up, over TCP (17 18)
    tcp = [
        r["tcp_packet_hex"]
        for r in vector["derived"]["meta_requests"]["alpha2beta"]
        if "tcp_packet_hex" in r
    ]
    assert tcp == [probe_request(18, scripted_bytes(padding[0])).hex()]


def test_strategy_replays_the_captured_exchange() -> None:
    # alpha's view: UDP probe out, type 2 reply in, gratuitous reply out
    s = make(settings=MTUSettings(discovery=False))
    s.start(T0)
    assert s.due_probes(T0) == [18]
    reply = parse_probe_record(bytes.fromhex("02001200000000000000000000009ad70660"))
    s.packet_received(18)
    s.probe_replied(reply.length, T0 + 0.004)
    s.due_probes(T0 + 1)
    assert s.gratuitous_reply == 18


@given(size=st.integers(MIN_PROBE_SIZE, MTU), seed=st.integers(0, 2**32 - 1))
def test_type2_reply_is_18_bytes_carrying_the_length(size: int, seed: int) -> None:
    request = probe_request(size, random.Random(seed).randbytes)
    assert len(request) == size
    assert request[:14] == bytes(14)
    reply = probe_reply_record(request)
    assert len(reply) == MIN_PROBE_SIZE
    assert reply[0] == 2
    assert int.from_bytes(reply[1:3], "big") == size
    assert reply[3:] == request[3:18]
    assert parse_probe_record(reply) == ProbeRecord(REPLY_TYPE2, size)


@given(size=st.integers(MIN_PROBE_SIZE, MTU))
def test_type1_reply_for_peers_before_17_3(size: int) -> None:
    request = probe_request(size, bytes)
    reply = probe_reply_record(request, peer_minor=2)
    assert reply == b"\x01" + request[1:]
    assert parse_probe_record(reply) == ProbeRecord(REPLY_TYPE1, size)


def test_reply_length_can_be_given_and_short_requests_are_padded() -> None:
    assert probe_reply_record(bytes(18), 1357)[1:3] == (1357).to_bytes(2, "big")
    assert probe_reply_record(b"\0\1\2\3") == b"\x02\x00\x04\x03" + bytes(14)


def test_any_nonzero_kind_other_than_2_is_a_type1_reply() -> None:
    assert parse_probe_record(b"\x7f" + bytes(99)) == ProbeRecord(REPLY_TYPE1, 100)
    assert not parse_probe_record(b"\x01").is_request


@pytest.mark.parametrize(
    ("body", "match"),
    [
        (b"", "empty"),
        (b"\x02\x05", "needs 3 bytes"),
        (bytes(MTU + 1), "exceeds"),
    ],
)
def test_malformed_probe_records(body: bytes, match: str) -> None:
    with pytest.raises(ProbeError, match=match):
        parse_probe_record(body)


def test_replies_are_not_answered() -> None:
    with pytest.raises(ProbeError, match="is a reply"):
        probe_reply_record(b"\x02\x00\x12" + bytes(15))


@pytest.mark.parametrize("size", [MIN_PROBE_SIZE - 1, MTU + 1])
def test_probe_request_rejects_impossible_sizes(size: int) -> None:
    with pytest.raises(ProbeError, match="18 to 1518"):
        probe_request(size)


@pytest.mark.parametrize("length", [-1, 65536])
def test_reply_lengths_must_fit_two_bytes(length: int) -> None:
    with pytest.raises(ProbeError, match="0 to 65535"):
        gratuitous_reply_record(length)
    with pytest.raises(ProbeError, match="0 to 65535"):
        probe_reply_record(bytes(18), length)


def test_short_random_source_is_an_error() -> None:
    with pytest.raises(ProbeError, match="random source"):
        probe_request(64, lambda n: bytes(n - 1))
