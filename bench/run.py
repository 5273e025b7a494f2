"""tinca against Debian's tincd 1.0.36: throughput, CPU per GB and memory, in one run.

Run as root from the repository root::

    python3 -m bench.run [--seconds 10] [--cipher aes-256-cbc] [--json FILE]

Each pair in :data:`PAIRS` gets a lab of its own (built with
``tests.netns`` and ``tests.mesh``): two namespaces, ``alpha`` and
``beta``, on one switch (underlay 192.0.2.1 and .2), each running one daemon
in router mode with a tun device (overlay 198.18.0.1 and .2). alpha connects
to beta. The daemons measure at debug level 1 so neither logs per packet.

The pairs: tinca ↔ tinca with tinc 1.0's protocol (RSA keys only), tinca ↔
tinca with tinc 1.1's SPTPS (Ed25519 keys as well, so both nodes run
"experimental"), and the reference, tincd 1.0.36 ↔ tincd 1.0.36. A tinca
pair is checked to speak the protocol it is listed with, so a figure can
never silently be the other one: its daemons start at debug level 5 and log
which protocol each meta connection uses (or, without an Ed25519 key, that
SPTPS is off) and, for SPTPS, that the per-node key exchange finished; only
then are they set to level 1 through the control socket (``tinca debug 1``).
After the measurement, ``tinca dump nodes`` must show the peer keyed and its
``sptps`` status bit as expected.

Pinning: alpha's daemon runs on CPU 0 and beta's on CPU 1 (``taskset -c``).
iperf3 runs with its node: the client in alpha's namespace on CPU 0, the
server in beta's namespace on CPU 1, so each "host" has one core for its
application and its VPN daemon, and the kernel's work lands where it is caused.

First comes a warm-up: 1 s iperf3 runs each way until each direction's
traffic goes by UDP, i.e. until the nodes' path MTU discovery has settled (until
then tinc 1.0 sends larger packets inside the TCP meta connection, and tinc
1.1 sends SPTPS records by TCP until a UDP probe of their size came back). Then,
for each direction in turn (alpha→beta, then beta→alpha with ``iperf3 -R``),
``--repeat`` runs of ``--seconds`` each measure:

- throughput: iperf3's receiver-side TCP rate (the table shows the median run);
- CPU seconds per GB carried: utime+stime of both daemons (``/proc/PID/stat``)
  before and after the run, over the bytes the receiver got (1 GB = 10^9 B);
- UDP datagrams the receiving namespace took in, to show the data went by UDP;

and once per pair, at its end, each daemon's peak RSS (``VmHWM``). Every pair
is compared with :data:`REFERENCE` (tincd ↔ tincd) as tinca/tincd ratios.
The machine should be otherwise idle: its idle share is sampled before each
pair, and the report warns when it was busy.

Namespaces and processes are removed when a pair ends, also on errors,
Ctrl-C and SIGTERM.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import json
import os
import platform
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import NamedTuple

from tests.interop.tincd_harness import find_tincd
from tests.mesh import Node, NodeState, build, make_nodes
from tests.netns import Lab, LabError, Namespace, Process, iperf3_report

CPU_A = 0
"""The CPU of node alpha's daemon (and of the iperf3 in its namespace)."""
CPU_B = 1
"""The CPU of node beta's daemon (and of the iperf3 in its namespace)."""
DEBUG_LEVEL = 1
"""Daemon debug level: connections only. tincd logs every packet from 5 up."""
VERIFY_LEVEL = 5
"""Debug level a tinca daemon starts at, so its log shows which protocol it
speaks; it is lowered to :data:`DEBUG_LEVEL` before any traffic is measured."""
VERIFY_TIMEOUT = 30.0
"""Seconds to wait for the protocol log lines after the first ping got through."""
WARMUP_LIMIT = 60.0
"""Seconds the path MTU may take to settle before measuring (tincd 1.0 fixes
it after at most 30 one-second probe rounds, net_packet.c send_mtu_probe;
tinc 1.1 after 20 rounds a third of a second or more apart, net_packet.c
try_mtu, once a UDP probe confirmed the address)."""
UDP_SHARE = 0.9
"""Share of a warm-up run's segments that must arrive as UDP datagrams."""
SEGMENT = 1448
"""Payload bytes of a full TCP segment on a 1500-byte path (at most)."""
IPERF_PORT = 5201
GB = 1e9
QUIET = 0.9
"""Idle share below which the machine counts as busy (see :func:`idle_share`)."""
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


