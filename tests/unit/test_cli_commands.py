"""Commands plugins add: ``tinca NAME ...`` and control requests ``18 1000 NAME``.

A test plugin (a module loaded with ``LoadPlugin``) adds ``tinca hello``,
``tinca peer-counts`` (which asks the daemon through its own control
request) and a ``dump`` that must never run; its control requests answer
from the node's counters, fail on purpose, or crash.
"""

from __future__ import annotations

import logging
import socket
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import pytest

from tests.unit.test_control import FakeTarget, Served, ask, authed, fake_runtime
from tinca.core.cli import tinca
from tinca.core.cli.control_client import ControlClient, ControlClientError, PluginReply
from tinca.core.control.records import PLUGIN_REQUEST, plugin_reply
from tinca.core.control.session import ControlSession
from tinca.core.plugin_manager import PluginManager

PLUGIN = "tinca_test_commands_plugin"

PLUGIN_SOURCE = '''
"""A plugin that adds tinca commands and control requests (for the tests)."""

from tinca.core.control.handler import PluginRequestError
from tinca.core.markers import hookimpl


def hello(ctx, argv):
    print(f"hello {' '.join(argv)} from {ctx.confbase.name}")
    return 3


def peer_counts(ctx, argv):
    reply = ctx.plugin_request("counters", *argv)
    for line in reply.lines:
        print(line)
    return reply.status


def shadow_dump(ctx, argv):
    raise AssertionError("a plugin command must not replace a built-in one")


@hookimpl
def tinca_register_cli_commands(register):
    register("hello", hello, doc="Say hello.")
    register("peer-counts", peer_counts, doc="Packets per peer, from the daemon.")
    register("dump", shadow_dump, doc="Would shadow dump.")


def counters(view, args):
    snap = view.counters()
    names = args or sorted(snap.peers)
    for name in names:
        if name not in snap.peers and name != snap.myself:
            raise PluginRequestError(f"no such peer {name}", 3)
        t = snap.peer(name)
        yield f"{name} {t.in_packets} {t.in_bytes} {t.out_packets} {t.out_bytes}"


def nodes(view, args):
    return [f"{view.name}: {len(view.nodes())} nodes, {len(view.edges())} edges, "
            f"{len(view.subnets())} subnets, {len(view.connections())} connections",
            "two\\nlines", ""]


def crash(view, args):
    raise ZeroDivisionError("on purpose")


@hookimpl
def tinca_register_control_requests(register):
    register("counters", counters, doc="Packets and bytes per peer.")
    register("nodes", nodes, doc="How much the node knows.")
    register("crash", crash, doc="Always fails.")
'''


@pytest.fixture
def plugin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """The test plugin as an importable module; a config directory that loads it."""
    source = tmp_path / "modules"
    source.mkdir()
    (source / f"{PLUGIN}.py").write_text(textwrap.dedent(PLUGIN_SOURCE))
    monkeypatch.syspath_prepend(str(source))
    conf = tmp_path / "alpha"
    conf.mkdir()
    (conf / "tinc.conf").write_text(f"Name = alpha\nLoadPlugin = {PLUGIN}\n")
    yield str(conf)
    sys.modules.pop(PLUGIN, None)


def plugin_runtime() -> SimpleNamespace:
    """The fake node of test_control, with a plugin manager holding the test plugin."""
    node = fake_runtime()
    node.stack = SimpleNamespace(manager=PluginManager(entry_points=False, extra=[PLUGIN]))
    return node


# ---------------------------------------------------------------------------
# tinca NAME ...


