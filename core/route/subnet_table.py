"""Who owns an address: the subnet table and tincd 1.0.36's lookup rules.

tincd keeps all subnets in one tree ordered by type (MAC, IPv4, IPv6), then
for IP subnets by prefix length (longest first), address, weight (lowest
first) and owner name; MAC subnets by address, weight and owner name
(``subnet.c``, ``subnet_compare``). A lookup walks that order and returns the
first matching subnet whose owner is reachable, or, when no owner of a match is
reachable, the *last* match in that order (``lookup_subnet_ipv4`` and friends).
A lower weight therefore wins among equally specific subnets, and a more
specific subnet of an unreachable node loses to a less specific one of a
reachable node.

Subnet addresses are compared under their prefix only: tincd does not require
host bits to be zero for subnets learned from peers, so ``198.18.0.1/24`` and
``198.18.0.2/24`` are two subnets that both cover ``198.18.0.9``.

The table indexes subnets by prefix length so a lookup costs one dictionary
probe per distinct prefix length, and caches answers per address until the
table or reachability changes (tincd keeps a two-entry cache that it flushes
on the same events; call :meth:`SubnetTable.flush_cache` after a graph run).
Unlike tincd's cache, this one never returns an answer a fresh lookup would
not give.
"""

from __future__ import annotations

from bisect import insort
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from tinca.core.subnet import Subnet

#: answers cached per address family before the cache starts over
_CACHE_LIMIT = 4096


SortKey = tuple[int, int, bytes, int, bytes]
"""Where an entry sorts in tinc's subnet tree (:meth:`Subnet.sort_key`)."""


@dataclass(frozen=True, slots=True)
class SubnetMatch:
    """The answer to a lookup: the owning node and its subnet."""

    owner: str
    subnet: Subnet


def _always_reachable(name: str) -> bool:
    return True


class _IPIndex:
    """IP subnets of one family, bucketed by prefix length and masked address."""

    def __init__(self, bits: int) -> None:
        self.bits = bits
        #: prefix length -> masked address (as int, shifted) -> entries in tree order
        self.buckets: dict[int, dict[int, list[tuple[SortKey, SubnetMatch]]]] = {}
        #: the prefix lengths present, longest first
        self.prefixes: list[int] = []

    def _key(self, address: bytes, prefix: int) -> int:
        return int.from_bytes(address, "big") >> (self.bits - prefix)

    def add(self, match: SubnetMatch) -> None:
        subnet = match.subnet
        prefix = subnet.prefix
        bucket = self.buckets.get(prefix)
        if bucket is None:
            bucket = self.buckets[prefix] = {}
            self.prefixes = sorted(self.buckets, reverse=True)
        entries = bucket.setdefault(self._key(subnet.address, prefix), [])
        insort(entries, (subnet.sort_key(match.owner), match), key=lambda e: e[0])

    def remove(self, match: SubnetMatch) -> None:
        subnet = match.subnet
        prefix = subnet.prefix
        bucket = self.buckets[prefix]
        key = self._key(subnet.address, prefix)
        entries = bucket[key]
        for i, (_, m) in enumerate(entries):
            if m == match:
                del entries[i]
                break
        if not entries:
            del bucket[key]
            if not bucket:
                del self.buckets[prefix]
                self.prefixes = sorted(self.buckets, reverse=True)

    def lookup(self, address: bytes, reachable: Callable[[str], bool]) -> SubnetMatch | None:
        value = int.from_bytes(address, "big")
        bits = self.bits
        found = None
        for prefix in self.prefixes:
            entries = self.buckets[prefix].get(value >> (bits - prefix))
            if entries is None:
                continue
            for _, match in entries:
                found = match
                if reachable(match.owner):
                    return match
        return found


