"""Build VPNs of tinca and real tincd 1.0.36 nodes inside a netns lab.

Each node gets a namespace, an underlay address, a configuration directory
with keys made by tinca (tincd 1.0.36 loads them, see test_keys_tincd10): RSA
by default, Ed25519 (tinc 1.1's SPTPS) or both on request; a
tun (or tap) device whose tinc-up script gives it its overlay address, and a
host file for every other node. The same files serve both daemons, which is
the point: a tinca node is configured exactly like a tincd one.
"""

from __future__ import annotations

import re
import shutil
import stat
import sys
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from tests.interop.tincd_harness import require_tincd
from tests.netns import Lab, LabError, Namespace, Process
from tinca.core.control.records import NODE_REACHABLE, NODE_SPTPS, NODE_VALIDKEY
from tinca.core.keys import KeygenRequest
from tinca.plugins.ciphers.legacy.rsa_keys import generate_rsa_keys
from tinca.plugins.ciphers.sptps.ed25519_keys import generate_ed25519_keys

OVERLAY_PREFIX = "198.18.0"

RSA = "rsa"
"""Key type of tinc 1.0's protocol: ``rsa_key.priv`` and the PEM in the host file."""
ED25519 = "ed25519"
"""Key type of tinc 1.1's protocol (SPTPS): ``ed25519_key.priv`` and
``Ed25519PublicKey`` in the host file. A tinca node that can read it runs
SPTPS with every peer whose Ed25519 key it has ("experimental" in tinc 1.1)."""
KEY_TYPES = (RSA, ED25519)


@dataclass
class Node:
    """One VPN node: its kind, namespace, addresses and files."""

    name: str
    kind: str  # "tinca" or "tincd"
    ns: Namespace
    index: int
    connect_to: list[str] = field(default_factory=list)
    #: underlay addresses for its host file's Address lines (default: ``underlay``)
    addresses: list[str] = field(default_factory=list)
    #: its device type (tun or tap) when not the mode's usual one
    layer: str | None = None
    #: key types it gets, as ``build``'s ``keys`` takes them; ``None``: what ``build`` says
    keys: str | tuple[str, ...] | None = None
    conf: str = ""
    host_conf: str = ""
    confdir: Path = Path()
    process: Process | None = None
    #: the pidfile of its running daemon (``lab.workdir/NAME.pid``), once started
    pidfile: Path | None = None
    #: log files of every run of its daemon, oldest first
    logfiles: list[Path] = field(default_factory=list)
    #: extra environment for its daemon (a sample plugin's PYTHONPATH, say)
    env: dict[str, str] = field(default_factory=dict)

    @property
    def overlay(self) -> str:
        """Its address inside the VPN."""
        return f"{OVERLAY_PREFIX}.{self.index}"

    @property
    def underlay(self) -> str:
        assert self.ns.address is not None
        return self.ns.address

    def command(self, pidfile: Path) -> list[str]:
        """How to start this node in the foreground at debug level 5."""
        if self.kind == "tincd":
            return [require_tincd(), "-c", str(self.confdir), "-D", "-d5", f"--pidfile={pidfile}"]
        return [
            sys.executable, "-m", "tinca.core.cli.tincad",
            "-c", str(self.confdir), "-D", "-d5", f"--pidfile={pidfile}",
        ]

    def start(self, lab: Lab) -> Process:
        """Start the daemon in its namespace and wait until it is ready."""
        pidfile = lab.workdir / f"{self.name}.pid"
        self.pidfile = pidfile
        self.process = self.ns.start(
            self.command(pidfile), label=f"{self.kind}-{self.name}", env=self.env
        )
        self.logfiles.append(self.process.log)
        self.process.wait_for(r"Ready", timeout=20)
        return self.process

    def stop(self) -> None:
        """Stop the daemon (by its pid)."""
        if self.process is not None:
            self.process.stop()
            self.process = None

    def control(self, *args: str) -> str:
        """Run ``tinca --pidfile PIDFILE ARGS`` against this running tinca node
        (inside its namespace) and return what it printed; fail on an error."""
        if self.kind != "tinca" or self.pidfile is None:
            raise ValueError(f"{self.name}: control needs a started tinca node")
        argv = [sys.executable, "-m", "tinca.core.cli.tinca", f"--pidfile={self.pidfile}", *args]
        return self.ns.run(argv).stdout

    def dump_nodes(self) -> dict[str, NodeState]:
        """``dump nodes`` through the control socket, by node name."""
        return parse_dump_nodes(self.control("dump", "nodes"))


