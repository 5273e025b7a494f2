"""The OpenSSL cipher and digest names tinc 1.0 accepts, for the ones ``cryptography`` has.

tincd 1.0 looks ``Cipher`` and ``Digest`` up with ``EVP_get_cipherbyname`` and
``EVP_get_digestbyname``, so any OpenSSL name works there, and it tells peers
its choice by OpenSSL NID (the numbers below go on the wire). This module lists
the names whose algorithm ``cryptography`` implements, in modes that work with
tinc's packet format: CBC and ECB (EVP pads them, PKCS#7) and the stream modes
CFB, CFB8, OFB, CTR and the stream ciphers. AEAD and key-wrap modes, CFB1,
ARIA, IDEA and RIPEMD-160 are left out: tinc 1.0 cannot use the former, and
``cryptography`` lacks the latter.

Sizes are OpenSSL's: ``key_length`` and ``iv_length`` are what tincd puts in
its key material (key plus IV), ``block_size`` is EVP's (1 for stream modes).

OpenSSL 3 moved Blowfish, CAST5, DES, SEED, RC2 and RC4 to its "legacy"
provider. A tincd linked to OpenSSL 3 still accepts their names, but without
that provider loaded it fails when it sets up the key; ``legacy_provider``
marks them so tinca can warn.

**The contract for other plugins.** The legacy suite resolves ``Cipher`` and
``Digest``, and the NIDs a peer announces in ANS_KEY, only through the
``tinca_register_legacy_ciphers`` and ``tinca_register_legacy_digests``
registries (:class:`LegacyAlgorithms`), never through the tables here; this
module's tables are simply what tinca's own legacy plugin registers. So a
third-party package adds a cipher or digest by registering an ``info`` object
that satisfies :class:`LegacyCipher` or :class:`LegacyDigest`: sizes and NID as
OpenSSL reports them, and factories for the per-key packet transforms.
"""

from __future__ import annotations

import types
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol, TypeVar

from cryptography.hazmat.primitives import hashes, hmac
from cryptography.hazmat.primitives.ciphers import (
    BlockCipherAlgorithm,
    Cipher,
    CipherAlgorithm,
    algorithms,
    modes,
)

from tinca.core.errors import PluginError
from tinca.core.suite import PacketError

if TYPE_CHECKING:
    from tinca.core.registry import Registry

_old_algorithms: types.ModuleType
_old_modes: types.ModuleType
try:  # cryptography >= 43 moved old algorithms here; the old names warn and will go
    from cryptography.hazmat.decrepit.ciphers import algorithms as _old_algorithms
except ImportError:  # pragma: no cover - older cryptography
    _old_algorithms = algorithms
try:  # cryptography >= 47 moved CFB, CFB8 and OFB here
    from cryptography.hazmat.decrepit.ciphers import modes as _old_modes
except ImportError:  # pragma: no cover - older cryptography
    _old_modes = modes


def _old_algorithm(name: str) -> Callable[..., CipherAlgorithm]:
    return getattr(_old_algorithms, name, None) or getattr(algorithms, name)


def _old_mode(name: str) -> Callable[[bytes], modes.Mode]:
    return getattr(_old_modes, name, None) or getattr(modes, name)


# ---------------------------------------------------------------------------
# The contract: what a registered cipher or digest ``info`` provides
# ---------------------------------------------------------------------------

Transform = Callable[[bytes], bytes]
"""Encrypts, or decrypts, one packet; a decrypter raises :class:`PacketError`."""