LEGACY = "legacy"
"""tinc 1.0's protocol (17.0): RSA authentication, EVP cipher and digest."""
SPTPS = "sptps"
"""tinc 1.1's protocol (17.7): SPTPS with Ed25519 keys and ChaCha20-Poly1305."""


class Pair(NamedTuple):
    """Two nodes to measure between.

    ``kind_a`` and ``kind_b`` are ``tinca`` or ``tincd``; ``extra`` is added
    to both nodes' tinc.conf. ``protocol`` is what the nodes must speak
    (:data:`LEGACY` or :data:`SPTPS`): an SPTPS pair's nodes get Ed25519 keys
    besides the RSA ones, and every tinca node is checked to really use it
    (see :func:`verify_protocol` and :func:`verify_session`).
    """

    label: str
    kind_a: str
    kind_b: str
    extra: str = ""
    protocol: str = LEGACY


KEYS = {LEGACY: "rsa", SPTPS: "both"}
"""Key types (``tests.mesh.build``) for each protocol. An SPTPS pair
has RSA keys too, as tinc 1.1 nodes usually do: it is the Ed25519 key that
makes a tinca node "experimental", and :func:`verify_protocol` checks that
it then chose SPTPS."""

PAIRS: list[Pair] = [
    Pair("tinca-legacy", "tinca", "tinca"),
    Pair("tinca-sptps", "tinca", "tinca", protocol=SPTPS),
    Pair("tincd-tincd", "tincd", "tincd"),
]
REFERENCE = "tincd-tincd"
"""The pair every other pair is divided by in the ratios."""


# ---------------------------------------------------------------------------
# Results
# ---------------------------------------------------------------------------


@dataclass
class Run:
    """One iperf3 run between the pair's nodes."""

    bits_per_second: float
    """iperf3's receiver-side rate."""
    bytes: int
    """Bytes the receiver got."""
    seconds: float
    retransmits: int
    cpu_a: float
    """CPU seconds alpha's daemon used during the run."""
    cpu_b: float
    udp_datagrams: int
    """UDP datagrams the receiving namespace took in during the run."""


@dataclass
class Direction:
    """Every run in one direction: ``alpha->beta`` or ``beta->alpha``."""

    name: str
    runs: list[Run] = field(default_factory=list)

    @property
    def mbit(self) -> float:
        """The median run's throughput, Mbit/s."""
        return statistics.median(run.bits_per_second for run in self.runs) / 1e6

    @property
    def mbit_range(self) -> tuple[float, float]:
        rates = [run.bits_per_second / 1e6 for run in self.runs]
        return min(rates), max(rates)

    def per_gb(self, node: str = "both") -> float:
        """CPU seconds per GB carried, over all runs, for ``a``, ``b`` or ``both``."""
        carried = sum(run.bytes for run in self.runs) / GB
        cpu = 0.0
        for run in self.runs:
            cpu += run.cpu_a if node in ("a", "both") else 0.0
            cpu += run.cpu_b if node in ("b", "both") else 0.0
        return cpu / carried if carried else float("inf")

    @property
    def retransmits(self) -> int:
        return sum(run.retransmits for run in self.runs)

    @property
    def udp_share(self) -> float:
        """Received datagrams per full-size segment carried (about 1 when all went by UDP)."""
        carried = sum(run.bytes for run in self.runs)
        return sum(run.udp_datagrams for run in self.runs) * SEGMENT / carried if carried else 0


@dataclass
class PairResult:
    """Everything measured for one pair."""

    label: str
    kind_a: str
    kind_b: str
    extra: str
    protocol: str
    """The protocol the pair spoke (checked for tinca nodes, see :class:`Pair`)."""
    directions: list[Direction] = field(default_factory=list)
    rss_a_kib: int = 0
    """alpha's daemon's peak resident set (VmHWM), KiB."""
    rss_b_kib: int = 0
    warmup_seconds: float = 0.0
    """How long the path MTU took to settle (see :func:`warm_up`)."""
    idle_before: float = 1.0
    """Share of the machine's CPU time idle just before the pair was built."""

    def as_json(self) -> dict[str, object]:
        data = asdict(self)
        for entry, direction in zip(data["directions"], self.directions, strict=True):
            entry["mbit_per_second_median"] = round(direction.mbit, 1)
            entry["cpu_seconds_per_gb"] = round(direction.per_gb(), 3)
            entry["cpu_seconds_per_gb_a"] = round(direction.per_gb("a"), 3)
            entry["cpu_seconds_per_gb_b"] = round(direction.per_gb("b"), 3)
        return data


