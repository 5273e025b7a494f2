"""tinc's subnets: parsing and printing them as tincd does, matching and ordering.

A subnet is what a node announces it can deliver: a MAC address (switch mode),
an IPv4 or an IPv6 network, each with a weight (lower wins among equal
networks). The text form is ``ADDRESS[/PREFIX][#WEIGHT]``.

Facts this module relies on (tinc's source, tag ``release-1.0.36``):

* Parsing is ``str2net`` in ``src/subnet.c``. It works with ``sscanf``: the
  weight after ``#`` and the prefix after ``/`` are ``%d`` numbers, a MAC is
  six ``%hx`` groups (one or two digits, and whatever else ``%hx`` takes),
  IPv4 is four ``%hu`` numbers of at most 255, and IPv6 is expanded by hand
  (a dotted-quad tail, one ``::``) to eight ``%hx`` groups. Every quirk of
  those conversions (a sign, a ``0x`` prefix, leading blanks, values that wrap
  at 16 bits) is reproduced here, so we accept exactly what tincd accepts.
* Printing is ``net2str``: 1.0.36 always prints the prefix and the weight and
  never shortens anything (``0:11:22:33:44:55#10``, ``198.18.0.1/32#10``,
  ``2001:db8:0:0:0:0:0:1/128#10``). tinc 1.1 (``src/subnet_parse.c``) pads MAC
  bytes to two digits, prints addresses with ``inet_ntop`` (so IPv6 is
  compressed), leaves out ``/32`` and ``/128`` and leaves out ``#10``. Each
  version parses the other's output.
* The default weight is 10 (``str2net``; 1.1 calls it ``DEFAULT_WEIGHT``).
* Host bits under the prefix are refused only for configured subnets
  (``get_config_subnet`` in ``src/conf.c``; 1.1's ``subnetcheck``); subnets
  learned through ``ADD_SUBNET`` are taken as they are.
* The subnet tree is ordered by ``subnet_compare`` in ``src/subnet.c``: MAC
  before IPv4 before IPv6; MACs by address, then weight, then owner name; IP
  subnets by *longer prefix first*, then address, then weight, then owner name.
  Lookups walk that order and take the first match whose owner is reachable.
"""

from __future__ import annotations

import socket
from dataclasses import dataclass, field
from typing import Literal

SubnetKind = Literal["mac", "ipv4", "ipv6"]

#: weight of a subnet written without ``#WEIGHT`` (tinc's ``DEFAULT_WEIGHT``)
DEFAULT_WEIGHT = 10

#: how many bytes of a subnet string 1.0.36's str2net looks at (it copies the
#: text into a 1024-byte buffer first)
STR2NET_MAX_LENGTH = 1023

#: address length in bytes for each kind
ADDRESS_LENGTH: dict[str, int] = {"mac": 6, "ipv4": 4, "ipv6": 16}

#: the position of each kind in tincd's subnet tree (``subnet_type_t``)
_KIND_ORDER: dict[str, int] = {"mac": 0, "ipv4": 1, "ipv6": 2}

_INT32_MIN = -(2**31)
_INT32_MAX = 2**31 - 1

# ---------------------------------------------------------------------------
# C sscanf integer conversions, as glibc performs them

#: what C's isspace() accepts in the "C" locale; sscanf skips these
C_SPACE = frozenset(" \t\n\v\f\r")
_DEC_DIGITS = frozenset("0123456789")
_HEX_DIGITS = frozenset("0123456789abcdefABCDEF")
_LONG_MIN = -(2**63)
_LONG_MAX = 2**63 - 1
_ULONG_MAX = 2**64 - 1


