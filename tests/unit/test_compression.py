"""Compression levels 1-11 as tincd 1.0.36 uses them (``compress_packet`` in net_packet.c).

zlib: Python's ``zlib`` module is ``compress2``/``uncompress`` itself; where the
system ``libz.so.1`` (the one tincd links) is loadable, it is called directly
too. LZO: known answers made with liblzo2 2.10's ``lzo1x_1_compress`` and
``lzo1x_999_compress``, and, where ``liblzo2.so.2`` is loadable, a direct
comparison with it.
"""

from __future__ import annotations

import ctypes
import os
import zlib
from typing import ClassVar

import pluggy
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tinca.core import hookspecs
from tinca.core.markers import PROJECT_NAME
from tinca.plugins.compression import MAXSIZE, CompressionError, lzo_codec
from tinca.plugins.compression import plugin as compression_plugin
from tinca.plugins.compression.lzo_codec import LzoCodec
from tinca.plugins.compression.zlib_codec import ZlibCodec

IN_CI = bool(os.environ.get("CI"))

# An ARP request between 198.18.0.1 and 198.18.0.2, as tinc carries it.
ARP = bytes.fromhex(
    "ffffffffffff02000000000108060001080006040001020000000001c612000100000000000000c6120002"
)
TEXT = (b"GET /index.html HTTP/1.1\r\nHost: 198.18.0.2\r\n" * 40)[:1400]


def _skip_or_fail(reason: str) -> None:
    if IN_CI:
        pytest.fail(f"{reason} (CI must have it)")
    pytest.skip(reason)


def test_maxsize_is_tincd_1_0_36_buffer() -> None:
    # MTU 1518 + seqno 4 + EVP_MAX_BLOCK_LENGTH 32 + EVP_MAX_MD_SIZE 64 + 1518/64 + 20
    assert MAXSIZE == 1661


# ---------------------------------------------------------------------------
# zlib, levels 1-9
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("level", range(1, 10))
def test_zlib_is_compress2_at_level(level: int) -> None:
    codec = ZlibCodec(level)
    assert codec.compress(TEXT) == zlib.compress(TEXT, level)
    assert codec.compress(TEXT)[:1] == b"\x78"  # a zlib stream header, not raw deflate
    assert codec.decompress(codec.compress(TEXT)) == TEXT


class LibZ:
    """``compress2`` and ``uncompress`` from the system zlib, as tincd calls them."""

    def __init__(self) -> None:
        self.lib = ctypes.CDLL("libz.so.1")

    def compress2(self, data: bytes, level: int) -> bytes:
        size = ctypes.c_ulong(MAXSIZE)
        out = ctypes.create_string_buffer(MAXSIZE)
        assert self.lib.compress2(out, ctypes.byref(size), data, ctypes.c_ulong(len(data)),
                                  level) == 0
        return out.raw[: size.value]

    def uncompress(self, data: bytes) -> bytes | None:
        """Into a MAXSIZE buffer like ``uncompress_packet``; None where tincd fails."""
        size = ctypes.c_ulong(MAXSIZE)
        out = ctypes.create_string_buffer(MAXSIZE)
        rc = self.lib.uncompress(out, ctypes.byref(size), data, ctypes.c_ulong(len(data)))
        return out.raw[: size.value] if rc == 0 and size.value else None


@pytest.fixture(scope="module")
def libz() -> LibZ:
    try:
        return LibZ()
    except OSError as exc:
        _skip_or_fail(f"no system zlib to compare with: {exc}")
        raise


@pytest.mark.parametrize("level", [1, 6, 9])
def test_zlib_matches_system_zlib(libz: LibZ, level: int) -> None:
    codec = ZlibCodec(level)
    for data in (ARP, TEXT, os.urandom(1518)):
        assert codec.compress(data) == libz.compress2(data, level)
        assert codec.decompress(libz.compress2(data, level)) == data
        assert libz.uncompress(codec.compress(data)) == data


ZLIB_EDGE_CASES = {
    "trailing bytes after the stream": zlib.compress(ARP) + b"junk",
    "exactly MAXSIZE": zlib.compress(bytes(MAXSIZE)),
    "one byte over MAXSIZE": zlib.compress(bytes(MAXSIZE + 1)),
    "truncated": zlib.compress(TEXT)[:-1],
    "bad checksum": zlib.compress(TEXT)[:-1] + bytes([zlib.compress(TEXT)[-1] ^ 1]),
    "raw deflate": zlib.compress(TEXT, wbits=-15),
    "gzip": zlib.compress(TEXT, wbits=31),
    "empty input": b"",
    "garbage": b"\x00\x01\x02\x03\x04",
}