class LegacyCipher(Protocol):
    """What ``info`` in ``register(name, info)`` of ``tinca_register_legacy_ciphers`` provides.

    One OpenSSL cipher as tincd 1.0 runs it on UDP packets. The sizes and the
    NID must be what OpenSSL reports (``EVP_CIPHER_nid``, ``_key_length``,
    ``_iv_length``, ``_block_size``), because a tincd peer derives the key
    material's length and the cipher from them: the NID goes on the wire in
    ANS_KEY, and the key material is ``key_length + iv_length`` random bytes
    (cipher key first, then IV). :class:`LegacyCipherInfo` is tinca's own
    implementation; a plugin may use it or any class with these members.
    """

    @property
    def name(self) -> str:
        """The canonical (lower-case OpenSSL) name; aliases are registered separately."""
        ...

    @property
    def nid(self) -> int:
        """OpenSSL's NID, as ANS_KEY carries it (0 only for ``none``)."""
        ...

    @property
    def key_length(self) -> int:
        """Bytes of cipher key."""
        ...

    @property
    def iv_length(self) -> int:
        """Bytes of IV (0 for ECB and for stream ciphers without one)."""
        ...

    @property
    def block_size(self) -> int:
        """EVP's block size: the padding unit of CBC/ECB, 1 for stream-like modes."""
        ...

    @property
    def is_null(self) -> bool:
        """True only for ``none``: packets go unencrypted."""
        ...

    def encrypter(self, key: bytes, iv: bytes) -> Transform:
        """The per-packet encryption for one key, built once per key.

        Must give the bytes tincd's ``EVP_EncryptInit_ex(ctx, NULL, NULL,
        NULL, NULL)``, ``EVP_EncryptUpdate``, ``EVP_EncryptFinal_ex`` give for
        each packet in turn (padding included), since that is what a tincd
        peer decrypts.
        """
        ...

    def decrypter(self, key: bytes, iv: bytes) -> Transform:
        """The per-packet decryption for one key; raises only :class:`PacketError`.

        Its input is any byte string an attacker may send (after the MAC
        check, if packets carry one).
        """
        ...


class MacContext(Protocol):
    """A keyed HMAC context as ``cryptography``'s :class:`~hmac.HMAC` offers it."""

    def update(self, data: bytes) -> None:
        """Feed ``data``."""
        ...

    def copy(self) -> MacContext:
        """An independent context in the same state (the keyed start is copied per packet)."""
        ...

    def finalize(self) -> bytes:
        """The whole MAC; the context is used up."""
        ...


class LegacyDigest(Protocol):
    """What ``info`` in ``register(name, info)`` of ``tinca_register_legacy_digests`` provides.

    One OpenSSL digest as tincd 1.0 uses it: an HMAC keyed with the packet key
    material, truncated to MACLength. NID and length as OpenSSL reports them.
    """

    @property
    def name(self) -> str:
        """The canonical (lower-case OpenSSL) name."""
        ...

    @property
    def nid(self) -> int:
        """OpenSSL's NID, as ANS_KEY carries it (0 only for ``none``)."""
        ...

    @property
    def digest_length(self) -> int:
        """Bytes of the full MAC; MACLength may not exceed it."""
        ...

    @property
    def is_null(self) -> bool:
        """True only for ``none``: packets carry no MAC."""
        ...

    def hmac(self, key: bytes) -> MacContext:
        """A fresh HMAC context keyed with ``key`` (built once per packet key)."""
        ...



DEFAULT_CIPHER = "aes-256-cbc"  # tincd 1.0.36's default Cipher
DEFAULT_DIGEST = "sha256"  # tincd 1.0.36's default Digest
DEFAULT_MAC_LENGTH = 4  # tincd 1.0.36's default MACLength
NONE = "none"  # tincd's own name for "no cipher" / "no digest"; NID 0 on the wire

# Mode name -> builder of the cryptography mode object from the IV.
_MODES: dict[str, Callable[[bytes], modes.Mode] | None] = {
    "cbc": modes.CBC,
    "ecb": lambda iv: modes.ECB(),
    "cfb": _old_mode("CFB"),
    "cfb8": _old_mode("CFB8"),
    "ofb": _old_mode("OFB"),
    "ctr": modes.CTR,
    "stream": None,  # stream ciphers take no mode object
}


