"""Dump builders: what ``tinc dump nodes/edges/subnets/connections`` shows.

Each function reads a running :class:`~tinca.core.node.node.Node`
and returns the records tinc 1.1 would print for the same state (node.c
``dump_nodes`` and ``dump_traffic``, edge.c ``dump_edges``, subnet.c
``dump_subnets``, connection.c ``dump_connections``). Where tinca keeps no
exact equivalent of a tinc field the closest fact is used, as
:func:`node_status` and :func:`dump_nodes` describe. Nothing here changes
the node.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from tinca.core.control.records import (
    CONNECTION_MST,
    CONNECTION_PINGED,
    NODE_HAS_ADDRESS,
    NODE_INDIRECT,
    NODE_REACHABLE,
    NODE_UDP_CONFIRMED,
    NODE_VALIDKEY,
    NODE_VALIDKEY_IN,
    NODE_VISITED,
    NODE_WAITINGFORKEY,
    ConnectionRecord,
    EdgeRecord,
    NodeRecord,
    SubnetRecord,
    TrafficRecord,
    node_id,
)
from tinca.core.errors import TincaError
from tinca.core.mtu import MTU
from tinca.core.node.protocol import REQ_KEY_INTERVAL

if TYPE_CHECKING:
    from tinca.core.control.session import ControlSession
    from tinca.core.counters import Traffic
    from tinca.core.node.node import Node
    from tinca.core.suite import PacketSealer


def _hostname(address: tuple[Any, Any] | None, unknown: str = "unknown") -> tuple[str, str]:
    """``(host, port)`` as tinc's sockaddr2hostname prints an address."""
    if address is None:
        return unknown, unknown
    return str(address[0]), str(address[1])


def node_status(runtime: Node, name: str) -> int:
    """tinc 1.1's ``node_status_t`` bits for ``name``, from what tinca knows.

    Exact: ``reachable`` and ``visited`` (equal after every graph run),
    ``indirect`` (the graph's route; unreachable nodes show it, as tinc's
    shortest-path run sets it on every node it does not reach), ``validkey``
    (we hold the node's packet key) and ``validkey_in`` (it holds ours).
    Approximated: ``waitingforkey`` is "no key and a REQ_KEY went out in the
    last 10 s"; ``udp_confirmed`` is the MTU strategy's own flag, or for
    strategies without one "a UDP probe came back" (tinc 1.0 confirms an
    address the same way); ``has_address`` is "the host file has Address
    lines"; the peer's path adds its own bits (tinc 1.1's channels set
    ``sptps``) and, when it runs its own key exchange, says
    ``validkey``/``waitingforkey`` (:meth:`~tinca.core.path.PeerPath.key_state`).
    Never set: ``send_locally``, ``udppacket``, ``ping_sent``.
    """
    if name == runtime.myself:
        return NODE_VISITED | NODE_REACHABLE
    peer = runtime.protocol.peers.get(name)
    route = runtime.graph.route(name)
    status = 0
    if route.reachable:
        status |= NODE_VISITED | NODE_REACHABLE
        if route.indirect:
            status |= NODE_INDIRECT
    else:
        status |= NODE_INDIRECT
    if peer is None:
        return status
    path = peer.path
    state = None
    if path is not None:
        status |= path.status_bits
        state = path.key_state()
    if state is not None:
        validkey, waiting = state
        if validkey:
            status |= NODE_VALIDKEY
        elif waiting:
            status |= NODE_WAITINGFORKEY
    elif peer.sealer is not None:
        status |= NODE_VALIDKEY
    elif runtime.clock() - peer.last_req_key < REQ_KEY_INTERVAL:
        status |= NODE_WAITINGFORKEY
    if peer.opener is not None:
        status |= NODE_VALIDKEY_IN
    strategy = peer.mtu_strategy
    confirmed = strategy.udp_confirmed if strategy is not None else None
    if confirmed is None:
        confirmed = (strategy.minmtu if strategy is not None else peer.minmtu) > 0
    if confirmed and route.reachable:
        status |= NODE_UDP_CONFIRMED
    try:
        if runtime.config.host(name).get_all("Address"):
            status |= NODE_HAS_ADDRESS
    except TincaError:
        pass
    return status


def _key_fields(sealer: PacketSealer | None) -> tuple[int, int, int, int]:
    """Cipher NID, digest NID, MAC length and compression of a packet key."""
    return sealer.key_fields() if sealer is not None else (0, 0, 0, 0)


def _traffic(traffic: Traffic) -> tuple[int, int, int, int]:
    """A node's counters in ``dump nodes`` order: in packets and bytes, then out."""
    return traffic.in_packets, traffic.in_bytes, traffic.out_packets, traffic.out_bytes


