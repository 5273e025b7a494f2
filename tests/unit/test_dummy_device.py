"""The ``dummy`` device plugin behaves like tincd's ``DeviceType = dummy``."""

from __future__ import annotations

import importlib.metadata
import logging

import pytest

from tinca.core.device import Device, DeviceRequest
from tinca.core.plugin_manager import PluginManager
from tinca.plugins.devices import dummy
from tinca.plugins.devices.dummy import DummyDevice

DEVICE_HOOK = "tinca_register_device_types"


def make(layer: str = "tun", **settings: str) -> DummyDevice:
    return DummyDevice(DeviceRequest(netname="vpn", layer=layer, **settings))  # type: ignore[arg-type]


def test_is_a_device_of_kind_dummy() -> None:
    device = make()
    assert isinstance(device, Device)
    assert device.kind == "dummy"


@pytest.mark.parametrize("layer", ["tun", "tap"])
def test_reports_dummy_as_device_and_interface_whatever_the_settings(layer: str) -> None:
    # tincd sets both to DEVICE_DUMMY and ignores Device/Interface for this type.
    device = make(layer, device="/dev/net/tun", interface="vpn0")
    device.open()
    assert (device.device, device.interface) == ("dummy", "dummy")


def test_open_logs_what_tincd_logs(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger=dummy.__name__):
        make().open()
    assert "dummy (dummy) is a dummy device" in caplog.messages


def test_never_readable_and_never_yields_packets() -> None:
    device = make()
    device.open()
    assert device.fileno() is None
    device.write(b"\x45" + bytes(19))
    assert device.read_batch(64) == []
    assert (device.packets_in, device.bytes_in) == (0, 0)


def test_writes_are_discarded_but_counted() -> None:
    device = make()
    device.open()
    device.write(bytes(60))
    device.write(bytes(1500))
    device.write(b"")
    assert device.packets_out == 3
    assert device.bytes_out == 1560


def test_close_is_idempotent() -> None:
    device = make()
    device.open()
    device.close()
    device.close()
    assert not device.is_open


def test_registered_as_dummy_through_the_hook() -> None:
    manager = PluginManager(entry_points=False, extra=[dummy.__name__])
    registry = manager.registry(DEVICE_HOOK)
    entry = registry.get("DUMMY")  # DeviceType is case-insensitive, as in tincd
    assert entry.name == "dummy"
    assert entry.value is DummyDevice
    assert entry.plugin == dummy.__name__
    assert entry.doc
    assert isinstance(entry.value(DeviceRequest(None, "tap")), DummyDevice)


def test_installed_entry_point_points_at_this_module() -> None:
    points = importlib.metadata.entry_points(group="tinca", name="dummy")
    assert [point.value for point in points] == [dummy.__name__]
    assert next(iter(points)).load() is dummy
