"""The ``sptps`` cipher suite: tinc 1.1's protocol, with tinc 1.0's as fallback.

A tinc 1.1 node speaks both protocols. Which one a meta connection uses is
decided per connection from the two ID lines (:mod:`.negotiate`); which one
a peer's packets use is decided per node from the protocol minor version in
its options (:class:`~.path.SptpsPaths`, which the node asks for each peer's
path). This suite loads our
Ed25519 key and the peers' public keys the way tinc 1.1 finds them, and keeps
the legacy suite for peers that only speak protocol 17.0.

SPTPS is on ("experimental", tinc 1.1's name) when ``ExperimentalProtocol``
says so or, when it is unset, when our Ed25519 private key can be read
(src/net_setup.c, setup_myself). The legacy protocol is on when our RSA key
can be read; at least one of the two must be.
"""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path

from tinca.core.config.model import Configuration
from tinca.core.errors import ConfigError, KeyFileError, TincaError
from tinca.core.meta.requests import AnsKey, ReqKey, Request, option_version
from tinca.core.peer_paths import PathServices
from tinca.core.suite import (
    KeyOffer,
    MetaError,
    MetaParams,
    PacketOpener,
    PacketSealer,
    SuiteContext,
)
from tinca.plugins.ciphers.legacy.suite import DEFAULT_MTU_STRATEGY as LEGACY_MTU_STRATEGY
from tinca.plugins.ciphers.legacy.suite import LegacySuite, host_options, host_weight
from tinca.plugins.ciphers.sptps.channel import SptpsChannel, packet_from_request
from tinca.plugins.ciphers.sptps.ed25519_keys import (
    PUBLIC_KEY_PEM_TYPE,
    PUBLIC_KEY_SIZE,
    PUBLIC_KEY_VARIABLE,
    ExpandedEd25519Key,
    load_ed25519_private_key,
    load_ed25519_public_key,
    parse_pem,
    parse_public_key_b64,
)
from tinca.plugins.ciphers.sptps.meta import SptpsMetaConnection
from tinca.plugins.ciphers.sptps.negotiate import NegotiatingMetaSession
from tinca.plugins.ciphers.sptps.path import SPTPS_MIN_MINOR, SptpsPaths
from tinca.plugins.ciphers.sptps.sptps import DEFAULT_REPLAY_WINDOW
from tinca.plugins.ciphers.sptps.udp import (
    COMPRESSION_LEVELS,
    SptpsPeerSession,
    sptps_packet_request,
)
from tinca.plugins.ciphers.sptps.udp_frame import NODE_ID_SIZE, node_id

log = logging.getLogger("tinca")

PRIVATE_KEY_FILE = "ed25519_key.priv"
"""Our Ed25519 private key's default file in the configuration directory."""
DEFAULT_MTU_STRATEGY = "tinc11"
"""The MTU strategy an SPTPS peer gets unless configured (tinc 1.1's probing)."""


def make_suite(context: SuiteContext) -> SptpsSuite | LegacySuite:
    """The suite a node runs: this one when SPTPS is on, else the legacy one."""
    config = context.config
    setting = config.lookup("ExperimentalProtocol", None)
    my_key: ExpandedEd25519Key | None = None
    if setting is None or setting:
        path = _private_key_path(config)
        try:
            my_key = load_ed25519_private_key(path)
        except KeyFileError as err:
            if setting:
                raise ConfigError(f"ExperimentalProtocol = yes needs an Ed25519 key: {err}",
                                  config.source) from None
            log.warning("Support for SPTPS disabled.")
    if my_key is None:
        return LegacySuite(context)
    try:
        legacy: LegacySuite | None = LegacySuite(context)
    except KeyFileError:
        log.warning("Support for legacy protocol disabled.")
        legacy = None
    return SptpsSuite(context, my_key, legacy)


def _private_key_path(config: Configuration) -> Path:
    configured = config.lookup("Ed25519PrivateKeyFile", None)
    return Path(str(configured)) if configured else Path(config.confbase) / PRIVATE_KEY_FILE