def test_a_plugin_command_runs_with_its_arguments_and_exit_status(
    plugin: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert tinca.main(["-c", plugin, "hello", "big", "world"]) == 3
    assert capsys.readouterr().out == "hello big world from alpha\n"


def test_help_lists_plugin_commands_and_says_which_are_shadowed(
    plugin: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert tinca.main(["-c", plugin, "help"]) == 0
    out = capsys.readouterr().out
    assert out.startswith(tinca.USAGE)
    extra = out[len(tinca.USAGE):].splitlines()
    assert extra[:2] == ["", "Plugin commands:"]
    assert any(line.split() == ["hello", "Say", "hello.", f"[{PLUGIN}]"] for line in extra)
    assert any("dump" in line and "not run: 'dump' is a built-in command" in line
               for line in extra)


def test_built_in_commands_win_over_a_plugin_of_the_same_name(
    plugin: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # the built-in dump runs: there is no daemon to ask
    assert tinca.main(["-c", plugin, "--pidfile", str(tmp_path / "none.pid"),
                       "dump", "nodes"]) == 1
    assert "Could not open pid file" in capsys.readouterr().err
    assert tinca.run_plugin_command(tinca.Context(tinca.make_names(None, plugin), False,
                                                  False), "DUMP", []) is None


def test_an_unknown_command_is_still_a_usage_error(
    plugin: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert tinca.main(["-c", plugin, "frobnicate"]) == 1
    assert "Unknown command `frobnicate'." in capsys.readouterr().err


# ---------------------------------------------------------------------------
# 18 1000 NAME ... on the daemon's side


def session() -> ControlSession:
    return authed(FakeTarget(plugin_runtime()))


def test_a_plugin_request_answers_lines_then_its_status(plugin: str) -> None:
    s = session()
    assert ask(s, f"18 {PLUGIN_REQUEST} counters beta") == ["18 1000 :beta 12 0 34 0", "18 1000 0"]
    assert ask(s, "18 1000 counters") == [
        "18 1000 :beta 12 0 34 0",
        "18 1000 :delta 0 0 0 0", "18 1000 :echo 0 0 0 0", "18 1000 :gamma 0 0 0 0",
        "18 1000 0",
    ]
    assert ask(s, "18 1000 nodes") == [
        "18 1000 :alpha: 5 nodes, 5 edges, 3 subnets, 2 connections",
        "18 1000 :two", "18 1000 :lines", "18 1000 :", "18 1000 0",
    ]
    assert not s.closed


def test_failing_unknown_and_crashing_plugin_requests_keep_the_session(
    plugin: str, caplog: pytest.LogCaptureFixture
) -> None:
    s = session()
    assert ask(s, "18 1000 counters zeta") == ["18 1000 :no such peer zeta", "18 1000 3"]
    assert ask(s, "18 1000 frobnicate") == ["18 1000 -1"]
    assert ask(s, "18 1000") == ["18 1000 -1"]
    with caplog.at_level(logging.ERROR, logger="tinca"):
        assert ask(s, "18 1000 crash") == ["18 1000 -2"]
    assert "crash" in caplog.text and "on purpose" in caplog.text
    assert ask(s, "18 1000 COUNTERS beta")[-1] == "18 1000 0"  # names ignore case
    assert not s.closed


def test_without_a_node_no_plugin_request_is_known() -> None:
    s = authed(FakeTarget(None))
    assert ask(s, "18 1000 counters") == ["18 1000 -1"]


def test_reply_lines_are_split_at_newlines() -> None:
    assert plugin_reply(["a\nb", ""], 2) == ["18 1000 :a", "18 1000 :b", "18 1000 :", "18 1000 2"]


# ---------------------------------------------------------------------------
# the client, and a plugin command that asks the daemon


@pytest.fixture
def served_plugin(tmp_path: Path, plugin: str) -> Iterator[Served]:
    server = Served(tmp_path, FakeTarget(plugin_runtime()))
    try:
        yield server
    finally:
        server.close()


def test_the_client_sends_plugin_requests_and_reads_the_reply(served_plugin: Served) -> None:
    with served_plugin.connect() as client:
        assert client.plugin_request("counters", "beta") == PluginReply(0, ["beta 12 0 34 0"])
        assert client.plugin_request("nope") == PluginReply(-1, [])
        with pytest.raises(ControlClientError, match="without blanks"):
            client.plugin_request("counters", "two words")
        assert client.plugin_request("counters", "gamma").status == 0  # still connected


def test_a_plugin_command_talks_to_the_daemon_through_its_context(
    served_plugin: Served, plugin: str, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["-c", plugin, "--pidfile", str(served_plugin.pidfile), "peer-counts", "beta"]
    assert tinca.main(argv) == 0
    assert capsys.readouterr().out == "beta 12 0 34 0\n"


def test_a_daemon_without_plugin_requests_is_a_clear_error() -> None:
    ours, theirs = socket.socketpair()
    with ours, theirs:
        client = ControlClient(ours, 1, "tincd")
        theirs.sendall(b"18 -1\n")  # what tinc 1.1 answers to any unknown type
        with pytest.raises(ControlClientError, match="does not support plugin"):
            client.plugin_request("counters")
        assert theirs.recv(100) == b"18 1000 counters\n"


def test_the_plugin_hooks_fill_registries_that_tinca_plugins_lists(plugin: str) -> None:
    manager = PluginManager(entry_points=False, extra=[PLUGIN])
    commands = manager.registry("tinca_register_cli_commands")
    requests = manager.registry("tinca_register_control_requests")
    assert commands.names() == ["dump", "hello", "peer-counts"]
    assert requests.names() == ["counters", "crash", "nodes"]
    info = next(i for i in manager.describe() if i.name == PLUGIN)
    assert any(slot.startswith("CLI command") for slot in info.slots)
    assert any(slot.startswith("control request") for slot in info.slots)
