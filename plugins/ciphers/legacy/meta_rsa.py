"""Raw RSA ("no padding") for tinc 1.0's METAKEY.

tincd 1.0 sends its meta connection key as a random number exactly as long as
the peer's RSA modulus, encrypted with ``RSA_NO_PADDING`` (src/protocol_auth.c,
``send_metakey``/``metakey_h``). ``cryptography`` only offers padded RSA, so
this module does the one modular exponentiation each way itself, from the key
numbers ``cryptography`` exposes. It is the only RSA arithmetic in tinca.

The private operation uses the CRT form and random blinding, so its timing does
not depend on the ciphertext the peer chose. The blinding factor comes from the
operating system, not from the connection's injected random source: it changes
no output byte, and keeping it apart lets a test replay tincd's random stream.
"""

from __future__ import annotations

import secrets

from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey, RSAPublicKey


class RawRSAError(ValueError):
    """The input is not a number below the modulus (OpenSSL: "data too large for modulus")."""


def rsa_size(key: RSAPublicKey | RSAPrivateKey) -> int:
    """The modulus length in bytes, as OpenSSL's ``RSA_size``."""
    return (key.key_size + 7) // 8


def clear_top_bits(material: bytearray, key: RSAPublicKey) -> None:
    """Make ``material`` (``rsa_size`` bytes) a number below the modulus, in place.

    tincd clears the top bit of the first byte (``outkey[0] &= 0x7F``), which
    is enough for moduli whose bit length is a multiple of 8. For other sizes
    the bits above the modulus' top bit are cleared too, so the number stays
    below the modulus whatever the key; for the usual sizes this is tincd's mask.
    """
    spare_bits = len(material) * 8 - key.key_size  # bits above the modulus' top bit
    material[0] &= 0xFF >> (spare_bits + 1)


def encrypt_no_padding(key: RSAPublicKey, data: bytes) -> bytes:
    """``data ** e mod n`` as big-endian bytes of the modulus' length.

    ``data`` must be exactly ``rsa_size(key)`` bytes and, read as a number, below
    the modulus; :class:`RawRSAError` otherwise.
    """
    numbers = key.public_numbers()
    size = rsa_size(key)
    if len(data) != size:
        raise RawRSAError(f"raw RSA input must be {size} bytes, not {len(data)}")
    message = int.from_bytes(data, "big")
    if message >= numbers.n:
        raise RawRSAError("data too large for modulus")
    return pow(message, numbers.e, numbers.n).to_bytes(size, "big")


def decrypt_no_padding(key: RSAPrivateKey, data: bytes) -> bytes:
    """``data ** d mod n`` as big-endian bytes of the modulus' length.

    ``data`` must be exactly ``rsa_size(key)`` bytes and below the modulus, as
    OpenSSL demands; :class:`RawRSAError` otherwise.
    """
    private = key.private_numbers()
    public = private.public_numbers
    n = public.n
    size = rsa_size(key)
    if len(data) != size:
        raise RawRSAError(f"raw RSA input must be {size} bytes, not {len(data)}")
    cipher = int.from_bytes(data, "big")
    if cipher >= n:
        raise RawRSAError("data too large for modulus")

    # Blind: decrypt c * r^e instead of c, then divide the result by r.
    while True:
        blind = secrets.randbelow(n - 2) + 2
        try:
            unblind = pow(blind, -1, n)
        except ValueError:  # shares a factor with n: astronomically unlikely
            continue
        break
    blinded = cipher * pow(blind, public.e, n) % n

    # CRT: two half-size exponentiations, recombined with Garner's formula.
    p, q = private.p, private.q
    m_p = pow(blinded, private.dmp1, p)
    m_q = pow(blinded, private.dmq1, q)
    h = private.iqmp * (m_p - m_q) % p
    message = (m_q + h * q) * unblind % n
    return message.to_bytes(size, "big")