# ---------------------------------------------------------------------------
# /proc readings
# ---------------------------------------------------------------------------


def cpu_seconds(pid: int) -> float:
    """utime + stime of process ``pid`` (all its threads), in seconds."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    # Fields after the command name (which may hold spaces) start at "state";
    # utime and stime are fields 14 and 15 of proc(5).
    fields = stat[stat.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def peak_rss_kib(pid: int) -> int:
    """VmHWM of process ``pid``, in KiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    raise LabError(f"no VmHWM in /proc/{pid}/status")


def idle_share(seconds: float = 1.0) -> float:
    """Share of this machine's CPU time that was idle over the next ``seconds``.

    Measured before each pair: the figures mean little when something else
    was using the CPUs the daemons are pinned to.
    """

    def sample() -> tuple[int, int]:
        fields = Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]
        ticks = [int(x) for x in fields]
        return ticks[3] + ticks[4], sum(ticks[:8])  # idle + iowait, all but guest

    idle0, total0 = sample()
    time.sleep(seconds)
    idle1, total1 = sample()
    return (idle1 - idle0) / max(1, total1 - total0)


def udp_in(ns: Namespace) -> int:
    """UDP datagrams received in ``ns`` so far (/proc/net/snmp is per namespace)."""
    lines = ns.run(["cat", "/proc/net/snmp"]).stdout.splitlines()
    names, values = [line.split() for line in lines if line.startswith("Udp:")][:2]
    return int(values[names.index("InDatagrams")])


# ---------------------------------------------------------------------------
# Processes
# ---------------------------------------------------------------------------


def pinned(cpu: int, ns: Namespace, argv: list[str]) -> list[str]:
    """``argv`` inside ``ns`` on CPU ``cpu`` (taskset and ip both exec, so the
    pid stays the program's own)."""
    return ["taskset", "-c", str(cpu), *ns.prefix, *argv]


def daemon_argv(node: Node, pidfile: Path, debug: int) -> list[str]:
    """The node's own start command from ``tests.mesh``, at ``debug``."""
    argv = node.command(pidfile)
    if "-d5" not in argv:
        raise LabError(f"cannot set the debug level in {argv}")
    return [f"-d{debug}" if arg == "-d5" else arg for arg in argv]


def start_daemon(lab: Lab, node: Node, cpu: int) -> Process:
    """Start ``node``'s daemon pinned to ``cpu`` and wait until it is ready.

    tincd runs at :data:`DEBUG_LEVEL` throughout; tinca starts at
    :data:`VERIFY_LEVEL` and is lowered by :func:`set_debug_level` once
    :func:`verify_protocol` has read its log.
    """
    node.pidfile = lab.workdir / f"{node.name}.pid"
    level = VERIFY_LEVEL if node.kind == "tinca" else DEBUG_LEVEL
    argv = daemon_argv(node, node.pidfile, level)
    node.process = lab.start(pinned(cpu, node.ns, argv), label=f"{node.kind}-{node.name}")
    node.logfiles.append(node.process.log)
    node.process.wait_for("Ready", timeout=20)
    return node.process


def set_debug_level(node: Node, level: int) -> None:
    """``tinca debug LEVEL`` through ``node``'s control socket (tinca nodes only)."""
    node.control("debug", str(level))


def iperf3(ns: Namespace, cpu: int, server: str, seconds: float, reverse: bool) -> dict:
    """Run an iperf3 TCP client in ``ns`` on ``cpu``; returns its JSON report."""
    argv = ["iperf3", "-c", server, "-p", str(IPERF_PORT), "-t", f"{seconds:g}", "-J"]
    if reverse:
        argv.append("-R")
    return iperf3_report(ns.lab.run(pinned(cpu, ns, argv), check=False, timeout=seconds + 30))


