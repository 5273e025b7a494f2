"""Subnets: tincd 1.0.36's str2net and net2str, tinc 1.1's printing, matching, tree order."""

from __future__ import annotations

import ctypes
import ctypes.util

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tinca.core.subnet import (
    DEFAULT_WEIGHT,
    Subnet,
    format_ip,
    format_mac,
    parse_ip,
    parse_mac,
    scan_c_int,
)

INT32 = st.integers(-(2**31), 2**31 - 1)


def ip4(text: str) -> bytes:
    return parse_ip(text)


# -- parsing what tincd parses ------------------------------------------------


@pytest.mark.parametrize(
    ("text", "kind", "address", "prefix", "weight"),
    [
        ("198.18.0.1", "ipv4", "198.18.0.1", 32, 10),
        ("198.18.0.0/15", "ipv4", "198.18.0.0", 15, 10),
        ("198.18.1.0/24#5", "ipv4", "198.18.1.0", 24, 5),
        ("0.0.0.0/0", "ipv4", "0.0.0.0", 0, 10),
        ("198.18.0.1#-7", "ipv4", "198.18.0.1", 32, -7),
        ("2001:db8::1", "ipv6", "2001:db8::1", 128, 10),
        ("2001:db8:1:0:0:0:0:0/48#10", "ipv6", "2001:db8:1::", 48, 10),
        ("2001:DB8::/32", "ipv6", "2001:db8::", 32, 10),
        ("::", "ipv6", "::", 128, 10),
        ("::/0", "ipv6", "::", 0, 10),
        ("1::", "ipv6", "1::", 128, 10),
        ("::ffff:198.18.0.1", "ipv6", "::ffff:198.18.0.1", 128, 10),
        ("2001:db8::198.18.0.1/128#3", "ipv6", "2001:db8::c612:1", 128, 3),
        ("fe80::1:2:3:4:5:6", "ipv6", "fe80:0:1:2:3:4:5:6", 128, 10),
    ],
)
def test_parse_ip_subnets(text: str, kind: str, address: str, prefix: int, weight: int) -> None:
    subnet = Subnet.parse(text)
    assert (subnet.kind, subnet.address, subnet.prefix, subnet.weight) == (
        kind,
        parse_ip(address),
        prefix,
        weight,
    )


@pytest.mark.parametrize(
    ("text", "mac", "weight"),
    [
        ("02:00:00:00:00:02", "02:00:00:00:00:02", 10),
        ("2:0:0:0:0:2#10", "02:00:00:00:00:02", 10),  # what 1.0.36 itself prints
        ("AA:bb:Cc:dD:ee:FF#1", "aa:bb:cc:dd:ee:ff", 1),
        # %hx takes a 0x prefix, and the byte keeps only the low 8 bits of a group
        ("0x1:2:3:4:5:6", "01:02:03:04:05:06", 10),
        ("100:2:3:4:5:1ff", "00:02:03:04:05:ff", 10),
    ],
)
def test_parse_mac_subnets(text: str, mac: str, weight: int) -> None:
    subnet = Subnet.parse(text)
    assert (subnet.kind, subnet.address, subnet.prefix, subnet.weight) == (
        "mac",
        parse_mac(mac),
        48,
        weight,
    )


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # sscanf lets every number have a sign and leading blanks
        ("+198.18.0.1", "198.18.0.1/32#10"),
        ("198. 18.0.1", "198.18.0.1/32#10"),
        ("198.18.0.1/ 24#+5", "198.18.0.1/24#5"),
        # %hu wraps at 16 bits before tincd checks for 255
        ("65734.18.0.1", "198.18.0.1/32#10"),
        # %d wraps at 32 bits (strtol, then truncation to int)
        ("198.18.0.1#4294967306", "198.18.0.1/32#10"),
        ("198.18.0.1#99999999999999999999", "198.18.0.1/32#-1"),
        ("198.018.000.003", "198.18.0.3/32#10"),
    ],
)
def test_parse_follows_sscanf_quirks(text: str, expected: str) -> None:
    assert str(Subnet.parse(text, check_host_bits=False)) == expected