@pytest.mark.parametrize("case", sorted(ZLIB_EDGE_CASES))
def test_zlib_accepts_and_refuses_what_uncompress_does(libz: LibZ, case: str) -> None:
    data = ZLIB_EDGE_CASES[case]
    expected = libz.uncompress(data)
    codec = ZlibCodec(6)
    if expected is None:
        with pytest.raises(CompressionError):
            codec.decompress(data)
    else:
        assert codec.decompress(data) == expected


def test_zlib_limits_output_to_maxsize() -> None:
    assert ZlibCodec(6).decompress(zlib.compress(bytes(MAXSIZE))) == bytes(MAXSIZE)
    with pytest.raises(CompressionError, match="more than 1661"):
        ZlibCodec(6).decompress(zlib.compress(bytes(MAXSIZE + 1)))
    assert ZlibCodec(6, max_output=9000).decompress(zlib.compress(bytes(9000))) == bytes(9000)


@pytest.mark.parametrize("level", [0, 10, -1])
def test_zlib_rejects_other_levels(level: int) -> None:
    with pytest.raises(ValueError):
        ZlibCodec(level)


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=1518), st.integers(1, 9))
def test_zlib_round_trip(data: bytes, level: int) -> None:
    codec = ZlibCodec(level)
    assert codec.decompress(codec.compress(data)) == data


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=200))
def test_zlib_hostile_input_raises_only_compression_error(data: bytes) -> None:
    try:
        ZlibCodec(6).decompress(data)
    except CompressionError:
        pass


# ---------------------------------------------------------------------------
# LZO, levels 10 and 11
# ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def need_lzo() -> None:
    if not lzo_codec.AVAILABLE:
        _skip_or_fail("python-lzo is not installed")


# (input, lzo1x_1_compress output, lzo1x_999_compress output) from liblzo2 2.10.
LZO_VECTORS = [
    (
        b"abc" * 9,
        "2c616263616263616263616263616263616263616263616263616263110000",
        "14616263360800110000",
    ),
    (
        bytes(100),
        "020000000000202b1000000100000000000000000000000000000000000000110000",
        "120020420000110000",
    ),
    (
        ARP,
        "0004ffffffffffff02000000000108060001080006040001bc010cc612000100000000000000c6120002"
        "110000",
        "12ff8200020043000108064f000006040401be01c6120d0000a000490102110000",
    ),
    (b"", "110000", "110000"),
]


@pytest.mark.usefixtures("need_lzo")
@pytest.mark.parametrize("data,fast,best", LZO_VECTORS)
def test_lzo_known_answers(data: bytes, fast: str, best: str) -> None:
    assert LzoCodec(10).compress(data).hex() == fast
    assert LzoCodec(11).compress(data).hex() == best
    if data:
        assert LzoCodec(10).decompress(bytes.fromhex(fast)) == data
        assert LzoCodec(11).decompress(bytes.fromhex(best)) == data


