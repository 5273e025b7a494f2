"""The SPTPS (tinc 1.1) cipher plugin: the ``sptps`` suite and Ed25519 key generation.

Registered through the ``tinca`` entry point group like any third-party plugin.
"""

from __future__ import annotations

from tinca.core.config.model import Configuration
from tinca.core.config.variables import Variable
from tinca.core.hookspecs import Register
from tinca.core.markers import hookimpl
from tinca.plugins.ciphers.sptps.ed25519_keys import generate_ed25519_keys
from tinca.plugins.ciphers.sptps.suite import make_suite
from tinca.plugins.ciphers.sptps.variables import VARIABLES


@hookimpl
def tinca_register_cipher_suites(register: Register) -> None:
    """Offer ``sptps``: tinc 1.1's protocol 17.7, falling back to 17.0 per peer."""
    register(
        "sptps",
        make_suite,
        doc="tinc 1.1 protocol 17.7: SPTPS with Ed25519 keys, legacy protocol for older peers",
    )


@hookimpl(tryfirst=True)
def tinca_default_cipher_suite(config: Configuration) -> str | None:
    """``sptps`` unless told otherwise: tinc 1.1's default, which falls back to
    the legacy protocol per peer and altogether without an Ed25519 key."""
    return "sptps"


@hookimpl
def tinca_register_key_generators(register: Register) -> None:
    """Offer ``ed25519``: what ``tinc generate-ed25519-keys`` makes."""
    register(
        "ed25519",
        generate_ed25519_keys,
        doc="Ed25519 key pair for tinc 1.1's SPTPS: ed25519_key.priv and the "
        "Ed25519PublicKey line in hosts/NAME",
    )


@hookimpl
def tinca_config_variables() -> list[Variable]:
    """Declare the tinc 1.1 crypto variables (Ed25519 key files, ExperimentalProtocol)."""
    return VARIABLES
