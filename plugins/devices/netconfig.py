"""Optional set-up of a tun/tap interface through netlink, when the user asks.

tincd never configures its interface: it creates it and leaves addresses,
routes, MTU and the link state to ``tinc-up``. tinca does the same by default.
The variables declared here let a user skip the script for the common case:
the device applies them right after opening the interface, through pyroute2
(netlink), never by running ``ip``.

Order of application: MTU, link up, addresses, routes. Routes come last
because the kernel refuses an IPv4 route through a link that is down.
"""

from __future__ import annotations

import errno
import ipaddress
import logging
import os
import socket
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from tinca.core.config.values import Bool, Integer, ValueType
from tinca.core.config.variables import Scope, Variable
from tinca.core.errors import TincaError

log = logging.getLogger(__name__)

IPInterface = ipaddress.IPv4Interface | ipaddress.IPv6Interface
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

MIN_MTU = 68
"""The smallest MTU Linux accepts on an interface carrying IPv4 (RFC 791)."""
MAX_MTU = 65535
"""The largest MTU the tun driver accepts."""


class NetconfigError(TincaError):
    """The kernel refused part of the interface set-up the user asked for."""


@dataclass(frozen=True)
class Route:
    """A route through the interface, optionally via a gateway on it."""

    network: IPNetwork
    gateway: IPAddress | None = None

    def __str__(self) -> str:
        return str(self.network) if self.gateway is None else f"{self.network} via {self.gateway}"


@dataclass(frozen=True)
class InterfaceAddresses(ValueType):
    """One or more ``ADDRESS/PREFIX`` items, blank-separated (IPv4 or IPv6).

    A missing prefix means a single host (/32, /128), as with ``ip addr add``.
    """

    shape: str = "address/prefix ..."

    def parse(self, text: str) -> tuple[IPInterface, ...]:
        items = text.split()
        if not items:
            raise ValueError("empty value")
        parsed = []
        for item in items:
            try:
                parsed.append(ipaddress.ip_interface(item))
            except ValueError:
                raise ValueError(f"{item!r} is not an address/prefix") from None
        return tuple(parsed)

    def format(self, value: tuple[IPInterface, ...]) -> str:
        return " ".join(str(item) for item in value)


@dataclass(frozen=True)
class RouteSpec(ValueType):
    """``NETWORK/PREFIX [via GATEWAY]``; the gateway must be of the same family."""

    shape: str = "network/prefix [via gateway]"

    def parse(self, text: str) -> Route:
        words = text.split()
        if len(words) not in (1, 3) or (len(words) == 3 and words[1].lower() != "via"):
            raise ValueError(f"expected 'network/prefix [via gateway]', got {text!r}")
        try:
            network = ipaddress.ip_network(words[0], strict=True)
        except ValueError as err:
            raise ValueError(f"{words[0]!r} is not a network ({err})") from None
        gateway = None
        if len(words) == 3:
            try:
                gateway = ipaddress.ip_address(words[2])
            except ValueError:
                raise ValueError(f"{words[2]!r} is not a gateway address") from None
            if gateway.version != network.version:
                raise ValueError(f"gateway {gateway} is not of the same family as {network}")
        return Route(network, gateway)

    def format(self, value: Route) -> str:
        return str(value)


VARIABLES: list[Variable] = [
    Variable(
        "DeviceAddress",
        InterfaceAddresses(),
        "Address/prefix to assign to the tun/tap interface at start (tinca; else tinc-up does).",
        scope=Scope.SERVER,
        multiple=True,
    ),
    Variable(
        "DeviceRoute",
        RouteSpec(),
        "Route 'network/prefix [via gateway]' to add through the interface at start (tinca).",
        scope=Scope.SERVER,
        multiple=True,
    ),
    Variable(
        "DeviceMTU",
        Integer(minimum=MIN_MTU, maximum=MAX_MTU),
        "MTU to set on the tun/tap interface at start (tinca; the kernel's 1500 when unset).",
        scope=Scope.SERVER,
    ),
    Variable(
        "DeviceUp",
        Bool(),
        "Bring the interface up at start (tinca); default yes if DeviceAddress/DeviceRoute is set.",
        scope=Scope.SERVER,
    ),
]
"""The variables this module acts on; the tun/tap plugin declares them."""


@dataclass(frozen=True)
class InterfacePlan:
    """What to do to the interface right after it is created.

    The empty plan (the default) does nothing at all, as tincd.
    """

    addresses: tuple[IPInterface, ...] = ()
    routes: tuple[Route, ...] = ()
    mtu: int | None = None
    up: bool = False

    @property
    def empty(self) -> bool:
        """True when nothing is to be done."""
        return not (self.addresses or self.routes or self.mtu is not None or self.up)

    def describe(self) -> str:
        """One line for the log: ``mtu 1400, up, address 198.18.0.1/24, route ...``."""
        parts = []
        if self.mtu is not None:
            parts.append(f"mtu {self.mtu}")
        if self.up:
            parts.append("up")
        parts.extend(f"address {address}" for address in self.addresses)
        parts.extend(f"route {route}" for route in self.routes)
        return ", ".join(parts) or "nothing"