class LibLzo:
    """``lzo1x_*_compress`` and ``lzo1x_decompress_safe`` from the system liblzo2."""

    # Work memory: at least LZO1X_1_MEM_COMPRESS (16384 pointers) and
    # LZO1X_999_MEM_COMPRESS (14 * 16384 shorts); more does no harm.
    WORK: ClassVar[dict[str, int]] = {
        "lzo1x_1_compress": 16384 * 8,
        "lzo1x_999_compress": 14 * 16384 * 8,
    }

    def __init__(self) -> None:
        self.lib = ctypes.CDLL("liblzo2.so.2")

    def compress(self, function: str, data: bytes) -> bytes:
        out = ctypes.create_string_buffer(len(data) + len(data) // 16 + 67)
        size = ctypes.c_size_t(0)
        work = ctypes.create_string_buffer(self.WORK[function])
        rc = getattr(self.lib, function)(data, ctypes.c_size_t(len(data)), out,
                                         ctypes.byref(size), work)
        assert rc == 0
        return out.raw[: size.value]

    def decompress(self, data: bytes) -> bytes | None:
        """Into a MAXSIZE buffer like ``uncompress_packet``; None where tincd fails."""
        out = ctypes.create_string_buffer(MAXSIZE)
        size = ctypes.c_size_t(MAXSIZE)
        rc = self.lib.lzo1x_decompress_safe(data, ctypes.c_size_t(len(data)), out,
                                            ctypes.byref(size), None)
        return out.raw[: size.value] if rc == 0 and size.value else None


@pytest.fixture(scope="module")
def liblzo(need_lzo: None) -> LibLzo:
    try:
        return LibLzo()
    except OSError as exc:
        _skip_or_fail(f"no system liblzo2 to compare with: {exc}")
        raise


@pytest.mark.parametrize("level,function", [(10, "lzo1x_1_compress"), (11, "lzo1x_999_compress")])
def test_lzo_matches_system_liblzo2(liblzo: LibLzo, level: int, function: str) -> None:
    codec = LzoCodec(level)
    for data in (ARP, TEXT, os.urandom(1518), bytes(1518)):
        assert codec.compress(data) == liblzo.compress(function, data)
        assert codec.decompress(liblzo.compress(function, data)) == data
        assert liblzo.decompress(codec.compress(data)) == data


LZO_EDGE_CASES = {
    "empty input": b"",
    "one byte": b"\x00",
    "truncated": bytes.fromhex(LZO_VECTORS[2][1])[:-1],
    "trailing byte": bytes.fromhex(LZO_VECTORS[2][1]) + b"\x00",
    "exactly MAXSIZE": bytes(MAXSIZE),  # compressed by liblzo2 in the test
    "one byte over MAXSIZE": bytes(MAXSIZE + 1),  # compressed by liblzo2 in the test
    "garbage": b"\xff" * 40,
}


@pytest.mark.parametrize("case", sorted(LZO_EDGE_CASES))
def test_lzo_accepts_and_refuses_what_decompress_safe_does(liblzo: LibLzo, case: str) -> None:
    data = LZO_EDGE_CASES[case]
    if "MAXSIZE" in case:
        data = liblzo.compress("lzo1x_1_compress", data)
    expected = liblzo.decompress(data)
    if expected is None:
        with pytest.raises(CompressionError):
            LzoCodec(10).decompress(data)
    else:
        assert LzoCodec(10).decompress(data) == expected


@pytest.mark.usefixtures("need_lzo")
def test_lzo_limits_output_to_maxsize() -> None:
    codec = LzoCodec(11)
    assert codec.decompress(codec.compress(bytes(MAXSIZE))) == bytes(MAXSIZE)
    with pytest.raises(CompressionError):
        codec.decompress(codec.compress(bytes(MAXSIZE + 1)))
    big = LzoCodec(11, max_output=9000)
    assert big.decompress(big.compress(bytes(9000))) == bytes(9000)


@pytest.mark.usefixtures("need_lzo")
def test_lzo_takes_any_bytes_like_input() -> None:
    codec = LzoCodec(10)
    assert codec.decompress(codec.compress(bytearray(TEXT))) == TEXT
    assert codec.decompress(memoryview(codec.compress(TEXT))) == TEXT


@pytest.mark.parametrize("level", [9, 12, 1])
def test_lzo_rejects_other_levels(level: int) -> None:
    with pytest.raises(ValueError):
        LzoCodec(level)


@pytest.mark.usefixtures("need_lzo")
@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=1518), st.sampled_from([10, 11]))
def test_lzo_round_trip(data: bytes, level: int) -> None:
    codec = LzoCodec(level)
    assert codec.decompress(codec.compress(data)) == data


@pytest.mark.usefixtures("need_lzo")
@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=200))
def test_lzo_hostile_input_raises_only_compression_error(data: bytes) -> None:
    try:
        LzoCodec(10).decompress(data)
    except CompressionError:
        pass


# ---------------------------------------------------------------------------
# The plugin
# ---------------------------------------------------------------------------


def _registered() -> dict[str, tuple[object, str]]:
    pm = pluggy.PluginManager(PROJECT_NAME)
    pm.add_hookspecs(hookspecs)
    pm.register(compression_plugin)
    found: dict[str, tuple[object, str]] = {}
    pm.hook.tinca_register_compressions(
        register=lambda level, codec, doc="": found.setdefault(level, (codec, doc))
    )
    return found


def test_plugin_registers_zlib_levels() -> None:
    found = _registered()
    for level in range(1, 10):
        codec, doc = found[str(level)]
        assert isinstance(codec, ZlibCodec) and codec.level == level
        assert "zlib" in doc
    assert "0" not in found  # level 0 is built into the data path


@pytest.mark.usefixtures("need_lzo")
def test_plugin_registers_lzo_levels() -> None:
    found = _registered()
    assert sorted(found, key=int) == [str(n) for n in range(1, 12)]
    fast, best = found["10"][0], found["11"][0]
    assert isinstance(fast, LzoCodec) and fast.level == 10
    assert isinstance(best, LzoCodec) and best.level == 11
    assert fast.compress(TEXT) != best.compress(TEXT)  # lzo1x_1 and lzo1x_999 differ


def test_plugin_through_the_plugin_manager() -> None:
    from tinca.core.plugin_manager import PluginManager

    manager = PluginManager(entry_points=False, extra=["tinca.plugins.compression.plugin"])
    registry = manager.registry("tinca_register_compressions")
    assert "6" in registry
    assert registry.get("6").plugin == "tinca.plugins.compression.plugin"