@dataclass(frozen=True)
class LegacyCipherInfo:
    """One OpenSSL cipher as tinc 1.0 uses it.

    ``mode`` is ``cbc``, ``ecb``, ``cfb``, ``cfb8``, ``ofb``, ``ctr``, ``stream``
    or ``none``. ``aliases`` are the other names OpenSSL resolves to this NID.
    """

    name: str
    nid: int
    key_length: int
    iv_length: int
    block_size: int
    mode: str
    description: str
    aliases: tuple[str, ...] = ()
    legacy_provider: bool = False
    algorithm: Callable[[bytes, bytes], CipherAlgorithm] | None = field(
        default=None, repr=False, compare=False
    )

    @property
    def is_null(self) -> bool:
        """True for ``none``: tinc sends such packets unencrypted."""
        return self.algorithm is None

    @property
    def padded(self) -> bool:
        """Whether EVP pads the plaintext (PKCS#7) to whole blocks: CBC and ECB."""
        return self.mode in ("cbc", "ecb")

    @property
    def key_material_length(self) -> int:
        """Bytes of key material tincd 1.0 exchanges for this cipher: key, then IV.

        ``none`` still takes 1 byte, as in tincd.
        """
        return self.key_length + self.iv_length if not self.is_null else 1

    @property
    def doc(self) -> str:
        """A one-line description for listings."""
        note = " (OpenSSL 3 legacy provider)" if self.legacy_provider else ""
        return self.description + note

    def cipher(self, key: bytes, iv: bytes = b"") -> Cipher:
        """A ``cryptography`` :class:`Cipher` for ``key`` and ``iv``.

        Both must have exactly ``key_length`` and ``iv_length`` bytes. Padding is
        the caller's job (see :attr:`padded`), as EVP's is separate from the cipher.
        """
        if self.algorithm is None:
            raise ValueError("cipher 'none' has no cipher object; send the data as it is")
        if len(key) != self.key_length:
            raise ValueError(f"{self.name} takes a {self.key_length}-byte key, not {len(key)}")
        if len(iv) != self.iv_length:
            raise ValueError(f"{self.name} takes a {self.iv_length}-byte IV, not {len(iv)}")
        mode = _MODES[self.mode]
        return Cipher(self.algorithm(key, iv), None if mode is None else mode(iv))

    def encrypter(self, key: bytes, iv: bytes) -> Transform:
        """Per-packet encryption under ``key``/``iv``, as tincd's context behaves (see
        :mod:`~tinca.plugins.ciphers.legacy.packets`)."""
        return _encrypter(self, key, iv)

    def decrypter(self, key: bytes, iv: bytes) -> Transform:
        """Per-packet decryption under ``key``/``iv``; raises :class:`PacketError`."""
        return _decrypter(self, key, iv)


@dataclass(frozen=True)
class LegacyDigestInfo:
    """One OpenSSL message digest as tinc 1.0 uses it (an HMAC over packets)."""

    name: str
    nid: int
    digest_length: int
    block_size: int
    description: str
    aliases: tuple[str, ...] = ()
    hash_algorithm: Callable[[], hashes.HashAlgorithm] | None = field(
        default=None, repr=False, compare=False
    )

    @property
    def is_null(self) -> bool:
        """True for ``none``: tinc sends packets without a MAC."""
        return self.hash_algorithm is None

    @property
    def doc(self) -> str:
        """A one-line description for listings."""
        return self.description

    def hmac(self, key: bytes) -> hmac.HMAC:
        """A fresh ``cryptography`` HMAC context keyed with ``key``."""
        if self.hash_algorithm is None:
            raise ValueError("digest 'none' has no HMAC; packets carry no MAC")
        return hmac.HMAC(key, self.hash_algorithm())

    def hash(self) -> hashes.Hash:
        """A fresh ``cryptography`` hash context (tinc 1.0 hashes its RSA challenge)."""
        if self.hash_algorithm is None:
            raise ValueError("digest 'none' cannot hash")
        return hashes.Hash(self.hash_algorithm())


# ---------------------------------------------------------------------------
# Packet transforms of tinca's own ciphers: one closure per key and direction, by mode
#
# tincd re-initialises its context per packet without key or IV; with OpenSSL 3
# that restarts CBC, CFB, CFB8 and OFB at the key's IV, while CTR and stream
# ciphers run on (see packets.py for the whole story).
# ---------------------------------------------------------------------------

