"""tinca-sample-audit: a cipher suite that wraps another one and logs what it does.

A cipher suite is the whole protocol family a node speaks: meta connections,
packet keys and packet protection. Writing one from scratch is a big job;
wrapping a registered one is not, and covers the common wishes (an audit
trail, a policy on which peers may authenticate, counting handshakes). With
this package installed::

    # tinc.conf
    CipherSuite = audit
    AuditedSuite = sptps     # the suite to run (default sptps; legacy works too)

the node runs exactly the ``AuditedSuite`` protocol, so its peers see no
difference on the wire, and logs at INFO on the ``tinca_sample_audit`` logger:

- ``audit: meta session 1 (outgoing to beta)``: each meta connection it starts;
- ``audit: beta authenticated``: each peer that proved its key;
- ``audit: packet key for beta``: each tinc 1.0 packet key it makes or accepts
  (tinc 1.1 peers key their per-peer channel themselves).

What a cipher suite registration provides (hook ``tinca_register_cipher_suites``)
    ``register(name, factory)`` where ``factory(context)`` gets a
    :class:`tinca.core.suite.SuiteContext` and returns a
    :class:`tinca.core.suite.CipherSuite`. Here the factory looks the wrapped
    suite up in ``context.registry("tinca_register_cipher_suites")``, builds
    it from the same context, and returns :class:`AuditSuite` around it. The
    suite delegates every member of the protocol by name (no
    ``__getattr__``: a member the core adds later should fail loudly in the
    type checker, not silently pass through), and wraps each meta session in
    :class:`AuditedSession` to see its events.

Configuration variable ``AuditedSuite`` (hook ``tinca_config_variables``)
    Its type, :class:`tinca.core.config.values.Registered`, makes tinca accept
    only a registered suite name and list them in the error.

Entry point: ``sample-audit = "tinca_sample_audit"`` in the ``tinca`` group.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from tinca.core import hookimpl
from tinca.core.config.values import Registered
from tinca.core.config.variables import Scope, Variable
from tinca.core.errors import ConfigError
from tinca.core.suite import (
    Authenticated,
    CipherSuite,
    KeyOffer,
    MetaEvent,
    MetaParams,
    MetaSession,
    PacketOpener,
    PacketSealer,
    SuiteContext,
)

if TYPE_CHECKING:
    from tinca.core.config.model import Configuration
    from tinca.core.meta.requests import AnsKey
    from tinca.core.peer_paths import PathServices, PeerPaths

log = logging.getLogger("tinca_sample_audit")

NAME = "audit"
"""The name ``CipherSuite`` selects this suite by."""
SUITES_HOOK = "tinca_register_cipher_suites"
INNER_VARIABLE = "AuditedSuite"
DEFAULT_INNER = "sptps"


class AuditedSession:
    """A meta session that passes everything through and logs authentications."""

    def __init__(self, inner: MetaSession) -> None:
        self.inner = inner

    def initiate(self) -> bytes:
        """The wrapped session's first bytes."""
        return self.inner.initiate()

    def receive_data(self, data: bytes) -> list[MetaEvent]:
        """The wrapped session's events; an :class:`Authenticated` one is logged."""
        events = self.inner.receive_data(data)
        for event in events:
            if isinstance(event, Authenticated):
                log.info("audit: %s authenticated", event.peer_name)
        return events

    def data_to_send(self) -> bytes:
        """The wrapped session's queued bytes."""
        return self.inner.data_to_send()

    def send_request(self, line: str) -> bytes:
        """The wrapped session's bytes for one request line."""
        return self.inner.send_request(line)

    def send_packet(self, packet: bytes) -> bytes:
        """The wrapped session's bytes for one VPN packet."""
        return self.inner.send_packet(packet)

    def send_raw_packet(self, data: bytes) -> bytes:
        """The wrapped session's bytes for one channel datagram."""
        return self.inner.send_raw_packet(data)

    @property
    def peer_name(self) -> str | None:
        """The wrapped session's peer name."""
        return self.inner.peer_name

    @property
    def finished(self) -> bool:
        """Whether the wrapped session ended the connection."""
        return self.inner.finished

    @property
    def status_bits(self) -> int:
        """The wrapped session's connection status bits."""
        return self.inner.status_bits


class AuditSuite:
    """``inner``, with its meta sessions and packet keys logged and counted."""

    name = NAME

    def __init__(self, inner: CipherSuite) -> None:
        self.inner = inner
        #: meta sessions handed out so far
        self.sessions = 0
        #: tinc 1.0 packet keys made (ours) and accepted (the peers')
        self.keys = 0
        self._serial = itertools.count(1)

    def meta_session(self, params: MetaParams) -> MetaSession:
        """A wrapped session of the inner suite, logged."""
        self.sessions = next(self._serial)
        way = f"outgoing to {params.expected_peer}" if params.outgoing else "incoming"
        log.info("audit: meta session %d (%s)", self.sessions, way)
        return AuditedSession(self.inner.meta_session(params))

    def peer_paths(self, services: PathServices) -> PeerPaths:
        """The wrapped suite's per-peer paths, unchanged: tinc 1.1's channels
        run their key exchanges inside them, and the tinc 1.0 packet keys
        they need come through ``services``, that is through this suite."""
        return self.inner.peer_paths(services)

    def answer_key_request(self, peer: str) -> tuple[KeyOffer, PacketOpener]:
        """The inner suite's fresh key for packets from ``peer``, logged."""
        self.keys += 1
        log.info("audit: packet key for %s", peer)
        return self.inner.answer_key_request(peer)

    def accept_key_answer(self, peer: str, answer: AnsKey) -> PacketSealer:
        """The inner suite's sealer for ``peer``'s key, logged."""
        self.keys += 1
        log.info("audit: packet key from %s", peer)
        return self.inner.accept_key_answer(peer, answer)

    def default_mtu_strategy(self, peer_options: int) -> str:
        """Whatever the inner suite would pick."""
        return self.inner.default_mtu_strategy(peer_options)

    def reconfigure(self, config: Configuration) -> None:
        """Pass a re-read configuration on."""
        self.inner.reconfigure(config)


def make_suite(context: SuiteContext) -> CipherSuite:
    """The factory tinca calls: build ``AuditedSuite`` from the same context and wrap it."""
    inner_name: str = context.config.server.get(INNER_VARIABLE)
    if inner_name.lower() == NAME:
        raise ConfigError(f"{INNER_VARIABLE} = {NAME} would wrap the audit suite in itself",
                          context.config.source)
    inner = context.registry(SUITES_HOOK).get(inner_name).value(context)
    log.info("audit: running cipher suite %s", inner.name)
    return AuditSuite(inner)


@hookimpl
def tinca_register_cipher_suites(register: Callable[..., Any]) -> None:
    """Offer ``CipherSuite = audit``."""
    register(NAME, make_suite, doc="the AuditedSuite suite, with its sessions and keys logged")


@hookimpl
def tinca_config_variables() -> list[Variable]:
    """Declare ``AuditedSuite``, which this plugin owns."""
    return [
        Variable(
            INNER_VARIABLE,
            Registered(hook=SUITES_HOOK),
            "The cipher suite the audit suite runs and logs (a registered suite name).",
            default=DEFAULT_INNER,
            scope=Scope.SERVER,
            implemented=True,
            since="tinca",
        )
    ]
