"""``tinca`` against running tinca daemons, through tinc 1.1's control socket.

Two nodes on loopback (dummy devices): alpha connects to beta. The control
commands print what tinc 1.1's ``tinc`` prints, change the daemon (debug
level, disconnect, stop) and stream its log; a wrong cookie gets nothing.
"""

from __future__ import annotations

import re
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.helpers import TINCA, Daemon, make_net, run, running
from tinca.core.control import node_id


class Pair:
    """alpha (ConnectTo beta) and beta, running, with their ports and pidfiles."""

    def __init__(self, tmp_path: Path) -> None:
        self.tmp = tmp_path
        self.alpha, self.beta = tmp_path / "alpha", tmp_path / "beta"
        self.alpha_port = make_net(self.alpha, "alpha", extra="ConnectTo = beta\n",
                                   host_extra="Subnet = 198.18.0.1/32\n")
        self.beta_port = make_net(self.beta, "beta", host_extra="Subnet = 198.18.0.2/32\n")
        for one, other, name in ((self.alpha, self.beta, "beta"),
                                 (self.beta, self.alpha, "alpha")):
            text = (other / "hosts" / name).read_text()
            (one / "hosts" / name).write_text("Address = 127.0.0.1\n" + text)
        self.a_pid = tmp_path / "a.pid"
        self.b_pid = tmp_path / "b.pid"
        self.a: Daemon | None = None

    def tinca(self, *args: str) -> subprocess.CompletedProcess[str]:
        """``tinca -c ALPHA --pidfile A.PID ARGS``."""
        return run([*TINCA, "-c", str(self.alpha), "--pidfile", str(self.a_pid), *args])


@contextmanager
def running_pair(tmp_path: Path) -> Iterator[Pair]:
    pair = Pair(tmp_path)
    with (
        running(["-c", str(pair.beta), "-D", "--pidfile", str(pair.b_pid)], tmp_path) as b,
        running(["-c", str(pair.alpha), "-D", "-d2", "--pidfile", str(pair.a_pid)],
                tmp_path) as a,
    ):
        b.wait_for("Ready")
        a.wait_for("Node beta became reachable")
        pair.a = a
        yield pair


def wait_for_output(check: Callable[[], str | None], what: str, timeout: float = 10.0) -> str:
    deadline = time.monotonic() + timeout
    while True:
        found = check()
        if found is not None:
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} not seen")
        time.sleep(0.2)


def test_dumps_info_and_debug_of_a_two_node_vpn(tmp_path: Path) -> None:
    with running_pair(tmp_path) as p:
        assert p.a is not None
        ap, bp = p.alpha_port, p.beta_port

        def beta_with_key() -> str | None:
            lines = p.tinca("dump", "nodes").stdout.splitlines()
            beta = [line for line in lines if line.startswith("beta ")]
            status = re.search(r" status ([0-9a-f]{4}) ", beta[0]) if beta else None
            return "\n".join(lines) if status and int(status.group(1), 16) & 0x2 else None

        nodes = wait_for_output(beta_with_key, "beta's packet key").splitlines()
        assert nodes[0] == (
            f"alpha id {node_id('alpha')} at MYSELF port {ap} cipher 0 digest 0 maclength 0 "
            "compression 0 options c status 0018 nexthop alpha via alpha distance 0 "
            "pmtu 1518 (min 0 max 1518) rx 0 0 tx 0 0"
        )
        assert re.fullmatch(
            rf"beta id {node_id('beta')} at 127\.0\.0\.1 port {bp} cipher 427 digest 672 "
            r"maclength 4 compression 0 options c status 0[0-9a-f]{3} nexthop beta via beta "
            r"distance 1 pmtu \d+ \(min \d+ max \d+\) rx \d+ 0 tx \d+ 0( rtt \d+\.\d{3})?",
            nodes[1],
        ), nodes[1]
        assert len(nodes) == 2
        assert p.tinca("dump", "reachable", "nodes").stdout.splitlines()[:1] == nodes[:1]

        edges = p.tinca("dump", "edges").stdout.splitlines()
        assert len(edges) == 2
        assert re.fullmatch(rf"alpha to beta at 127\.0\.0\.1 port {bp} local 127\.0\.0\.1 "
                            rf"port {ap} options c weight \d+", edges[0]), edges
        assert re.fullmatch(rf"beta to alpha at 127\.0\.0\.1 port {ap} local unspec "
                            r"port unspec options c weight \d+", edges[1]), edges

        subnets = p.tinca("dump", "subnets")
        assert subnets.stdout == "198.18.0.1 owner alpha\n198.18.0.2 owner beta\n"

        connections = p.tinca("dump", "connections").stdout.splitlines()
        assert re.fullmatch(rf"beta at 127\.0\.0\.1 port {bp} options c socket \d+ "
                            r"status 1c[01]", connections[0]), connections
        assert re.fullmatch(r"<control> at localhost port unix options 0 socket \d+ status 200",
                            connections[1]), connections

        graph = p.tinca("dump", "graph").stdout.splitlines()
        assert graph[0] == "graph {" and graph[-1] == "}"
        assert ' "alpha" [label = "alpha", color = "green", style = "filled"];' in graph
        assert any(line.startswith(' "beta" -- "alpha" [w = ') for line in graph)

        info = p.tinca("info", "beta").stdout.splitlines()
        assert info[:3] == ["Node:         beta", f"Node ID:      {node_id('beta')}",
                            f"Address:      127.0.0.1 port {bp}"]
        assert info[3].startswith("Online since: 20")  # when it became reachable
        assert " validkey visited reachable" in info[4]
        assert "Edges:        alpha" in info and "Subnets:      198.18.0.2" in info
        assert p.tinca("info", "198.18.0.2").stdout == "Subnet: 198.18.0.2\nOwner:  beta\n"
        unknown = p.tinca("info", "zeta")
        assert unknown.returncode == 1 and unknown.stderr == "Unknown node zeta.\n"

        # debug 5 shows protocol requests (level 3), which -d2 hid
        assert "Sending PING" not in p.a.output()
        debug = p.tinca("debug", "5")
        assert debug.returncode == 0 and debug.stderr == "Old level 2, new level 5.\n"
        assert p.tinca("retry").returncode == 0  # pings every peer
        p.a.wait_for("Sending PING to beta")
        assert p.tinca("pid").stdout == f"{p.a.proc.pid}\n"