def dump_nodes(
    runtime: Node, state_changes: Mapping[str, float] | None = None
) -> list[NodeRecord]:
    """Every known node in name order, as tinc 1.1's ``dump_nodes`` lists them.

    Our own node is ``MYSELF port PORT``; a node without a known UDP address is
    ``unknown port unknown``. ``cipher``/``digest``/``maclength``/
    ``compression`` describe the key we send with (0 without one).
    ``state_changes`` maps names to the wall-clock time they last became
    reachable or unreachable. The packet and byte counters come from one
    :meth:`~tinca.core.counters.Counters.snapshot` of ``runtime.counters``,
    counted as tinc 1.1 counts them (see :mod:`tinca.core.counters`); our
    own node's are the device's.
    """
    changes = state_changes or {}
    counters = runtime.counters.snapshot()
    myself = runtime.myself
    peers = runtime.protocol.peers
    names = sorted(set(runtime.graph.nodes()) | set(peers) | {myself})
    records = []
    for name in names:
        if name == myself:
            records.append(NodeRecord(
                name, node_id(name), "MYSELF", str(runtime.port), 0, 0, 0, 0,
                runtime.options, node_status(runtime, name), name, name, 0,
                MTU, 0, MTU, int(changes.get(name, 0)), -1, *_traffic(counters.node),
            ))
            continue
        peer = peers.get(name)
        route = runtime.graph.route(name)
        if peer is None:
            records.append(NodeRecord(
                name, node_id(name), "unknown", "unknown", 0, 0, 0, 0, 0,
                node_status(runtime, name), "-", "-", -1, MTU, 0, MTU,
                int(changes.get(name, 0)), -1, 0, 0, 0, 0,
            ))
            continue
        host, port = _hostname(peer.udp_address)
        cipher, digest, maclength, compression = _key_fields(peer.sealer)
        strategy = peer.mtu_strategy
        if strategy is not None:
            pmtu = strategy.node_mtu
            minmtu, maxmtu, rtt = strategy.minmtu, strategy.maxmtu, strategy.rtt
        else:
            pmtu, minmtu, maxmtu, rtt = peer.mtu, peer.minmtu, peer.maxmtu, None
        records.append(NodeRecord(
            name, node_id(name), host, port, cipher, digest, maclength, compression,
            peer.options, node_status(runtime, name), peer.nexthop or "-", peer.via or "-",
            route.distance if route.distance is not None else -1, pmtu, minmtu, maxmtu,
            int(changes.get(name, 0)),
            int(rtt * 1_000_000) if rtt is not None else -1,
            *_traffic(counters.peer(name)),
        ))
    return records


def _local_address(runtime: Node, peer_name: str) -> tuple[str, str] | None:
    """Where our end of the meta connection to ``peer_name`` is, with our port:
    what tinc 1.1 records as the local address of its own edges (ack_h)."""
    peer = runtime.protocol.peers.get(peer_name)
    local = peer.link.local_address if peer is not None and peer.link is not None else None
    return (local[0], str(runtime.port)) if local is not None else None


def dump_edges(runtime: Node) -> list[EdgeRecord]:
    """Every edge, grouped by source node in name order, then by target name.

    The local address is known for our own edges only; tinc 1.0 peers do not
    announce it, and tinca does not keep it from tinc 1.1 peers, so other
    edges show ``unspec port unspec`` as tinc 1.1 shows edges of 1.0 nodes.
    """
    records = []
    for edge in runtime.graph:
        host, port = _hostname(edge.address)
        local = _local_address(runtime, edge.to) if edge.from_ == runtime.myself else None
        local_host, local_port = _hostname(local, "unspec")
        records.append(EdgeRecord(edge.from_, edge.to, host, port, local_host, local_port,
                                  edge.options, edge.weight))
    return records


def dump_subnets(runtime: Node) -> list[SubnetRecord]:
    """Every subnet in the subnet tree's order, printed as tinc 1.1 prints it.

    tinc 1.1 also lists its broadcast subnets with owner ``(broadcast)``;
    tinca's router knows broadcast addresses without subnet entries, so there
    are none here.
    """
    return [SubnetRecord(m.subnet.format("1.1"), m.owner) for m in runtime.subnets]


def _fileno(transport: asyncio.BaseTransport) -> int:
    """The descriptor of a transport's socket, -1 when it has none (the
    control server numbers its sessions with it, as tinc does)."""
    sock = transport.get_extra_info("socket")
    try:
        return int(sock.fileno()) if sock is not None else -1
    except (OSError, ValueError):
        return -1


def dump_connections(
    runtime: Node, control: Iterable[ControlSession] = ()
) -> list[ConnectionRecord]:
    """Meta connections (authenticated or not), then control connections.

    tinc keeps both kinds in one list in the order they were made; here the
    meta connections come first. An active connection also shows the bits its
    session's protocol sets (:attr:`~tinca.core.suite.MetaSession.status_bits`:
    tinc 1.0's ``encryptout`` and ``decryptin`` after the METAKEY exchange,
    none for SPTPS, as in tinc 1.1).
    """
    records = []
    for link in runtime.protocol.links:
        status = CONNECTION_PINGED if link.pinged else 0
        if link.active:
            status |= link.session.status_bits
        if link.mst:
            status |= CONNECTION_MST
        host, port = _hostname(link.address)
        records.append(ConnectionRecord(link.name or "<unknown>", host, port, link.options,
                                        link.fileno(), status))
    for session in control:
        records.append(ConnectionRecord("<control>", "localhost", "unix", 0, session.fileno,
                                        session.status))
    return records


def dump_traffic(runtime: Node) -> list[TrafficRecord]:
    """Packet and byte counters per node (``tinc top``), as :func:`dump_nodes` has them."""
    return [
        TrafficRecord(r.name, r.in_packets, r.in_bytes, r.out_packets, r.out_bytes)
        for r in dump_nodes(runtime)
    ]
