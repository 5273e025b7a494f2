"""Every hook call goes through pluggy: ordering, fewer arguments, wrappers,
failing plugins and call tracing, on lifecycle and registry hooks.

Lifecycle hooks are fired the way a running daemon fires them: tinc-up on
its own thread (``Daemon._notify``), host events through the node's callback
(``Daemon._fire``) and the lifecycle queue.
"""

from __future__ import annotations

import logging
from collections.abc import Generator
from types import SimpleNamespace
from typing import Any

import pytest

from tinca.core.config.values import Integer
from tinca.core.config.variables import Variable
from tinca.core.daemon import Daemon
from tinca.core.errors import PluginError
from tinca.core.events import HostEvent, NodeEvent
from tinca.core.lifecycle import LifecycleQueue
from tinca.core.markers import hookimpl
from tinca.core.plugin_manager import TRACE_ENV, PluginManager
from tinca.core.registry import Entry

NODE = NodeEvent("vpn", "alpha", None, None, 0, "/nonexistent")
BRAVO = HostEvent(NODE, "bravo", "192.0.2.2", 655)
DEVICES = "tinca_register_device_types"


def manager(*plugins: tuple[str, object]) -> PluginManager:
    """A plugin manager with the core and ``plugins`` (name, object), in order."""
    built = PluginManager(entry_points=False)
    for name, plugin in plugins:
        built.pm.register(plugin, name=name)
    return built


def fire(built: PluginManager, hook_name: str, **kwargs: Any) -> None:
    """Fire a lifecycle hook as the daemon does, and wait until it ran."""
    daemon = Daemon(SimpleNamespace(manager=built), SimpleNamespace())  # type: ignore[arg-type]
    if hook_name in ("tinca_node_up", "tinca_node_down"):
        daemon._notify(hook_name, **kwargs)
        return
    queue = daemon.lifecycle = LifecycleQueue(daemon._call_hook)
    daemon._fire(hook_name, **kwargs)
    assert queue.close(5)


class HostRecorder:
    """Appends its name to ``calls`` on host-up; ``tryfirst``/``trylast`` as asked."""

    def __init__(self, name: str, calls: list[str], **opts: bool) -> None:
        self.name = name
        self.calls = calls

        @hookimpl(**opts)
        def tinca_host_up(event: HostEvent) -> str:
            calls.append(f"{name}:{event.host}")
            return name

        self.tinca_host_up = tinca_host_up


class DeviceRegistrar:
    """Registers device type ``type_name`` on the registry hook."""

    def __init__(self, type_name: str, calls: list[str], **opts: bool) -> None:
        @hookimpl(**opts)
        def tinca_register_device_types(register: Any) -> None:
            calls.append(type_name)
            register(type_name, f"factory of {type_name}", doc=f"{type_name} devices")

        self.tinca_register_device_types = tinca_register_device_types


# ---------------------------------------------------------------------------
# Ordering
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("registration", [("last", "plain", "first"), ("first", "plain", "last")])
def test_tryfirst_and_trylast_order_a_lifecycle_hook(registration: tuple[str, ...]) -> None:
    calls: list[str] = []
    opts = {"first": {"tryfirst": True}, "plain": {}, "last": {"trylast": True}}
    built = manager(*((name, HostRecorder(name, calls, **opts[name])) for name in registration))
    fire(built, "tinca_host_up", event=BRAVO)
    assert calls == ["first:bravo", "plain:bravo", "last:bravo"]
    assert built.hook.tinca_host_up(event=BRAVO) == ["first", "plain", "last"]


def test_tryfirst_and_trylast_order_a_registry_hook_and_entries_know_their_plugin() -> None:
    calls: list[str] = []
    built = manager(
        ("late", DeviceRegistrar("late", calls, trylast=True)),
        ("early", DeviceRegistrar("early", calls, tryfirst=True)),
        ("middle", DeviceRegistrar("middle", calls)),
    )
    registry = built.registry(DEVICES)
    assert calls == ["early", "middle", "late"]
    assert [(e.name, e.plugin, e.doc) for e in registry.entries()] == [
        ("early", "early", "early devices"),
        ("late", "late", "late devices"),
        ("middle", "middle", "middle devices"),
    ]


