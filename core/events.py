"""Payloads of the lifecycle hooks (see :mod:`tinca.core.hookspecs`).

They carry the facts tincd exports to its scripts, so a script plugin can build
the same environment and a metrics plugin can count the same events.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class NodeEvent:
    """Our own node going up or down (``tinc-up`` / ``tinc-down``)."""

    netname: str | None
    name: str
    device: str | None
    interface: str | None
    debug_level: int
    confbase: str
    #: looks up a configuration variable (typed, with its default); None when
    #: the event was made without a configuration (tests, tools)
    setting: Callable[[str], Any] | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True)
class HostEvent:
    """A remote node becoming reachable or unreachable."""

    node: NodeEvent
    host: str
    remote_address: str | None
    remote_port: int | None


@dataclass(frozen=True)
class SubnetEvent:
    """A subnet of ``owner`` becoming reachable or unreachable."""

    node: NodeEvent
    owner: str
    subnet: str
    weight: int
    remote_address: str | None = None
    remote_port: int | None = None