class SptpsSuite:
    """tinc 1.1 (protocol 17.7) with the legacy protocol for older peers.

    Its paths (:meth:`peer_paths`) ask it for a channel per SPTPS peer and
    for node IDs.
    """

    name = "sptps"
    id_size = NODE_ID_SIZE

    def __init__(
        self, context: SuiteContext, my_key: ExpandedEd25519Key, legacy: LegacySuite | None
    ) -> None:
        self.context = context
        self.my_key = my_key
        self.legacy = legacy
        self._learned: dict[str, bytes] = {}
        config = context.config
        self.compression = int(config.lookup("Compression") or 0)
        self.replay_window = int(config.lookup("ReplayWindow", None) or DEFAULT_REPLAY_WINDOW)
        self.router = str(config.lookup("Mode") or "router").lower() == "router"
        self._levels = frozenset(level for level in COMPRESSION_LEVELS if self._has_codec(level))

    def _has_codec(self, level: int) -> bool:
        try:
            self.context.compression(level)
        except TincaError:
            return False
        return True

    # ------------------------------------------------------------------ keys

    def public_key(self, name: str) -> bytes | None:
        """``name``'s Ed25519 public key: ``Ed25519PublicKey`` in its host
        file, ``Ed25519PublicKeyFile``, or an ``ED25519 PUBLIC KEY`` block;
        one learned through ANS_PUBKEY; else None."""
        learned = self._learned.get(name)
        if learned is not None:
            return learned
        try:
            host = self.context.config.host(name)
        except ConfigError:
            return None
        try:
            inline = host.get(PUBLIC_KEY_VARIABLE, None)
            if inline:
                return parse_public_key_b64(str(inline), f"hosts/{name}")
            key_file = host.get("Ed25519PublicKeyFile", None)
            if key_file:
                return load_ed25519_public_key(Path(str(key_file)))
            blocks = [b for b in host.get_all("PEM") if PUBLIC_KEY_PEM_TYPE in b]
            if blocks:
                return parse_pem("".join(blocks), PUBLIC_KEY_PEM_TYPE, PUBLIC_KEY_SIZE,
                                 f"hosts/{name}")
        except KeyFileError as err:
            log.error("%s", err)
        return None

    def own_public_key(self) -> str:
        """Our public key in tinc's base64 (ANS_PUBKEY, key upgrade)."""
        return self.my_key.public_b64

    def learn_public_key(self, peer: str, key: str) -> None:
        """Store ``peer``'s key, as tinc 1.1 does: appended to ``hosts/PEER``.

        Raises :class:`MetaError` for a malformed key.
        """
        try:
            raw = parse_public_key_b64(key, f"key of {peer}")
        except KeyFileError as err:
            raise MetaError(f"Got bad Ed25519 public key from {peer}: {err}") from None
        self._learned[peer] = raw
        path = Path(self.context.config.confbase) / "hosts" / peer
        try:
            with path.open("a") as host_file:
                # Its own line even when the file does not end in a newline.
                host_file.write(
                    f"\n# Learned from {peer} by tinca\n{PUBLIC_KEY_VARIABLE} = {key}\n"
                )
        except OSError as err:
            log.warning("Could not store the Ed25519 public key of %s in %s: %s", peer, path, err)

    # ------------------------------------------------------------------ meta

    def meta_session(self, params: MetaParams) -> NegotiatingMetaSession:
        """A meta connection that picks its protocol from the peer's ID."""
        return NegotiatingMetaSession(params, self)

    def sptps_meta_session(
        self, params: MetaParams, started_at: float | None = None
    ) -> SptpsMetaConnection:
        """A protocol 17.7 meta connection (the negotiation chose SPTPS);
        ``started_at`` is when our ID went out, if it did already."""
        config = self.context.config
        return SptpsMetaConnection(
            my_name=params.my_name,
            my_key=self.my_key,
            outgoing=params.outgoing,
            lookup_public_key=self.public_key,
            my_port=params.my_port,
            my_options=lambda peer: host_options(config, peer, params.my_options),
            clock=params.clock,
            random=self.context.random,
            expected_peer=params.expected_peer,
            weight=lambda peer: host_weight(config, peer),
            started_at=started_at,
        )

    # ------------------------------------------------------------------ channels

    def node_id(self, name: str) -> bytes:
        """tinc 1.1's node ID of ``name`` (SHA-512 of the name, 6 bytes)."""
        return node_id(name)

    def channel(self, peer: str, peer_minor: int) -> SptpsChannel | None:
        """A new per-node SPTPS channel with ``peer``; None without its key."""
        public = self.public_key(peer)
        if public is None:
            return None
        session = SptpsPeerSession(
            my_name=self.context.myself,
            peer_name=peer,
            my_key=self.my_key,
            peer_public=public,
            random=self.context.random,
            clock=self.context.clock,
            replay_window=self.replay_window,
            compression=self.compression,
            compression_levels=self._levels,
        )
        return SptpsChannel(session, router=self.router, codec=self.context.compression)

    def request_packet(self, from_name: str, to_name: str, datagram: bytes) -> Request:
        """``REQ_KEY FROM TO 21 <base64>`` for a next hop older than minor 7."""
        return sptps_packet_request(from_name, to_name, datagram)

    def datagram_of(self, request: Request) -> bytes:
        """The datagram in ``REQ_KEY FROM TO 21 <base64>``."""
        assert isinstance(request, ReqKey)
        return packet_from_request(request)

    # ------------------------------------------------------------------ legacy keys

    def _legacy(self) -> LegacySuite:
        if self.legacy is None:
            raise MetaError("the legacy protocol is disabled (no RSA key)")
        return self.legacy

    def answer_key_request(self, peer: str) -> tuple[KeyOffer, PacketOpener]:
        """A tinc 1.0 packet key for a peer that speaks only the legacy protocol."""
        return self._legacy().answer_key_request(peer)

    def accept_key_answer(self, peer: str, answer: AnsKey) -> PacketSealer:
        """The sealer from a legacy peer's ANS_KEY."""
        return self._legacy().accept_key_answer(peer, answer)

    # ------------------------------------------------------------------ node

    def peer_paths(self, services: PathServices) -> SptpsPaths:
        """tinc 1.1's paths (channels with nodes of minor 2 and up), with
        tinc 1.0's for older peers."""
        return SptpsPaths(services, self)

    def default_mtu_strategy(self, peer_options: int) -> str:
        """``tinc11`` for a peer we run a channel with (minor 2 or more, as
        tinc 1.1's check_reachability decides), else the legacy suite's."""
        if option_version(peer_options) >= SPTPS_MIN_MINOR:
            return DEFAULT_MTU_STRATEGY
        return LEGACY_MTU_STRATEGY

    def reconfigure(self, config: Configuration) -> None:
        """SIGHUP: read peers' public keys and host settings from ``config``
        from now on; keys learned through ANS_PUBKEY are kept (they were
        also appended to the host files)."""
        self.context = dataclasses.replace(self.context, config=config)
        if self.legacy is not None:
            self.legacy.reconfigure(config)


__all__ = ["PRIVATE_KEY_FILE", "SptpsSuite", "make_suite"]