# ---------------------------------------------------------------------------
# Fewer arguments than the specification
# ---------------------------------------------------------------------------


def test_an_implementation_may_take_fewer_arguments_than_the_spec() -> None:
    calls: list[str] = []

    class Bare:
        @hookimpl
        def tinca_node_up(self) -> None:
            calls.append("bare node-up")

        @hookimpl
        def tinca_host_up(self) -> None:
            calls.append("bare host-up")

        @hookimpl
        def tinca_register_device_types(self) -> None:
            calls.append("bare registry")

    built = manager(("bare", Bare()), ("devices", DeviceRegistrar("tun", calls)))
    fire(built, "tinca_node_up", event=NODE)
    fire(built, "tinca_host_up", event=BRAVO)
    registry = built.registry(DEVICES)
    assert calls == ["bare node-up", "bare host-up", "tun", "bare registry"]
    assert registry.names() == ["tun"]


# ---------------------------------------------------------------------------
# Wrappers
# ---------------------------------------------------------------------------


def test_a_wrapper_sees_and_changes_a_lifecycle_call() -> None:
    calls: list[str] = []
    seen: list[object] = []

    class Wrapper:
        @hookimpl(wrapper=True)
        def tinca_host_up(self, event: HostEvent) -> Generator[None, list[str], list[str]]:
            seen.append(event)
            calls.append("before")
            results = yield
            calls.append(f"after {results}")
            return [*results, "wrapped"]

    built = manager(("wrapper", Wrapper()), ("plain", HostRecorder("plain", calls)))
    fire(built, "tinca_host_up", event=BRAVO)
    assert seen == [BRAVO]
    assert calls == ["before", "plain:bravo", "after ['plain']"]
    assert built.hook.tinca_host_up(event=BRAVO) == ["plain", "wrapped"]


def test_a_wrapper_around_a_registry_hook_sees_the_register_callable() -> None:
    calls: list[str] = []
    seen: list[object] = []

    class Wrapper:
        @hookimpl(wrapper=True)
        def tinca_register_device_types(self, register: Any) -> Generator[None, Any, Any]:
            seen.append(register)
            result = yield
            calls.append("after")
            return result

    built = manager(("wrapper", Wrapper()), ("devices", DeviceRegistrar("tun", calls)))
    assert built.registry(DEVICES).get("tun").plugin == "devices"
    assert calls == ["tun", "after"]
    assert len(seen) == 1 and callable(seen[0])


def test_register_outside_an_implementation_is_an_error() -> None:
    class Early:
        @hookimpl(wrapper=True)
        def tinca_register_device_types(self, register: Any) -> Generator[None, Any, Any]:
            register("tun", object())
            return (yield)

    with pytest.raises(PluginError, match="outside a plugin's implementation"):
        manager(("early", Early())).registry(DEVICES)


# ---------------------------------------------------------------------------
# Failing plugins
# ---------------------------------------------------------------------------


class Broken:
    """Fails in every hook it implements."""

    @hookimpl(tryfirst=True)
    def tinca_host_up(self, event: HostEvent) -> None:
        raise RuntimeError("boom")

    @hookimpl(tryfirst=True)
    def tinca_register_device_types(self, register: Any) -> None:
        raise KeyError("no such thing")


def test_a_failing_lifecycle_plugin_is_logged_once_and_the_others_still_run(
    caplog: pytest.LogCaptureFixture,
) -> None:
    calls: list[str] = []
    built = manager(("before", HostRecorder("before", calls, trylast=True)),
                    ("broken", Broken()),
                    ("after", HostRecorder("after", calls)))
    with caplog.at_level(logging.ERROR):
        fire(built, "tinca_host_up", event=BRAVO)
        assert built.hook.tinca_host_up(event=BRAVO) == ["after", "before"]
    assert calls == ["after:bravo", "before:bravo"] * 2
    assert [r.getMessage() for r in caplog.records] == [
        "plugin broken failed in tinca_host_up: boom"
    ] * 2


