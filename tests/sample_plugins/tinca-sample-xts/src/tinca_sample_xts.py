"""tinca-sample-xts: two more tinc 1.0 ``Cipher`` names, ``aes-128-xts`` and ``aes-256-xts``.

tincd 1.0 accepts any cipher name its OpenSSL knows (``EVP_get_cipherbyname``)
and tells peers its choice by OpenSSL NID in ANS_KEY. tinca's built-in legacy
plugin registers the names it implements; AES in XTS mode is not among them.
This package adds it, so that with it installed::

    # tinc.conf (or hosts/NAME) of a tinca node, and the same in tincd's
    Cipher = aes-256-xts

works end to end: config validation accepts the name, tinca's packets to a
tincd peer decrypt there, and a tincd peer announcing NID 914 in ANS_KEY gets
its packets opened. Nothing in tinca changes: the legacy suite looks ``Cipher``
and the NIDs peers announce up in the ``tinca_register_legacy_ciphers``
registry, which this plugin adds to.

What a cipher registration provides (the ``LegacyCipher`` protocol in
``tinca.plugins.ciphers.legacy.evp``, see that hook's docstring)
    ``name``, ``nid``, ``key_length``, ``iv_length``, ``block_size`` exactly as
    OpenSSL reports them (a tincd peer derives the key material's length, key
    plus IV, from the NID), ``is_null`` (false), and ``encrypter(key, iv)`` /
    ``decrypter(key, iv)``: each builds, once per packet key, a function that
    turns one packet into what tincd's EVP context makes of it. The decrypter
    gets attacker-controlled bytes and may raise only ``PacketError``.

How tincd runs XTS on packets
    It sets the key and IV once and re-initialises the context without them
    before each packet; XTS keeps no state between calls, so every packet is
    one XTS data unit with the IV as its tweak (ciphertext stealing for
    lengths that are not whole blocks, no padding, EVP block size 1). A data
    unit must be at least 16 bytes; tinc's packets always are (4-byte
    sequence number plus an Ethernet frame), anything shorter is refused.
    The same tweak for every packet is what tincd does, so it is what a peer
    expects; XTS was made for disks, and this is a sample, not advice.

Entry point: ``sample-xts = "tinca_sample_xts"`` in the ``tinca`` group.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from tinca.core import hookimpl
from tinca.core.suite import PacketError

XTS_UNIT_MINIMUM = 16
"""XTS needs at least one whole AES block per data unit."""

_DECRYPT_ERROR = "Error decrypting packet"  # tincd's words for any EVP failure


@dataclass(frozen=True)
class XtsCipher:
    """AES in XTS mode as tincd 1.0 (OpenSSL 3) runs it on UDP packets."""

    name: str
    nid: int
    key_length: int  # both XTS keys together, as OpenSSL counts them
    iv_length: int = 16
    block_size: int = 1
    is_null: bool = False

    def _cipher(self, key: bytes, iv: bytes) -> Cipher[modes.XTS]:
        try:
            cipher = Cipher(algorithms.AES(key), modes.XTS(iv))
            cipher.encryptor()  # checks the key now, not on the first packet
            return cipher
        except ValueError as err:  # e.g. a peer's key whose two halves are equal
            raise PacketError(f"unusable {self.name} key: {err}") from None

    def encrypter(self, key: bytes, iv: bytes) -> Callable[[bytes], bytes]:
        """Each packet is one XTS data unit with the key's IV as tweak."""
        cipher = self._cipher(key, iv)

        def encrypt(plain: bytes) -> bytes:
            return cipher.encryptor().update(plain)

        return encrypt

    def decrypter(self, key: bytes, iv: bytes) -> Callable[[bytes], bytes]:
        """The inverse of :meth:`encrypter`; too short input is a :class:`PacketError`."""
        cipher = self._cipher(key, iv)

        def decrypt(body: bytes) -> bytes:
            if len(body) < XTS_UNIT_MINIMUM:
                raise PacketError(_DECRYPT_ERROR)
            return cipher.decryptor().update(body)

        return decrypt


# NIDs and sizes as OpenSSL 3 reports them (EVP_CIPHER_get_nid, _key_length, ...).
CIPHERS = [
    XtsCipher("aes-128-xts", 913, 32),
    XtsCipher("aes-256-xts", 914, 64),
]


@hookimpl
def tinca_register_legacy_ciphers(register: Callable[..., object]) -> None:
    """Offer ``aes-128-xts`` and ``aes-256-xts``."""
    for cipher in CIPHERS:
        register(cipher.name, cipher, doc=f"AES-{cipher.key_length * 4} in XTS mode")