def wait_for_ping(ns: Namespace, address: str, timeout: float) -> None:
    """Ping until one reply comes back, or fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if ns.ping(address, count=1, wait=1).ok:
            return
    raise LabError(f"no ping reply from {address} within {timeout:g} s")


# ---------------------------------------------------------------------------
# Which protocol a tinca node speaks
# ---------------------------------------------------------------------------

_META_PROTOCOL = r"Meta connection with {peer} uses (?P<protocol>SPTPS|the legacy protocol)"
"""tinca's log line (connection level) naming the protocol of a meta connection.
Only a node with SPTPS on logs it: one without has a single protocol."""
_SPTPS_OFF = "Support for SPTPS disabled."
"""tinca's (and tinc 1.1's, net_setup.c setup_myself) start-up warning when no
Ed25519 private key can be read and ExperimentalProtocol is unset: every meta
connection of that node is then legacy."""
_KEX_DONE = "SPTPS key exchange with {peer} successful"
"""tinca's log line when the per-node SPTPS (UDP) session with ``peer`` is keyed."""


def meta_protocol_pattern(peer: str) -> re.Pattern[str]:
    """The log line naming the protocol of the meta connection with ``peer``,
    or the start-up line that says there is only the legacy one."""
    return re.compile(_META_PROTOCOL.format(peer=re.escape(peer)) + "|" + re.escape(_SPTPS_OFF))


def logged_protocol(log: str, peer: str) -> str | None:
    """:data:`SPTPS` or :data:`LEGACY` as ``log`` says the meta connection with
    ``peer`` uses (the last such line counts, else "SPTPS disabled" means
    legacy); ``None`` when it says nothing."""
    found = re.findall(_META_PROTOCOL.format(peer=re.escape(peer)), log)
    if found:
        return SPTPS if found[-1] == "SPTPS" else LEGACY
    return LEGACY if _SPTPS_OFF in log else None


def check_protocol_log(log: str, node: str, peer: str, protocol: str) -> None:
    """Fail unless ``log`` (node ``node``'s) shows ``protocol`` with ``peer``.

    Both protocols need the meta connection line; SPTPS also needs the line
    that the per-node key exchange with ``peer`` succeeded, since the data
    goes through that session, not through the meta connection.
    """
    seen = logged_protocol(log, peer)
    if seen != protocol:
        said = f"it logged {seen}" if seen else "it logged no protocol"
        raise LabError(f"{node}: the meta connection with {peer} should use {protocol}, {said}")
    if protocol == SPTPS and _KEX_DONE.format(peer=peer) not in log:
        raise LabError(f"{node}: no finished SPTPS key exchange with {peer} in its log")


def check_session(node: str, state: NodeState, protocol: str) -> None:
    """Fail unless ``state`` (``node``'s ``dump nodes`` line for a peer) shows
    the peer keyed with a data session of ``protocol``."""
    if not state.validkey:
        raise LabError(f"{node}: no valid key for {state.name}: {state.line}")
    if state.sptps != (protocol == SPTPS):
        session = SPTPS if state.sptps else LEGACY
        raise LabError(
            f"{node}: the data session with {state.name} is {session}, not {protocol}: "
            f"{state.line}"
        )


def _wait_in_log(node: Node, pattern: str | re.Pattern[str], what: str) -> None:
    """Wait for ``pattern`` in ``node``'s daemon output; on failure, name ``what``
    and show the end of the log rather than all of it (level 5 logs a lot)."""
    assert node.process is not None
    try:
        node.process.wait_for(pattern, timeout=VERIFY_TIMEOUT)
    except LabError:
        tail = "\n".join(node.process.output().splitlines()[-40:])
        raise LabError(
            f"{node.name}: {what} not logged within {VERIFY_TIMEOUT:g} s "
            f"(log {node.process.log}); its end:\n{tail}"
        ) from None


def verify_protocol(nodes: list[Node], protocol: str) -> None:
    """Wait until each tinca node's log shows ``protocol`` with the other node.

    Called once the first ping got through, which is what starts tinc 1.1's
    per-node key exchange. tincd nodes are skipped: 1.0.36 knows only one.
    """
    for node in nodes:
        if node.kind != "tinca":
            continue
        assert node.process is not None
        for peer in nodes:
            if peer is node:
                continue
            _wait_in_log(node, meta_protocol_pattern(peer.name),
                         f"the protocol of its meta connection with {peer.name}")
            if protocol == SPTPS and logged_protocol(node.process.output(), peer.name) == SPTPS:
                _wait_in_log(node, _KEX_DONE.format(peer=peer.name),
                             f"the SPTPS key exchange with {peer.name}")
            check_protocol_log(node.process.output(), node.name, peer.name, protocol)


