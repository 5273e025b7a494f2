"""The ``dummy`` device type: a node without a kernel interface.

Like tincd's ``DeviceType = dummy``: nothing is ever read from it, and every
packet written to it is dropped after being counted. Useful for relay-only
nodes and for tests that need a whole daemon but no TUN/TAP or root.
"""

from __future__ import annotations

import logging

from tinca.core.device import Device, DeviceRequest
from tinca.core.hookspecs import Register
from tinca.core.markers import hookimpl

log = logging.getLogger(__name__)

DUMMY = "dummy"
"""What the device reports as its device and interface name (tinc's DEVICE_DUMMY)."""


class DummyDevice(Device):
    """A device that never has packets to read and discards what it is given.

    ``device`` and ``interface`` are always ``"dummy"``, whatever ``Device`` and
    ``Interface`` say, because that is what tincd reports to scripts
    (``DEVICE``/``INTERFACE`` in ``tinc-up``) for this device type. Writes are
    counted in ``packets_out``/``bytes_out``.
    """

    kind = DUMMY

    def __init__(self, request: DeviceRequest) -> None:
        super().__init__(request)
        self.device = DUMMY
        self.interface = DUMMY
        self.is_open = False

    def open(self) -> None:
        """Nothing to acquire; logs what tincd logs for this device."""
        self.is_open = True
        log.info("%s (%s) is a dummy device", self.device, self.interface)

    def close(self) -> None:
        """Nothing to release; safe to call twice."""
        if self.is_open:
            self.is_open = False
            log.debug(
                "dummy device discarded %d packets (%d bytes)", self.packets_out, self.bytes_out
            )

    def read_batch(self, limit: int) -> list[bytes]:
        """Always empty: a dummy device never produces packets."""
        return []

    def write(self, packet: bytes) -> None:
        """Count and drop ``packet``."""
        self.packets_out += 1
        self.bytes_out += len(packet)


@hookimpl
def tinca_register_device_types(register: Register) -> None:
    """Offer ``DeviceType = dummy``."""
    register(DUMMY, DummyDevice, doc="no interface: reads nothing, discards writes (as tincd)")
