"""Named registries that the ``tinca_register_*`` hooks fill."""

from __future__ import annotations

import pytest

from tinca.core.errors import PluginError
from tinca.core.markers import hookimpl
from tinca.core.plugin_manager import PluginManager
from tinca.core.registry import Registry


def test_lookup_ignores_case_and_keeps_the_registered_spelling() -> None:
    registry = Registry("device type")
    factory = object()
    registry.add("RawSocket", factory, "a raw socket", plugin="raw")
    for spelling in ("RawSocket", "rawsocket", "RAWSOCKET"):
        entry = registry.get(spelling)
        assert (entry.name, entry.value, entry.plugin, entry.doc) == (
            "RawSocket",
            factory,
            "raw",
            "a raw socket",
        )
        assert spelling in registry
    assert "raw" not in registry
    assert 42 not in registry


def test_two_plugins_claiming_one_name_is_an_error_naming_both() -> None:
    registry = Registry("cipher suite")
    registry.add("sptps", object(), plugin="first")
    with pytest.raises(PluginError) as info:
        registry.add("SPTPS", object(), plugin="second")
    message = str(info.value)
    assert "cipher suite" in message
    assert "'first'" in message and "'second'" in message
    assert registry.get("sptps").plugin == "first"


def test_one_plugin_may_register_a_name_again() -> None:
    registry = Registry("device type")
    registry.add("tun", "old", plugin="linux")
    registry.add("tun", "new", plugin="linux")
    assert registry.get("tun").value == "new"
    assert registry.names() == ["tun"]


def test_unknown_name_error_lists_what_is_installed() -> None:
    registry = Registry("device type")
    for name in ("tun", "dummy", "tap"):
        registry.add(name, object(), plugin="devices")
    with pytest.raises(PluginError) as info:
        registry.get("pcap")
    message = str(info.value)
    assert "device type" in message and "'pcap'" in message
    assert "installed: dummy, tap, tun" in message


def test_unknown_name_in_an_empty_registry_says_none_is_installed() -> None:
    with pytest.raises(PluginError, match="installed: none"):
        Registry("MTU strategy").get("fixed")


def test_names_and_entries_are_sorted() -> None:
    registry = Registry("discovery method")
    for name in ("static", "dns", "cache"):
        registry.add(name, name.upper(), plugin="discovery")
    assert registry.names() == ["cache", "dns", "static"]
    assert [entry.value for entry in registry.entries()] == ["CACHE", "DNS", "STATIC"]


class _TunA:
    @hookimpl
    def tinca_register_device_types(self, register):  # type: ignore[no-untyped-def]
        register("tun", "from a", doc="A's tun")


class _TunB:
    @hookimpl
    def tinca_register_device_types(self, register):  # type: ignore[no-untyped-def]
        register("TUN", "from b")


def test_plugin_manager_records_which_plugin_registered_what() -> None:
    manager = PluginManager(entry_points=False)
    manager.pm.register(_TunA(), name="a")
    entry = manager.registry("tinca_register_device_types").get("tun")
    assert (entry.value, entry.plugin, entry.doc) == ("from a", "a", "A's tun")


def test_plugin_manager_reports_a_conflict_between_plugins() -> None:
    manager = PluginManager(entry_points=False)
    manager.pm.register(_TunA(), name="a")
    manager.pm.register(_TunB(), name="b")
    with pytest.raises(PluginError, match=r"device type .* both '(a|b)' and '(a|b)'"):
        manager.registry("tinca_register_device_types")