def verify_session(nodes: list[Node], protocol: str) -> None:
    """Fail unless each tinca node's ``dump nodes`` shows the other keyed over ``protocol``."""
    for node in nodes:
        if node.kind != "tinca":
            continue
        states = node.dump_nodes()
        for peer in nodes:
            if peer is node:
                continue
            if peer.name not in states:
                raise LabError(f"{node.name}: dump nodes does not list {peer.name}")
            check_session(node.name, states[peer.name], protocol)


# ---------------------------------------------------------------------------
# Measuring
# ---------------------------------------------------------------------------


def warm_up(a: Namespace, b: Namespace, server: str) -> float:
    """Run 1 s of iperf3 each way until both ways go by UDP; returns the time taken.

    Until a tinc 1.0 node has probed a peer's path MTU, packets larger than
    the smallest size proven to pass travel inside the TCP meta connection,
    which is not the data path to measure. tinc 1.1 does the same with SPTPS
    records: by TCP until the UDP address is confirmed and a probe of at least
    their size came back (net_packet.c send_sptps_data). Each direction
    settles on its own.
    """
    start = time.monotonic()
    settled = {False: False, True: False}
    while not all(settled.values()):
        if time.monotonic() - start > WARMUP_LIMIT:
            raise LabError(f"traffic still not carried by UDP after {WARMUP_LIMIT:g} s")
        for reverse in (False, True):
            if settled[reverse]:
                continue
            receiver = a if reverse else b
            before = udp_in(receiver)
            report = iperf3(a, CPU_A, server, 1, reverse)
            carried = int(report["end"]["sum_received"]["bytes"])
            settled[reverse] = (udp_in(receiver) - before) * SEGMENT >= UDP_SHARE * carried
    return round(time.monotonic() - start, 1)


def measure_pair(
    pair: Pair, workdir: Path, seconds: float, cipher: str, repeat: int = 1
) -> PairResult:
    """Build the pair in a fresh lab, measure each direction ``repeat`` times, tear it down."""
    result = PairResult(pair.label, pair.kind_a, pair.kind_b, pair.extra, pair.protocol)
    result.idle_before = round(idle_share(), 3)
    pairdir = workdir / pair.label
    pairdir.mkdir()
    with Lab(pairdir) as lab:
        alpha, beta = make_nodes(lab, [("alpha", pair.kind_a), ("beta", pair.kind_b)])
        alpha.connect_to = ["beta"]
        common = "\n".join(x for x in (f"Cipher = {cipher}", pair.extra) if x)
        build(lab, [alpha, beta], common=common, keys=KEYS[pair.protocol])
        daemon_b = start_daemon(lab, beta, CPU_B)
        daemon_a = start_daemon(lab, alpha, CPU_A)
        daemon_a.wait_for("Connection with beta", timeout=30)
        wait_for_ping(alpha.ns, beta.overlay, 30)
        verify_protocol([alpha, beta], pair.protocol)
        for node in (alpha, beta):
            if node.kind == "tinca":
                set_debug_level(node, DEBUG_LEVEL)
        lab.start(
            pinned(CPU_B, beta.ns, ["iperf3", "-s", "-p", str(IPERF_PORT), "--forceflush"]),
            label="iperf3-server",
        ).wait_for("Server listening", timeout=10)
        result.warmup_seconds = warm_up(alpha.ns, beta.ns, beta.overlay)

        for name, reverse in (("alpha->beta", False), ("beta->alpha", True)):
            direction = Direction(name)
            receiver = alpha.ns if reverse else beta.ns
            for _ in range(repeat):
                udp_before = udp_in(receiver)
                cpu_a, cpu_b = cpu_seconds(daemon_a.pid), cpu_seconds(daemon_b.pid)
                report = iperf3(alpha.ns, CPU_A, beta.overlay, seconds, reverse)
                cpu_a = cpu_seconds(daemon_a.pid) - cpu_a
                cpu_b = cpu_seconds(daemon_b.pid) - cpu_b
                received = report["end"]["sum_received"]
                direction.runs.append(
                    Run(
                        bits_per_second=float(received["bits_per_second"]),
                        bytes=int(received["bytes"]),
                        seconds=float(received["seconds"]),
                        retransmits=int(report["end"]["sum_sent"].get("retransmits", 0)),
                        cpu_a=round(cpu_a, 2),
                        cpu_b=round(cpu_b, 2),
                        udp_datagrams=udp_in(receiver) - udp_before,
                    )
                )
            result.directions.append(direction)
        result.rss_a_kib = peak_rss_kib(daemon_a.pid)
        result.rss_b_kib = peak_rss_kib(daemon_b.pid)
        verify_session([alpha, beta], pair.protocol)
        for node in (alpha, beta):
            if node.process is not None and not node.process.running:
                raise LabError(f"{node.name} ({node.kind}) exited:\n{node.process.output()}")
    return result


