"""Two tinca nodes on loopback (dummy devices): connection life cycle.

SIGALRM retries a backed-off connection at once, SIGHUP keeps unaffected
connections, and a peer that stops answering is dropped after PingTimeout.
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

from tests.helpers import make_net, running


def pair(tmp_path: Path, alpha_extra: str = "") -> tuple[Path, Path]:
    """alpha (ConnectTo beta) and beta, each knowing the other's host file."""
    alpha, beta = tmp_path / "alpha", tmp_path / "beta"
    make_net(alpha, "alpha", extra=f"ConnectTo = beta\n{alpha_extra}")
    make_net(beta, "beta", extra="PingInterval = 1\nPingTimeout = 1\n")
    for one, other, name in ((alpha, beta, "beta"), (beta, alpha, "alpha")):
        text = (other / "hosts" / name).read_text()
        (one / "hosts" / name).write_text("Address = 127.0.0.1\n" + text)
    return alpha, beta


def test_sigalrm_retries_a_backed_off_connection_at_once(tmp_path: Path) -> None:
    alpha, beta = pair(tmp_path)
    with running(["-c", str(alpha), "-D", "-d2", "--pidfile", str(tmp_path / "a.pid")],
                 tmp_path) as a:
        # beta is down: alpha backs off (5 s, then 10 s, ...).
        a.wait_for("Trying to re-establish outgoing connection in 5 seconds")
        a.wait_for("Trying to re-establish outgoing connection in 10 seconds", timeout=20)
        with running(["-c", str(beta), "-D", "--pidfile", str(tmp_path / "b.pid")],
                     tmp_path) as b:
            b.wait_for("Ready")
            started = time.monotonic()
            a.proc.send_signal(signal.SIGALRM)
            a.wait_for("Connection with beta", timeout=8)
            # well before the 10 s back-off would have run out
            assert time.monotonic() - started < 6


def test_sighup_keeps_unaffected_connections(tmp_path: Path) -> None:
    alpha, beta = pair(tmp_path)
    with (
        running(["-c", str(beta), "-D", "--pidfile", str(tmp_path / "b.pid")], tmp_path) as b,
        running(["-c", str(alpha), "-D", "-d2", "--pidfile", str(tmp_path / "a.pid")],
                tmp_path) as a,
    ):
        b.wait_for("Ready")
        a.wait_for("Connection with beta")
        conf = alpha / "tinc.conf"
        conf.write_text(conf.read_text() + "ConnectTo = gamma\n")
        a.proc.send_signal(signal.SIGHUP)
        a.wait_for("No address specified for gamma")  # the new ConnectTo is tried
        time.sleep(1)
        out = a.output()
        assert out.count("Connection with beta") == 1
        assert "Closing connection with beta" not in out


def test_peer_that_stops_answering_is_dropped_after_ping_timeout(tmp_path: Path) -> None:
    alpha, beta = pair(tmp_path, alpha_extra="PingInterval = 1\nPingTimeout = 1\n")
    with (
        running(["-c", str(beta), "-D", "--pidfile", str(tmp_path / "b.pid")], tmp_path) as b,
        running(["-c", str(alpha), "-D", "-d2", "--pidfile", str(tmp_path / "a.pid")],
                tmp_path) as a,
    ):
        b.wait_for("Ready")
        a.wait_for("Connection with beta")
        os.kill(b.proc.pid, signal.SIGSTOP)  # beta freezes: no PONG
        try:
            a.wait_for("didn't respond to PING", timeout=15)
            a.wait_for("Closing connection with beta", timeout=5)
        finally:
            os.kill(b.proc.pid, signal.SIGCONT)
        # and comes back once beta answers again
        a.wait_for("Trying to connect to beta", timeout=15)