def test_log_disconnect_and_stop(tmp_path: Path) -> None:
    with running_pair(tmp_path) as p:
        assert p.a is not None
        log_out = tmp_path / "log.out"
        with log_out.open("wb") as out:
            follower = subprocess.Popen(
                [*TINCA, "-c", str(p.alpha), "--pidfile", str(p.a_pid), "log"],
                stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            )
        try:
            # subscribed: its control connection carries the log bit (0x800)
            wait_for_output(
                lambda: "status a00" if "status a00" in p.tinca("dump", "connections").stdout
                else None, "a log subscription")
            assert p.tinca("reload").returncode == 0
            streamed = wait_for_output(
                lambda: (text if "Got 'reload' command" in (text := log_out.read_text())
                         else None), "the streamed reload line")
            assert re.search(r"^20\d\d-\d\d-\d\d \d\d:\d\d:\d\d NOTICE  Got 'reload' command",
                             streamed, re.M), streamed
            follower.send_signal(signal.SIGINT)
            assert follower.wait(10) == 0
        finally:
            if follower.poll() is None:
                follower.kill()
                follower.wait()

        assert p.tinca("disconnect", "beta").returncode == 0
        p.a.wait_for("Closing connection with beta")
        missing = p.tinca("disconnect", "zeta")
        assert missing.returncode == 1 and missing.stderr == "Could not disconnect zeta.\n"

        stop = p.tinca("stop")
        assert stop.returncode == 0, stop.stderr
        assert p.a.proc.wait(10) == 0
        assert "Got 'stop' command" in p.a.output()
        assert not p.a_pid.exists() and not (tmp_path / "a.socket").exists()


def test_wrong_cookie_is_refused_and_stop_falls_back_to_sigterm(tmp_path: Path) -> None:
    net = tmp_path / "net"
    port = make_net(net)
    pidfile = tmp_path / "n.pid"
    with running(["-c", str(net), "-D", "--pidfile", str(pidfile)], tmp_path) as d:
        d.wait_for("Ready")
        pid, cookie, *rest = pidfile.read_text().split()
        assert pid == str(d.proc.pid) and re.fullmatch(r"[0-9a-f]{64}", cookie)
        assert rest == ["127.0.0.1", "port", str(port)]  # tinc 1.1's pidfile line
        pidfile.write_text(f"{pid} {'0' * 64} {' '.join(rest)}\n")
        cmd = [*TINCA, "-c", str(net), "--pidfile", str(pidfile)]
        refused = run([*cmd, "dump", "nodes"])
        assert refused.returncode == 1
        assert refused.stderr == "Cannot read greeting from control socket\n"
        d.wait_for("wrong control cookie")
        stop = run([*cmd, "stop"])
        assert stop.returncode == 0
        assert f"Sent TERM signal to process with PID {pid}." in stop.stderr
        assert d.proc.wait(10) == 0
        assert "Got signal, terminating" in d.output()
