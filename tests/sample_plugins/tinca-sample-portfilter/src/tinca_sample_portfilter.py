"""tinca-sample-portfilter: a packet policy that drops ICMP or chosen TCP/UDP ports.

A packet policy sees every packet the node routes, from its own device and
from peers, after the routing mode chose where it goes, and may drop it. This
package adds ``portfilter``, a small firewall between the VPN's nodes::

    # tinc.conf
    PacketPolicy = portfilter
    FilterDrop = icmp        # pings (ICMP and ICMPv6) do not cross this node
    FilterDrop = tcp 23      # nor telnet
    FilterDrop = udp 5353    # nor mDNS

Each ``FilterDrop`` names ``icmp``, or ``tcp PORT`` / ``udp PORT`` (either
the source or the destination port matches). Packets of other kinds pass.
The node counts each drop under the reason ``packet policy portfilter``
(``Dropped packets: ...`` when it stops, at debug level 1); the policy logs
the first drop of each rule between two nodes at INFO on the
``tinca_sample_portfilter`` logger (``portfilter: dropping icmp from alpha
to beta``) and counts per rule (:attr:`PortFilter.dropped`).

What a packet policy registration provides (hook ``tinca_register_packet_policies``)
    ``register(name, factory)`` where ``factory(context)`` gets a
    :class:`tinca.core.policy.PolicyContext` (the validated configuration,
    our node's name) and returns a :class:`tinca.core.policy.PacketPolicy`:
    one method, ``decide(source, destination, frame, inbound) -> bool``.
    ``frame`` is the packet in tinc's Ethernet framing (in router mode the
    MAC addresses are zero; the EtherType at bytes 12-13 says IPv4 or IPv6).
    It runs for every packet: decide from the bytes, do no I/O, log rarely.

Configuration variable ``FilterDrop`` (hook ``tinca_config_variables``)
    Declared with its own value type (:class:`Rule`, a
    :class:`tinca.core.config.values.ValueType`): tinca reports a bad rule at
    its ``file:line`` before the node starts, and ``tinca config convert``
    writes it to the TOML form and back.

Only the first IPv6 header is read: a packet with extension headers before
its TCP/UDP header is not matched (a real firewall walks the chain).

Entry point: ``sample-portfilter = "tinca_sample_portfilter"`` in the ``tinca`` group.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

from tinca.core import hookimpl
from tinca.core.config.values import ValueType
from tinca.core.config.variables import Scope, Variable
from tinca.core.policy import PolicyContext

log = logging.getLogger("tinca_sample_portfilter")

NAME = "portfilter"
"""The name ``PacketPolicy`` selects this policy by."""
RULE_VARIABLE = "FilterDrop"

ETH_HEADER = 14
ETHERTYPE_IPV4 = 0x0800
ETHERTYPE_IPV6 = 0x86DD
IPV6_HEADER = 40
# IP protocol numbers (IANA)
PROTOCOLS = {"icmp": (1, 58), "tcp": (6,), "udp": (17,)}


class FilterRule(NamedTuple):
    """One ``FilterDrop`` value: ``icmp`` (``port`` None), or ``tcp``/``udp`` and a port."""

    protocol: str
    port: int | None = None

    def __str__(self) -> str:
        return self.protocol if self.port is None else f"{self.protocol} {self.port}"


@dataclass(frozen=True)
class Rule(ValueType):
    """``icmp``, ``tcp PORT`` or ``udp PORT``, case-insensitive."""

    shape: str = "icmp | tcp PORT | udp PORT"

    def parse(self, text: str) -> FilterRule:
        words = text.lower().split()
        if words == ["icmp"]:
            return FilterRule("icmp")
        if len(words) == 2 and words[0] in ("tcp", "udp") and words[1].isdigit():
            port = int(words[1])
            if 0 < port <= 65535:
                return FilterRule(words[0], port)
        raise ValueError(f"expected {self.shape}, got {text!r}")


def classify(frame: bytes | bytearray) -> tuple[int, int | None, int | None] | None:
    """``(IP protocol, source port, destination port)`` of an Ethernet-framed
    IP packet (ports ``None`` unless TCP/UDP and readable); ``None`` if not IP."""
    ethertype = int.from_bytes(frame[12:14], "big")
    if ethertype == ETHERTYPE_IPV4 and len(frame) >= ETH_HEADER + 20:
        protocol = frame[ETH_HEADER + 9]
        transport = ETH_HEADER + (frame[ETH_HEADER] & 15) * 4
        # a later fragment carries no ports
        fragment = int.from_bytes(frame[ETH_HEADER + 6 : ETH_HEADER + 8], "big") & 0x1FFF
        if fragment:
            return protocol, None, None
    elif ethertype == ETHERTYPE_IPV6 and len(frame) >= ETH_HEADER + IPV6_HEADER:
        protocol = frame[ETH_HEADER + 6]
        transport = ETH_HEADER + IPV6_HEADER
    else:
        return None
    if protocol in (6, 17) and len(frame) >= transport + 4:
        source = int.from_bytes(frame[transport : transport + 2], "big")
        destination = int.from_bytes(frame[transport + 2 : transport + 4], "big")
        return protocol, source, destination
    return protocol, None, None


class PortFilter:
    """Drops packets that match any of ``rules``; counts drops per rule."""

    def __init__(self, rules: Sequence[FilterRule]) -> None:
        self.rules = list(rules)
        #: packets dropped, by rule
        self.dropped: dict[FilterRule, int] = {rule: 0 for rule in self.rules}
        self._logged: set[tuple[FilterRule, str, str | None]] = set()

    def match(self, frame: bytes | bytearray) -> FilterRule | None:
        """The first rule ``frame`` matches, or ``None``."""
        found = classify(frame)
        if found is None:
            return None
        protocol, source, destination = found
        for rule in self.rules:
            if protocol in PROTOCOLS[rule.protocol] and (
                rule.port is None or rule.port in (source, destination)
            ):
                return rule
        return None

    def decide(self, source: str, destination: str | None, frame: bytearray,
               inbound: bool) -> bool:
        """``False`` (drop) for a packet a rule matches."""
        rule = self.match(frame)
        if rule is None:
            return True
        self.dropped[rule] += 1
        flow = (rule, source, destination)
        if flow not in self._logged:  # once per rule and pair of nodes, not per packet
            self._logged.add(flow)
            log.info("portfilter: dropping %s from %s to %s", rule, source,
                     destination or "everyone")
        return False


def make_policy(context: PolicyContext) -> PortFilter:
    """The factory tinca calls: the ``FilterDrop`` rules of the configuration."""
    rules = context.config.server.get_all(RULE_VARIABLE)
    if not rules:
        log.warning("portfilter: no FilterDrop rules, every packet passes")
    return PortFilter(rules)


@hookimpl
def tinca_register_packet_policies(register: Callable[..., Any]) -> None:
    """Offer ``PacketPolicy = portfilter``."""
    register(NAME, make_policy, doc="drop ICMP or TCP/UDP ports (FilterDrop)")


@hookimpl
def tinca_config_variables() -> list[Variable]:
    """Declare ``FilterDrop``, which this plugin owns."""
    return [
        Variable(
            RULE_VARIABLE,
            Rule(),
            "Traffic the portfilter packet policy drops: icmp, tcp PORT or udp PORT.",
            scope=Scope.SERVER,
            multiple=True,
            implemented=True,
            since="tinca",
        )
    ]