_DECRYPT_ERROR = "Error decrypting packet"
# PKCS#7 padding strings by length, so padding a packet allocates nothing new.
_PADS = [bytes([n]) * n for n in range(256)]


def _encrypter(cipher: LegacyCipherInfo, key: bytes, iv: bytes) -> Transform:
    mode = cipher.mode
    if mode == "cbc":
        return _cbc_encrypter(cipher, key, iv)
    if mode == "ecb":
        update = cipher.cipher(key, iv).encryptor().update  # ECB keeps no state
        bs = cipher.block_size
        return lambda plain: update(plain + _PADS[bs - len(plain) % bs])
    if mode in ("ctr", "stream"):
        return _running_transform(cipher, key, iv, encrypt=True)
    fresh = cipher.cipher(key, iv)  # CFB, CFB8, OFB: back to the IV each packet
    return lambda plain: fresh.encryptor().update(plain)


def _decrypter(cipher: LegacyCipherInfo, key: bytes, iv: bytes) -> Transform:
    mode = cipher.mode
    if mode == "cbc":
        return _cbc_decrypter(cipher, key, iv)
    if mode == "ecb":
        update = cipher.cipher(key, iv).decryptor().update
        bs = cipher.block_size

        def decrypt_ecb(body: bytes) -> bytes:
            if not body or len(body) % bs:
                raise PacketError(_DECRYPT_ERROR)
            return _unpad(update(body), bs)

        return decrypt_ecb
    if mode in ("ctr", "stream"):
        return _running_transform(cipher, key, iv, encrypt=False)
    fresh = cipher.cipher(key, iv)
    return lambda body: fresh.decryptor().update(body)


def _unpad(plain: bytes, bs: int) -> bytes:
    """Strip PKCS#7 padding as EVP_DecryptFinal does, or raise."""
    pad = plain[-1]
    if not 0 < pad <= bs or plain[-pad:] != _PADS[pad]:
        raise PacketError(_DECRYPT_ERROR)
    return plain[:-pad]


# CBC restarts at the key's IV for every packet. Building a cryptography
# context per packet costs more than the encryption itself, so one context runs
# for the whole key, and the chaining is corrected instead: a running CBC
# context chains the next block with the last ciphertext block it saw (``last``)
# where a restarted one would use the IV. XORing the first block with
# ``IV ^ last`` on the way in (encrypt) or out (decrypt) gives exactly the
# bytes of a context restarted at the IV.


def _cbc_encrypter(cipher: LegacyCipherInfo, key: bytes, iv: bytes) -> Transform:
    update = cipher.cipher(key, iv).encryptor().update
    bs = cipher.block_size
    iv_int = int.from_bytes(iv, "big")
    last = iv_int

    def encrypt_cbc(plain: bytes) -> bytes:
        nonlocal last
        plain += _PADS[bs - len(plain) % bs]
        mask = iv_int ^ last
        if mask:
            head = (int.from_bytes(plain[:bs], "big") ^ mask).to_bytes(bs, "big")
            plain = head + plain[bs:]
        body = update(plain)
        last = int.from_bytes(body[-bs:], "big")
        return body

    return encrypt_cbc


def _cbc_decrypter(cipher: LegacyCipherInfo, key: bytes, iv: bytes) -> Transform:
    update = cipher.cipher(key, iv).decryptor().update
    bs = cipher.block_size
    iv_int = int.from_bytes(iv, "big")
    last = iv_int

    def decrypt_cbc(body: bytes) -> bytes:
        nonlocal last
        if not body or len(body) % bs:
            # Checked before the context sees it: a partial block would stay buffered.
            raise PacketError(_DECRYPT_ERROR)
        plain = update(body)
        mask = iv_int ^ last
        last = int.from_bytes(body[-bs:], "big")
        if mask:
            head = (int.from_bytes(plain[:bs], "big") ^ mask).to_bytes(bs, "big")
            plain = head + plain[bs:]
        return _unpad(plain, bs)

    return decrypt_cbc