def scan_c_int(
    text: str,
    pos: int,
    *,
    base: Literal[10, 16],
    signed: bool,
    bits: int,
    width: int | None = None,
) -> tuple[int, int] | None:
    """One ``sscanf`` integer conversion (``%d``, ``%u``, ``%x`` with ``h``/``l``).

    Starts at ``pos``, skips C white space, then reads an optional sign, for
    ``base`` 16 an optional ``0x``, and digits, reading at most ``width``
    characters after the blanks. Returns ``(value, end)`` or ``None`` when
    there is no number (sscanf's matching failure). The value is what the C
    variable receives: ``strtol``/``strtoul`` on 64-bit Linux (clamped at the
    ``long`` range, negated modulo 2**64 for unsigned) then truncated to
    ``bits`` bits, signed or not. tinc's request and subnet parsers are built
    on these conversions, and this is shared by :mod:`tinca.core.meta.requests`.
    """
    n = len(text)
    while pos < n and text[pos] in C_SPACE:
        pos += 1
    left = -1 if width is None else width
    negative = False
    digits: list[str] = []
    if pos < n and left != 0 and text[pos] in "+-":
        negative = text[pos] == "-"
        pos += 1
        left -= 1
    if pos < n and left != 0 and text[pos] == "0":
        # glibc takes the '0' as a digit, and for %x also swallows an 'x' after
        # it even when no hex digit follows ("0xg" reads as 0, two characters).
        digits.append("0")
        pos += 1
        left -= 1
        if base == 16 and pos < n and left != 0 and text[pos] in "xX":
            pos += 1
            left -= 1
    allowed = _HEX_DIGITS if base == 16 else _DEC_DIGITS
    while pos < n and left != 0 and text[pos] in allowed:
        digits.append(text[pos])
        pos += 1
        left -= 1
    if not digits:
        return None
    magnitude = int("".join(digits), base)
    if signed:
        value = -magnitude if negative else magnitude
        value = max(_LONG_MIN, min(_LONG_MAX, value))
    elif magnitude > _ULONG_MAX:
        value = _ULONG_MAX
    else:
        value = (-magnitude if negative else magnitude) & _ULONG_MAX
    value &= (1 << bits) - 1
    if signed and value >> (bits - 1):
        value -= 1 << bits
    return value, pos


def _scan_groups(
    text: str, pos: int, count: int, separator: str, base: Literal[10, 16]
) -> tuple[list[int], int] | None:
    """``sscanf(text + pos, "%h?<sep>%h?<sep>...")`` with ``count`` conversions."""
    values: list[int] = []
    for index in range(count):
        if index:
            if pos >= len(text) or text[pos] != separator:
                return None
            pos += 1
        scanned = scan_c_int(text, pos, base=base, signed=False, bits=16)
        if scanned is None:
            return None
        value, pos = scanned
        values.append(value)
    return values, pos


def _scan_suffix_number(text: str, what: str, original: str) -> int:
    """``sscanf(text, "%d%n")`` that must use up the whole text."""
    scanned = scan_c_int(text, 0, base=10, signed=True, bits=32)
    if scanned is None or scanned[1] != len(text):
        raise ValueError(f"bad {what} {text!r} in subnet {original!r}")
    return scanned[0]


def _count_groups(text: str) -> int:
    """How many runs of non-colon characters ``text`` has."""
    runs = 0
    previous_colon = True
    for char in text:
        if char != ":" and previous_colon:
            runs += 1
        previous_colon = char == ":"
    return runs


def _expand_ipv6(text: str, original: str) -> str:
    """Rewrite an IPv6 address the way 1.0.36 does before its final sscanf.

    A dotted-quad tail becomes two hex groups, and the first ``::`` becomes as
    many ``0:`` groups as are missing from eight.
    """
    last_colon = text.rfind(":")
    if last_colon >= 0:
        quad = _scan_groups(text, last_colon + 1, 4, ".", 10)
        if quad is not None and quad[1] == len(text):
            if any(part > 255 for part in quad[0]):
                raise ValueError(f"IPv4 part of {original!r} has a number above 255")
            a, b, c, d = quad[0]
            tail = f":{a:02x}{b:02x}:{c:02x}{d:02x}"
            # snprintf into what is left of the 1024-byte buffer
            text = text[:last_colon] + tail[: STR2NET_MAX_LENGTH - last_colon]
    double_colon = text.find("::")
    if double_colon >= 0:
        zero_groups = 8 - _count_groups(text)
        if zero_groups < 1:
            raise ValueError(f"{original!r} has '::' but already eight groups")
        text = text[: double_colon + 1] + "0:" * zero_groups + text[double_colon + 2 :]
        if text.startswith(":"):
            text = text[1:]
        if text.endswith(":"):
            text = text[:-1]
    return text


# ---------------------------------------------------------------------------
# plain address helpers


def parse_mac(text: str) -> bytes:
    """``00:11:22:33:44:55`` (one or two hex digits per byte) to 6 bytes."""
    parts = text.split(":")
    if len(parts) != 6 or not all(
        1 <= len(part) <= 2 and set(part) <= _HEX_DIGITS for part in parts
    ):
        raise ValueError(f"{text!r} is not a MAC address")
    return bytes(int(part, 16) for part in parts)


