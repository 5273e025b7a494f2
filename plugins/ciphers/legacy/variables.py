"""Configuration variables of the legacy (tinc 1.0) protocol.

RSA keys for the meta connection handshake, and the OpenSSL cipher, digest
and MAC length of UDP data packets. tinc 1.1 reads the same variables when it
talks the legacy protocol. Defaults are tincd's code defaults; tinc 1.1's
manual still names blowfish and sha1, but its code uses the values below too.
"""

from __future__ import annotations

from tinca.core.config.values import Integer, Text
from tinca.core.config.variables import Scope, Variable

#: every variable the legacy cipher suite declares
VARIABLES: list[Variable] = [
    Variable(
        "Cipher",
        Text(),
        "OpenSSL name of the cipher for data packets sent to this node, or none.",
        default="aes-256-cbc",
        scope=Scope.BOTH,
        implemented=True,
    ),
    Variable(
        "Digest",
        Text(),
        "OpenSSL name of the digest that authenticates data packets sent to this node, or none.",
        default="sha256",
        scope=Scope.BOTH,
        implemented=True,
    ),
    Variable(
        "MACLength",
        Integer(minimum=0),
        "Bytes of the digest kept as each data packet's MAC (0 to digest size; 0 sends none).",
        default=4,
        scope=Scope.BOTH,
        implemented=True,
    ),
    Variable(
        "PrivateKeyFile",
        Text(),
        "PEM file with this node's RSA private key; rsa_key.priv in the config dir when unset.",
        scope=Scope.SERVER,
        implemented=True,
    ),
    Variable(
        "PrivateKey",
        Text(),
        "Obsolete: this node's RSA private exponent in hex, inline (needs PublicKey too).",
        scope=Scope.SERVER,
        implemented=True,
    ),
    Variable(
        "PublicKeyFile",
        Text(),
        "Obsolete: PEM file with a node's RSA public key; its hosts/NAME file when unset.",
        scope=Scope.BOTH,
        implemented=True,
    ),
    Variable(
        "PublicKey",
        Text(),
        "Obsolete: a node's RSA modulus in hex, inline in its host file.",
        scope=Scope.HOST,
        implemented=True,
    ),
]