def _running_transform(
    cipher: LegacyCipherInfo, key: bytes, iv: bytes, *, encrypt: bool
) -> Transform:
    """CTR and stream ciphers: one keystream for the whole key, as tincd's context runs on."""
    c = cipher.cipher(key, iv)
    update = (c.encryptor() if encrypt else c.decryptor()).update
    if cipher.mode != "ctr":
        return update
    algorithm = cipher.algorithm(key, iv) if cipher.algorithm is not None else None
    if not isinstance(algorithm, BlockCipherAlgorithm):
        raise ValueError(f"{cipher.name}: CTR mode needs a block cipher")
    bs = algorithm.block_size // 8  # the counter block, not EVP's 1
    fillers = [bytes(bs - r) if r else b"" for r in range(bs)]

    def ctr(data: bytes) -> bytes:
        out = update(data)
        filler = fillers[len(data) % bs]
        if filler:
            update(filler)  # tincd starts each packet on a fresh counter block
        return out

    return ctr


# ---------------------------------------------------------------------------
# The cipher table
# ---------------------------------------------------------------------------

_MODE_WORDS = {
    "cbc": "CBC",
    "ecb": "ECB",
    "cfb": "CFB (full-block feedback)",
    "cfb8": "CFB8",
    "ofb": "OFB",
    "ctr": "CTR",
}


def _family(
    prefix: str,
    title: str,
    algorithm: Callable[[bytes, bytes], CipherAlgorithm],
    key_length: int,
    block_size: int,
    nids: dict[str, int],
    *,
    aliases: dict[str, tuple[str, ...]] | None = None,
    names: dict[str, str] | None = None,
    legacy_provider: bool = False,
) -> list[LegacyCipherInfo]:
    """One block cipher in several modes; ``names`` overrides ``prefix-mode``."""
    infos = []
    for mode, nid in nids.items():
        stream = mode not in ("cbc", "ecb")
        infos.append(
            LegacyCipherInfo(
                name=(names or {}).get(mode, f"{prefix}-{mode}"),
                nid=nid,
                key_length=key_length,
                iv_length=0 if mode == "ecb" else block_size,
                block_size=1 if stream else block_size,
                mode=mode,
                description=f"{title} in {_MODE_WORDS[mode]} mode",
                aliases=(aliases or {}).get(mode, ()),
                legacy_provider=legacy_provider,
                algorithm=algorithm,
            )
        )
    return infos


_AlgorithmFactory = Callable[[bytes, bytes], CipherAlgorithm]


def _key_only(factory: Callable[[bytes], CipherAlgorithm]) -> _AlgorithmFactory:
    return lambda key, iv: factory(key)


_AES = _key_only(algorithms.AES)
_CAMELLIA = _key_only(_old_algorithm("Camellia"))
_SM4 = _key_only(algorithms.SM4)
_TRIPLE_DES = _old_algorithm("TripleDES")


def _des(key: bytes, iv: bytes) -> CipherAlgorithm:
    # Single DES is triple DES with K1 = K2 = K3, and two-key EDE is K1 K2 K1.
    # Spelled out as 24 bytes, since cryptography deprecates the short forms.
    full = {8: key * 3, 16: key + key[:8]}.get(len(key), key)
    return _TRIPLE_DES(full)


_BLOWFISH = _key_only(_old_algorithm("Blowfish"))
_CAST5 = _key_only(_old_algorithm("CAST5"))
_SEED = _key_only(_old_algorithm("SEED"))
_RC2 = _key_only(_old_algorithm("RC2"))
_RC4 = _key_only(_old_algorithm("ARC4"))


def _chacha20(key: bytes, iv: bytes) -> CipherAlgorithm:
    # OpenSSL's 16-byte ChaCha20 IV is a 32-bit little-endian block counter and a
    # 96-bit nonce, which is exactly what cryptography's 16-byte nonce means.
    return algorithms.ChaCha20(key, iv)


def _aes(bits: int, first_nid: int, cfb8_nid: int, ctr_nid: int) -> list[LegacyCipherInfo]:
    return _family(
        f"aes-{bits}",
        f"AES-{bits}",
        _AES,
        bits // 8,
        16,
        {
            "ecb": first_nid,
            "cbc": first_nid + 1,
            "ofb": first_nid + 2,
            "cfb": first_nid + 3,
            "cfb8": cfb8_nid,
            "ctr": ctr_nid,
        },
        aliases={"cbc": (f"aes{bits}",)},
    )


