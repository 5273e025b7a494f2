"""The legacy EVP cipher and digest tables: sizes, NIDs and known answers.

Known answers were made with the system's ``openssl enc`` (OpenSSL 3.0, legacy
provider for the old ciphers), an implementation independent of the OpenSSL
inside the ``cryptography`` wheel. When the system ``libcrypto.so.3`` (the one
tincd links to) is present, every table entry is also checked against it.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import hashlib
import hmac as std_hmac
import os
from collections.abc import Callable
from pathlib import Path

import pluggy
import pytest
from cryptography.hazmat.primitives import padding

from tinca.core import hookspecs
from tinca.core.markers import PROJECT_NAME
from tinca.core.plugin_manager import PluginManager
from tinca.core.registry import Registry
from tinca.plugins.ciphers.legacy import evp
from tinca.plugins.ciphers.legacy import plugin as legacy_plugin

KEY = bytes(range(32))
IV = bytes(range(0xF0, 0x100))
PLAINTEXT = b"tinc 1.0 legacy cipher known answers, 48 bytes!!"
assert len(PLAINTEXT) == 48

# openssl enc -NAME -e -nopad -K <first key_length bytes of KEY> -iv <first iv_length of IV>
CIPHER_KATS = [
    ("aes-128-cbc", "38b575b8cee7ded99ed1c17326b40fee7323b46a55c9c8d8a2ae89d4dcfa64e3a2b00b9c71e10f9c291b521b1bdaa050"),  # noqa: E501
    ("aes-192-ecb", "f5d9286573f9376cf3f6e0a5816418e970f910b057dfda1f296237ecc5d3a1d223dca872853e2d8eaf21bf2adca13421"),  # noqa: E501
    ("aes-256-cfb", "e669a3ee03a7aefb7a05833321511a347547eedc01b2b3696cf0abe829a9944768be7c980ccaf18544e4bf418d6b99ae"),  # noqa: E501
    ("aes-128-cfb8", "12a6678cbf40f5b02aca4f1ac2f9011b135d909ed06b23655502adb2cd4acef0324f09cc94e0c9e8b5dbb6e4218f0ddc"),  # noqa: E501
    ("aes-192-ofb", "5feb263174c347a093b553659186d1d3834738034b4babbfe7fab534b86111e86c5e7de9036b197208eefedd14a9b31f"),  # noqa: E501
    ("aes-256-ctr", "e669a3ee03a7aefb7a05833321511a34a9360b28945814aa00c8224f6a16e8fdee0953283838c1a058e75964f027d3ae"),  # noqa: E501
    ("camellia-256-cbc", "a10bb74230c9b5a70437e52b8b99fda9dd0486bf0eaa3550934bdcc2a790b9c521b62beb2ece0d137a69479af09da8bc"),  # noqa: E501
    ("camellia-128-ofb", "d24e8269eb1ac7434a60d819a17b426f5fc81af4078268e36fd994e3af64bd6b6d96b30613b2ab87dfc6005336f26ae1"),  # noqa: E501
    ("sm4-ctr", "3a174721c142fda396e3f5b302362a1b15a604dd3d30e6ea470a960c37418a4948e6a37634f7820014cd548fa0abea59"),  # noqa: E501
    ("sm4-cbc", "5c3c494743cbf0828b5e03ea8b69e1ad54b3de5fa5d3331b1281dc71304de170f7f421a5c73d2a5ae43fdb7f21af43d9"),  # noqa: E501
    ("chacha20", "8f7fe091a3d9696527742e2b993bad6a33a97a8df268a0c5a69ae2f4ca0984e844459afd2acea426c6a566ac4f76019f"),  # noqa: E501
    ("des-ede3-cbc", "e0ae54479050a3daff424265df2447ac53480bb76e9c394ffac6f313f6f3e9810cde9bf546ea7a93d397c7dcb639f84a"),  # noqa: E501
    ("des-ede-cfb", "a35c10d01f0198b24ae7c96c9db45fe63be2b50caa8fa8f1b10e184985187f293aaeaedc5f9864b2359696512e7d9888"),  # noqa: E501
    ("des-ede3-cfb8", "d5d9b3f541ca76090c87e196cd239f0acc86ab65cd4a0e6ef0de483584b668607ab904ebab346ed2e794deec597b6e89"),  # noqa: E501
    ("des-cbc", "871872a45714560a0f5ed003c6dca865b1b7d897ab63185404243d2b09e3a0858b846f914988b0a290d1f50b11ef31c1"),  # noqa: E501
    ("bf-cbc", "851c7a4754caddc83cfcfacb54b36533e92a43dd50561d33fae6b13bde27f635c9d1337298debcf1c982f7acce6fbec0"),  # noqa: E501
    ("bf-ecb", "1185dd199603d7fa4066d09f0cf764ab6aab5b704cf5b4896b59f236b0a64c5cc5da314f205270621c3526964a8ead5c"),  # noqa: E501
    ("cast5-ofb", "3c1a692f8c0ad8d2abdb4c93746a0c1338886a9d62331454a1ab737075bef647ae0221c2fc4394d037f4b897134834f3"),  # noqa: E501
    ("seed-cfb", "01f1d591eb3664622498bcb8443edab88c7aec6aebd10b19832a89c8d541db54c700e7eae0266d9541d3d8bda13d4e67"),  # noqa: E501
    ("rc2-cbc", "88896f4dd0af866a0930b9a9a0bcd3a325783cb8db4986b9661aad3b1a0c46d215e55073ad07e79eb2b6d2006ee7422d"),  # noqa: E501
    ("rc4", "9df52e9a67d337fc26b7f2a16fbe536fb018f13797c56285e1f1d2b7d9568d712c5f396c1c23d620a13544afd73ed84b"),  # noqa: E501
    ("rc4-40", "8a746550c42074a226b0e2a38c26b2670e9ca0e77207b824d7f6ce3e0e851dcd1fdf52c72bfa603cc10673de0a0ec1fd"),  # noqa: E501
]

# name: (nid, key length, IV length, block size), as OpenSSL 3.0 reports them.
OPENSSL_SIZES = {
    "aes-256-cbc": (427, 32, 16, 16),
    "aes-128-ecb": (418, 16, 0, 16),
    "aes-192-cfb": (425, 24, 16, 1),
    "aes-256-ctr": (906, 32, 16, 1),
    "camellia-192-cbc": (752, 24, 16, 16),
    "sm4-ofb": (1135, 16, 16, 1),
    "chacha20": (1019, 32, 16, 1),
    "des-ede3-cbc": (44, 24, 8, 8),
    "des-ede": (32, 16, 0, 8),
    "des-cbc": (31, 8, 8, 8),
    "bf-cbc": (91, 16, 8, 8),
    "cast5-cfb": (110, 16, 8, 1),
    "seed-cbc": (777, 16, 16, 16),
    "rc4": (5, 16, 0, 1),
    "none": (0, 0, 0, 1),
}


def test_cipher_families_known_answers_cover_every_family() -> None:
    families = {info.name.split("-")[0] for info in evp.CIPHERS.values() if not info.is_null}
    tested = {name.split("-")[0] for name, _ in CIPHER_KATS}
    assert families <= tested


@pytest.mark.parametrize(("name", "expected"), CIPHER_KATS)
def test_cipher_known_answer(name: str, expected: str) -> None:
    info = evp.cipher_by_name(name)
    cipher = info.cipher(KEY[: info.key_length], IV[: info.iv_length])
    encryptor = cipher.encryptor()
    ciphertext = encryptor.update(PLAINTEXT) + encryptor.finalize()
    assert ciphertext.hex() == expected
    decryptor = cipher.decryptor()
    assert decryptor.update(ciphertext) + decryptor.finalize() == PLAINTEXT


def test_aes_cbc_sp800_38a() -> None:
    # NIST SP 800-38A F.2.1, first block.
    info = evp.cipher_by_name("aes-128-cbc")
    encryptor = info.cipher(
        bytes.fromhex("2b7e151628aed2a6abf7158809cf4f3c"), bytes(range(16))
    ).encryptor()
    block = encryptor.update(bytes.fromhex("6bc1bee22e409f96e93d7e117393172a"))
    assert block.hex() == "7649abac8119b246cee98e9b12e9197d"


@pytest.mark.parametrize(("name", "sizes"), sorted(OPENSSL_SIZES.items()))
def test_sizes_match_openssl(name: str, sizes: tuple[int, int, int, int]) -> None:
    info = evp.cipher_by_name(name)
    assert (info.nid, info.key_length, info.iv_length, info.block_size) == sizes


def test_defaults_and_lookups() -> None:
    assert evp.cipher_by_name(evp.DEFAULT_CIPHER).name == "aes-256-cbc"
    assert evp.digest_by_name(evp.DEFAULT_DIGEST).name == "sha256"
    assert evp.DEFAULT_MAC_LENGTH == 4
    assert evp.cipher_by_name("Blowfish") is evp.CIPHERS["bf-cbc"]
    assert evp.cipher_by_name("AES256") is evp.CIPHERS["aes-256-cbc"]
    assert evp.cipher_by_name("DES3") is evp.CIPHERS["des-ede3-cbc"]
    assert evp.cipher_by_nid(91) is evp.CIPHERS["bf-cbc"]
    assert evp.cipher_by_nid(0).is_null
    assert evp.digest_by_name("SHA2-256") is evp.DIGESTS["sha256"]
    assert evp.digest_by_nid(64) is evp.DIGESTS["sha1"]
    assert evp.digest_by_nid(0).is_null
    for unknown in ("aes-256-gcm", "idea-cbc", "aria-128-cbc", "aes-128-cfb1"):
        with pytest.raises(KeyError):
            evp.cipher_by_name(unknown)
    for unknown in ("ripemd160", "md4", "shake128"):
        with pytest.raises(KeyError):
            evp.digest_by_name(unknown)


def test_table_is_consistent() -> None:
    names = [name for name, _ in evp.cipher_names()]
    assert len(names) == len(set(names))
    assert all(name == name.lower() for name in names)
    nids = [info.nid for info in evp.CIPHERS.values()]
    assert len(nids) == len(set(nids))
    for info in evp.CIPHERS.values():
        assert info.padded == (info.mode in ("cbc", "ecb"))
        assert info.block_size == 1 or info.padded
        assert info.doc
    assert evp.CIPHERS["bf-cbc"].legacy_provider
    assert not evp.CIPHERS["aes-256-cbc"].legacy_provider


def test_key_material_length() -> None:
    assert evp.CIPHERS["aes-256-cbc"].key_material_length == 48
    assert evp.CIPHERS["none"].key_material_length == 1  # tincd still sends one byte


def test_cipher_checks_lengths() -> None:
    info = evp.CIPHERS["aes-256-cbc"]
    with pytest.raises(ValueError, match="32-byte key"):
        info.cipher(KEY[:16], IV)
    with pytest.raises(ValueError, match="16-byte IV"):
        info.cipher(KEY, IV[:8])
    with pytest.raises(ValueError, match="none"):
        evp.CIPHERS["none"].cipher(b"", b"")


def test_cbc_round_trip_with_evp_padding() -> None:
    info = evp.CIPHERS["aes-256-cbc"]
    padder = padding.PKCS7(info.block_size * 8).padder()
    padded = padder.update(b"short packet") + padder.finalize()
    encryptor = info.cipher(KEY, IV).encryptor()
    ciphertext = encryptor.update(padded) + encryptor.finalize()
    assert len(ciphertext) == 16
    decryptor = info.cipher(KEY, IV).decryptor()
    unpadder = padding.PKCS7(128).unpadder()
    plain = unpadder.update(decryptor.update(ciphertext) + decryptor.finalize())
    assert plain + unpadder.finalize() == b"short packet"


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("aes-128-cbc", "aes-128-cfb"),
        ("bf-cbc", "aes-128-cfb"),
        ("none", "aes-128-cfb"),
        ("aes-192-ofb", "aes-192-cfb"),
        ("des-ede3-cbc", "aes-192-cfb"),
        ("aes-256-cbc", "aes-256-cfb"),
        ("chacha20", "aes-256-cfb"),
    ],
)
def test_meta_cipher_for(name: str, expected: str) -> None:
    assert evp.meta_cipher_for(evp.cipher_by_name(name)).name == expected


# ---------------------------------------------------------------------------
# Digests
# ---------------------------------------------------------------------------

RFC_HMACS = [
    # RFC 2202 / RFC 4231 test case 2: key "Jefe".
    ("md5", "750c783e6ab0b503eaa86e310a5db738"),
    ("sha1", "effcdf6ae5eb2fa2d27416d5f184df9c259a7c79"),
    ("sha256", "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"),
]


@pytest.mark.parametrize(("name", "expected"), RFC_HMACS)
def test_hmac_rfc_vectors(name: str, expected: str) -> None:
    mac = evp.digest_by_name(name).hmac(b"Jefe")
    mac.update(b"what do ya want for nothing?")
    assert mac.finalize().hex() == expected


@pytest.mark.parametrize("name", sorted(n for n in evp.DIGESTS if n != "none"))
def test_hmac_and_hash_match_hashlib(name: str) -> None:
    info = evp.DIGESTS[name]
    hashlib_name = {
        "sha512-224": "sha512_224",
        "sha512-256": "sha512_256",
        "sha3-224": "sha3_224",
        "sha3-256": "sha3_256",
        "sha3-384": "sha3_384",
        "sha3-512": "sha3_512",
        "blake2b512": "blake2b",
        "blake2s256": "blake2s",
    }.get(name, name)
    try:
        hashlib.new(hashlib_name)
    except ValueError:
        pytest.skip(f"hashlib here has no {hashlib_name}")
    mac = info.hmac(KEY)
    mac.update(PLAINTEXT)
    tag = mac.finalize()
    assert len(tag) == info.digest_length
    assert tag == std_hmac.new(KEY, PLAINTEXT, lambda *a: hashlib.new(hashlib_name, *a)).digest()
    h = info.hash()
    h.update(PLAINTEXT)
    assert h.finalize() == hashlib.new(hashlib_name, PLAINTEXT).digest()


def test_digest_none() -> None:
    info = evp.DIGESTS["none"]
    assert info.is_null and info.nid == 0 and info.digest_length == 0
    with pytest.raises(ValueError):
        info.hmac(b"key")


# ---------------------------------------------------------------------------
# Cross-check with the system's libcrypto, the library tincd 1.0.36 uses
# ---------------------------------------------------------------------------


class LibCrypto:
    """The few EVP calls needed to compare our tables with the real OpenSSL 3."""

    def __init__(self) -> None:
        name = os.environ.get("TINCA_LIBCRYPTO") or "libcrypto.so.3"
        lib = ctypes.CDLL(name)
        vp, cp, ci = ctypes.c_void_p, ctypes.c_char_p, ctypes.c_int
        for fn, res, args in [
            ("EVP_get_cipherbyname", vp, [cp]),
            ("EVP_get_digestbyname", vp, [cp]),
            ("EVP_CIPHER_get_nid", ci, [vp]),
            ("EVP_CIPHER_get_key_length", ci, [vp]),
            ("EVP_CIPHER_get_iv_length", ci, [vp]),
            ("EVP_CIPHER_get_block_size", ci, [vp]),
            ("EVP_MD_get_type", ci, [vp]),
            ("EVP_MD_get_size", ci, [vp]),
            ("EVP_MD_get_block_size", ci, [vp]),
            ("EVP_CIPHER_CTX_new", vp, []),
            ("EVP_CIPHER_CTX_free", None, [vp]),
            ("EVP_CIPHER_CTX_set_padding", ci, [vp, ci]),
            ("EVP_EncryptInit_ex", ci, [vp, vp, vp, cp, cp]),
            ("EVP_EncryptUpdate", ci, [vp, cp, ctypes.POINTER(ci), cp, ci]),
            ("OSSL_PROVIDER_load", vp, [vp, cp]),
            ("HMAC", vp, [vp, cp, ci, cp, ctypes.c_size_t, cp, ctypes.POINTER(ctypes.c_uint)]),
        ]:
            getattr(lib, fn).restype = res
            getattr(lib, fn).argtypes = args
        # Loading "legacy" stops the implicit default provider, so load both.
        self.legacy = bool(lib.OSSL_PROVIDER_load(None, b"legacy"))
        lib.OSSL_PROVIDER_load(None, b"default")
        self.lib = lib

    def cipher(self, name: str) -> tuple[int, int, int, int] | None:
        c = self.lib.EVP_get_cipherbyname(name.encode())
        if not c:
            return None
        lib = self.lib
        return (lib.EVP_CIPHER_get_nid(c), lib.EVP_CIPHER_get_key_length(c),
                lib.EVP_CIPHER_get_iv_length(c), lib.EVP_CIPHER_get_block_size(c))

    def encrypt(self, name: str, key: bytes, iv: bytes, data: bytes) -> bytes | None:
        lib = self.lib
        ctx = lib.EVP_CIPHER_CTX_new()
        try:
            c = lib.EVP_get_cipherbyname(name.encode())
            if not lib.EVP_EncryptInit_ex(ctx, c, None, key, iv or None):
                return None
            lib.EVP_CIPHER_CTX_set_padding(ctx, 0)
            out = ctypes.create_string_buffer(len(data) + 64)
            n = ctypes.c_int(0)
            assert lib.EVP_EncryptUpdate(ctx, out, ctypes.byref(n), data, len(data))
            return out.raw[: n.value]
        finally:
            lib.EVP_CIPHER_CTX_free(ctx)

    def digest(self, name: str) -> tuple[int, int, int] | None:
        md = self.lib.EVP_get_digestbyname(name.encode())
        if not md:
            return None
        lib = self.lib
        return lib.EVP_MD_get_type(md), lib.EVP_MD_get_size(md), lib.EVP_MD_get_block_size(md)

    def hmac(self, name: str, key: bytes, data: bytes) -> bytes:
        md = self.lib.EVP_get_digestbyname(name.encode())
        out = ctypes.create_string_buffer(64)
        n = ctypes.c_uint(0)
        assert self.lib.HMAC(md, key, len(key), data, len(data), out, ctypes.byref(n))
        return out.raw[: n.value]


@pytest.fixture(scope="module")
def libcrypto() -> LibCrypto:
    try:
        return LibCrypto()
    except (OSError, AttributeError) as exc:
        pytest.skip(f"no OpenSSL 3 libcrypto to compare with: {exc}")


@pytest.mark.parametrize("name", [n for n, i in evp.cipher_names() if not i.is_null])
def test_cipher_matches_system_openssl(libcrypto: LibCrypto, name: str) -> None:
    info = evp.cipher_by_name(name)
    assert libcrypto.cipher(name) == (
        info.nid, info.key_length, info.iv_length, info.block_size
    ), "OpenSSL resolves this name to a different cipher"
    if info.legacy_provider and not libcrypto.legacy:
        pytest.skip("OpenSSL's legacy provider is not installed")
    key, iv = KEY[: info.key_length], IV[: info.iv_length]
    theirs = libcrypto.encrypt(name, key, iv, PLAINTEXT)
    encryptor = info.cipher(key, iv).encryptor()
    assert theirs == encryptor.update(PLAINTEXT) + encryptor.finalize()


@pytest.mark.parametrize("name", [n for n, i in evp.digest_names() if not i.is_null])
def test_digest_matches_system_openssl(libcrypto: LibCrypto, name: str) -> None:
    info = evp.digest_by_name(name)
    assert libcrypto.digest(name) == (info.nid, info.digest_length, info.block_size)
    mac = info.hmac(KEY)
    mac.update(PLAINTEXT)
    assert libcrypto.hmac(name, KEY, PLAINTEXT) == mac.finalize()


def test_legacy_flag_matches_default_provider(libcrypto: LibCrypto) -> None:
    # What tincd 1.0.36 on OpenSSL 3 can set up without the legacy provider: a
    # fresh library context with only "default" must refuse exactly the flagged ones.
    lib = libcrypto.lib
    lib.OSSL_LIB_CTX_new.restype = ctypes.c_void_p
    lib.OSSL_LIB_CTX_free.argtypes = [ctypes.c_void_p]
    lib.EVP_CIPHER_fetch.restype = ctypes.c_void_p
    lib.EVP_CIPHER_fetch.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_char_p]
    lib.EVP_CIPHER_free.argtypes = [ctypes.c_void_p]
    lib.OSSL_PROVIDER_load.argtypes = [ctypes.c_void_p, ctypes.c_char_p]
    ctx = lib.OSSL_LIB_CTX_new()
    try:
        assert lib.OSSL_PROVIDER_load(ctx, b"default")
        for info in evp.CIPHERS.values():
            if info.is_null:
                continue
            fetched = lib.EVP_CIPHER_fetch(ctx, info.name.encode(), None)
            lib.EVP_CIPHER_free(fetched)
            assert bool(fetched) == (not info.legacy_provider), info.name
    finally:
        lib.OSSL_LIB_CTX_free(ctx)


# ---------------------------------------------------------------------------
# The plugin registers what the tables hold
# ---------------------------------------------------------------------------


def test_plugin_registers_names_and_generator() -> None:
    pm = pluggy.PluginManager(PROJECT_NAME)
    pm.add_hookspecs(hookspecs)
    pm.register(legacy_plugin)
    ciphers: dict[str, tuple[object, str]] = {}
    digests: dict[str, tuple[object, str]] = {}
    generators: dict[str, object] = {}
    pm.hook.tinca_register_legacy_ciphers(
        register=lambda name, info, doc="": ciphers.setdefault(name, (info, doc))
    )
    pm.hook.tinca_register_legacy_digests(
        register=lambda name, info, doc="": digests.setdefault(name, (info, doc))
    )
    pm.hook.tinca_register_key_generators(
        register=lambda kind, gen, doc="": generators.setdefault(kind, gen)
    )
    assert ciphers["aes-256-cbc"][0] is evp.CIPHERS["aes-256-cbc"]
    assert ciphers["blowfish"] == (evp.CIPHERS["bf-cbc"], "alias of bf-cbc")
    assert "none" in ciphers and "none" in digests
    assert set(ciphers) == {n for n, _ in evp.cipher_names()}
    assert digests["sha256"][0] is evp.DIGESTS["sha256"]
    assert all(doc for _, doc in [*ciphers.values(), *digests.values()])
    from tinca.plugins.ciphers.legacy.rsa_keys import generate_rsa_keys

    assert generators == {"rsa": generate_rsa_keys}


# ---------------------------------------------------------------------------
# Registries are the only lookup path: a third-party cipher or digest works
# ---------------------------------------------------------------------------


class XorCipher:
    """A toy third-party cipher: not a LegacyCipherInfo, only the LegacyCipher members."""

    name = "toy-xor"
    nid = 65001
    key_length = 16
    iv_length = 0
    block_size = 1
    is_null = False

    def encrypter(self, key: bytes, iv: bytes) -> evp.Transform:
        return lambda data: bytes(b ^ key[i % 16] for i, b in enumerate(data))

    def decrypter(self, key: bytes, iv: bytes) -> evp.Transform:
        return self.encrypter(key, iv)


def registries(
    extra_ciphers: dict[str, object], extra_digests: dict[str, object]
) -> Callable[[str], Registry]:
    """A SuiteContext.registry over the installed plugins plus the given extra entries."""
    manager = PluginManager()
    extras = {evp.CIPHER_REGISTRY: extra_ciphers, evp.DIGEST_REGISTRY: extra_digests}

    def registry(hook_name: str) -> Registry:
        base = manager.registry(hook_name)
        merged = Registry(base.slot)
        for entry in base.entries():
            merged.add(entry.name, entry.value, entry.doc, plugin=entry.plugin)
        for name, info in extras.get(hook_name, {}).items():
            merged.add(name, info, "third party", plugin="toy")
        return merged

    return registry


def test_algorithms_resolve_registered_names_and_nids() -> None:
    toy = XorCipher()
    algorithms = evp.LegacyAlgorithms.from_registries(
        registries({"toy-xor": toy, "TOYX": toy}, {"sha512-256-alias": evp.DIGESTS["sha512-256"]})
    )
    assert algorithms.cipher("Toy-Xor") is toy and algorithms.cipher("toyx") is toy
    assert algorithms.cipher_by_nid(65001) is toy
    assert algorithms.cipher("aes-256-cbc") is evp.CIPHERS["aes-256-cbc"]  # built-ins too
    assert algorithms.digest("sha512-256-alias") is evp.DIGESTS["sha512-256"]
    with pytest.raises(KeyError):
        evp.BUILTIN.cipher("toy-xor")
    with pytest.raises(KeyError):
        evp.BUILTIN.cipher_by_nid(65001)


def test_two_ciphers_claiming_one_nid_are_a_plugin_error() -> None:
    from tinca.core.errors import PluginError

    class Impostor(XorCipher):
        name = "impostor"
        nid = 427  # aes-256-cbc's

    with pytest.raises(PluginError, match="NID 427"):
        evp.LegacyAlgorithms.from_registries(registries({"impostor": Impostor()}, {}))


def test_ans_key_with_a_registered_nid_makes_a_working_key_pair() -> None:
    from cryptography.hazmat.primitives import hashes

    from tinca.core.suite import PacketError
    from tinca.plugins.ciphers.legacy.packets import (
        LegacyDataParams,
        PacketOpener,
        PacketSealer,
    )

    toy_digest = evp.LegacyDigestInfo("toy-sha256", 65002, 32, 64, "toy", (), hashes.SHA256)
    algorithms = evp.LegacyAlgorithms.from_registries(
        registries({"toy-xor": XorCipher()}, {"toy-sha256": toy_digest})
    )
    with pytest.raises(PacketError, match="unknown cipher"):
        LegacyDataParams.from_ans_key(65001, 672, 4, 0)  # tinca's own tables only
    with pytest.raises(PacketError, match="unknown digest"):
        LegacyDataParams.from_ans_key(427, 65002, 4, 0)
    params = LegacyDataParams.from_ans_key(65001, 65002, 8, 0, algorithms)
    assert params.cipher is not None and params.cipher.name == "toy-xor"
    assert params.digest is toy_digest and params.authenticated
    assert params.key_length == 16
    key = bytes(range(16))
    datagram = PacketSealer(key, params).seal(b"frame!")
    assert datagram[:4] != (1).to_bytes(4, "big")  # the sequence number is encrypted
    assert PacketOpener(key, params).open(datagram) == b"frame!"


def test_ans_key_accepts_registered_compression_levels_beyond_tincds() -> None:
    from tinca.core.suite import PacketError
    from tinca.plugins.ciphers.legacy.packets import LegacyDataParams

    with pytest.raises(PacketError, match="bogus compression"):
        LegacyDataParams.from_ans_key(427, 672, 4, 12)
    assert LegacyDataParams.from_ans_key(427, 672, 4, 12, compressions={12}).compression == 12


def test_legacy_suite_takes_cipher_and_digest_from_the_registries(tmp_path: Path) -> None:
    from tinca.core.config.loader import load_configuration
    from tinca.core.keys import KeygenRequest
    from tinca.core.meta.requests import AnsKey
    from tinca.core.suite import SuiteContext
    from tinca.plugins.ciphers.legacy.rsa_keys import generate_rsa_keys
    from tinca.plugins.ciphers.legacy.suite import LegacySuite

    (tmp_path / "hosts").mkdir()
    (tmp_path / "tinc.conf").write_text("Name = alpha\nCipher = TOY-XOR\nDigest = sha1\n")
    (tmp_path / "hosts" / "alpha").write_text("Port = 655\n")
    generate_rsa_keys(KeygenRequest(confbase=tmp_path, name="alpha", bits=1024))
    config = load_configuration(tmp_path, PluginManager().variables)

    def context(registry: Callable[[str], Registry]) -> SuiteContext:
        return SuiteContext(config, "alpha", os.urandom, lambda: 0.0, lambda level: None, registry)

    suite = LegacySuite(context(registries({"toy-xor": XorCipher()}, {})))
    offer, opener = suite.answer_key_request("beta")
    assert (offer.cipher, offer.digest) == (65001, 64)
    answer = AnsKey("beta", "alpha", offer.key, offer.cipher, offer.digest, offer.mac_length,
                    offer.compression)
    sealer = suite.accept_key_answer("beta", answer)
    assert opener.open(sealer.seal(b"through the registry")) == b"through the registry"

    from tinca.core.errors import ConfigError

    with pytest.raises(ConfigError, match="TOY-XOR"):
        LegacySuite(context(PluginManager().registry))
