"""Subnet lookups as tincd 1.0.36's lookup_subnet_* answer them."""

from __future__ import annotations

import ipaddress

from hypothesis import given, settings
from hypothesis import strategies as st

from tinca.core.route.subnet_table import SubnetMatch, SubnetTable
from tinca.core.subnet import Subnet


def sn(text: str) -> Subnet:
    return Subnet.parse(text, check_host_bits=False)


def v4(text: str) -> bytes:
    return ipaddress.IPv4Address(text).packed


def v6(text: str) -> bytes:
    return ipaddress.IPv6Address(text).packed


def owner_of(match: SubnetMatch | None) -> str | None:
    return None if match is None else match.owner


def test_longest_prefix_wins() -> None:
    table = SubnetTable()
    table.add("wide", sn("198.18.0.0/16"))
    table.add("narrow", sn("198.18.5.0/24"))
    table.add("host", sn("198.18.5.7"))
    assert owner_of(table.lookup_ipv4(v4("198.18.5.7"))) == "host"
    assert owner_of(table.lookup_ipv4(v4("198.18.5.8"))) == "narrow"
    assert owner_of(table.lookup_ipv4(v4("198.18.6.1"))) == "wide"
    assert table.lookup_ipv4(v4("198.19.0.1")) is None


def test_lowest_weight_wins_then_owner_name() -> None:
    table = SubnetTable()
    table.add("zulu", sn("198.18.0.0/24#5"))
    table.add("alpha", sn("198.18.0.0/24#20"))
    match = table.lookup_ipv4(v4("198.18.0.1"))
    assert match == SubnetMatch("zulu", sn("198.18.0.0/24#5"))
    table.add("bravo", sn("198.18.0.0/24#5"))
    assert owner_of(table.lookup_ipv4(v4("198.18.0.1"))) == "bravo"


def test_unreachable_owner_is_passed_over() -> None:
    up = {"backup"}
    table = SubnetTable(lambda name: name in up)
    table.add("primary", sn("198.18.0.0/24#1"))
    table.add("backup", sn("198.18.0.0/24#9"))
    table.add("far", sn("198.18.0.0/16"))
    assert owner_of(table.lookup_ipv4(v4("198.18.0.1"))) == "backup"
    # Reachability changed: answers are stale until the cache is flushed.
    up.add("primary")
    table.flush_cache()
    assert owner_of(table.lookup_ipv4(v4("198.18.0.1"))) == "primary"


def test_no_reachable_owner_gives_the_last_match_in_tree_order() -> None:
    table = SubnetTable(lambda name: False)
    table.add("host", sn("198.18.0.1"))
    table.add("net_light", sn("198.18.0.0/24#1"))
    table.add("net_heavy", sn("198.18.0.0/24#50"))
    table.add("wide", sn("198.18.0.0/15"))
    assert owner_of(table.lookup_ipv4(v4("198.18.0.1"))) == "wide"
    table.remove("wide", sn("198.18.0.0/15"))
    assert owner_of(table.lookup_ipv4(v4("198.18.0.1"))) == "net_heavy"


def test_host_bits_of_learned_subnets_are_ignored_and_order_by_address() -> None:
    table = SubnetTable(lambda name: name != "low")
    table.add("high", sn("198.18.0.200/24"))
    table.add("low", sn("198.18.0.1/24"))
    # Both cover .9; .1 sorts first, but its owner is down.
    assert owner_of(table.lookup_ipv4(v4("198.18.0.9"))) == "high"


def test_default_route_and_odd_prefixes() -> None:
    table = SubnetTable()
    table.add("default", sn("0.0.0.0/0"))
    table.add("odd", sn("198.18.0.0/15"))
    assert owner_of(table.lookup_ipv4(v4("198.19.255.255"))) == "odd"
    assert owner_of(table.lookup_ipv4(v4("198.20.0.0"))) == "default"


