"""Opening tincd's listening sockets: a TCP and a UDP socket per address.

tincd listens on ``Port`` for every address family allowed by
``AddressFamily`` (or on each ``BindToAddress``/``ListenAddress``), with a TCP
socket for meta connections and a UDP socket on the same address and port for
data. ``Port = 0`` lets the kernel pick, and the UDP socket then follows the
TCP one.
"""

from __future__ import annotations

import contextlib
import logging
import socket
from dataclasses import dataclass
from typing import Any

from tinca.core.errors import TincaError
from tinca.core.logs import DEBUG_CONNECTIONS, level_for

log = logging.getLogger(__name__)

FAMILIES = {"any": socket.AF_UNSPEC, "ipv4": socket.AF_INET, "ipv6": socket.AF_INET6}


@dataclass
class Listener:
    """One listening address: its TCP and UDP sockets."""

    tcp: socket.socket
    udp: socket.socket

    @property
    def address(self) -> tuple[str, int]:
        """The bound (host, port)."""
        host, port = self.tcp.getsockname()[:2]
        return host, port

    def close(self) -> None:
        """Close both sockets."""
        self.tcp.close()
        self.udp.close()


def _bind_pair(family: int, sockaddr: tuple[Any, ...]) -> Listener:
    tcp = socket.socket(family, socket.SOCK_STREAM)
    udp = socket.socket(family, socket.SOCK_DGRAM)
    try:
        for sock in (tcp, udp):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if family == socket.AF_INET6:
                # One socket per family, as tincd does, so :: and 0.0.0.0 coexist.
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            sock.setblocking(False)
        tcp.bind(sockaddr)
        tcp.listen(16)
        # The UDP socket shares the TCP socket's port, also when Port = 0.
        udp.bind((sockaddr[0], tcp.getsockname()[1], *sockaddr[2:]))
    except OSError:
        tcp.close()
        udp.close()
        raise
    return Listener(tcp, udp)


def open_listeners(
    port: int,
    address_family: str = "any",
    addresses: list[tuple[str, str | None]] | None = None,
) -> list[Listener]:
    """Bind TCP+UDP on every address tincd would; raise if none could be bound.

    ``addresses`` are ``BindToAddress``/``ListenAddress`` values as
    ``(host, port-or-None)``; without them, the wildcard address of each
    allowed family is used. A failure on one address is logged and skipped.
    """
    family = FAMILIES[address_family.lower()]
    wanted: list[tuple[str | None, int]] = []
    for name, own_port in addresses or [("*", None)]:
        wanted.append((None if name == "*" else name, int(own_port) if own_port else port))
    listeners: list[Listener] = []
    chosen_port = None  # Port = 0: every socket shares the first one the kernel picks
    errors: list[str] = []
    for host, want_port in wanted:
        try:
            infos = socket.getaddrinfo(
                host,
                want_port or chosen_port or 0,
                family,
                socket.SOCK_STREAM,
                0,
                socket.AI_PASSIVE,
            )
        except socket.gaierror as err:
            errors.append(f"{host}: {err.strerror}")
            continue
        for fam, _, _, _, found in infos:
            # (host, port) or (host, port, flowinfo, scope_id): host is text here
            sockaddr: tuple[Any, ...] = found
            if sockaddr[1] == 0 and chosen_port:
                sockaddr = (sockaddr[0], chosen_port, *sockaddr[2:])
            try:
                listener = _bind_pair(fam, sockaddr)
            except OSError as err:
                errors.append(f"{sockaddr[0]} port {sockaddr[1]}: {err.strerror}")
                log.error("Can't bind to %s port %s: %s", sockaddr[0], sockaddr[1], err.strerror)
                continue
            listeners.append(listener)
            chosen_port = chosen_port or listener.address[1]
            log.log(
                level_for(DEBUG_CONNECTIONS),
                "Listening on %s port %d",
                *listener.address,
            )
    if not listeners:
        raise TincaError(
            "Unable to create any listening socket" + (f" ({'; '.join(errors)})" if errors else "")
        )
    return listeners


def close_all(listeners: list[Listener]) -> None:
    """Close every listener, ignoring errors."""
    for listener in listeners:
        with contextlib.suppress(OSError):
            listener.close()
