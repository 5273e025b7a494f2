"""The ``legacy`` cipher suite: tinc 1.0's protocol as one object for the node.

It loads our RSA key and the peers' public keys the way tincd 1.0.36 finds
them, starts meta connections (:mod:`.meta`), and makes and accepts packet
keys (:mod:`.packets`) with this node's ``Cipher``, ``Digest``, ``MACLength``
and ``Compression``.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import TYPE_CHECKING

from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey, RSAPublicKey

from tinca.core.errors import ConfigError, KeyFileError
from tinca.core.meta.requests import (
    OPTION_CLAMP_MSS,
    OPTION_INDIRECT,
    OPTION_PMTU_DISCOVERY,
    OPTION_TCPONLY,
    AnsKey,
)
from tinca.core.peer_paths import PathServices
from tinca.core.suite import KeyOffer, MetaParams, PacketError, SuiteContext
from tinca.plugins.ciphers.legacy import evp
from tinca.plugins.ciphers.legacy.meta import LegacyMetaConnection
from tinca.plugins.ciphers.legacy.packets import (
    LegacyDataParams,
    PacketOpener,
    PacketSealer,
    generate_key,
    key_from_hex,
    key_to_hex,
)
from tinca.plugins.ciphers.legacy.path import LegacyPaths
from tinca.plugins.ciphers.legacy.rsa_keys import (
    load_rsa_private_key,
    load_rsa_public_key,
    rsa_private_key_from_hex,
    rsa_public_key_from_hex,
)

if TYPE_CHECKING:
    from tinca.core.config.model import Configuration
    from tinca.core.registry import Registry

DEFAULT_MTU_STRATEGY = "tinc10"
"""The MTU strategy a tinc 1.0 peer gets unless configured (tincd 1.0's probing)."""


COMPRESSION_REGISTRY = "tinca_register_compressions"
"""The registry of compression codecs, by level (see ``tinca_register_compressions``)."""


def _registered_levels(registry: Registry) -> frozenset[int]:
    """The numeric compression levels some plugin registered a codec for."""
    return frozenset(int(name) for name in registry.names() if name.isdigit())


def host_options(config: Configuration, name: str, server_options: int) -> int:
    """Option bits for a connection with ``name`` (tincd's setup_myself and
    read_connection_config): IndirectData, TCPOnly, PMTUDiscovery, ClampMSS."""
    try:
        host = config.host(name)
    except ConfigError:
        return server_options
    options = server_options
    if host.get("IndirectData", None):
        options |= OPTION_INDIRECT
    if host.get("TCPOnly", None):
        options |= OPTION_TCPONLY | OPTION_INDIRECT
    pmtu = host.get("PMTUDiscovery", None)
    if pmtu is not None:
        options = options | OPTION_PMTU_DISCOVERY if pmtu else options & ~OPTION_PMTU_DISCOVERY
    clamp = host.get("ClampMSS", None)
    if clamp is not None:
        options = options | OPTION_CLAMP_MSS if clamp else options & ~OPTION_CLAMP_MSS
    return options


def host_weight(config: Configuration, name: str) -> int | None:
    """``Weight`` from ``name``'s host config: a fixed edge weight, or None."""
    try:
        weight = config.host(name).get("Weight", None)
    except ConfigError:
        return None
    return int(weight) if weight is not None else None


class LegacySuite:
    """tinc 1.0 (protocol 17.0): RSA meta connections, EVP packet keys."""

    name = "legacy"

    def __init__(self, context: SuiteContext) -> None:
        self.context = context
        config = context.config
        self.confbase = Path(config.confbase)
        self.private_key = self._load_private_key()
        cipher = str(config.lookup("Cipher"))
        digest = str(config.lookup("Digest"))
        compression = int(config.lookup("Compression") or 0)
        # Names and the NIDs peers announce resolve through what the plugins
        # registered, so a third-party cipher or digest works like ours.
        self.algorithms = evp.LegacyAlgorithms.from_registries(context.registry)
        self.compressions = _registered_levels(context.registry(COMPRESSION_REGISTRY))
        try:
            chosen_cipher = self.algorithms.cipher(cipher)
            chosen_digest = self.algorithms.digest(digest)
        except KeyError as err:
            raise ConfigError(
                f"Cipher = {cipher}, Digest = {digest}: no plugin registered {err}", config.source
            ) from None
        try:
            self.params = LegacyDataParams(
                cipher=chosen_cipher,
                digest=chosen_digest,
                mac_length=int(config.lookup("MACLength")),
                compression=compression,
            )
        except (KeyError, ValueError) as err:
            raise ConfigError(f"unusable Cipher/Digest/MACLength: {err}", config.source) from None
        self.codec = context.compression(compression)
        self.replay_window = int(config.lookup("ReplayWindow") or 16)

    # ------------------------------------------------------------------ keys

    def _load_private_key(self) -> RSAPrivateKey:
        config = self.context.config
        own = config.own_host()
        private_hex = config.lookup("PrivateKey", None)
        public_hex = own.get("PublicKey", None) or config.server.get("PublicKey", None)
        if private_hex and public_hex:
            return rsa_private_key_from_hex(str(public_hex), str(private_hex))
        path = config.lookup("PrivateKeyFile", None) or self.confbase / "rsa_key.priv"
        return load_rsa_private_key(Path(str(path)))

    def public_key(self, name: str) -> RSAPublicKey | None:
        """``name``'s RSA key: hosts/NAME's PEM block, PublicKeyFile or PublicKey."""
        config = self.context.config
        try:
            host = config.host(name)
        except ConfigError:
            return None
        hex_key = host.get("PublicKey", None)
        if hex_key:
            return rsa_public_key_from_hex(str(hex_key))
        key_file = host.get("PublicKeyFile", None)
        try:
            if key_file:
                return load_rsa_public_key(Path(str(key_file)))
            blocks = [b for b in host.get_all("PEM") if "RSA PUBLIC KEY" in b or "PUBLIC KEY" in b]
            if not blocks:
                return None
            return load_rsa_public_key("".join(blocks), source=f"hosts/{name}")
        except KeyFileError:
            return None

    # ------------------------------------------------------------------ meta

    def meta_session(
        self,
        params: MetaParams,
        *,
        id_minor: int | None = None,
        ack_minor: int = 0,
        upgrade_key: str | None = None,
        started_at: float | None = None,
    ) -> LegacyMetaConnection:
        """A tinc 1.0 meta connection (ID, METAKEY, CHALLENGE, CHAL_REPLY, ACK).

        The keywords are what a tinc 1.1 node changes when it speaks the
        legacy protocol (see :class:`LegacyMetaConnection`).
        """
        config = self.context.config

        def options_for(peer: str) -> int:
            return host_options(config, peer, params.my_options)

        return LegacyMetaConnection(
            my_name=params.my_name,
            my_key=self.private_key,
            outgoing=params.outgoing,
            lookup_public_key=self.public_key,
            my_port=int(params.my_port),
            my_options=options_for,
            clock=params.clock,
            random=self.context.random,
            expected_peer=params.expected_peer,
            weight=lambda peer: host_weight(config, peer),
            id_minor=id_minor,
            ack_minor=ack_minor,
            upgrade_key=upgrade_key,
            started_at=started_at,
        )

    # ------------------------------------------------------------------ packet keys

    def answer_key_request(self, peer: str) -> tuple[KeyOffer, PacketOpener]:
        """A fresh key for packets from ``peer`` (tincd's send_ans_key)."""
        key = generate_key(self.params, self.context.random)
        cipher, digest, mac_length, compression = self.params.ans_key_fields()
        opener = PacketOpener(key, self.params, self.codec, replay_window=self.replay_window)
        return KeyOffer(key_to_hex(key), cipher, digest, mac_length, compression), opener

    def accept_key_answer(self, peer: str, answer: AnsKey) -> PacketSealer:
        """The sealer for packets to ``peer`` from its ANS_KEY (tincd's ans_key_h)."""
        params = LegacyDataParams.from_ans_key(
            answer.cipher,
            answer.digest,
            answer.mac_length,
            answer.compression,
            self.algorithms,
            self.compressions,
        )
        key = key_from_hex(answer.key, params)
        try:
            codec = self.context.compression(params.compression)
        except Exception as err:  # a level we have no codec for
            raise PacketError(f"Node {peer} uses compression level we lack: {err}") from None
        return PacketSealer(key, params, codec)

    # ------------------------------------------------------------------ node

    def peer_paths(self, services: PathServices) -> LegacyPaths:
        """tinc 1.0's path for every peer."""
        return LegacyPaths(services)

    def default_mtu_strategy(self, peer_options: int) -> str:
        """``tinc10``: every peer gets tincd 1.0's probing."""
        return DEFAULT_MTU_STRATEGY

    def reconfigure(self, config: Configuration) -> None:
        """SIGHUP: look peers' keys and host settings up in ``config`` from now
        on (our own key and packet parameters stay, as in tincd)."""
        self.context = dataclasses.replace(self.context, config=config)
