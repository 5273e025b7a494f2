"""Configuration variables of the SPTPS protocol (tinc 1.1).

Ed25519 keys that authenticate SPTPS meta connections and data sessions, and
the switch that turns SPTPS on or off. tinc 1.0 knows none of them.
"""

from __future__ import annotations

from tinca.core.config.values import Bool, Text
from tinca.core.config.variables import Scope, Variable

#: every variable the SPTPS cipher suite declares
VARIABLES: list[Variable] = [
    Variable(
        "ExperimentalProtocol",
        Bool(),
        "Use SPTPS with peers that support it; on when an Ed25519 private key can be read.",
        scope=Scope.SERVER,
        since="1.1",
    ),
    Variable(
        "Ed25519PrivateKeyFile",
        Text(),
        "PEM-style file with this node's Ed25519 private key; ed25519_key.priv when unset.",
        scope=Scope.SERVER,
        since="1.1",
    ),
    Variable(
        "Ed25519PublicKey",
        Text(),
        "A node's Ed25519 public key in tinc's base64, inline in its host file.",
        scope=Scope.HOST,
        since="1.1",
    ),
    Variable(
        "Ed25519PublicKeyFile",
        Text(),
        "File with a node's Ed25519 public key; its hosts/NAME file when unset.",
        scope=Scope.BOTH,
        since="1.1",
    ),
]