def test_parse_looks_at_the_first_1023_characters_only() -> None:
    # str2net copies the text into a 1024-byte buffer first
    text = "198.18.0.1#" + "0" * 1012 + "12345"
    assert Subnet.parse(text).weight == 0


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("", "is not a MAC, IPv4 or IPv6 subnet"),
        ("host.example", "is not a MAC, IPv4 or IPv6 subnet"),
        ("198.18.0.256", "above 255"),
        ("198.18.0.1/33", "too long for IPv4"),
        ("198.18.0.1/-1", "negative prefix length"),
        ("198.18.0.1/", "bad prefix length"),
        ("198.18.0.1/24x", "bad prefix length"),
        ("198.18.0.1#", "bad weight"),
        ("198.18.0.1#5/24", "bad weight"),
        ("198.18.0.1#1.5", "bad weight"),
        ("2001:db8::1/129", "too long for IPv6"),
        ("1::2::3", "is not a MAC, IPv4 or IPv6 subnet"),
        ("1:2:3:4:5:6:7:8::", "already eight groups"),
        ("::1.2.3.999", "above 255"),
        ("1:2:3:4:5:6:7", "is not a MAC, IPv4 or IPv6 subnet"),
        ("02:00:00:00:00:02/48", "cannot have a prefix length"),
        ("198.18.0.1/24", "do not match"),
        ("2001:db8::1/32", "do not match"),
        ("198.18.0.1\0", "NUL"),
    ],
)
def test_parse_rejects(text: str, reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        Subnet.parse(text)


def test_host_bits_are_allowed_for_subnets_from_peers() -> None:
    # tincd checks host bits only for Subnet = in its own configuration
    subnet = Subnet.parse("198.18.0.1/24", check_host_bits=False)
    assert subnet.address == ip4("198.18.0.1")
    assert not subnet.is_network()
    assert subnet.network() == Subnet.parse("198.18.0.0/24")
    with pytest.raises(ValueError, match=r"did you mean 198\.18\.0\.0/24"):
        Subnet.parse("198.18.0.1/24")


# -- printing as tincd prints ---------------------------------------------------


@pytest.mark.parametrize(
    ("text", "tincd10", "tinc11"),
    [
        # left column: lines logged by a real tincd 1.0.36 (tests/unit/meta/tincd10_lines.txt)
        ("198.18.0.2", "198.18.0.2/32#10", "198.18.0.2"),
        ("198.18.1.0/24#5", "198.18.1.0/24#5", "198.18.1.0/24#5"),
        ("02:00:00:00:00:02", "2:0:0:0:0:2#10", "02:00:00:00:00:02"),
        ("2001:db8:1::/48", "2001:db8:1:0:0:0:0:0/48#10", "2001:db8:1::/48"),
        ("2001:db8:2::1", "2001:db8:2:0:0:0:0:1/128#10", "2001:db8:2::1"),
        ("198.18.0.3/32#20", "198.18.0.3/32#20", "198.18.0.3#20"),
        ("::ffff:198.18.0.1", "0:0:0:0:0:ffff:c612:1/128#10", "::ffff:198.18.0.1"),
        ("0.0.0.0/0#0", "0.0.0.0/0#0", "0.0.0.0/0#0"),
    ],
)
def test_format(text: str, tincd10: str, tinc11: str) -> None:
    subnet = Subnet.parse(text)
    assert str(subnet) == tincd10
    assert subnet.format("1.0") == tincd10
    assert subnet.format("1.1") == tinc11


def test_format_rejects_unknown_style() -> None:
    with pytest.raises(ValueError, match="style"):
        Subnet.parse("198.18.0.1").format("2.0")  # type: ignore[arg-type]


# -- matching and order ---------------------------------------------------------


def test_contains_ipv4() -> None:
    subnet = Subnet.parse("198.18.4.0/22")
    assert subnet.contains(ip4("198.18.4.0"))
    assert subnet.contains(ip4("198.18.7.255"))
    assert not subnet.contains(ip4("198.18.8.0"))
    assert not subnet.contains(ip4("198.18.3.255"))
    assert Subnet.parse("0.0.0.0/0").contains(ip4("203.0.113.9"))
    host = Subnet.parse("198.18.0.1")
    assert host.contains(ip4("198.18.0.1"))
    assert not host.contains(ip4("198.18.0.2"))


def test_contains_ignores_host_bits_of_the_subnet() -> None:
    subnet = Subnet.parse("198.18.0.77/24", check_host_bits=False)
    assert subnet.contains(ip4("198.18.0.1"))
    assert not subnet.contains(ip4("198.18.1.77"))


def test_contains_ipv6_and_mac() -> None:
    subnet = Subnet.parse("2001:db8:1::/48")
    assert subnet.contains(parse_ip("2001:db8:1:ffff::1"))
    assert not subnet.contains(parse_ip("2001:db8:2::1"))
    mac = Subnet.parse("02:00:00:00:00:02")
    assert mac.contains(parse_mac("02:00:00:00:00:02"))
    assert not mac.contains(parse_mac("02:00:00:00:00:03"))


def test_contains_refuses_other_address_lengths() -> None:
    assert not Subnet.parse("0.0.0.0/0").contains(parse_ip("::"))
    assert not Subnet.parse("::/0").contains(ip4("198.18.0.1"))


def test_sort_key_follows_tincd_subnet_tree() -> None:
    texts = [
        "2001:db8::/32",
        "198.18.0.0/15",
        "198.18.0.1#20",
        "02:00:00:00:00:02",
        "198.18.0.1#5",
        "198.18.0.0/24",
        "2001:db8::1",
        "01:00:00:00:00:09",
        "198.18.0.2",
    ]
    ordered = sorted((Subnet.parse(text) for text in texts), key=Subnet.sort_key)
    assert [subnet.format("1.1") for subnet in ordered] == [
        # MAC first, by address; then IPv4 and IPv6, longest prefix first,
        # then by address, then by weight
        "01:00:00:00:00:09",
        "02:00:00:00:00:02",
        "198.18.0.1#5",
        "198.18.0.1#20",
        "198.18.0.2",
        "198.18.0.0/24",
        "198.18.0.0/15",
        "2001:db8::1",
        "2001:db8::/32",
    ]


def test_sort_key_orders_equal_subnets_by_owner() -> None:
    subnet = Subnet.parse("198.18.0.0/24")
    owners = ["gamma", "Zulu", "alpha", "beta_2"]
    # strcmp: upper case sorts before lower case
    assert sorted(owners, key=subnet.sort_key) == ["Zulu", "alpha", "beta_2", "gamma"]
    assert subnet.sort_key() < subnet.sort_key("a")


def test_first_match_in_tree_order_is_the_most_specific() -> None:
    table = sorted(
        [Subnet.parse(t) for t in ("198.18.0.0/15", "198.18.0.0/16", "198.18.0.128/25")],
        key=Subnet.sort_key,
    )
    first = next(s for s in table if s.contains(ip4("198.18.0.200")))
    assert first.format("1.1") == "198.18.0.128/25"


# -- construction ---------------------------------------------------------------


def test_from_address() -> None:
    assert Subnet.from_address(ip4("198.18.0.1")) == Subnet.parse("198.18.0.1")
    assert Subnet.from_address(ip4("198.18.0.0"), 24, 3) == Subnet.parse("198.18.0.0/24#3")
    assert Subnet.from_address(parse_ip("2001:db8::1")).prefix == 128
    assert Subnet.from_address(parse_mac("02:00:00:00:00:02")).kind == "mac"
    with pytest.raises(ValueError, match="6, 4 or 16 bytes"):
        Subnet.from_address(b"\x01\x02")


@pytest.mark.parametrize(
    ("args", "reason"),
    [
        (("ipv4", b"\x00" * 4, 33), "out of range"),
        (("ipv6", b"\x00" * 4, 32), "16-byte address"),
        (("mac", b"\x00" * 6, 24), "always 48"),
        (("ipx", b"\x00" * 4, 24), "kind"),
        (("ipv4", b"\x00" * 4, 24, 2**31), "C int"),
    ],
)
def test_constructor_validates(args: tuple, reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        Subnet(*args)


def test_default_weight_is_tincs() -> None:
    assert DEFAULT_WEIGHT == 10
    assert Subnet.parse("198.18.0.1").weight == 10


def test_address_helpers() -> None:
    assert format_mac(parse_mac("2:0:a:bb:C:d")) == "02:00:0a:bb:0c:0d"
    assert format_ip(parse_ip("2001:db8:0:0:0:0:0:1")) == "2001:db8::1"
    assert format_ip(parse_ip("198.18.0.1")) == "198.18.0.1"
    for bad in ("02:00:00:00:00", "02:00:00:00:00:002", "gg:00:00:00:00:00"):
        with pytest.raises(ValueError):
            parse_mac(bad)
    with pytest.raises(ValueError):
        parse_ip("198.18.0.256")
    with pytest.raises(ValueError):
        format_ip(b"\x00" * 5)
    with pytest.raises(ValueError):
        format_mac(b"\x00" * 5)


# -- properties -------------------------------------------------------------------

macs = st.builds(
    lambda address, weight: Subnet("mac", address, 48, weight),
    st.binary(min_size=6, max_size=6),
    INT32,
)
ipv4s = st.builds(
    lambda address, prefix, weight: Subnet("ipv4", address, prefix, weight),
    st.binary(min_size=4, max_size=4),
    st.integers(0, 32),
    INT32,
)
ipv6s = st.builds(
    lambda address, prefix, weight: Subnet("ipv6", address, prefix, weight),
    st.binary(min_size=16, max_size=16),
    st.integers(0, 128),
    INT32,
)
subnets = st.one_of(macs, ipv4s, ipv6s)


@given(subnets)
def test_round_trip_tincd10_text(subnet: Subnet) -> None:
    assert Subnet.parse(str(subnet), check_host_bits=False) == subnet


@given(subnets)
def test_round_trip_tinc11_text(subnet: Subnet) -> None:
    assert Subnet.parse(subnet.format("1.1"), check_host_bits=False) == subnet


@given(subnets)
def test_networks_pass_the_host_bit_check(subnet: Subnet) -> None:
    network = subnet.network()
    assert Subnet.parse(str(network)) == network
    assert network.contains(subnet.address)


@given(st.text(alphabet="0123456789abcdefABCDEF:./#+-x \t", max_size=40))
def test_parse_raises_only_value_error(text: str) -> None:
    try:
        subnet = Subnet.parse(text, check_host_bits=False)
    except ValueError:
        return
    assert Subnet.parse(str(subnet), check_host_bits=False) == subnet


# -- the sscanf emulation against the C library's own sscanf ----------------------

_LIBC = ctypes.CDLL(ctypes.util.find_library("c"))

_CONVERSIONS = [
    # (scanf conversion, ctypes type, base, signed, bits)
    ("%d", ctypes.c_int, 10, True, 32),
    ("%hd", ctypes.c_short, 10, True, 16),
    ("%hu", ctypes.c_ushort, 10, False, 16),
    ("%x", ctypes.c_uint, 16, False, 32),
    ("%hx", ctypes.c_ushort, 16, False, 16),
    ("%lu", ctypes.c_ulong, 10, False, 64),
    ("%2d", ctypes.c_int, 10, True, 32),
    ("%3x", ctypes.c_uint, 16, False, 32),
]


@given(
    st.sampled_from(_CONVERSIONS),
    st.text(alphabet=" \t+-0123456789abcdefABCDEFxXg.:", max_size=30),
)
def test_scan_c_int_matches_libc_sscanf(conversion: tuple, text: str) -> None:
    spec, ctype, base, signed, bits = conversion
    width = int(spec[1:-1]) if spec[1:-1].isdigit() else None
    value = ctype()
    consumed = ctypes.c_int(-1)
    count = _LIBC.sscanf(
        text.encode(), (spec + "%n").encode(), ctypes.byref(value), ctypes.byref(consumed)
    )
    mine = scan_c_int(text, 0, base=base, signed=signed, bits=bits, width=width)
    if count == 1:
        assert mine == (value.value, consumed.value)
    else:
        assert mine is None