@dataclass(frozen=True)
class NodeState:
    """What one ``dump nodes`` line says about a node (tinc 1.1's format)."""

    name: str
    options: int
    status: int
    nexthop: str
    via: str
    #: the smallest path MTU known to work by UDP (0: no UDP path confirmed yet)
    minmtu: int
    line: str

    @property
    def minor(self) -> int:
        """The node's protocol minor: the top byte of its options (7 for tinc 1.1)."""
        return self.options >> 24

    # The status bits are tinc 1.1's node_status_t bitfield in declaration
    # order from bit 0 (src/node.h): sptps is 0x40, validkey 0x02, reachable 0x10.

    @property
    def sptps(self) -> bool:
        """Its data session with us is SPTPS (tinc's ``status.sptps``)."""
        return bool(self.status & NODE_SPTPS)

    @property
    def validkey(self) -> bool:
        """We hold a key to send it packets (``status.validkey``)."""
        return bool(self.status & NODE_VALIDKEY)

    @property
    def reachable(self) -> bool:
        """The graph reaches it (``status.reachable``)."""
        return bool(self.status & NODE_REACHABLE)


_DUMP_NODE = re.compile(
    r"^(?P<name>\S+) id \S+ .* options (?P<options>[0-9a-f]+) status (?P<status>[0-9a-f]+)"
    r" nexthop (?P<nexthop>\S+) via (?P<via>\S+) .* pmtu -?\d+ \(min (?P<minmtu>-?\d+) "
)


def parse_dump_nodes(text: str) -> dict[str, NodeState]:
    """Parse ``dump nodes`` output; a line that does not fit raises ``LabError``."""
    states = {}
    for line in text.splitlines():
        if not line.strip():
            continue
        found = _DUMP_NODE.match(line)
        if found is None:
            raise LabError(f"unexpected dump nodes line: {line!r}")
        states[found["name"]] = NodeState(
            found["name"],
            int(found["options"], 16),
            int(found["status"], 16),
            found["nexthop"],
            found["via"],
            int(found["minmtu"]),
            line,
        )
    return states


def write_script(path: Path, body: str) -> None:
    path.write_text("#!/bin/sh\n" + body)
    path.chmod(path.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)


def build(
    lab: Lab,
    nodes: list[Node],
    *,
    mode: str = "router",
    common: str = "",
    layer: str | None = None,
    keys: str | Iterable[str] = RSA,
) -> None:
    """Write every node's configuration directory (keys included).

    Devices are tun in router mode and tap otherwise, unless ``layer`` or
    the node's own ``layer`` says otherwise. Every node gets the key types
    ``keys`` names (``"rsa"``, ``"ed25519"``, ``"both"`` or a collection of
    the first two), unless its own ``keys`` says otherwise; the default, RSA
    only, makes nodes that speak tinc 1.0's protocol alone.
    """
    default_keys = key_types(keys)
    chosen: dict[str, tuple[str, ...]] = {}
    for node in nodes:
        chosen[node.name] = key_types(node.keys) if node.keys is not None else default_keys
        if node.kind == "tincd" and RSA not in chosen[node.name]:
            raise ValueError(f"{node.name}: tincd 1.0 needs an RSA key")
    for node in nodes:
        node.confdir = lab.workdir / f"conf-{node.name}"
        (node.confdir / "hosts").mkdir(parents=True, exist_ok=True)
        device = node.layer or layer or ("tap" if mode in ("switch", "hub") else "tun")
        lines = [
            f"Name = {node.name}",
            f"Mode = {mode}",
            f"DeviceType = {device}",
            f"Interface = {device}0",
            "AddressFamily = ipv4",
            *(f"ConnectTo = {peer}" for peer in node.connect_to),
            common,
            node.conf,
        ]
        (node.confdir / "tinc.conf").write_text("\n".join(x for x in lines if x) + "\n")
        subnet = f"{node.overlay}/32" if mode == "router" else ""
        host_lines = [f"Address = {a}" for a in node.addresses or [node.underlay]]
        host_lines.append("Port = 655")
        if subnet:
            host_lines.append(f"Subnet = {subnet}")
        if node.host_conf:
            host_lines.append(node.host_conf)
        (node.confdir / "hosts" / node.name).write_text("\n".join(host_lines) + "\n")
        if RSA in chosen[node.name]:
            generate_rsa_keys(KeygenRequest(confbase=node.confdir, name=node.name, bits=2048))
        if ED25519 in chosen[node.name]:
            generate_ed25519_keys(KeygenRequest(confbase=node.confdir, name=node.name))
        prefix = "16" if mode == "router" else "24"
        write_script(
            node.confdir / "tinc-up",
            f"ip addr add {node.overlay}/{prefix} dev $INTERFACE\nip link set $INTERFACE up\n",
        )
    for node in nodes:
        for other in nodes:
            if other is not node:
                host = other.confdir / "hosts" / other.name
                shutil.copy(host, node.confdir / "hosts" / other.name)


def key_types(keys: str | Iterable[str]) -> tuple[str, ...]:
    """``"rsa"``, ``"ed25519"``, ``"both"`` or a collection of the first two,
    as a tuple in :data:`KEY_TYPES` order; anything else raises ``ValueError``."""
    if isinstance(keys, str):
        wanted = set(KEY_TYPES) if keys == "both" else {keys}
    else:
        wanted = set(keys)
    unknown = wanted - set(KEY_TYPES)
    if unknown or not wanted:
        raise ValueError(f"key types {sorted(unknown) or 'none'}: choose from {KEY_TYPES}")
    return tuple(kind for kind in KEY_TYPES if kind in wanted)