# ---------------------------------------------------------------------------
# Reporting
# ---------------------------------------------------------------------------


def machine() -> dict[str, object]:
    """What the figures were measured on."""
    model = ""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    tincd = find_tincd()
    version = ""
    if tincd:
        version = subprocess.run(
            [tincd, "--version"], capture_output=True, text=True, timeout=10, check=False
        ).stdout.splitlines()[0]
    return {
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "cpu": model,
        "cpus": os.cpu_count(),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "tincd": version,
    }


def ratios(results: list[PairResult]) -> dict[str, dict[str, float]]:
    """Each pair over :data:`REFERENCE`: throughput, CPU per GB and peak RSS."""
    reference = next((r for r in results if r.label == REFERENCE), None)
    if reference is None:
        return {}
    out = {}
    for result in results:
        if result is reference:
            continue
        entry: dict[str, float] = {}
        for ours, theirs in zip(result.directions, reference.directions, strict=True):
            entry[f"throughput {ours.name}"] = round(ours.mbit / theirs.mbit, 3)
        for ours, theirs in zip(result.directions, reference.directions, strict=True):
            entry[f"CPU per GB {ours.name}"] = round(ours.per_gb() / theirs.per_gb(), 3)
        entry["peak RSS"] = round(
            (result.rss_a_kib + result.rss_b_kib) / (reference.rss_a_kib + reference.rss_b_kib), 3
        )
        out[f"{result.label} / {reference.label}"] = entry
    return out


def table(results: list[PairResult], info: dict[str, object]) -> str:
    """The human-readable report."""
    repeat = int(info["repeat"])  # type: ignore[call-overload]
    runs = f"median of {repeat} runs of " if repeat > 1 else ""
    lines = [
        f"{info['date']}  {info['cpu']} ({info['cpus']} CPUs), Linux {info['kernel']}, "
        f"Python {info['python']}, {info['tincd']}",
        f"router mode, Cipher {info['cipher']}, Digest sha256, MACLength 4 "
        f"(SPTPS pairs: ChaCha20-Poly1305); iperf3 TCP, {runs}{info['seconds']:g} s each way",
        f"alpha's daemon and the iperf3 client on CPU {CPU_A}, "
        f"beta's daemon and the iperf3 server on CPU {CPU_B}",
        "",
        f"{'pair':<14}{'direction':<13}{'Mbit/s':>8}{'min-max':>12}{'retr':>8}{'UDP':>6}"
        f"{'CPU s/GB':>10}{'alpha':>7}{'beta':>7}{'peak RSS MiB':>14}",
    ]
    for result in results:
        rss = f"{result.rss_a_kib / 1024:.1f} {result.rss_b_kib / 1024:.1f}"
        for d in result.directions:
            low, high = d.mbit_range
            spread = f"{low:.0f}-{high:.0f}" if repeat > 1 else ""
            lines.append(
                f"{result.label:<14}{d.name:<13}{d.mbit:>8.1f}{spread:>12}{d.retransmits:>8}"
                f"{d.udp_share:>6.2f}{d.per_gb():>10.2f}{d.per_gb('a'):>7.2f}"
                f"{d.per_gb('b'):>7.2f}{rss:>14}"
            )
    settled = ", ".join(f"{r.label} {r.warmup_seconds:g} s" for r in results)
    lines.append("UDP: datagrams received per 1448 bytes carried (about 1 when all went by UDP)")
    lines.append(f"warm-up until the path MTU settled: {settled}")
    for r in results:
        if r.idle_before < QUIET:
            lines.append(
                f"WARNING: the machine was only {r.idle_before:.0%} idle before {r.label}: "
                "something else was running, so its figures are unreliable"
            )
        for d in r.directions:
            if d.udp_share < UDP_SHARE:
                lines.append(
                    f"WARNING: {r.label} {d.name}: part of the traffic did not go by UDP"
                )
    for label, entry in ratios(results).items():
        lines.append("")
        lines.append(label + ":")
        lines.extend(f"  {name:<26}{value:6.2f}x" for name, value in entry.items())
    return "\n".join(lines)