class SubnetTable:
    """All subnets of all nodes, with tincd 1.0.36's lookups.

    ``reachable(name)`` tells whether a node is reachable now; the node wires it
    to the graph and calls :meth:`flush_cache` whenever reachability changes.
    """

    def __init__(self, reachable: Callable[[str], bool] = _always_reachable) -> None:
        self._reachable = reachable
        self._owned: dict[str, set[Subnet]] = {}
        self._ipv4 = _IPIndex(32)
        self._ipv6 = _IPIndex(128)
        #: MAC address -> entries in tree order
        self._mac: dict[bytes, list[tuple[SortKey, SubnetMatch]]] = {}
        self._cache4: dict[bytes, SubnetMatch | None] = {}
        self._cache6: dict[bytes, SubnetMatch | None] = {}
        self._cache_mac: dict[bytes, SubnetMatch | None] = {}

    # -- changes ------------------------------------------------------------

    def set_reachability(self, reachable: Callable[[str], bool]) -> None:
        """Use ``reachable`` from now on (and forget cached answers)."""
        self._reachable = reachable
        self.flush_cache()

    def flush_cache(self) -> None:
        """Forget cached answers; needed after reachability changed."""
        self._cache4.clear()
        self._cache6.clear()
        self._cache_mac.clear()

    def add(self, owner: str, subnet: Subnet) -> bool:
        """Add ``subnet`` for ``owner``; ``False`` if it was already there.

        Two subnets are the same when their type, address, prefix length and
        weight are equal, as in tincd's tree.
        """
        owned = self._owned.setdefault(owner, set())
        if subnet in owned:
            return False
        owned.add(subnet)
        match = SubnetMatch(owner, subnet)
        if subnet.kind == "mac":
            insort(self._mac.setdefault(bytes(subnet.address), []),
                   (subnet.sort_key(owner), match), key=lambda e: e[0])
        else:
            self._index(subnet).add(match)
        self.flush_cache()
        return True

    def remove(self, owner: str, subnet: Subnet) -> bool:
        """Remove ``subnet`` of ``owner``; ``False`` if it was not there."""
        owned = self._owned.get(owner)
        if not owned or subnet not in owned:
            return False
        owned.discard(subnet)
        if not owned:
            del self._owned[owner]
        match = SubnetMatch(owner, subnet)
        if subnet.kind == "mac":
            address = bytes(subnet.address)
            entries = self._mac[address]
            entries[:] = [e for e in entries if e[1] != match]
            if not entries:
                del self._mac[address]
        else:
            self._index(subnet).remove(match)
        self.flush_cache()
        return True

    def remove_owner(self, owner: str) -> list[Subnet]:
        """Remove every subnet of ``owner``; returns them in tree order."""
        gone = self.subnets_of(owner)
        for subnet in gone:
            self.remove(owner, subnet)
        return gone

    def _index(self, subnet: Subnet) -> _IPIndex:
        return self._ipv4 if subnet.kind == "ipv4" else self._ipv6

    # -- queries ------------------------------------------------------------

    def has(self, owner: str, subnet: Subnet) -> bool:
        """Whether ``owner`` has exactly this subnet (tincd's ``lookup_subnet``)."""
        return subnet in self._owned.get(owner, ())

    def subnets_of(self, owner: str) -> list[Subnet]:
        """The subnets of ``owner`` in tincd's order (subnet-up scripts run so)."""
        owned = self._owned.get(owner, ())
        return sorted(owned, key=lambda s: s.sort_key(owner))

    def owners(self) -> list[str]:
        """Names of the nodes that own at least one subnet, sorted."""
        return sorted(self._owned)

    def __iter__(self) -> Iterator[SubnetMatch]:
        """Every (owner, subnet) in tincd's global tree order (``dump subnets``)."""
        everything = [SubnetMatch(o, s) for o, subs in self._owned.items() for s in subs]
        everything.sort(key=lambda m: m.subnet.sort_key(m.owner))
        return iter(everything)

    def __len__(self) -> int:
        return sum(len(s) for s in self._owned.values())

    def lookup_ipv4(self, address: bytes) -> SubnetMatch | None:
        """The subnet tincd routes the 4-byte IPv4 ``address`` to, or ``None``."""
        if type(address) is not bytes:
            address = bytes(address)
        cache = self._cache4
        try:
            return cache[address]
        except KeyError:
            pass
        if len(address) != 4:
            raise ValueError("an IPv4 address is 4 bytes")
        found = self._ipv4.lookup(address, self._reachable)
        if len(cache) >= _CACHE_LIMIT:
            cache.clear()
        cache[address] = found
        return found

    def lookup_ipv6(self, address: bytes) -> SubnetMatch | None:
        """The subnet tincd routes the 16-byte IPv6 ``address`` to, or ``None``."""
        if type(address) is not bytes:
            address = bytes(address)
        cache = self._cache6
        try:
            return cache[address]
        except KeyError:
            pass
        if len(address) != 16:
            raise ValueError("an IPv6 address is 16 bytes")
        found = self._ipv6.lookup(address, self._reachable)
        if len(cache) >= _CACHE_LIMIT:
            cache.clear()
        cache[address] = found
        return found

    def lookup_mac(self, address: bytes, owner: str | None = None) -> SubnetMatch | None:
        """The MAC subnet for the 6-byte ``address``, or ``None``.

        With ``owner``, only that node's subnets are searched (tincd does this
        to learn MAC addresses seen on our own device).
        """
        if type(address) is not bytes:
            address = bytes(address)
        if owner is None:
            cache = self._cache_mac
            try:
                return cache[address]
            except KeyError:
                pass
        if len(address) != 6:
            raise ValueError("a MAC address is 6 bytes")
        found = None
        reachable = self._reachable
        for _, match in self._mac.get(address, ()):
            if owner is not None and match.owner != owner:
                continue
            found = match
            if reachable(match.owner):
                break
        if owner is None:
            if len(cache) >= _CACHE_LIMIT:
                cache.clear()
            cache[address] = found
        return found
