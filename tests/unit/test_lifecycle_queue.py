"""The ordered lifecycle queue: host and subnet hooks run off the loop, in order."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from tinca.core.daemon import Daemon
from tinca.core.events import HostEvent, NodeEvent, SubnetEvent
from tinca.core.lifecycle import LifecycleQueue
from tinca.core.markers import hookimpl
from tinca.core.plugin_manager import PluginManager

NODE = NodeEvent("vpn", "alpha", None, None, 0, "/nonexistent")
SCRIPTS = "tinca.plugins.scripts.plugin"


def group_ends(pgid: int, timeout: float) -> bool:
    """Whether process group ``pgid`` is gone within ``timeout`` seconds
    (its last members may need a moment to be reaped)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.02)
    return False


def host(name: str) -> HostEvent:
    return HostEvent(NODE, name, "192.0.2.2", 655)


class Recorder:
    """Records (hook, kwargs, thread) for every call; can block on a gate."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, Mapping[str, Any]]] = []
        self.threads: set[int] = set()
        self.gate = threading.Event()
        self.gate.set()
        self.entered = threading.Event()

    def __call__(self, hook_name: str, kwargs: Mapping[str, Any]) -> None:
        self.entered.set()
        self.gate.wait(10)
        self.threads.add(threading.get_ident())
        if kwargs.get("fail"):
            raise RuntimeError("wrapper broke")
        self.calls.append((hook_name, kwargs))


def test_events_run_in_the_order_submitted_on_one_worker_thread() -> None:
    recorder = Recorder()
    queue = LifecycleQueue(recorder)
    submitted = [(f"tinca_{'host' if i % 3 else 'subnet'}_up", {"n": i}) for i in range(200)]
    for hook, kwargs in submitted:
        assert queue.submit(hook, **kwargs)
    assert queue.close(5)
    assert recorder.calls == submitted
    assert len(recorder.threads) == 1 and threading.get_ident() not in recorder.threads


def test_a_slow_hook_does_not_block_the_caller_and_later_events_wait_their_turn() -> None:
    recorder = Recorder()
    recorder.gate.clear()  # the first call hangs until the gate opens
    queue = LifecycleQueue(recorder)
    started = time.monotonic()
    queue.submit("tinca_host_up", event=host("bravo"))
    assert recorder.entered.wait(5)
    for name in ("charlie", "delta"):
        queue.submit("tinca_host_up", event=host(name))
    assert time.monotonic() - started < 1
    assert queue.pending == 3 and recorder.calls == []
    assert not queue.drain(0.2)
    recorder.gate.set()
    assert queue.drain(5)
    assert [kwargs["event"].host for _, kwargs in recorder.calls] == ["bravo", "charlie", "delta"]
    assert queue.pending == 0
    queue.close(1)


def test_a_failing_call_is_logged_once_and_the_queue_goes_on(
    caplog: pytest.LogCaptureFixture,
) -> None:
    recorder = Recorder()
    queue = LifecycleQueue(recorder)
    with caplog.at_level(logging.ERROR, logger="tinca.core.lifecycle"):
        queue.submit("tinca_host_up", fail=True)
        queue.submit("tinca_host_down", n=2)
        assert queue.close(5)
    assert [r.getMessage() for r in caplog.records] == [
        "Lifecycle hook tinca_host_up failed: wrapper broke"
    ]
    assert recorder.calls == [("tinca_host_down", {"n": 2})]


def test_a_failing_plugin_on_the_worker_is_logged_and_the_others_still_run(
    caplog: pytest.LogCaptureFixture,
) -> None:
    seen: list[str] = []

    class Broken:
        @hookimpl(tryfirst=True)
        def tinca_host_up(self, event: HostEvent) -> None:
            raise OSError("no such script")

    class Fine:
        @hookimpl
        def tinca_host_up(self, event: HostEvent) -> None:
            seen.append(event.host)

    manager = PluginManager(entry_points=False)
    manager.pm.register(Broken(), name="broken")
    manager.pm.register(Fine(), name="fine")
    queue = LifecycleQueue(lambda name, kwargs: getattr(manager.hook, name)(**kwargs))
    with caplog.at_level(logging.ERROR):
        queue.submit("tinca_host_up", event=host("bravo"))
        queue.submit("tinca_host_up", event=host("charlie"))
        assert queue.close(5)
    assert seen == ["bravo", "charlie"]
    assert [r.getMessage() for r in caplog.records] == [
        "plugin broken failed in tinca_host_up: no such script"
    ] * 2


def test_close_drains_what_is_queued_before_returning() -> None:
    recorder = Recorder()
    recorder.gate.clear()
    queue = LifecycleQueue(recorder)
    for i in range(5):
        queue.submit("tinca_subnet_down", n=i)
    threading.Timer(0.2, recorder.gate.set).start()
    assert queue.close(5)
    assert [kwargs["n"] for _, kwargs in recorder.calls] == [0, 1, 2, 3, 4]
    assert not queue.submit("tinca_host_down", n=5)  # after close: dropped
    assert queue.pending == 0


def test_close_waits_as_long_as_events_keep_finishing() -> None:
    # Eight events of 0.1 s each take longer than the 0.3 s wait, but each one
    # that finishes restarts it: a shutdown with many quick host-down scripts
    # runs all of them.
    def slow(hook_name: str, kwargs: Mapping[str, Any]) -> None:
        time.sleep(0.1)
        done.append(kwargs["n"])

    done: list[int] = []
    queue = LifecycleQueue(slow)
    for i in range(8):
        queue.submit("tinca_host_down", n=i)
    assert queue.close(0.3)
    assert done == list(range(8))


def test_close_gives_up_after_its_timeout_and_drops_what_is_queued(
    caplog: pytest.LogCaptureFixture,
) -> None:
    recorder = Recorder()
    recorder.gate.clear()
    queue = LifecycleQueue(recorder)
    queue.submit("tinca_host_up", n=0)
    assert recorder.entered.wait(5)
    queue.submit("tinca_host_down", n=1)
    queue.submit("tinca_subnet_down", n=2)
    started = time.monotonic()
    with caplog.at_level(logging.WARNING, logger="tinca.core.lifecycle"):
        assert not queue.close(0.3)
    assert 0.3 <= time.monotonic() - started < 2
    assert [r.getMessage() for r in caplog.records] == [
        "Lifecycle hook tinca_host_up still running after 0.3 seconds; "
        "not delivering 2 queued events"
    ]
    recorder.gate.set()
    deadline = time.monotonic() + 5
    while queue.pending and time.monotonic() < deadline:
        time.sleep(0.01)
    assert [kwargs["n"] for _, kwargs in recorder.calls] == [0]


def test_the_daemon_records_the_state_change_on_its_thread_then_queues_the_hook() -> None:
    """``Daemon._fire`` (the node's callback): the control server hears of a
    host event at once, on the caller's thread; the hook runs on the worker."""
    order: list[tuple[str, str, int]] = []
    gate = threading.Event()

    class Slow:
        @hookimpl
        def tinca_host_up(self, event: HostEvent) -> None:
            gate.wait(10)
            order.append(("hook", event.host, threading.get_ident()))

        @hookimpl
        def tinca_subnet_up(self, event: SubnetEvent) -> None:
            order.append(("hook", event.subnet, threading.get_ident()))

    manager = PluginManager(entry_points=False)
    manager.pm.register(Slow(), name="slow")
    control = SimpleNamespace(
        host_state_changed=lambda name: order.append(("control", name, threading.get_ident()))
    )
    daemon = Daemon(SimpleNamespace(manager=manager), SimpleNamespace())  # type: ignore[arg-type]
    daemon.control = control  # type: ignore[assignment]
    daemon.lifecycle = LifecycleQueue(daemon._call_hook)
    started = time.monotonic()
    daemon._fire("tinca_host_up", event=host("bravo"))
    daemon._fire("tinca_subnet_up", event=SubnetEvent(NODE, "bravo", "198.18.1.0/24", 10))
    assert time.monotonic() - started < 1
    me = threading.get_ident()
    assert order == [("control", "bravo", me)]
    gate.set()
    asyncio.run(daemon._close_lifecycle())
    assert [entry[:2] for entry in order] == [
        ("control", "bravo"), ("hook", "bravo"), ("hook", "198.18.1.0/24")
    ]
    assert order[1][2] != me and order[1][2] == order[2][2]


def test_tinc_down_ends_a_script_still_running_from_before_the_shutdown(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Shutdown gave up waiting for a hanging host-up: the scripts plugin
    ends it (its process group) before tinc-down, and logs that once."""
    confbase = tmp_path / "net"
    confbase.mkdir()
    (confbase / "tinc.conf").write_text("Name = alpha\n")
    for name, body in (
        ("host-up", f'echo $$ > "{tmp_path}/pid"\nsleep 30\ntouch "{tmp_path}/slept"\n'),
        ("tinc-down", f'touch "{tmp_path}/down"\n'),
    ):
        (confbase / name).write_text("#!/bin/sh\n" + body)
        (confbase / name).chmod(0o755)
    me = NodeEvent("vpn", "alpha", None, None, 0, str(confbase))
    manager = PluginManager(entry_points=False, extra=[SCRIPTS])
    queue = LifecycleQueue(lambda name, kwargs: getattr(manager.hook, name)(**kwargs))
    queue.submit("tinca_host_up", event=HostEvent(me, "bravo", "192.0.2.2", 655))
    deadline = time.monotonic() + 10
    while not (tmp_path / "pid").exists() or not (tmp_path / "pid").read_text():
        assert time.monotonic() < deadline, "host-up never started"
        time.sleep(0.02)
    script = int((tmp_path / "pid").read_text())
    try:
        with caplog.at_level(logging.WARNING):
            assert not queue.close(0.2)
            started = time.monotonic()
            manager.hook.tinca_node_down(event=me)
            assert time.monotonic() - started < 5
            while queue.pending and time.monotonic() < deadline:
                time.sleep(0.02)
        assert (tmp_path / "down").exists() and not (tmp_path / "slept").exists()
        assert group_ends(script, 5), "the script's process group outlived tinc-down"
        assert [r.getMessage() for r in caplog.records] == [
            "Lifecycle hook tinca_host_up still running after 0.2 seconds; "
            "not delivering 0 queued events",
            "Script host-up is still running at shutdown; stopping it",
        ]
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(script, signal.SIGKILL)