# ---------------------------------------------------------------------------
# Command line
# ---------------------------------------------------------------------------


def _check_requirements(pairs: list[Pair]) -> str | None:
    if os.geteuid() != 0:
        return "the benchmark needs root (network namespaces)"
    for tool, package in (("ip", "iproute2"), ("iperf3", "iperf3"), ("taskset", "util-linux"),
                          ("ping", "iputils-ping")):
        if shutil.which(tool) is None:
            return f"{tool} is not installed (apt-get install -y {package})"
    if not os.path.exists("/dev/net/tun"):
        return "/dev/net/tun is missing (modprobe tun)"
    if any("tincd" in (p.kind_a, p.kind_b) for p in pairs) and find_tincd() is None:
        return "tincd is not installed (apt-get install -y tinc)"
    if (os.cpu_count() or 1) <= max(CPU_A, CPU_B):
        return f"the benchmark pins to CPUs {CPU_A} and {CPU_B}; this machine has fewer"
    return None


@contextlib.contextmanager
def _sigterm_as_interrupt() -> Iterator[None]:
    """Make SIGTERM unwind like Ctrl-C, so every lab is torn down."""

    def interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def main(argv: list[str] | None = None) -> int:
    """Measure every selected pair, print the table, optionally write JSON."""
    parser = argparse.ArgumentParser(
        prog="python3 -m bench.run", description=(__doc__ or "").split("\n")[0]
    )
    parser.add_argument("--seconds", type=float, default=10, help="iperf3 time per direction")
    parser.add_argument("--cipher", default="aes-256-cbc",
                        help="tinc 1.0 Cipher for both nodes (SPTPS pairs do not use it)")
    parser.add_argument("--repeat", type=int, default=1,
                        help="runs per direction; the table shows the median (default 1)")
    parser.add_argument("--json", type=Path, metavar="FILE", help="also write the results here")
    labels = [p.label for p in PAIRS]
    parser.add_argument("--pair", action="append", metavar="LABEL", choices=labels,
                        help=f"measure only this pair (repeatable): {', '.join(labels)}")
    parser.add_argument("--keep", action="store_true", help="keep the work directory (logs)")
    args = parser.parse_args(argv)
    if args.repeat < 1 or args.seconds <= 0:
        parser.error("--repeat must be at least 1 and --seconds positive")

    pairs = [p for p in PAIRS if not args.pair or p.label in args.pair]
    problem = _check_requirements(pairs)
    if problem:
        print(f"bench: {problem}", file=sys.stderr)
        return 2
    info: dict[str, object] = {
        **machine(), "cipher": args.cipher, "seconds": args.seconds, "repeat": args.repeat
    }
    workdir = Path(tempfile.mkdtemp(prefix="tinca-bench-"))
    results: list[PairResult] = []
    try:
        with _sigterm_as_interrupt():
            for pair in pairs:
                print(f"bench: {pair.label} ...", file=sys.stderr, flush=True)
                results.append(
                    measure_pair(pair, workdir, args.seconds, args.cipher, args.repeat)
                )
    except KeyboardInterrupt:
        print("bench: interrupted; namespaces and processes removed", file=sys.stderr)
        return 130
    except LabError as err:
        print(f"bench: {err}\n(logs in {workdir})", file=sys.stderr)
        args.keep = True
        return 1
    finally:
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)
    print(table(results, info))
    if args.json:
        document = {
            "machine": info,
            "pairs": [r.as_json() for r in results],
            "ratios": ratios(results),
        }
        args.json.write_text(json.dumps(document, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
