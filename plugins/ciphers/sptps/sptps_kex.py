"""The key exchange of SPTPS: KEX and SIG record bodies, ECDH and key derivation.

Facts from tinc 1.1 (``src/sptps.c``, ``src/ed25519/``, ``src/openssl/prf.c``),
all confirmed against captures of real tinc programs:

* A KEX body is 65 bytes: version 0, a 32-byte random nonce, and an
  *Ed25519* public key made from a fresh random 32-byte seed (tinc draws the
  nonce first, then the seed).
* A SIG body is an Ed25519 signature (long-term key) over: one byte, 1 when
  the signer is the initiator; the signer's KEX body; the other side's KEX
  body; the session label.
* The ECDH secret is X25519 of the own ephemeral scalar (the clamped first
  half of SHA-512(seed), as Ed25519 expands a seed) and the Montgomery form of
  the peer's Edwards key, u = (1 + y) / (1 - y) mod p. libsodium does both
  conversions, so no curve arithmetic is written here.
* Key material is 128 bytes of P_SHA512(secret, seed) in the TLS 1.1 style,
  except that A(0) is 64 zero bytes rather than the seed. The seed is
  ``key expansion``, the initiator's nonce, the responder's nonce, the label.
* The first 64 bytes (key0) protect records from the responder to the
  initiator, the last 64 (key1) those from the initiator to the responder.
"""

from __future__ import annotations

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.hmac import HMAC
from nacl import bindings as sodium
from nacl.exceptions import CryptoError

from tinca.plugins.ciphers.sptps.chacha_poly import KEY_SIZE

VERSION = 0
"""The only KEX version (``SPTPS_VERSION``); tinc 1.1 refuses any other."""

NONCE_SIZE = 32
ECDH_SIZE = 32
"""Bytes of an ephemeral public key and of a shared secret (``ECDH_SIZE``)."""

SEED_SIZE = 32
"""Random bytes an ephemeral key is made from."""

KEX_SIZE = 1 + NONCE_SIZE + ECDH_SIZE
"""Bytes of a KEX record body (``sizeof(sptps_kex_t)``)."""

SIGNATURE_SIZE = 64
"""Bytes of a SIG record body: one Ed25519 signature."""

KEY_MATERIAL_SIZE = 2 * KEY_SIZE
"""Bytes the PRF makes per key exchange: key0 then key1 (``sizeof(sptps_key_t)``)."""

PRF_LABEL = b"key expansion"
"""What the PRF seed starts with (13 bytes, no NUL)."""


class Ephemeral:
    """One side's ephemeral ECDH key for one key exchange."""

    __slots__ = ("_private", "public")

    def __init__(self, seed: bytes) -> None:
        if len(seed) != SEED_SIZE:
            raise ValueError(f"an ephemeral key seed has {SEED_SIZE} bytes, not {len(seed)}")
        public, secret = sodium.crypto_sign_seed_keypair(seed)
        self.public: bytes = public
        """The Edwards public key that goes into our KEX."""
        self._private = X25519PrivateKey.from_private_bytes(
            sodium.crypto_sign_ed25519_sk_to_curve25519(secret)
        )

    def shared_secret(self, peer_public: bytes) -> bytes:
        """X25519 with the peer's Edwards public key; ``ValueError`` when it is unusable.

        libsodium refuses keys that are not points of the main subgroup and
        OpenSSL refuses an all-zero result. An honest tinc never sends those;
        tinc itself would carry on with whatever its arithmetic gives.
        """
        try:
            montgomery = sodium.crypto_sign_ed25519_pk_to_curve25519(peer_public)
        except CryptoError:
            raise ValueError("the peer's ephemeral key is not a valid Ed25519 point") from None
        return self._private.exchange(X25519PublicKey.from_public_bytes(montgomery))


def kex_body(nonce: bytes, ephemeral_public: bytes) -> bytes:
    """The 65-byte body of a KEX record."""
    return bytes((VERSION,)) + nonce + ephemeral_public


def signed_message(
    signer_is_initiator: bool, signer_kex: bytes, other_kex: bytes, label: bytes
) -> bytes:
    """The bytes a SIG record signs."""
    return bytes((1 if signer_is_initiator else 0,)) + signer_kex + other_kex + label


def prf_seed(initiator_kex: bytes, responder_kex: bytes, label: bytes) -> bytes:
    """The PRF seed: ``key expansion``, both nonces (initiator's first), the label.

    (The comment above tinc's ``generate_key_material`` names another order;
    its code, and the wire, use this one.)
    """
    return PRF_LABEL + initiator_kex[1 : 1 + NONCE_SIZE] + responder_kex[1 : 1 + NONCE_SIZE] + label


def _hmac_sha512(key: bytes, data: bytes) -> bytes:
    mac = HMAC(key, hashes.SHA512())
    mac.update(data)
    return mac.finalize()


def prf(secret: bytes, seed: bytes, length: int) -> bytes:
    """P_SHA512(secret, seed) with A(0) = 64 zero bytes, cut to ``length`` bytes."""
    out = bytearray()
    a = bytes(64)
    while len(out) < length:
        a = _hmac_sha512(secret, a + seed)
        out += _hmac_sha512(secret, a + seed)
    return bytes(out[:length])


def key_material(shared: bytes, initiator_kex: bytes, responder_kex: bytes, label: bytes) -> bytes:
    """The 128 bytes of key0 (responder → initiator) and key1 (initiator → responder)."""
    return prf(shared, prf_seed(initiator_kex, responder_kex, label), KEY_MATERIAL_SIZE)