def format_mac(address: bytes) -> str:
    """6 bytes as ``00:11:22:33:44:55``."""
    if len(address) != 6:
        raise ValueError(f"a MAC address has 6 bytes, not {len(address)}")
    return ":".join(f"{byte:02x}" for byte in address)


def parse_ip(text: str) -> bytes:
    """An IPv4 or IPv6 address in standard notation to 4 or 16 bytes."""
    for family in (socket.AF_INET, socket.AF_INET6):
        try:
            return socket.inet_pton(family, text)
        except OSError:
            continue
    raise ValueError(f"{text!r} is not an IP address")


def format_ip(address: bytes) -> str:
    """4 or 16 bytes as ``inet_ntop`` prints them (what tinc 1.1 shows)."""
    if len(address) == 4:
        return socket.inet_ntop(socket.AF_INET, address)
    if len(address) == 16:
        return socket.inet_ntop(socket.AF_INET6, address)
    raise ValueError(f"an IP address has 4 or 16 bytes, not {len(address)}")


# ---------------------------------------------------------------------------
# the subnet


@dataclass(frozen=True)
class Subnet:
    """One tinc subnet: its kind, address bytes, prefix length and weight.

    ``address`` is 6 (MAC), 4 (IPv4) or 16 (IPv6) bytes; ``prefix`` is the
    prefix length, always 48 for a MAC. The address may have host bits set
    under the prefix when it came from a peer (tincd allows that); use
    :meth:`parse` with its default check for configured subnets. ``weight`` is
    a C ``int``. Equality covers all four fields, as tincd's subnet tree does.
    """

    kind: SubnetKind
    address: bytes
    prefix: int
    weight: int = DEFAULT_WEIGHT
    # address and mask as integers, so contains() is one AND and one compare
    _network: int = field(init=False, repr=False, compare=False)
    _mask: int = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        length = ADDRESS_LENGTH.get(self.kind)
        if length is None:
            raise ValueError(f"subnet kind must be mac, ipv4 or ipv6, not {self.kind!r}")
        if not isinstance(self.address, bytes) or len(self.address) != length:
            raise ValueError(f"a {self.kind} subnet needs a {length}-byte address")
        bits = length * 8
        if self.kind == "mac":
            if self.prefix != 48:
                raise ValueError("a MAC subnet has no prefix length (it is always 48)")
        elif not 0 <= self.prefix <= bits:
            raise ValueError(f"prefix length {self.prefix} is out of range for {self.kind}")
        if not _INT32_MIN <= self.weight <= _INT32_MAX:
            raise ValueError(f"weight {self.weight} does not fit a C int")
        mask = ((1 << self.prefix) - 1) << (bits - self.prefix)
        object.__setattr__(self, "_mask", mask)
        object.__setattr__(self, "_network", int.from_bytes(self.address, "big") & mask)

    # -- construction ------------------------------------------------------

    @classmethod
    def from_address(
        cls, address: bytes, prefix: int | None = None, weight: int = DEFAULT_WEIGHT
    ) -> Subnet:
        """A subnet from address bytes; the kind follows from the length (6/4/16).

        Without ``prefix`` the subnet is that one address (/32, /128, or the MAC).
        """
        kinds: dict[int, SubnetKind] = {6: "mac", 4: "ipv4", 16: "ipv6"}
        kind = kinds.get(len(address))
        if kind is None:
            raise ValueError(f"an address has 6, 4 or 16 bytes, not {len(address)}")
        if prefix is None:
            prefix = len(address) * 8
        return cls(kind, bytes(address), prefix, weight)

    @classmethod
    def parse(cls, text: str, *, check_host_bits: bool = True) -> Subnet:
        """Parse ``ADDRESS[/PREFIX][#WEIGHT]`` exactly as tincd 1.0.36's str2net.

        With ``check_host_bits`` (the default, as for ``Subnet =`` in a config
        file) an IP subnet whose address has bits set beyond its prefix is
        refused; pass ``False`` for subnets received from peers. Raises
        :class:`ValueError` naming what is wrong.
        """
        if "\0" in text:
            raise ValueError(f"subnet {text!r} contains a NUL character")
        body = text[:STR2NET_MAX_LENGTH]

        weight = DEFAULT_WEIGHT
        hash_at = body.find("#")
        if hash_at >= 0:
            weight = _scan_suffix_number(body[hash_at + 1 :], "weight", text)
            body = body[:hash_at]

        prefix = -1
        slash_at = body.find("/")
        if slash_at >= 0:
            prefix = _scan_suffix_number(body[slash_at + 1 :], "prefix length", text)
            body = body[:slash_at]
            if prefix < 0:
                raise ValueError(f"negative prefix length in subnet {text!r}")

        mac = _scan_groups(body, 0, 6, ":", 16)
        if mac is not None and mac[1] == len(body):
            if prefix >= 0:
                raise ValueError(f"MAC subnet {text!r} cannot have a prefix length")
            # tincd stores each %hx group in one byte: higher bits are dropped
            return cls("mac", bytes(part & 0xFF for part in mac[0]), 48, weight)

        ipv4 = _scan_groups(body, 0, 4, ".", 10)
        if ipv4 is not None and ipv4[1] == len(body):
            if prefix == -1:
                prefix = 32
            if prefix > 32:
                raise ValueError(f"prefix length {prefix} is too long for IPv4 in {text!r}")
            if any(part > 255 for part in ipv4[0]):
                raise ValueError(f"IPv4 subnet {text!r} has a number above 255")
            subnet = cls("ipv4", bytes(ipv4[0]), prefix, weight)
        else:
            expanded = _expand_ipv6(body, text)
            groups = _scan_groups(expanded, 0, 8, ":", 16)
            if groups is None or groups[1] != len(expanded):
                raise ValueError(f"{text!r} is not a MAC, IPv4 or IPv6 subnet")
            if prefix == -1:
                prefix = 128
            if prefix > 128:
                raise ValueError(f"prefix length {prefix} is too long for IPv6 in {text!r}")
            address = b"".join(group.to_bytes(2, "big") for group in groups[0])
            subnet = cls("ipv6", address, prefix, weight)

        if check_host_bits and not subnet.is_network():
            raise ValueError(
                f"network address and prefix length do not match in subnet {text!r} "
                f"(did you mean {subnet.network().format('1.1')}?)"
            )
        return subnet

    # -- printing ----------------------------------------------------------

    def format(self, style: Literal["1.0", "1.1"] = "1.0") -> str:
        """The text tincd prints: 1.0.36's ``net2str`` (default) or tinc 1.1's."""
        if style == "1.0":
            if self.kind == "mac":
                return ":".join(f"{byte:x}" for byte in self.address) + f"#{self.weight}"
            if self.kind == "ipv4":
                text = ".".join(str(byte) for byte in self.address)
            else:
                text = ":".join(
                    f"{int.from_bytes(self.address[i : i + 2], 'big'):x}" for i in range(0, 16, 2)
                )
            return f"{text}/{self.prefix}#{self.weight}"
        if style != "1.1":
            raise ValueError(f"style must be '1.0' or '1.1', not {style!r}")
        if self.kind == "mac":
            text = format_mac(self.address)
        else:
            text = format_ip(self.address)
            if self.prefix != len(self.address) * 8:
                text += f"/{self.prefix}"
        if self.weight != DEFAULT_WEIGHT:
            text += f"#{self.weight}"
        return text

    def __str__(self) -> str:
        return self.format("1.0")

    # -- matching and ordering --------------------------------------------

    def contains(self, address: bytes) -> bool:
        """Whether ``address`` (bytes of this subnet's kind) falls in this subnet.

        A MAC subnet matches only its own address; an IP subnet compares the
        first ``prefix`` bits, ignoring any host bits of its own address.
        """
        if len(address) != len(self.address):
            return False
        return int.from_bytes(address, "big") & self._mask == self._network

    def is_network(self) -> bool:
        """False when an IP subnet's address has bits set beyond its prefix."""
        return int.from_bytes(self.address, "big") == self._network

    def network(self) -> Subnet:
        """This subnet with the host bits of its address cleared."""
        address = self._network.to_bytes(len(self.address), "big")
        return Subnet(self.kind, address, self.prefix, self.weight)

    def sort_key(self, owner: str | None = None) -> tuple[int, int, bytes, int, bytes]:
        """A key that sorts subnets as tincd 1.0.36's subnet tree does.

        Kind first (MAC, IPv4, IPv6), then for IP subnets the longer prefix
        first, then the address bytes, then the weight, then the owner's name
        (``strcmp``, so compared as bytes). Without ``owner`` the key stops
        ordering at the weight, like tincd's lookups that carry no owner.
        Lookups take the first matching subnet in this order.
        """
        prefix_rank = 0 if self.kind == "mac" else -self.prefix
        owner_key = b"" if owner is None else owner.encode("latin-1", "replace")
        return (_KIND_ORDER[self.kind], prefix_rank, self.address, self.weight, owner_key)
