"""The benchmark's arithmetic, report and protocol checks, without a lab.

``bench/run.py`` needs root, namespaces and iperf3 to measure anything; what
it concludes from the numbers and logs it gathers is tested here: figures per
direction, ratios against the reference, the table's warnings, and the checks
that keep a pair's figure from silently being the other protocol.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from bench import run as bench
from tests.mesh import ED25519, RSA, Node, key_types, parse_dump_nodes
from tinca.core.cli.control_client import format_node
from tinca.core.control.records import (
    NODE_REACHABLE,
    NODE_SPTPS,
    NODE_UDP_CONFIRMED,
    NODE_VALIDKEY,
    NODE_VISITED,
    NodeRecord,
)
from tinca.core.logs import DEBUG_CONNECTIONS

# ---------------------------------------------------------------------------
# The pairs
# ---------------------------------------------------------------------------


def test_pairs_have_unique_labels_and_the_reference() -> None:
    labels = [pair.label for pair in bench.PAIRS]
    assert len(labels) == len(set(labels))
    assert bench.REFERENCE in labels


def test_an_sptps_pair_of_two_tinca_nodes_is_measured() -> None:
    sptps = [p for p in bench.PAIRS if p.protocol == bench.SPTPS]
    assert [(p.kind_a, p.kind_b) for p in sptps] == [("tinca", "tinca")]


def test_only_sptps_pairs_get_ed25519_keys() -> None:
    # An Ed25519 key alone makes a tinca node speak SPTPS, so a legacy pair must have none.
    for pair in bench.PAIRS:
        keys = key_types(bench.KEYS[pair.protocol])
        assert RSA in keys  # tincd needs it; an SPTPS pair keeps it, as 1.1 nodes do
        assert (ED25519 in keys) == (pair.protocol == bench.SPTPS)


def test_daemon_argv_sets_the_debug_level() -> None:
    node = Node("alpha", "tinca", ns=None, index=1, confdir=Path("/x"))  # type: ignore[arg-type]
    argv = bench.daemon_argv(node, Path("/x/alpha.pid"), 1)
    assert "-d1" in argv and "-d5" not in argv
    assert argv[-1] == "--pidfile=/x/alpha.pid"


def test_verify_level_shows_the_protocol_lines() -> None:
    # The meta connection line is logged at tinc's connections level.
    assert bench.VERIFY_LEVEL >= DEBUG_CONNECTIONS
    assert bench.DEBUG_LEVEL < bench.VERIFY_LEVEL


# ---------------------------------------------------------------------------
# Protocol checks
# ---------------------------------------------------------------------------

SPTPS_LOG = """\
Connection from 192.0.2.1 port 40000
Meta connection with alpha uses SPTPS
Connection with alpha (192.0.2.1 port 40000) activated
SPTPS key exchange with alpha successful
"""
LEGACY_LOG = """\
Meta connection with alpha uses the legacy protocol
Connection with alpha (192.0.2.1 port 40000) activated
"""


def test_logged_protocol() -> None:
    assert bench.logged_protocol(SPTPS_LOG, "alpha") == bench.SPTPS
    assert bench.logged_protocol(LEGACY_LOG, "alpha") == bench.LEGACY
    assert bench.logged_protocol(SPTPS_LOG, "beta") is None
    assert bench.logged_protocol("", "alpha") is None


def test_a_node_without_sptps_speaks_legacy() -> None:
    # A node with SPTPS off logs no per-connection line: it has one protocol.
    log = "Support for SPTPS disabled.\nConnection with alpha (192.0.2.1) activated\n"
    assert bench.logged_protocol(log, "alpha") == bench.LEGACY
    assert bench.meta_protocol_pattern("alpha").search(log)
    with pytest.raises(bench.LabError, match="should use sptps, it logged legacy"):
        bench.check_protocol_log(log, "beta", "alpha", bench.SPTPS)


def test_logged_protocol_matches_the_whole_peer_name() -> None:
    log = "Meta connection with alphabet uses SPTPS\n"
    assert bench.logged_protocol(log, "alpha") is None
    assert bench.logged_protocol(log, "alph.bet") is None  # the name is not a regex


def test_logged_protocol_takes_the_latest_connection() -> None:
    assert bench.logged_protocol(SPTPS_LOG + LEGACY_LOG, "alpha") == bench.LEGACY


def test_check_protocol_log_accepts_what_was_spoken() -> None:
    bench.check_protocol_log(SPTPS_LOG, "beta", "alpha", bench.SPTPS)
    bench.check_protocol_log(LEGACY_LOG, "beta", "alpha", bench.LEGACY)


@pytest.mark.parametrize(
    ("log", "protocol", "reason"),
    [
        (LEGACY_LOG, bench.SPTPS, "should use sptps, it logged legacy"),
        (SPTPS_LOG, bench.LEGACY, "should use legacy, it logged sptps"),
        ("", bench.SPTPS, "it logged no protocol"),
        (SPTPS_LOG.replace("SPTPS key exchange", "Key exchange"), bench.SPTPS,
         "no finished SPTPS key exchange with alpha"),
    ],
)
def test_check_protocol_log_refuses_the_other_protocol(
    log: str, protocol: str, reason: str
) -> None:
    with pytest.raises(bench.LabError, match=reason):
        bench.check_protocol_log(log, "beta", "alpha", protocol)


def _dump_line(name: str, status: int) -> str:
    record = NodeRecord(
        name=name, id="0123456789ab", host="192.0.2.2", port="655", cipher=0, digest=0,
        maclength=0, compression=0, options=0x0700000C, status=status, nexthop=name,
        via=name, distance=1, pmtu=1451, minmtu=1451, maxmtu=1451, last_state_change=0,
        udp_ping_rtt=-1, in_packets=1, in_bytes=100, out_packets=1, out_bytes=100,
    )
    return format_node(record)


REACHABLE = NODE_VISITED | NODE_REACHABLE | NODE_UDP_CONFIRMED


def test_check_session_accepts_a_keyed_session_of_the_protocol() -> None:
    sptps = parse_dump_nodes(_dump_line("beta", REACHABLE | NODE_VALIDKEY | NODE_SPTPS))
    bench.check_session("alpha", sptps["beta"], bench.SPTPS)
    legacy = parse_dump_nodes(_dump_line("beta", REACHABLE | NODE_VALIDKEY))
    bench.check_session("alpha", legacy["beta"], bench.LEGACY)


@pytest.mark.parametrize(
    ("status", "protocol", "reason"),
    [
        (REACHABLE | NODE_VALIDKEY, bench.SPTPS, "is legacy, not sptps"),
        (REACHABLE | NODE_VALIDKEY | NODE_SPTPS, bench.LEGACY, "is sptps, not legacy"),
        (REACHABLE | NODE_SPTPS, bench.SPTPS, "no valid key for beta"),
    ],
)
def test_check_session_refuses_a_wrong_or_unkeyed_session(
    status: int, protocol: str, reason: str
) -> None:
    state = parse_dump_nodes(_dump_line("beta", status))["beta"]
    with pytest.raises(bench.LabError, match=reason):
        bench.check_session("alpha", state, protocol)


# ---------------------------------------------------------------------------
# Figures and report
# ---------------------------------------------------------------------------


def _run(mbit: float, megabytes: int, cpu_a: float, cpu_b: float, datagrams: int) -> bench.Run:
    return bench.Run(
        bits_per_second=mbit * 1e6, bytes=megabytes * 10**6, seconds=10.0, retransmits=3,
        cpu_a=cpu_a, cpu_b=cpu_b, udp_datagrams=datagrams,
    )


def _result(label: str, mbit: float, cpu: float, rss: int, datagrams: int) -> bench.PairResult:
    result = bench.PairResult(label, "tinca", "tinca", "", bench.LEGACY,
                              rss_a_kib=rss, rss_b_kib=rss)
    for name in ("alpha->beta", "beta->alpha"):
        # 1000 MB carried per direction, in two runs.
        runs = [_run(mbit, 500, cpu, cpu, datagrams), _run(mbit * 3, 500, cpu, cpu, datagrams)]
        result.directions.append(bench.Direction(name, runs))
    return result


def test_direction_figures() -> None:
    direction = bench.Direction("alpha->beta", [
        _run(100, 500, 1.0, 2.0, 345_304), _run(300, 500, 3.0, 4.0, 345_304),
        _run(200, 500, 0.5, 0.5, 345_304),
    ])
    assert direction.mbit == pytest.approx(200)
    assert direction.mbit_range == pytest.approx((100, 300))
    assert direction.per_gb() == pytest.approx(11.0 / 1.5)
    assert direction.per_gb("a") == pytest.approx(4.5 / 1.5)
    assert direction.per_gb("b") == pytest.approx(6.5 / 1.5)
    assert direction.retransmits == 9
    assert direction.udp_share == pytest.approx(1.0, abs=0.001)


def test_ratios_divide_by_the_reference() -> None:
    reference = _result(bench.REFERENCE, 600, 5.0, 6000, 345_304)
    sptps = _result("tinca-sptps", 300, 20.0, 42_000, 345_304)
    ratios = bench.ratios([sptps, reference])
    assert list(ratios) == [f"tinca-sptps / {bench.REFERENCE}"]
    entry = ratios[f"tinca-sptps / {bench.REFERENCE}"]
    assert entry["throughput alpha->beta"] == pytest.approx(0.5)
    assert entry["CPU per GB beta->alpha"] == pytest.approx(4.0)
    assert entry["peak RSS"] == pytest.approx(7.0)


def test_ratios_need_the_reference() -> None:
    assert bench.ratios([_result("tinca-sptps", 300, 20.0, 42_000, 345_304)]) == {}


def _info() -> dict[str, object]:
    return {"date": "2026-11-28T00:00:00+00:00", "cpu": "a CPU", "cpus": 2, "kernel": "6.1",
            "python": "3.11.7", "tincd": "tinc version 1.0.36", "cipher": "aes-256-cbc",
            "seconds": 10.0, "repeat": 2}


def test_table_shows_every_pair_and_ratio() -> None:
    results = [_result("tinca-legacy", 400, 15.0, 42_000, 345_304),
               _result("tinca-sptps", 300, 20.0, 42_000, 345_304),
               _result(bench.REFERENCE, 600, 5.0, 6000, 345_304)]
    text = bench.table(results, _info())
    for label in ("tinca-legacy", "tinca-sptps", bench.REFERENCE):
        rows = [line.split()[1] for line in text.splitlines() if line.startswith(label + "  ")]
        assert rows == ["alpha->beta", "beta->alpha"]
    assert f"tinca-sptps / {bench.REFERENCE}:" in text
    assert f"tinca-legacy / {bench.REFERENCE}:" in text
    assert "ChaCha20-Poly1305" in text
    assert "WARNING" not in text


def test_table_warns_when_traffic_went_by_tcp() -> None:
    results = [_result("tinca-sptps", 300, 20.0, 42_000, 1000),
               _result(bench.REFERENCE, 600, 5.0, 6000, 345_304)]
    text = bench.table(results, _info())
    assert "WARNING: tinca-sptps alpha->beta: part of the traffic did not go by UDP" in text


def test_as_json_names_the_protocol() -> None:
    result = _result("tinca-sptps", 300, 20.0, 42_000, 345_304)
    result.protocol = bench.SPTPS
    document = result.as_json()
    assert document["protocol"] == "sptps"
    assert document["directions"][0]["mbit_per_second_median"] == pytest.approx(600.0)


# ---------------------------------------------------------------------------
# /proc readings
# ---------------------------------------------------------------------------


def test_proc_readings_of_this_process() -> None:
    assert bench.cpu_seconds(os.getpid()) >= 0
    assert bench.peak_rss_kib(os.getpid()) > 1000  # a Python with pytest loaded