def _flatten(values: Iterable[Any]) -> list[Any]:
    flat: list[Any] = []
    for value in values:
        if value is None:
            continue
        if isinstance(value, tuple):  # one DeviceAddress line may hold several
            flat.extend(value)
        else:
            flat.append(value)
    return flat


def plan_from_settings(
    setting: Callable[[str], Any],
    setting_all: Callable[[str], list[Any]] | None = None,
) -> InterfacePlan:
    """Build the plan from typed configuration look-ups.

    ``setting(name)`` gives the first value (or the default); ``setting_all``,
    when the caller has it, gives every value of a repeatable variable. Without
    it only the first ``DeviceAddress`` line (which may list several
    addresses) and the first ``DeviceRoute`` count.
    """

    def every(name: str) -> list[Any]:
        if setting_all is not None:
            return _flatten(setting_all(name))
        return _flatten([setting(name)])

    addresses = tuple(every("DeviceAddress"))
    routes = tuple(every("DeviceRoute"))
    mtu = setting("DeviceMTU")
    up = setting("DeviceUp")
    if up is None:
        up = bool(addresses or routes)
    if routes and not up:
        raise NetconfigError(
            "DeviceRoute needs the interface up, but DeviceUp = no "
            "(the kernel refuses routes through a link that is down)"
        )
    return InterfacePlan(addresses, routes, int(mtu) if mtu is not None else None, bool(up))


def _fail(action: str, interface: str, err: Exception) -> NetconfigError:
    code = getattr(err, "code", None)
    reason = os.strerror(code) if isinstance(code, int) and code > 0 else str(err)
    return NetconfigError(f"Could not {action} on {interface}: {reason}")


def apply_plan(
    interface: str,
    plan: InterfacePlan,
    iproute_factory: Callable[[], Any] | None = None,
) -> None:
    """Apply ``plan`` to ``interface`` in the calling thread's network namespace.

    Addresses and routes that already exist are accepted (a persistent
    interface keeps them between runs). Any other refusal raises
    :class:`NetconfigError` naming the step and the kernel's reason.
    ``iproute_factory`` builds the netlink handle (pyroute2's ``IPRoute`` by
    default); tests may pass a fake.

    The work runs in a short-lived helper thread: pyroute2's synchronous API
    drives an asyncio loop of its own, which it cannot do inside the daemon's
    running loop. A new thread starts in its creator's network namespace, so
    the interface is found where it was created.
    """
    if plan.empty:
        return
    failure: list[BaseException] = []

    def work() -> None:
        try:
            _apply(interface, plan, iproute_factory)
        except BaseException as err:  # handed to the caller's thread below
            failure.append(err)

    worker = threading.Thread(target=work, name=f"netconfig-{interface}", daemon=True)
    worker.start()
    worker.join()
    if failure:
        raise failure[0]
    log.info("Configured %s: %s", interface, plan.describe())


def _apply(interface: str, plan: InterfacePlan, iproute_factory: Callable[[], Any] | None) -> None:
    from pyroute2 import NetlinkError  # imported here: only users of netconfig pay for it

    if iproute_factory is None:
        from pyroute2 import IPRoute

        def iproute_factory() -> Any:
            return IPRoute(groups=0)  # requests only: no subscription to link events

    ipr = iproute_factory()
    try:
        found = ipr.link_lookup(ifname=interface)
        if not found:
            raise NetconfigError(f"Could not configure {interface}: no such interface")
        index = found[0]
        if plan.mtu is not None:
            try:
                ipr.link("set", index=index, mtu=plan.mtu)
            except NetlinkError as err:
                raise _fail(f"set MTU {plan.mtu}", interface, err) from None
        if plan.up:
            try:
                ipr.link("set", index=index, state="up")
            except NetlinkError as err:
                raise _fail("bring the link up", interface, err) from None
        for address in plan.addresses:
            try:
                ipr.addr(
                    "add",
                    index=index,
                    address=str(address.ip),
                    prefixlen=address.network.prefixlen,
                )
            except NetlinkError as err:
                if err.code != errno.EEXIST:
                    raise _fail(f"add address {address}", interface, err) from None
        for route in plan.routes:
            spec: dict[str, Any] = {
                "dst": str(route.network.network_address),
                "dst_len": route.network.prefixlen,
                "oif": index,
                "family": socket.AF_INET6 if route.network.version == 6 else socket.AF_INET,
            }
            if route.gateway is not None:
                spec["gateway"] = str(route.gateway)
            try:
                ipr.route("add", **spec)
            except NetlinkError as err:
                if err.code != errno.EEXIST:
                    raise _fail(f"add route {route}", interface, err) from None
    finally:
        ipr.close()
