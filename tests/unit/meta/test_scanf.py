"""The sscanf emulation: compiled formats, glibc's rules, and glibc's own sscanf as the oracle."""

from __future__ import annotations

import ctypes
import ctypes.util

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tinca.core.meta import requests as rq
from tinca.core.meta.scanf import Directive, Format, ScanError, compile_format, sscanf

# -- compiling ------------------------------------------------------------------


def test_compile_format_reads_every_directive_kind() -> None:
    assert compile_format("%*d %2048s.%hd %x%lu") == (
        Directive("int", assign=False),
        Directive("space"),
        Directive("word", width=2048),
        Directive("literal", char="."),
        Directive("int", bits=16),
        Directive("space"),
        Directive("int", base=16, signed=False),
        Directive("int", signed=False, bits=64),
    )


def test_a_run_of_blanks_is_one_directive() -> None:
    assert compile_format("%d \t %d") == (
        Directive("int"),
        Directive("space"),
        Directive("int"),
    )


def test_format_must_name_every_assigned_field() -> None:
    with pytest.raises(AssertionError):
        Format.of("%*d %d %s", "only one")
    assert Format.of("%*d %d %s", "a", "b").names == ("a", "b")


# -- scanning -------------------------------------------------------------------


def test_scan_stops_at_the_first_mismatch() -> None:
    result = sscanf("1 2 x 4", compile_format("%d %d %d %d"))
    assert result.values == (1, 2)
    assert result.stop == 4
    assert result.failed == Directive("int")


def test_scan_of_a_whole_line_has_no_failed_directive() -> None:
    result = sscanf("7 name", compile_format("%d %s"))
    assert result.values == (7, "name") and result.failed is None
    assert result.number(0) == 7 and result.word(1) == "name"
    assert result.optional_word(2) is None and result.optional_number(2) is None


def test_typed_accessors_refuse_the_wrong_conversion() -> None:
    result = sscanf("7 name", compile_format("%d %s"))
    with pytest.raises(TypeError):
        result.word(0)
    with pytest.raises(TypeError):
        result.number(1)


def test_numbers_wrap_and_take_signs_and_prefixes_like_c() -> None:
    assert sscanf("4294967297 -1 0x1f", compile_format("%d %x %x")).values == (1, 2**32 - 1, 31)
    assert sscanf("70000", compile_format("%hd")).values == (4464,)


def test_a_literal_must_match_exactly() -> None:
    fmt = compile_format("%d.%d")
    assert sscanf("17.7", fmt).values == (17, 7)
    result = sscanf("17:7", fmt)
    assert result.values == (17,) and result.failed == Directive("literal", char=".")


def test_required_fields_name_what_is_missing() -> None:
    fmt = Format.of("%*d %2048s %d", "name", "weight")
    assert fmt.scan("1 alpha", 1).values == ("alpha",)
    with pytest.raises(ScanError) as missing:
        fmt.scan("1 alpha", 2)
    assert (missing.value.field, missing.value.problem) == ("weight", "is missing")
    with pytest.raises(ScanError) as bad:
        fmt.scan("1 alpha heavy", 2)
    assert str(bad.value) == "weight 'heavy' is not a decimal number"


def test_a_bad_literal_is_named_in_the_error() -> None:
    with pytest.raises(ScanError, match=r"minor ':7' is not '\.'"):
        Format.of("%d.%d", "major", "minor").scan("17:7", 2)


# -- the emulation against the C library's own sscanf --------------------------

_LIBC = ctypes.CDLL(ctypes.util.find_library("c"))
_C_INT_TYPES = {
    (True, 16): ctypes.c_short,
    (False, 16): ctypes.c_ushort,
    (True, 32): ctypes.c_int,
    (False, 32): ctypes.c_uint,
    (False, 64): ctypes.c_ulong,
}
#: every format tincd's request handlers use, as requests.py compiles them
FORMATS = [value for name, value in sorted(vars(rq).items()) if isinstance(value, Format)]


def libc_sscanf(text: str, fmt: Format) -> list[int | str]:
    """What glibc's sscanf assigns for ``fmt`` (only the assigned values, in order)."""
    targets: list[ctypes._SimpleCData[int] | ctypes.Array[ctypes.c_char]] = []
    for step in fmt.directives:
        if not step.assigns:
            continue
        if step.kind == "word":
            targets.append(ctypes.create_string_buffer(rq.MAX_STRING_SIZE))
        else:
            targets.append(_C_INT_TYPES[(step.signed, step.bits)]())
    count = _LIBC.sscanf(text.encode(), fmt.fmt.encode(), *[ctypes.byref(t) for t in targets])
    values: list[int | str] = []
    for target in targets[: max(count, 0)]:
        values.append(target.value.decode() if isinstance(target, ctypes.Array) else target.value)
    return values


def test_all_request_formats_are_compared() -> None:
    assert len(FORMATS) >= 16


@given(
    st.sampled_from(FORMATS),
    st.text(alphabet=" \t0123456789abcdefxX+-.alph_", max_size=60),
)
@settings(max_examples=1500)
def test_scan_matches_libc_sscanf(fmt: Format, text: str) -> None:
    mine = list(fmt.scan(text).values)
    assert mine == libc_sscanf(text, fmt)


def test_scan_matches_libc_sscanf_on_long_words() -> None:
    fmt = rq._F_ADD_EDGE
    text = "12 1 " + "a" * 2100 + " b 192.0.2.1 655 c 7"
    mine = list(fmt.scan(text).values)
    assert mine == libc_sscanf(text, fmt)
    assert mine[1] == "a" * 2048 and mine[2] == "a" * 52
