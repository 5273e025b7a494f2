"""A slow ``host-up`` script does not stall the node that runs it (issue 8, item 7).

Three tinca nodes in a line (:func:`tests.mesh.make_line`): the ends
have no underlay path to each other, so every packet between them crosses
the middle node M. M's ``host-up`` sleeps 30 seconds. tincd would run it
with a blocking ``system()`` and forward nothing meanwhile; tinca runs host
and subnet hooks from an ordered queue off the protocol path, so while the
script still sleeps (its marker file is not written yet) a 20-ping run
between the ends gets its replies through M.

At stop, M waits a few seconds for the queued events and then ends the
script still sleeping (its whole process group) before tinc-down: the stop
takes seconds, not the script's 30, and leaves no process behind.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from pathlib import Path

from tests import netns
from tests.mesh import ED25519, Node, build, logs, make_line, ping_until, write_script
from tinca.core.lifecycle import DRAIN_TIMEOUT

netns_lab = netns.netns_lab

SLEEP = 30
"""Seconds M's host-up sleeps: far longer than the ping run below."""
PINGS = 20
MIN_REPLIES = 18


def group_alive(pgid: int) -> bool:
    """Whether any process of process group ``pgid`` is left."""
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


def wait_for_file(path: Path, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists() and path.read_text().strip():
            return True
        time.sleep(0.1)
    return False


def test_a_sleeping_host_up_does_not_stop_forwarding_between_two_other_peers(
    netns_lab: netns.Lab,
) -> None:
    nodes = make_line(netns_lab, [("pone", "tinca"), ("mid", "tinca"), ("ptwo", "tinca")])
    left, middle, right = nodes
    build(netns_lab, nodes, keys=ED25519)
    out = netns_lab.workdir / "out"
    out.mkdir()
    # The script records its pid (its process group: scripts get a session of
    # their own) when it starts and writes its marker only after sleeping.
    write_script(
        middle.confdir / "host-up",
        f'echo $$ > "{out}/$NODE.pid"\nsleep {SLEEP}\necho slept > "{out}/$NODE.done"\n',
    )
    assert not left.ns.ping(right.underlay, count=1, wait=1).ok  # only through M
    try:
        for node in (middle, left, right):
            node.start(netns_lab)
        assert middle.process is not None
        for end in (left, right):
            middle.process.wait_for(f"Connection with {end.name} ", timeout=30)
        # host-up of the first end to come up sleeps now; the other's waits behind it.
        assert wait_for_file(out / "pone.pid", 10) or wait_for_file(out / "ptwo.pid", 1), (
            logs(nodes))
        first = "pone" if (out / "pone.pid").exists() else "ptwo"
        script = int((out / f"{first}.pid").read_text())

        assert ping_until(left.ns, right.overlay, 15), logs(nodes)
        result = left.ns.ping(right.overlay, count=PINGS, interval=0.2)
        assert result.received >= MIN_REPLIES, f"{result.output}\n{logs(nodes)}"
        # ... and all of it while the script was still asleep.
        assert not (out / f"{first}.done").exists(), logs(nodes)
        assert group_alive(script)

        stop_middle(middle, script, out / f"{first}.done")
    finally:
        reap(middle, out)


def stop_middle(middle: Node, script: int, marker: Path) -> None:
    """Stop M: quick, clean, and the sleeping script ended with it."""
    assert middle.process is not None
    process = middle.process
    started = time.monotonic()
    status = process.stop(timeout=DRAIN_TIMEOUT + 10)
    elapsed = time.monotonic() - started
    middle.process = None
    output = process.output()
    assert status == 0, output
    assert elapsed < DRAIN_TIMEOUT + 5, f"stop took {elapsed:.1f} s\n{output}"
    assert "Script host-up is still running at shutdown; stopping it" in output, output
    assert "Terminating" in output, output
    deadline = time.monotonic() + 5
    while group_alive(script) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not group_alive(script), "the sleeping host-up outlived the daemon"
    assert not marker.exists()


def reap(middle: Node, out: Path) -> None:
    """Whatever failed: stop M (waiting out its drain, so it never gets
    SIGKILLed with a script still running), then kill every script it left."""
    if middle.process is not None:
        middle.process.stop(timeout=DRAIN_TIMEOUT + 10)
        middle.process = None
    for pidfile in out.glob("*.pid"):
        with contextlib.suppress(ValueError, ProcessLookupError):
            os.killpg(int(pidfile.read_text()), signal.SIGKILL)