def _camellia(bits: int, cbc: int, ecb: int, cfb: int, ofb: int) -> list[LegacyCipherInfo]:
    return _family(
        f"camellia-{bits}",
        f"Camellia-{bits}",
        _CAMELLIA,
        bits // 8,
        16,
        {"cbc": cbc, "ecb": ecb, "cfb": cfb, "ofb": ofb},
        aliases={"cbc": (f"camellia{bits}",)},
    )


_CIPHER_LIST: list[LegacyCipherInfo] = [
    LegacyCipherInfo(NONE, 0, 0, 0, 1, "none", "no encryption"),
    *_aes(128, 418, 653, 904),
    *_aes(192, 422, 654, 905),
    *_aes(256, 426, 655, 906),
    *_camellia(128, 751, 754, 757, 766),
    *_camellia(192, 752, 755, 758, 767),
    *_camellia(256, 753, 756, 759, 768),
    *_family(
        "sm4",
        "SM4",
        _SM4,
        16,
        16,
        {"ecb": 1133, "cbc": 1134, "ofb": 1135, "cfb": 1137, "ctr": 1139},
        aliases={"cbc": ("sm4",)},
    ),
    LegacyCipherInfo(
        "chacha20", 1019, 32, 16, 1, "stream", "ChaCha20 (IV: 32-bit counter, 96-bit nonce)",
        algorithm=_chacha20,
    ),
    *_family(
        "des-ede3",
        "Triple DES (three keys)",
        _des,
        24,
        8,
        {"ecb": 33, "cbc": 44, "cfb": 61, "ofb": 63, "cfb8": 659},
        names={"ecb": "des-ede3"},
        aliases={"ecb": ("des-ede3-ecb",), "cbc": ("des3",)},
    ),
    *_family(
        "des-ede",
        "Triple DES (two keys)",
        _des,
        16,
        8,
        {"ecb": 32, "cbc": 43, "cfb": 60, "ofb": 62},
        names={"ecb": "des-ede"},
        aliases={"ecb": ("des-ede-ecb",)},
    ),
    *_family(
        "des",
        "DES",
        _des,
        8,
        8,
        {"ecb": 29, "cbc": 31, "cfb": 30, "ofb": 45, "cfb8": 657},
        aliases={"cbc": ("des",)},
        legacy_provider=True,
    ),
    *_family(
        "bf",
        "Blowfish (128-bit key)",
        _BLOWFISH,
        16,
        8,
        {"cbc": 91, "ecb": 92, "cfb": 93, "ofb": 94},
        aliases={"cbc": ("bf", "blowfish")},
        legacy_provider=True,
    ),
    *_family(
        "cast5",
        "CAST5 (128-bit key)",
        _CAST5,
        16,
        8,
        {"cbc": 108, "ecb": 109, "cfb": 110, "ofb": 111},
        aliases={"cbc": ("cast", "cast-cbc")},
        legacy_provider=True,
    ),
    *_family(
        "seed",
        "SEED",
        _SEED,
        16,
        16,
        {"ecb": 776, "cbc": 777, "ofb": 778, "cfb": 779},
        aliases={"cbc": ("seed",)},
        legacy_provider=True,
    ),
    *_family(
        "rc2",
        "RC2 (128-bit key)",
        _RC2,
        16,
        8,
        {"cbc": 37},
        aliases={"cbc": ("rc2", "rc2-128")},
        legacy_provider=True,
    ),
    LegacyCipherInfo("rc4", 5, 16, 0, 1, "stream", "RC4 (128-bit key)",
                     legacy_provider=True, algorithm=_RC4),
    LegacyCipherInfo("rc4-40", 97, 5, 0, 1, "stream", "RC4 (40-bit key)",
                     legacy_provider=True, algorithm=_RC4),
]


# ---------------------------------------------------------------------------
# The digest table
# ---------------------------------------------------------------------------


