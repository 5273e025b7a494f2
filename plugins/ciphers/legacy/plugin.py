"""The legacy (tinc 1.0) cipher plugin: RSA key generation and the EVP cipher and digest names.

Registered through the ``tinca`` entry point group like any third-party plugin.
"""

from __future__ import annotations

from tinca.core.config.model import Configuration
from tinca.core.config.variables import Variable
from tinca.core.hookspecs import Register
from tinca.core.markers import hookimpl
from tinca.plugins.ciphers.legacy import evp
from tinca.plugins.ciphers.legacy.rsa_keys import generate_rsa_keys
from tinca.plugins.ciphers.legacy.suite import LegacySuite
from tinca.plugins.ciphers.legacy.variables import VARIABLES


@hookimpl
def tinca_register_key_generators(register: Register) -> None:
    """Offer ``rsa``: what ``tincd -K`` makes."""
    register(
        "rsa",
        generate_rsa_keys,
        doc="RSA key pair for tinc 1.0's meta protocol: rsa_key.priv and the PEM block in "
        "hosts/NAME (default 2048 bits)",
    )


@hookimpl
def tinca_register_cipher_suites(register: Register) -> None:
    """Offer ``legacy``: tinc 1.0's protocol 17.0 (RSA, EVP cipher and digest)."""
    register("legacy", LegacySuite, doc="tinc 1.0 protocol 17.0: RSA meta auth, EVP packets")


@hookimpl(trylast=True)
def tinca_default_cipher_suite(config: Configuration) -> str | None:
    """``legacy`` when no other plugin names a default (tinc 1.0's only protocol)."""
    return "legacy"


@hookimpl
def tinca_register_legacy_ciphers(register: Register) -> None:
    """Offer every OpenSSL cipher name tincd accepts that tinca can run."""
    for name, info in evp.cipher_names():
        doc = info.doc if name == info.name else f"alias of {info.name}"
        register(name, info, doc=doc)


@hookimpl
def tinca_register_legacy_digests(register: Register) -> None:
    """Offer every OpenSSL digest name tincd accepts that tinca can run."""
    for name, info in evp.digest_names():
        doc = info.doc if name == info.name else f"alias of {info.name}"
        register(name, info, doc=doc)


@hookimpl
def tinca_config_variables() -> list[Variable]:
    """Declare the tinc 1.0 crypto variables (Cipher, Digest, MACLength, key files)."""
    return VARIABLES