def test_a_failing_registry_plugin_is_a_plugin_error_naming_it() -> None:
    built = manager(("broken", Broken()), ("devices", DeviceRegistrar("tun", [])))
    with pytest.raises(PluginError) as info:
        built.registry(DEVICES)
    assert str(info.value) == (
        "plugin 'broken' failed in tinca_register_device_types: 'no such thing'"
    )
    assert info.value.__cause__ is None and info.value.__suppress_context__


def test_a_duplicate_name_stays_the_error_naming_both_plugins() -> None:
    calls: list[str] = []
    built = manager(("one", DeviceRegistrar("tun", calls)), ("two", DeviceRegistrar("TUN", calls)))
    with pytest.raises(PluginError) as info:
        built.registry(DEVICES)
    assert str(info.value) == "device type 'tun' is registered by both 'two' and 'one'"


def test_config_variables_are_attributed_and_a_failing_declaration_is_a_plugin_error() -> None:
    class Declares:
        @hookimpl
        def tinca_config_variables(self) -> list[Variable]:
            return [Variable("WidgetCount", Integer(), "How many widgets (test).")]

    class Fails:
        @hookimpl
        def tinca_config_variables(self) -> list[Variable]:
            raise ValueError("bad declaration")

    declared = manager(("widgets", Declares())).variables.lookup("WidgetCount")
    assert declared is not None and declared.plugin == "widgets"
    with pytest.raises(PluginError, match="plugin 'fails' failed in tinca_config_variables"):
        _ = manager(("fails", Fails())).variables


# ---------------------------------------------------------------------------
# Tracing
# ---------------------------------------------------------------------------


def test_trace_hooks_logs_every_call_with_arguments_and_results(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv(TRACE_ENV, "1")
    calls: list[str] = []
    built = manager(("plain", HostRecorder("plain", calls)),
                    ("devices", DeviceRegistrar("tun", calls)))
    with caplog.at_level(logging.INFO, logger="tinca.hooks"):
        built.hook.tinca_host_up(event=BRAVO)
        built.registry(DEVICES)
    lines = [r.getMessage() for r in caplog.records if r.name == "tinca.hooks"]
    assert all(r.levelno == logging.INFO for r in caplog.records if r.name == "tinca.hooks")
    assert lines[0] == f"hook tinca_host_up(event={BRAVO!r}) calls plain"
    assert lines[1] == "hook tinca_host_up returned ['plain']"
    assert lines[2].startswith("hook tinca_register_device_types(register=<function ")
    assert lines[2].endswith(" calls devices")
    assert lines[3] == "hook tinca_register_device_types returned []"


def test_trace_hooks_reports_a_raising_hook(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv(TRACE_ENV, "1")
    built = manager(("broken", Broken()))
    with caplog.at_level(logging.INFO, logger="tinca.hooks"), pytest.raises(PluginError):
        built.registry(DEVICES)
    lines = [r.getMessage() for r in caplog.records if r.name == "tinca.hooks"]
    assert lines[-1] == (
        "hook tinca_register_device_types raised PluginError: "
        "plugin 'broken' failed in tinca_register_device_types: 'no such thing'"
    )


def test_trace_hooks_writes_to_stderr_before_logging_is_set_up(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv(TRACE_ENV, "1")
    built = manager(("plain", HostRecorder("plain", [])))
    monkeypatch.setattr(logging.getLogger("tinca.hooks"), "propagate", False)
    built.hook.tinca_host_up(event=BRAVO)
    assert capsys.readouterr().err.splitlines() == [
        f"hook tinca_host_up(event={BRAVO!r}) calls plain",
        "hook tinca_host_up returned ['plain']",
    ]


@pytest.mark.parametrize("value", ["", "0"])
def test_no_tracing_unless_asked(
    value: str, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv(TRACE_ENV, value)
    built = manager(("plain", HostRecorder("plain", [])))
    with caplog.at_level(logging.DEBUG):
        built.hook.tinca_host_up(event=BRAVO)
    assert [r for r in caplog.records if r.name == "tinca.hooks"] == []


def test_register_returns_the_entry() -> None:
    entries: list[Entry] = []

    class Keeps:
        @hookimpl
        def tinca_register_device_types(self, register: Any) -> None:
            entries.append(register("tun", "factory"))

    registry = manager(("keeps", Keeps())).registry(DEVICES)
    assert entries == [registry.get("tun")]