def _digest(
    name: str,
    nid: int,
    size: int,
    block: int,
    factory: Callable[[], hashes.HashAlgorithm],
    aliases: tuple[str, ...] = (),
) -> LegacyDigestInfo:
    return LegacyDigestInfo(name, nid, size, block, f"{name.upper()}, {size * 8}-bit", aliases,
                            factory)


_DIGEST_LIST: list[LegacyDigestInfo] = [
    LegacyDigestInfo(NONE, 0, 0, 0, "no message authentication"),
    _digest("md5", 4, 16, 64, hashes.MD5, ("ssl3-md5",)),
    _digest("sha1", 64, 20, 64, hashes.SHA1, ("sha-1", "ssl3-sha1")),
    _digest("sha224", 675, 28, 64, hashes.SHA224, ("sha-224", "sha2-224")),
    _digest("sha256", 672, 32, 64, hashes.SHA256, ("sha-256", "sha2-256")),
    _digest("sha384", 673, 48, 128, hashes.SHA384, ("sha-384", "sha2-384")),
    _digest("sha512", 674, 64, 128, hashes.SHA512, ("sha-512", "sha2-512")),
    _digest("sha512-224", 1094, 28, 128, hashes.SHA512_224, ("sha-512/224", "sha2-512/224")),
    _digest("sha512-256", 1095, 32, 128, hashes.SHA512_256, ("sha-512/256", "sha2-512/256")),
    _digest("sha3-224", 1096, 28, 144, hashes.SHA3_224),
    _digest("sha3-256", 1097, 32, 136, hashes.SHA3_256),
    _digest("sha3-384", 1098, 48, 104, hashes.SHA3_384),
    _digest("sha3-512", 1099, 64, 72, hashes.SHA3_512),
    _digest("sm3", 1143, 32, 64, hashes.SM3),
    _digest("blake2b512", 1056, 64, 128, lambda: hashes.BLAKE2b(64), ("blake2b-512",)),
    _digest("blake2s256", 1057, 32, 64, lambda: hashes.BLAKE2s(32), ("blake2s-256",)),
]


# ---------------------------------------------------------------------------
# Lookups
# ---------------------------------------------------------------------------

CIPHERS: dict[str, LegacyCipherInfo] = {info.name: info for info in _CIPHER_LIST}
"""Canonical (lower-case OpenSSL) cipher name -> info."""

DIGESTS: dict[str, LegacyDigestInfo] = {info.name: info for info in _DIGEST_LIST}
"""Canonical (lower-case OpenSSL) digest name -> info."""

_CIPHER_NAMES = {n: i for i in _CIPHER_LIST for n in (i.name, *i.aliases)}
_DIGEST_NAMES = {n: i for i in _DIGEST_LIST for n in (i.name, *i.aliases)}
_CIPHER_NIDS = {i.nid: i for i in _CIPHER_LIST}
_DIGEST_NIDS = {i.nid: i for i in _DIGEST_LIST}


def cipher_names() -> list[tuple[str, LegacyCipherInfo]]:
    """Every accepted cipher name (canonical names and aliases) with its info, sorted."""
    return sorted(_CIPHER_NAMES.items())


def digest_names() -> list[tuple[str, LegacyDigestInfo]]:
    """Every accepted digest name (canonical names and aliases) with its info, sorted."""
    return sorted(_DIGEST_NAMES.items())


def cipher_by_name(name: str) -> LegacyCipherInfo:
    """Look a ``Cipher`` value up as OpenSSL does (case-insensitive); KeyError if unknown."""
    return _CIPHER_NAMES[name.lower()]


def digest_by_name(name: str) -> LegacyDigestInfo:
    """Look a ``Digest`` value up as OpenSSL does (case-insensitive); KeyError if unknown."""
    return _DIGEST_NAMES[name.lower()]


def cipher_by_nid(nid: int) -> LegacyCipherInfo:
    """The cipher a peer announced by NID (0 is ``none``); KeyError if unknown."""
    return _CIPHER_NIDS[nid]


def digest_by_nid(nid: int) -> LegacyDigestInfo:
    """The digest a peer announced by NID (0 is ``none``); KeyError if unknown."""
    return _DIGEST_NIDS[nid]