def make_nodes(lab: Lab, specs: list[tuple[str, str]]) -> list[Node]:
    """Namespaces on one switch, one per (name, kind)."""
    spaces = [lab.namespace(name[:12]) for name, _ in specs]
    lab.switch(spaces)
    pairs = zip(specs, spaces, strict=True)
    return [Node(name, kind, ns, i + 1) for i, ((name, kind), ns) in enumerate(pairs)]


LINE_UNDERLAYS = ("198.51.100.0/24", "203.0.113.0/24")
"""The two underlay networks of a line: first end to middle, middle to last end."""


def make_line(lab: Lab, specs: list[tuple[str, str]]) -> list[Node]:
    """Three nodes in a line: the ends reach only the middle one.

    The first end and the middle share a veth pair on 198.51.100.0/24, the
    middle and the last end one on 203.0.113.0/24; the ends have no route to
    each other. The middle node's host file lists both of its addresses (the
    one the first end can reach first), and both ends ``ConnectTo`` it.
    """
    if len(specs) != 3:
        raise ValueError("a line has three nodes")
    spaces = [lab.namespace(name[:12]) for name, _ in specs]
    first, middle, last = spaces
    _, middle_left = lab.link(first, middle, subnet=LINE_UNDERLAYS[0])
    middle_right, _ = lab.link(middle, last, subnet=LINE_UNDERLAYS[1])
    nodes = [Node(name, kind, ns, i + 1) for i, ((name, kind), ns) in enumerate(
        zip(specs, spaces, strict=True))]
    nodes[1].addresses = [middle_left, middle_right]
    nodes[0].connect_to = nodes[2].connect_to = [nodes[1].name]
    return nodes


def start_all(lab: Lab, nodes: list[Node]) -> None:
    """Start every node, in order."""
    for node in nodes:
        node.start(lab)


def ping_until(ns: Namespace, address: str, timeout: float, size: int | None = None) -> bool:
    """Ping once a second until a reply comes (True) or ``timeout`` passes."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if ns.ping(address, count=1, wait=1, size=size).ok:
            return True
    return False


def udp_counters(ns: Namespace) -> tuple[int, int]:
    """UDP datagrams (received, sent) in ``ns`` so far; /proc/net/snmp is per namespace."""
    lines = ns.run(["cat", "/proc/net/snmp"]).stdout.splitlines()
    names, values = [line.split() for line in lines if line.startswith("Udp:")][:2]
    return int(values[names.index("InDatagrams")]), int(values[names.index("OutDatagrams")])


def big_pings_over_udp(
    source: Node, target: Node, size: int, timeout: float, burst: int = 20
) -> tuple[int, int, str]:
    """Send bursts of ``burst`` large pings until a whole burst crosses by UDP.

    Until tinc's path MTU discovery has seen a probe as large as these
    packets, they travel inside the meta connection; then they must go by
    UDP. Returns the UDP datagrams received and sent in ``source``'s
    namespace during the last burst, and that burst's ping output.
    """
    deadline = time.monotonic() + timeout
    while True:
        before = udp_counters(source.ns)
        result = source.ns.ping(target.overlay, count=burst, interval=0.02, size=size)
        after = udp_counters(source.ns)
        received, sent = after[0] - before[0], after[1] - before[1]
        if result.received == burst and received >= burst and sent >= burst:
            return received, sent, result.output
        if time.monotonic() > deadline:
            return received, sent, result.output
        time.sleep(0.5)


def logs(nodes: list[Node], tail: int = 60) -> str:
    """The last ``tail`` lines of every log of these nodes, for failure messages."""
    parts = []
    for node in nodes:
        for path in node.logfiles:
            lines = path.read_text(errors="replace").splitlines()[-tail:]
            parts.append(f"----- {node.kind} {node.name} ({path})\n" + "\n".join(lines))
    return "\n".join(parts)


def ping_both_ways(a: Node, b: Node, nodes: list[Node], count: int, wait: float = 30) -> None:
    """``a`` reaches ``b`` within ``wait`` seconds, then ``count`` pings each
    way all come back (the logs of ``nodes`` explain a failure)."""
    assert ping_until(a.ns, b.overlay, wait), logs(nodes)
    there = a.ns.ping(b.overlay, count=count)
    back = b.ns.ping(a.overlay, count=count)
    assert there.received == count and back.received == count, (
        f"{there.output}\n{back.output}\n{logs(nodes)}")


def start_line_and_ping(lab: Lab, nodes: list[Node]) -> None:
    """Start a line (see :func:`make_line`), middle first, and check that the
    ends ping each other both ways (5 of 5) and both reach the middle."""
    left, middle, right = nodes
    start_all(lab, [middle, left, right])
    assert middle.process is not None
    for end in (left, right):
        middle.process.wait_for(f"Connection with {end.name} ", timeout=30)
    ping_both_ways(left, right, nodes, count=5)
    assert left.ns.ping(middle.overlay, count=2).ok, logs(nodes)
    assert right.ns.ping(middle.overlay, count=2).ok, logs(nodes)
