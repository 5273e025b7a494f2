"""tinc's base64: known answers from real tinc 1.1 key files, edge cases, round trips."""

from __future__ import annotations

import base64
import json
import os
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tinca.plugins.ciphers.sptps import tinc_base64


def vectors_dir() -> Path:
    """The SPTPS vectors: $TINCA_VECTORS, else ../shared/vectors/sptps beside the repo."""
    override = os.environ.get("TINCA_VECTORS")
    if override:
        return Path(override)
    return Path(__file__).resolve().parents[2].parent / "shared" / "vectors" / "sptps"


@pytest.fixture(scope="module")
def keys() -> dict:
    path = vectors_dir() / "keys.json"
    if not path.is_file():
        message = f"SPTPS vectors not found at {path} (set TINCA_VECTORS)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return json.loads(path.read_text())["keys"]


def test_readme_example_bit_order() -> None:
    # README: a public key starting 45 45 35 9f encodes as FVUN..., RFC 4648 gives RUU1...
    data = bytes.fromhex("4545359f")
    assert tinc_base64.encode(data).startswith("FVUN")
    assert base64.b64encode(data).decode().startswith("RUU1")


def test_recorded_public_keys(keys: dict) -> None:
    for name, key in keys.items():
        raw = bytes.fromhex(key["public_key_hex"])
        text = key["public_key_b64_tinc"]
        assert len(text) == 43, name
        assert tinc_base64.encode(raw) == text, name
        assert tinc_base64.decode(text) == raw, name


def test_recorded_private_key_lines(keys: dict) -> None:
    # Each 64-character PEM line is 48 bytes of the 96-byte key, decoded on its own.
    for name, key in keys.items():
        body = key["private_key_file"].splitlines()[1:-1]
        raw = bytes.fromhex(key["private_key_raw_hex"])
        assert [len(line) for line in body] == [64, 64], name
        assert b"".join(tinc_base64.decode(line) for line in body) == raw, name
        assert [tinc_base64.encode(raw[i : i + 48]) for i in (0, 48)] == body, name


@pytest.mark.parametrize(
    ("data", "text"),
    [
        (b"", ""),
        (b"\x00", "AA"),
        (b"\xff", "/D"),
        (b"\x01\x02", "BIA"),
        (b"\x01\x02\x03", "BIwA"),
        (b"\xff\xff\xff", "////"),
        (b"\x01\x02\x03\x04", "BIwAEA"),
    ],
)
def test_small_known_answers(data: bytes, text: str) -> None:
    assert tinc_base64.encode(data) == text
    assert tinc_base64.decode(text) == data
    assert tinc_base64.encoded_length(len(data)) == len(text)


def test_urlsafe_alphabet() -> None:
    data = bytes([0xFF, 0xFF, 0xFF, 0xBE, 0xEF, 0xFB])  # every digit 63, then every digit 62
    assert tinc_base64.encode(data) == "////++++"
    assert tinc_base64.encode(data, urlsafe=True) == "____----"
    assert tinc_base64.decode("____----") == data
    assert tinc_base64.decode("/_/_+-+-") == data


def test_decode_accepts_bytes() -> None:
    assert tinc_base64.decode(b"BIwA") == b"\x01\x02\x03"


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("A", "length 1"),
        ("AAAAA", "length 5"),
        ("AA==", "'='"),
        ("AB C", "' '"),
        ("AB\nC", "'\\n'"),
        ("AAA*", "'*' at position 3"),
        ("AAé", "'é'"),
    ],
)
def test_decode_rejects_bad_input(text: str, words: str) -> None:
    with pytest.raises(ValueError, match="tinc base64") as info:
        tinc_base64.decode(text)
    assert words in str(info.value)


def test_decode_rejects_non_ascii_bytes() -> None:
    with pytest.raises(ValueError, match="ASCII"):
        tinc_base64.decode(b"AB\xff")


def test_encoded_length_rejects_negative() -> None:
    with pytest.raises(ValueError):
        tinc_base64.encoded_length(-1)


@given(st.binary(max_size=300), st.booleans())
def test_round_trip(data: bytes, urlsafe: bool) -> None:
    text = tinc_base64.encode(data, urlsafe=urlsafe)
    assert len(text) == tinc_base64.encoded_length(len(data))
    assert "=" not in text
    assert tinc_base64.decode(text) == data


@given(st.binary(min_size=3, max_size=3))
def test_group_is_little_endian_lsb_first(group: bytes) -> None:
    # The defining property: 3 bytes are a little-endian 24-bit number whose 6-bit
    # digits are written least significant first.
    value = int.from_bytes(group, "little")
    expected = "".join(tinc_base64.STANDARD_ALPHABET[(value >> (6 * i)) & 63] for i in range(4))
    assert tinc_base64.encode(group) == expected