def test_ipv6_lookup() -> None:
    table = SubnetTable()
    table.add("site", sn("2001:db8::/32"))
    table.add("lan", sn("2001:db8:1::/48"))
    table.add("host", sn("2001:db8:1::7"))
    assert owner_of(table.lookup_ipv6(v6("2001:db8:1::7"))) == "host"
    assert owner_of(table.lookup_ipv6(v6("2001:db8:1::8"))) == "lan"
    assert owner_of(table.lookup_ipv6(v6("2001:db8:2::1"))) == "site"
    assert table.lookup_ipv6(v6("2001:db9::1")) is None
    assert table.lookup_ipv4(v4("198.18.0.1")) is None


def test_mac_lookup_with_and_without_owner() -> None:
    up = {"beta"}
    table = SubnetTable(lambda name: name in up)
    mac = bytes.fromhex("02aabbccddee")
    table.add("alpha", sn("02:aa:bb:cc:dd:ee#5"))
    table.add("beta", sn("02:aa:bb:cc:dd:ee#10"))
    assert owner_of(table.lookup_mac(mac)) == "beta"
    assert owner_of(table.lookup_mac(mac, owner="alpha")) == "alpha"
    assert table.lookup_mac(mac, owner="gamma") is None
    assert table.lookup_mac(bytes(6)) is None


def test_cache_follows_changes() -> None:
    table = SubnetTable()
    address = v4("198.18.0.1")
    assert table.lookup_ipv4(address) is None
    assert table.add("alpha", sn("198.18.0.0/24"))
    assert owner_of(table.lookup_ipv4(address)) == "alpha"
    assert not table.add("alpha", sn("198.18.0.0/24"))
    assert table.add("beta", sn("198.18.0.1"))
    assert owner_of(table.lookup_ipv4(address)) == "beta"
    assert table.remove("beta", sn("198.18.0.1"))
    assert not table.remove("beta", sn("198.18.0.1"))
    assert owner_of(table.lookup_ipv4(address)) == "alpha"
    # A bytearray key (a slice of a packet) works as well as bytes.
    assert owner_of(table.lookup_ipv4(bytearray(address))) == "alpha"


def test_subnets_of_and_iteration_in_tree_order() -> None:
    table = SubnetTable()
    for text in ("2001:db8::/32", "198.18.0.0/16", "198.18.1.0/24#3", "198.18.1.0/24#1",
                 "02:00:00:00:00:01"):
        table.add("alpha", sn(text))
    table.add("beta", sn("198.18.1.0/24#1"))
    assert [str(s) for s in table.subnets_of("alpha")] == [
        "2:0:0:0:0:1#10", "198.18.1.0/24#1", "198.18.1.0/24#3", "198.18.0.0/16#10",
        "2001:db8:0:0:0:0:0:0/32#10"]
    assert [(m.owner, str(m.subnet)) for m in table][1:4] == [
        ("alpha", "198.18.1.0/24#1"), ("beta", "198.18.1.0/24#1"), ("alpha", "198.18.1.0/24#3")]
    assert len(table) == 6
    assert table.owners() == ["alpha", "beta"]
    assert table.has("beta", sn("198.18.1.0/24#1"))
    assert not table.has("beta", sn("198.18.1.0/24#3"))
    removed = table.remove_owner("alpha")
    assert len(removed) == 5 and len(table) == 1


owners = st.sampled_from(["alpha", "bravo", "charlie", "delta"])
subnets4 = st.builds(
    lambda a, p, w: Subnet("ipv4", a, p, w),
    st.binary(min_size=4, max_size=4).map(lambda b: b"\xc6\x12" + b[2:]),
    st.integers(14, 32), st.integers(0, 3))


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(owners, subnets4), max_size=20), st.sets(owners),
       st.lists(st.binary(min_size=2, max_size=2), min_size=1, max_size=10))
def test_matches_a_walk_of_the_sorted_tree(entries, up, tails) -> None:
    """The indexed lookup equals tincd's linear walk over the sorted tree."""
    table = SubnetTable(lambda name: name in up)
    for owner, subnet in entries:
        table.add(owner, subnet)
    tree = sorted(set(entries), key=lambda e: e[1].sort_key(e[0]))
    for tail in tails:
        address = b"\xc6\x12" + tail
        expected = None
        for owner, subnet in tree:
            if subnet.contains(address):
                expected = (owner, subnet)
                if owner in up:
                    break
        got = table.lookup_ipv4(address)
        assert (None if got is None else (got.owner, got.subnet)) == expected
