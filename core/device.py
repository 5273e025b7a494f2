"""The virtual network device interface that device plugins implement."""

from __future__ import annotations

import abc
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

Layer = Literal["tun", "tap"]


@dataclass(frozen=True)
class DeviceRequest:
    """What the daemon asks of a device plugin's factory.

    ``layer`` is ``tun`` (IP packets, router mode) or ``tap`` (Ethernet frames,
    switch and hub modes). ``device`` and ``interface`` are the user's
    ``Device`` and ``Interface`` settings, or ``None`` to let the plugin choose.
    ``setting(name)`` looks up any other configuration variable (typed, with
    its default) and ``setting_all(name)`` every value of a repeatable one,
    so a device plugin can read the variables it declares.
    """

    netname: str | None
    layer: Layer
    device: str | None = None
    interface: str | None = None
    setting: Callable[[str], Any] = lambda name: None
    #: every value of a repeatable variable, in file order
    setting_all: Callable[[str], list[Any]] = lambda name: []


class Device(abc.ABC):
    """A source and sink of packets for the node.

    The daemon calls :meth:`open` once, then reads with :meth:`read_batch`
    whenever :meth:`fileno` is readable (devices without a descriptor are never
    read), writes with :meth:`write`, and calls :meth:`close` at shutdown.
    Packets are bytes in the device's layer: IP packets for ``tun``, Ethernet
    frames for ``tap``.
    """

    #: short human name of the device kind, shown in logs ("dummy", "tun")
    kind: str = "device"
    #: the layer this device type always carries (a TUN device IP packets, a
    #: TAP device Ethernet frames); ``None``: whatever the routing mode needs
    layer: ClassVar[Layer | None] = None
    #: the interface's 6-byte hardware (MAC) address, read by :meth:`open`
    #: on an Ethernet device; ``None`` when unknown or not Ethernet. In
    #: router mode on a ``tap`` device the node writes frames to it
    #: (tinc's ``mymac``).
    mac: bytes | None = None

    def __init__(self, request: DeviceRequest) -> None:
        self.request = request
        self.device: str | None = request.device
        self.interface: str | None = request.interface
        self.packets_in = 0
        self.packets_out = 0
        self.bytes_in = 0
        self.bytes_out = 0

    @abc.abstractmethod
    def open(self) -> None:
        """Acquire the device. Errors raise :class:`~tinca.core.errors.TincaError`."""

    @abc.abstractmethod
    def close(self) -> None:
        """Release the device; safe to call twice."""

    def fileno(self) -> int | None:
        """The descriptor to poll for readability, or ``None`` if never readable."""
        return None

    @abc.abstractmethod
    def read_batch(self, limit: int) -> list[bytes]:
        """Return up to ``limit`` packets that are ready now (may be empty)."""

    @abc.abstractmethod
    def write(self, packet: bytes) -> None:
        """Deliver one packet to the host's network stack."""


def device_layer(factory: object, mode_layer: Layer) -> Layer:
    """The layer to ask a registered device factory for.

    A mode that routes on MAC addresses needs Ethernet frames whatever the
    device (a device that cannot carry them refuses in :meth:`Device.open`);
    a mode that routes on IP headers takes the device's own fixed
    :attr:`Device.layer` (tincd's ``DeviceType = tap`` in router mode), else
    IP packets.
    """
    if mode_layer == "tap":
        return "tap"
    if isinstance(factory, type) and issubclass(factory, Device) and factory.layer:
        return factory.layer
    return mode_layer