def meta_cipher_for(data_cipher: LegacyCipherInfo) -> LegacyCipherInfo:
    """The meta connection cipher tincd 1.0.36 pairs with a ``Cipher``.

    The meta stream needs a stream mode, so tincd uses AES in CFB mode with the
    smallest key at least as long as the data cipher's (none counts as 0 bytes).
    """
    if data_cipher.key_length <= 16:
        return CIPHERS["aes-128-cfb"]
    if data_cipher.key_length <= 24:
        return CIPHERS["aes-192-cfb"]
    return CIPHERS["aes-256-cfb"]


# ---------------------------------------------------------------------------
# Lookups over what the plugins registered
# ---------------------------------------------------------------------------

CIPHER_REGISTRY = "tinca_register_legacy_ciphers"
"""The registry hook whose entries are :class:`LegacyCipher` infos."""
DIGEST_REGISTRY = "tinca_register_legacy_digests"
"""The registry hook whose entries are :class:`LegacyDigest` infos."""


class _Info(Protocol):
    @property
    def name(self) -> str: ...

    @property
    def nid(self) -> int: ...


_InfoT = TypeVar("_InfoT", bound=_Info)


class LegacyAlgorithms:
    """Ciphers and digests by config name and by wire NID, from registered infos.

    Built once per suite from the node's registries (:meth:`from_registries`),
    so a cipher or digest a third-party plugin registers is found exactly like
    tinca's own: by its ``Cipher``/``Digest`` name (case-insensitively) and by
    the NID a peer announces in ANS_KEY. Two different infos claiming one NID
    would make a peer's ANS_KEY ambiguous: that is a :class:`PluginError`.
    """

    def __init__(
        self,
        ciphers: Iterable[tuple[str, LegacyCipher]],
        digests: Iterable[tuple[str, LegacyDigest]],
    ) -> None:
        self._ciphers = {name.lower(): info for name, info in ciphers}
        self._digests = {name.lower(): info for name, info in digests}
        self._cipher_nids: dict[int, LegacyCipher] = _by_nid(self._ciphers, "cipher")
        self._digest_nids: dict[int, LegacyDigest] = _by_nid(self._digests, "digest")

    @classmethod
    def from_registries(cls, registry: Callable[[str], Registry]) -> LegacyAlgorithms:
        """The lookups over ``registry(CIPHER_REGISTRY)`` and ``registry(DIGEST_REGISTRY)``
        (``registry`` is :attr:`~tinca.core.suite.SuiteContext.registry`)."""
        return cls(
            ((e.name, e.value) for e in registry(CIPHER_REGISTRY).entries()),
            ((e.name, e.value) for e in registry(DIGEST_REGISTRY).entries()),
        )

    def cipher(self, name: str) -> LegacyCipher:
        """The cipher a ``Cipher`` value names; KeyError if nobody registered it."""
        return self._ciphers[name.lower()]

    def digest(self, name: str) -> LegacyDigest:
        """The digest a ``Digest`` value names; KeyError if nobody registered it."""
        return self._digests[name.lower()]

    def cipher_by_nid(self, nid: int) -> LegacyCipher:
        """The cipher a peer announced by NID; KeyError if nobody registered it."""
        return self._cipher_nids[nid]

    def digest_by_nid(self, nid: int) -> LegacyDigest:
        """The digest a peer announced by NID; KeyError if nobody registered it."""
        return self._digest_nids[nid]


def _by_nid(infos: dict[str, _InfoT], kind: str) -> dict[int, _InfoT]:
    table: dict[int, _InfoT] = {}
    for info in infos.values():
        old = table.setdefault(info.nid, info)
        if old is not info and old.name != info.name:
            raise PluginError(
                f"legacy {kind}s {old.name!r} and {info.name!r} both claim NID {info.nid}"
            )
    return table


BUILTIN = LegacyAlgorithms(cipher_names(), digest_names())
"""The lookups over tinca's own tables only: for sans-IO code and tests that run
without a plugin manager. A node's suite uses :meth:`LegacyAlgorithms.from_registries`."""
