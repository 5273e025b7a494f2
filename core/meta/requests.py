"""The meta protocol's request lines: one frozen dataclass per request, a codec.

Every meta request is one line of text: a decimal request number, then fields
separated by single spaces, then ``\\n`` (which the framing layer strips before
:func:`parse_request` and adds after :meth:`Request.format`). This module knows
the lines of protocol 17.0 (tincd 1.0.36) and 17.7 (tinc 1.1); what a request
*means* belongs to the connection and graph code.

How faithful the parser is
--------------------------
tincd reads each request with ``sscanf`` (the ``*_h`` handlers in
``src/protocol_*.c``). :func:`parse_request` runs the same formats through
:mod:`tinca.core.meta.scanf`, an emulation of glibc's ``sscanf``, so it
accepts, refuses and reads numbers exactly as tincd does: ``%d`` takes a sign
and wraps at 32 bits, ``%x`` takes a ``0x`` prefix, a ``%2048s`` word longer
than 2048 characters spills into the next field, fields may be separated by
any blanks, and fields after the last one a handler reads are ignored. On top
of ``sscanf`` it applies the checks that make a tincd handler drop the
connection: ``check_id`` on node names, ``str2net`` on subnets, two different
names on an edge, an MTU of at least 512, a non-negative packet length. Checks
that need state (is this node known, is this our own name, does the key
length fit the cipher) are the caller's.

Round trips
-----------
``parse_request(request.format()) == request`` for every request that can be
constructed (constructors validate their fields the same way, and ``format``
refuses lines longer than tincd takes), and
``parse_request(line).format() == line`` for every line tinc prints. Subnets
keep the text they arrived with, because tinc 1.0 and 1.1 print them
differently. A daemon that forwards a flooded request should still forward
the line it received, as tincd does: it is also the key for
:class:`~tinca.core.meta.past.PastRequests`.

Lines are ``str``; decode the bytes from the wire as Latin-1 so that every
byte is one character (tincd works on bytes, and names are ASCII anyway).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from enum import IntEnum
from typing import ClassVar

from tinca.core.meta.scanf import Format, ScanError, ScanResult
from tinca.core.subnet import C_SPACE, Subnet

# ---------------------------------------------------------------------------
# protocol constants

#: protocol major version: ``PROT_CURRENT`` in 1.0.36's src/protocol.h,
#: ``PROT_MAJOR`` in 1.1's; peers with another major version are refused
PROT_MAJOR = 17
#: the minor version tincd 1.0.36 implies (its ID line has no minor at all)
PROT_MINOR_10 = 0
#: tinc 1.1's ``PROT_MINOR``; its ID line reads ``0 NAME 17.7``
PROT_MINOR_11 = 7

# Connection and edge option bits (src/connection.h in both versions). They
# travel in ACK and ADD_EDGE as a hex number.
#: IndirectData: the peer must not send UDP to this node directly
OPTION_INDIRECT = 0x0001
#: TCPOnly: all data goes over the meta connection (implies INDIRECT)
OPTION_TCPONLY = 0x0002
#: path MTU discovery is on (both sides must agree)
OPTION_PMTU_DISCOVERY = 0x0004
#: ClampMSS: clamp the MSS of TCP SYN packets to the path MTU
OPTION_CLAMP_MSS = 0x0008
#: tinc 1.1 sends its protocol minor version in the top 8 bits of the options
#: (``OPTION_VERSION(x)`` is ``x >> 24``; 1.0.36 sends 0 there)
OPTION_VERSION_SHIFT = 24


def option_version(options: int) -> int:
    """The protocol minor version a peer put in the top byte of its options."""
    return (options >> OPTION_VERSION_SHIFT) & 0xFF


def with_option_version(options: int, minor: int) -> int:
    """``options`` with its top byte set to ``minor``, as tinc 1.1's send_ack does."""
    if not 0 <= minor <= 0xFF:
        raise ValueError(f"minor version {minor} does not fit in 8 bits")
    return (options & 0x00FFFFFF) | (minor << OPTION_VERSION_SHIFT)


#: ``MAX_STRING_SIZE`` in src/protocol.h: string fields are read with
#: ``%2048s`` into buffers of this size (2048 characters and the NUL)
MAX_STRING_SIZE = 2049
#: the longest word a ``%2048s`` field takes in one piece
MAX_STRING_LENGTH = MAX_STRING_SIZE - 1
#: ``MAXBUFSIZE`` in src/net.h for tincd built without jumbograms (MTU 1518):
#: ``max(MAXSIZE, 2048) + 128``. send_request formats into a buffer this big
#: and the receiving side holds at most this much of an unfinished line.
MAXBUFSIZE = 2176
#: the longest request line (without its ``\n``) tincd sends or accepts
MAX_REQUEST_LENGTH = MAXBUFSIZE - 1
#: MTU_INFO carries at least this MTU, or tinc 1.1 drops the connection
MIN_MTU_INFO = 512


class RequestType(IntEnum):
    """Request numbers: ``request_t`` in src/protocol.h (1.1 adds 18 to 23)."""

    ID = 0
    METAKEY = 1
    CHALLENGE = 2
    CHAL_REPLY = 3
    ACK = 4
    STATUS = 5
    ERROR = 6
    TERMREQ = 7
    PING = 8
    PONG = 9
    ADD_SUBNET = 10
    DEL_SUBNET = 11
    ADD_EDGE = 12
    DEL_EDGE = 13
    KEY_CHANGED = 14
    REQ_KEY = 15
    ANS_KEY = 16
    PACKET = 17
    # tinc 1.1 only
    CONTROL = 18
    REQ_PUBKEY = 19
    ANS_PUBKEY = 20
    SPTPS_PACKET = 21
    UDP_INFO = 22
    MTU_INFO = 23


#: the requests tincd 1.0.36 has a handler for (its jump table in
#: src/protocol.c); any other number, STATUS/ERROR/TERMREQ included, makes it
#: close the connection as an "Unknown request"
TINCD10_REQUESTS = frozenset(
    {
        RequestType.ID,
        RequestType.METAKEY,
        RequestType.CHALLENGE,
        RequestType.CHAL_REPLY,
        RequestType.ACK,
        RequestType.PING,
        RequestType.PONG,
        RequestType.ADD_SUBNET,
        RequestType.DEL_SUBNET,
        RequestType.ADD_EDGE,
        RequestType.DEL_EDGE,
        RequestType.KEY_CHANGED,
        RequestType.REQ_KEY,
        RequestType.ANS_KEY,
        RequestType.PACKET,
    }
)

#: the requests tinc 1.1 handles on a meta connection (STATUS, ERROR,
#: REQ_PUBKEY and ANS_PUBKEY have no handler; CONTROL only on control sockets)
TINC11_REQUESTS = (TINCD10_REQUESTS | {RequestType.TERMREQ}) | {
    RequestType.SPTPS_PACKET,
    RequestType.UDP_INFO,
    RequestType.MTU_INFO,
}


class RequestError(ValueError):
    """A request line tincd would refuse; the message names the request and field."""

    def __init__(
        self, message: str, request: RequestType | None = None, field: str | None = None
    ) -> None:
        super().__init__(message)
        self.request = request
        self.field = field


def new_nonce(random: Callable[[int], bytes]) -> int:
    """A random nonce for a flooded request: non-negative and 31 bits, like rand().

    The nonce makes two floods of the same fact distinct lines, so the
    seen-request cache of every node lets the second one through.
    """
    return int.from_bytes(random(4), "big") & 0x7FFFFFFF


def _scan(fmt: Format, rtype: RequestType, line: str, required: int) -> ScanResult:
    """The values tincd's sscanf assigns; at least ``required`` of them, or raise."""
    try:
        return fmt.scan(line, required)
    except ScanError as err:
        raise RequestError(f"bad {rtype.name} request: {err}", rtype, err.field) from None


# ---------------------------------------------------------------------------
# field checks shared by parsing and construction

_ID_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_")
_HEX_CHARS = frozenset("0123456789abcdefABCDEF")
#: tinc 1.1's base64 decoder takes both the standard and the URL-safe alphabet
_B64_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/-_")
#: an Ed25519 public key in tinc's base64 (32 bytes, no padding)
_ED25519_B64_LENGTH = 43
_INT32 = (-(2**31), 2**31 - 1)
_UINT32 = (0, 2**32 - 1)


def check_id(name: str) -> bool:
    """tinc's ``check_id``: a node name is one or more ASCII letters, digits or ``_``."""
    return bool(name) and set(name) <= _ID_CHARS


def _fail(rtype: RequestType, field_name: str, problem: str) -> RequestError:
    return RequestError(f"bad {rtype.name} request: {field_name} {problem}", rtype, field_name)


def _word(rtype: RequestType, field_name: str, value: object) -> None:
    """A field that is one ``%2048s`` word: non-empty, no blanks, not too long."""
    if not isinstance(value, str) or not value:
        raise _fail(rtype, field_name, "must be a non-empty string")
    if any(char in C_SPACE or char == "\0" for char in value):
        raise _fail(rtype, field_name, f"{value!r} contains white space or NUL")
    if len(value) > MAX_STRING_LENGTH:
        raise _fail(rtype, field_name, f"is longer than {MAX_STRING_LENGTH} characters")


def _name(rtype: RequestType, field_name: str, value: object) -> None:
    _word(rtype, field_name, value)
    assert isinstance(value, str)
    if not check_id(value):
        raise _fail(rtype, field_name, f"{value!r} is not a valid node name")


def _hex(rtype: RequestType, field_name: str, value: object) -> None:
    _word(rtype, field_name, value)
    assert isinstance(value, str)
    if len(value) % 2 or not set(value) <= _HEX_CHARS:
        raise _fail(rtype, field_name, "is not an even number of hexadecimal digits")


def _int(rtype: RequestType, field_name: str, value: object, bounds: tuple[int, int]) -> None:
    low, high = bounds
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
        raise _fail(rtype, field_name, f"{value!r} is not an integer in [{low}, {high}]")


def _different(rtype: RequestType, from_name: str, to_name: str) -> None:
    if from_name == to_name:
        raise _fail(rtype, "to_name", f"{to_name!r} is the same node as from_name")


def _finish(rtype: RequestType, line: str) -> str:
    if len(line) > MAX_REQUEST_LENGTH:
        raise RequestError(
            f"{rtype.name} request would be {len(line)} characters long, "
            f"more than tincd's limit of {MAX_REQUEST_LENGTH}",
            rtype,
        )
    return line


# ---------------------------------------------------------------------------
# the requests


class Request:
    """A meta request. Subclasses are frozen dataclasses, one per request type.

    ``type`` (a class attribute) is the :class:`RequestType` on the wire; ACK
    has two classes (:class:`Ack` and :class:`AckPubkey`).
    """

    __slots__ = ()
    type: ClassVar[RequestType]

    def format(self) -> str:
        """The request line without its trailing newline, as tinc prints it.

        Raises :class:`RequestError` when the line would be longer than
        :data:`MAX_REQUEST_LENGTH`, which tincd would not accept.
        """
        raise NotImplementedError


@dataclass(frozen=True)
class Id(Request):
    """``0 NAME 17`` (tincd 1.0) or ``0 NAME 17.7`` (tinc 1.1): who is calling.

    ``minor`` is ``None`` when the line has no minor version. ``name`` is a node
    name, or in tinc 1.1 ``^COOKIE`` (a control connection) or ``?KEY`` (a
    node redeeming an invitation).
    """

    type = RequestType.ID
    name: str
    major: int = PROT_MAJOR
    minor: int | None = None

    def __post_init__(self) -> None:
        rtype = self.type
        if isinstance(self.name, str) and self.name[:1] in ("^", "?") and len(self.name) > 1:
            _word(rtype, "name", self.name)
        else:
            _name(rtype, "name", self.name)
        # 1.1 reads the version as "%2d.%3d"; these ranges survive that
        _int(rtype, "major", self.major, (0, 99))
        if self.minor is not None:
            _int(rtype, "minor", self.minor, (0, 999))

    def format(self) -> str:
        version = str(self.major) if self.minor is None else f"{self.major}.{self.minor}"
        return _finish(self.type, f"{int(self.type)} {self.name} {version}")


@dataclass(frozen=True)
class MetaKey(Request):
    """``1 CIPHER DIGEST MACLENGTH COMPRESSION KEY``: the legacy meta key.

    ``cipher`` and ``digest`` are OpenSSL NIDs; ``key`` is the RSA-encrypted
    session key in (upper-case) hex, as sent.
    """

    type = RequestType.METAKEY
    cipher: int
    digest: int
    mac_length: int
    compression: int
    key: str

    def __post_init__(self) -> None:
        for name in ("cipher", "digest", "mac_length", "compression"):
            _int(self.type, name, getattr(self, name), _INT32)
        _hex(self.type, "key", self.key)

    def format(self) -> str:
        return _finish(
            self.type,
            f"{int(self.type)} {self.cipher} {self.digest} {self.mac_length} "
            f"{self.compression} {self.key}",
        )


@dataclass(frozen=True)
class Challenge(Request):
    """``2 HEX``: random bytes the peer must hash with its session key."""

    type = RequestType.CHALLENGE
    challenge: str

    def __post_init__(self) -> None:
        _hex(self.type, "challenge", self.challenge)

    def format(self) -> str:
        return _finish(self.type, f"{int(self.type)} {self.challenge}")


@dataclass(frozen=True)
class ChalReply(Request):
    """``3 HEX``: the digest of the challenge we received."""

    type = RequestType.CHAL_REPLY
    response: str

    def __post_init__(self) -> None:
        _hex(self.type, "response", self.response)

    def format(self) -> str:
        return _finish(self.type, f"{int(self.type)} {self.response}")


@dataclass(frozen=True)
class Ack(Request):
    """``4 PORT WEIGHT OPTIONS``: the handshake is done; options are hex.

    ``port`` is the sender's UDP port as text; ``weight`` its estimate of the
    edge weight (the handshake time in ms, or its ``Weight``); ``options`` the
    ``OPTION_*`` bits with tinc 1.1's minor version in the top byte.
    """

    type = RequestType.ACK
    port: str
    weight: int
    options: int

    def __post_init__(self) -> None:
        _word(self.type, "port", self.port)
        _int(self.type, "weight", self.weight, _INT32)
        _int(self.type, "options", self.options, _UINT32)

    @property
    def protocol_minor(self) -> int:
        """The minor version in the options' top byte (0 from tincd 1.0)."""
        return option_version(self.options)

    def format(self) -> str:
        return _finish(self.type, f"{int(self.type)} {self.port} {self.weight} {self.options:x}")


@dataclass(frozen=True)
class AckPubkey(Request):
    """``4 KEY``: tinc 1.1's ACK carrying an Ed25519 public key in tinc's base64.

    Sent instead of a normal ACK when a peer asked to upgrade (protocol minor
    1) and by an invitation server. :func:`parse_request` returns it for an
    ACK whose only field is a 43-character base64 word.
    """

    type = RequestType.ACK
    key: str

    def __post_init__(self) -> None:
        _word(self.type, "key", self.key)
        if not _is_pubkey(self.key):
            raise _fail(self.type, "key", "is not an Ed25519 public key in tinc's base64")

    def format(self) -> str:
        return _finish(self.type, f"{int(self.type)} {self.key}")


@dataclass(frozen=True)
class Status(Request):
    """``5 CODE MESSAGE``: a status notice (no tincd since 1.0 handles it)."""

    type = RequestType.STATUS
    code: int
    message: str

    def __post_init__(self) -> None:
        _int(self.type, "code", self.code, _INT32)
        _word(self.type, "message", self.message)

    def format(self) -> str:
        return _finish(self.type, f"{int(self.type)} {self.code} {self.message}")


@dataclass(frozen=True)
class Error(Request):
    """``6 CODE MESSAGE``: an error notice (no tincd since 1.0 handles it)."""

    type = RequestType.ERROR
    code: int
    message: str

    def __post_init__(self) -> None:
        _int(self.type, "code", self.code, _INT32)
        _word(self.type, "message", self.message)

    def format(self) -> str:
        return _finish(self.type, f"{int(self.type)} {self.code} {self.message}")


@dataclass(frozen=True)
class TermReq(Request):
    """``7``: tinc 1.1 asks to close the connection (after a key upgrade)."""

    type = RequestType.TERMREQ

    def format(self) -> str:
        return str(int(self.type))


@dataclass(frozen=True)
class Ping(Request):
    """``8``: are you still there?"""

    type = RequestType.PING

    def format(self) -> str:
        return str(int(self.type))


@dataclass(frozen=True)
class Pong(Request):
    """``9``: the answer to PING."""

    type = RequestType.PONG

    def format(self) -> str:
        return str(int(self.type))


@dataclass(frozen=True)
class _SubnetRequest(Request):
    """``NONCE OWNER SUBNET`` for ADD_SUBNET and DEL_SUBNET (nonce in hex).

    ``subnet_text`` is the subnet as it was written in the line; when it is
    ``None``, :meth:`format` prints the subnet as tincd 1.0.36 does. It does not
    take part in equality, and must denote ``subnet`` when given.
    """

    nonce: int
    owner: str
    subnet: Subnet
    subnet_text: str | None = field(default=None, compare=False)

    def __post_init__(self) -> None:
        rtype = self.type
        _int(rtype, "nonce", self.nonce, _UINT32)
        _name(rtype, "owner", self.owner)
        if not isinstance(self.subnet, Subnet):
            raise _fail(rtype, "subnet", "must be a Subnet")
        if self.subnet_text is not None:
            _word(rtype, "subnet_text", self.subnet_text)
            if _parse_subnet(rtype, self.subnet_text) != self.subnet:
                raise _fail(rtype, "subnet_text", f"{self.subnet_text!r} is not {self.subnet}")

    def format(self) -> str:
        text = str(self.subnet) if self.subnet_text is None else self.subnet_text
        return _finish(self.type, f"{int(self.type)} {self.nonce:x} {self.owner} {text}")


@dataclass(frozen=True)
class AddSubnet(_SubnetRequest):
    """``10 NONCE OWNER SUBNET``: OWNER has SUBNET (flooded)."""

    type = RequestType.ADD_SUBNET


@dataclass(frozen=True)
class DelSubnet(_SubnetRequest):
    """``11 NONCE OWNER SUBNET``: OWNER no longer has SUBNET (flooded)."""

    type = RequestType.DEL_SUBNET


@dataclass(frozen=True)
class AddEdge(Request):
    """``12 NONCE FROM TO ADDRESS PORT OPTIONS WEIGHT [LOCAL_ADDRESS LOCAL_PORT]``.

    FROM has a meta connection to TO, which FROM reaches at ADDRESS PORT (as
    text: tincd prints whatever address it has). OPTIONS and the nonce are
    hex. tinc 1.1 appends FROM's local address and port of that connection.
    """

    type = RequestType.ADD_EDGE
    nonce: int
    from_name: str
    to_name: str
    address: str
    port: str
    options: int
    weight: int
    local_address: str | None = None
    local_port: str | None = None

    def __post_init__(self) -> None:
        rtype = self.type
        _int(rtype, "nonce", self.nonce, _UINT32)
        _name(rtype, "from_name", self.from_name)
        _name(rtype, "to_name", self.to_name)
        _different(rtype, self.from_name, self.to_name)
        _word(rtype, "address", self.address)
        _word(rtype, "port", self.port)
        _int(rtype, "options", self.options, _UINT32)
        _int(rtype, "weight", self.weight, _INT32)
        if (self.local_address is None) != (self.local_port is None):
            raise _fail(rtype, "local_port", "must be given together with local_address")
        if self.local_address is not None:
            _word(rtype, "local_address", self.local_address)
            _word(rtype, "local_port", self.local_port)

    def format(self) -> str:
        line = (
            f"{int(self.type)} {self.nonce:x} {self.from_name} {self.to_name} "
            f"{self.address} {self.port} {self.options:x} {self.weight}"
        )
        if self.local_address is not None:
            line += f" {self.local_address} {self.local_port}"
        return _finish(self.type, line)


@dataclass(frozen=True)
class DelEdge(Request):
    """``13 NONCE FROM TO``: the edge FROM -> TO is gone (flooded)."""

    type = RequestType.DEL_EDGE
    nonce: int
    from_name: str
    to_name: str

    def __post_init__(self) -> None:
        _int(self.type, "nonce", self.nonce, _UINT32)
        _name(self.type, "from_name", self.from_name)
        _name(self.type, "to_name", self.to_name)
        _different(self.type, self.from_name, self.to_name)

    def format(self) -> str:
        return _finish(
            self.type, f"{int(self.type)} {self.nonce:x} {self.from_name} {self.to_name}"
        )


@dataclass(frozen=True)
class KeyChanged(Request):
    """``14 NONCE NAME``: NAME made a new packet key; forget the old one (flooded)."""

    type = RequestType.KEY_CHANGED
    nonce: int
    name: str

    def __post_init__(self) -> None:
        _int(self.type, "nonce", self.nonce, _UINT32)
        _name(self.type, "name", self.name)

    def format(self) -> str:
        return _finish(self.type, f"{int(self.type)} {self.nonce:x} {self.name}")


@dataclass(frozen=True)
class ReqKey(Request):
    """``15 FROM TO [EXT [PAYLOAD]]``: FROM asks TO for its packet key.

    tinc 1.1 overloads it to route other messages between two nodes: ``EXT``
    is a request number (REQ_PUBKEY, ANS_PUBKEY with the key, REQ_KEY with the
    first SPTPS handshake record, SPTPS_PACKET with a data record; payloads in
    tinc's base64). ``ext`` is ``None`` for the plain tincd 1.0 form.
    """

    type = RequestType.REQ_KEY
    from_name: str
    to_name: str
    ext: int | None = None
    payload: str | None = None

    def __post_init__(self) -> None:
        _name(self.type, "from_name", self.from_name)
        _name(self.type, "to_name", self.to_name)
        if self.ext is not None:
            _int(self.type, "ext", self.ext, _INT32)
        if self.payload is not None:
            if self.ext is None:
                raise _fail(self.type, "payload", "needs an ext request number before it")
            _word(self.type, "payload", self.payload)

    def format(self) -> str:
        line = f"{int(self.type)} {self.from_name} {self.to_name}"
        if self.ext is not None:
            line += f" {self.ext}"
        if self.payload is not None:
            line += f" {self.payload}"
        return _finish(self.type, line)


@dataclass(frozen=True)
class AnsKey(Request):
    """``16 FROM TO KEY CIPHER DIGEST MACLENGTH COMPRESSION [ADDRESS [PORT]]``.

    FROM's packet key for TO: upper-case hex with OpenSSL NIDs for the legacy
    protocol, or an SPTPS handshake record in tinc's base64 with ``-1 -1 -1``.
    A relay may append the reflexive UDP address and port it sees FROM at.
    ``mac_length`` is read as tincd 1.0's ``%d`` (tinc 1.1 reads ``%lu``).
    """

    type = RequestType.ANS_KEY
    from_name: str
    to_name: str
    key: str
    cipher: int
    digest: int
    mac_length: int
    compression: int
    address: str | None = None
    port: str | None = None

    def __post_init__(self) -> None:
        rtype = self.type
        _name(rtype, "from_name", self.from_name)
        _name(rtype, "to_name", self.to_name)
        _word(rtype, "key", self.key)
        for name in ("cipher", "digest", "mac_length", "compression"):
            _int(rtype, name, getattr(self, name), _INT32)
        if self.port is not None and self.address is None:
            raise _fail(rtype, "port", "needs an address before it")
        if self.address is not None:
            _word(rtype, "address", self.address)
        if self.port is not None:
            _word(rtype, "port", self.port)

    def format(self) -> str:
        line = (
            f"{int(self.type)} {self.from_name} {self.to_name} {self.key} {self.cipher} "
            f"{self.digest} {self.mac_length} {self.compression}"
        )
        if self.address is not None:
            line += f" {self.address}"
        if self.port is not None:
            line += f" {self.port}"
        return _finish(self.type, line)


@dataclass(frozen=True)
class Packet(Request):
    """``17 LENGTH``: a VPN packet of LENGTH bytes follows on the stream (TCP only)."""

    type = RequestType.PACKET
    length: int

    def __post_init__(self) -> None:
        # tincd 1.0 prints "%hd" and 1.1 reads "%hd" refusing negatives
        _int(self.type, "length", self.length, (0, 2**15 - 1))

    def format(self) -> str:
        return _finish(self.type, f"{int(self.type)} {self.length}")


@dataclass(frozen=True)
class SptpsPacket(Request):
    """``21 LENGTH``: tinc 1.1 sends LENGTH raw bytes of an SPTPS packet next."""

    type = RequestType.SPTPS_PACKET
    length: int

    def __post_init__(self) -> None:
        _int(self.type, "length", self.length, (0, 2**15 - 1))

    def format(self) -> str:
        return _finish(self.type, f"{int(self.type)} {self.length}")


@dataclass(frozen=True)
class UdpInfo(Request):
    """``22 FROM TO ADDRESS PORT``: where FROM's UDP packets come from, told towards TO."""

    type = RequestType.UDP_INFO
    from_name: str
    to_name: str
    address: str
    port: str

    def __post_init__(self) -> None:
        _name(self.type, "from_name", self.from_name)
        _name(self.type, "to_name", self.to_name)
        _word(self.type, "address", self.address)
        _word(self.type, "port", self.port)

    def format(self) -> str:
        return _finish(
            self.type,
            f"{int(self.type)} {self.from_name} {self.to_name} {self.address} {self.port}",
        )


@dataclass(frozen=True)
class MtuInfo(Request):
    """``23 FROM TO MTU``: the path MTU towards FROM, passed along towards TO."""

    type = RequestType.MTU_INFO
    from_name: str
    to_name: str
    mtu: int

    def __post_init__(self) -> None:
        _name(self.type, "from_name", self.from_name)
        _name(self.type, "to_name", self.to_name)
        _int(self.type, "mtu", self.mtu, (MIN_MTU_INFO, _INT32[1]))

    def format(self) -> str:
        return _finish(self.type, f"{int(self.type)} {self.from_name} {self.to_name} {self.mtu}")


# ---------------------------------------------------------------------------
# parsing: one function per request, with tincd's sscanf format

_REQUEST_NUMBER = Format.of("%d", "request number")
_F_ID = Format.of("%*d %2048s %2d.%3d", "name", "major", "minor")
_F_METAKEY = Format.of(
    "%*d %d %d %d %d %2048s", "cipher", "digest", "mac_length", "compression", "key"
)
_F_CHALLENGE = Format.of("%*d %2048s", "challenge")
_F_CHAL_REPLY = Format.of("%*d %2048s", "response")
_F_ACK = Format.of("%*d %2048s %d %x", "port", "weight", "options")
_F_NOTICE = Format.of("%*d %d %2048s", "code", "message")
_F_SUBNET = Format.of("%*d %x %2048s %2048s", "nonce", "owner", "subnet")
_F_ADD_EDGE = Format.of(
    "%*d %x %2048s %2048s %2048s %2048s %x %d %2048s %2048s",
    "nonce",
    "from_name",
    "to_name",
    "address",
    "port",
    "options",
    "weight",
    "local_address",
    "local_port",
)
_F_DEL_EDGE = Format.of("%*d %x %2048s %2048s", "nonce", "from_name", "to_name")
_F_KEY_CHANGED = Format.of("%*d %x %2048s", "nonce", "name")
_F_REQ_KEY = Format.of("%*d %2048s %2048s %d", "from_name", "to_name", "ext")
_F_REQ_KEY_PAYLOAD = Format.of("%*d %*s %*s %*d %2048s", "payload")
_F_ANS_KEY = Format.of(
    "%*d %2048s %2048s %2048s %d %d %d %d %2048s %2048s",
    "from_name",
    "to_name",
    "key",
    "cipher",
    "digest",
    "mac_length",
    "compression",
    "address",
    "port",
)
_F_LENGTH = Format.of("%*d %hd", "length")
_F_UDP_INFO = Format.of(
    "%*d %2048s %2048s %2048s %2048s", "from_name", "to_name", "address", "port"
)
_F_MTU_INFO = Format.of("%*d %2048s %2048s %d", "from_name", "to_name", "mtu")

_Parser = Callable[[str], Request]


def _parse_subnet(rtype: RequestType, text: str) -> Subnet:
    try:
        return Subnet.parse(text, check_host_bits=False)
    except ValueError as err:
        raise _fail(rtype, "subnet", f"is invalid: {err}") from None


def _parse_id(line: str) -> Request:
    values = _scan(_F_ID, RequestType.ID, line, 2)
    return Id(values.word(0), values.number(1), values.optional_number(2))


def _parse_metakey(line: str) -> Request:
    v = _scan(_F_METAKEY, RequestType.METAKEY, line, 5)
    return MetaKey(v.number(0), v.number(1), v.number(2), v.number(3), v.word(4))


def _parse_challenge(line: str) -> Request:
    return Challenge(_scan(_F_CHALLENGE, RequestType.CHALLENGE, line, 1).word(0))


def _parse_chal_reply(line: str) -> Request:
    return ChalReply(_scan(_F_CHAL_REPLY, RequestType.CHAL_REPLY, line, 1).word(0))


def _is_pubkey(word: str) -> bool:
    return len(word) == _ED25519_B64_LENGTH and set(word) <= _B64_CHARS


def _parse_ack(line: str) -> Request:
    found = _F_ACK.scan(line)
    if len(found) < 3 and found and _is_pubkey(found.word(0)):
        # tinc 1.1 reads this form ("%*d %2048s") when the connection is upgrading
        return AckPubkey(found.word(0))
    v = _scan(_F_ACK, RequestType.ACK, line, 3)
    return Ack(v.word(0), v.number(1), v.number(2))


def _parse_status(line: str) -> Request:
    v = _scan(_F_NOTICE, RequestType.STATUS, line, 2)
    return Status(v.number(0), v.word(1))


def _parse_error(line: str) -> Request:
    v = _scan(_F_NOTICE, RequestType.ERROR, line, 2)
    return Error(v.number(0), v.word(1))


def _parse_subnet_request(cls: type[_SubnetRequest]) -> _Parser:
    def parse(line: str) -> Request:
        v = _scan(_F_SUBNET, cls.type, line, 3)
        owner, text = v.word(1), v.word(2)
        _name(cls.type, "owner", owner)
        subnet = _parse_subnet(cls.type, text)
        return cls(v.number(0), owner, subnet, text)

    return parse


def _parse_add_edge(line: str) -> Request:
    rtype = RequestType.ADD_EDGE
    v = _scan(_F_ADD_EDGE, rtype, line, 7)
    if len(v) == 8:
        # 1.1 takes 6 or 8 fields after the nonce, never 7
        raise _fail(rtype, "local_port", "is missing after local_address")
    return AddEdge(
        v.number(0),
        v.word(1),
        v.word(2),
        v.word(3),
        v.word(4),
        v.number(5),
        v.number(6),
        v.optional_word(7),
        v.optional_word(8),
    )


def _parse_del_edge(line: str) -> Request:
    v = _scan(_F_DEL_EDGE, RequestType.DEL_EDGE, line, 3)
    return DelEdge(v.number(0), v.word(1), v.word(2))


def _parse_key_changed(line: str) -> Request:
    v = _scan(_F_KEY_CHANGED, RequestType.KEY_CHANGED, line, 2)
    return KeyChanged(v.number(0), v.word(1))


def _parse_req_key(line: str) -> Request:
    v = _scan(_F_REQ_KEY, RequestType.REQ_KEY, line, 2)
    ext = v.optional_number(2)
    payload = None
    if ext is not None:
        payload = _F_REQ_KEY_PAYLOAD.scan(line).optional_word(0)
    return ReqKey(v.word(0), v.word(1), ext, payload)


def _parse_ans_key(line: str) -> Request:
    v = _scan(_F_ANS_KEY, RequestType.ANS_KEY, line, 7)
    return AnsKey(
        v.word(0),
        v.word(1),
        v.word(2),
        v.number(3),
        v.number(4),
        v.number(5),
        v.number(6),
        v.optional_word(7),
        v.optional_word(8),
    )


def _parse_length(cls: type[Packet] | type[SptpsPacket]) -> _Parser:
    def parse(line: str) -> Request:
        length = _scan(_F_LENGTH, cls.type, line, 1).number(0)
        if length < 0:
            raise _fail(cls.type, "length", f"{length} is negative")
        return cls(length)

    return parse


def _parse_udp_info(line: str) -> Request:
    v = _scan(_F_UDP_INFO, RequestType.UDP_INFO, line, 4)
    return UdpInfo(v.word(0), v.word(1), v.word(2), v.word(3))


def _parse_mtu_info(line: str) -> Request:
    v = _scan(_F_MTU_INFO, RequestType.MTU_INFO, line, 3)
    mtu = v.number(2)
    if mtu < MIN_MTU_INFO:
        raise _fail(RequestType.MTU_INFO, "mtu", f"{mtu} is below {MIN_MTU_INFO}")
    return MtuInfo(v.word(0), v.word(1), mtu)


def _not_on_meta_connections(rtype: RequestType, why: str) -> _Parser:
    def parse(line: str) -> Request:
        raise RequestError(f"{rtype.name} ({int(rtype)}) {why}", rtype)

    return parse


_PARSERS: dict[RequestType, _Parser] = {
    RequestType.ID: _parse_id,
    RequestType.METAKEY: _parse_metakey,
    RequestType.CHALLENGE: _parse_challenge,
    RequestType.CHAL_REPLY: _parse_chal_reply,
    RequestType.ACK: _parse_ack,
    RequestType.STATUS: _parse_status,
    RequestType.ERROR: _parse_error,
    RequestType.TERMREQ: lambda line: TermReq(),
    RequestType.PING: lambda line: Ping(),
    RequestType.PONG: lambda line: Pong(),
    RequestType.ADD_SUBNET: _parse_subnet_request(AddSubnet),
    RequestType.DEL_SUBNET: _parse_subnet_request(DelSubnet),
    RequestType.ADD_EDGE: _parse_add_edge,
    RequestType.DEL_EDGE: _parse_del_edge,
    RequestType.KEY_CHANGED: _parse_key_changed,
    RequestType.REQ_KEY: _parse_req_key,
    RequestType.ANS_KEY: _parse_ans_key,
    RequestType.PACKET: _parse_length(Packet),
    RequestType.CONTROL: _not_on_meta_connections(
        RequestType.CONTROL, "belongs to the control socket, not to a meta connection"
    ),
    RequestType.REQ_PUBKEY: _not_on_meta_connections(
        RequestType.REQ_PUBKEY, "is only valid as the extension number of a REQ_KEY"
    ),
    RequestType.ANS_PUBKEY: _not_on_meta_connections(
        RequestType.ANS_PUBKEY, "is only valid as the extension number of a REQ_KEY"
    ),
    RequestType.SPTPS_PACKET: _parse_length(SptpsPacket),
    RequestType.UDP_INFO: _parse_udp_info,
    RequestType.MTU_INFO: _parse_mtu_info,
}


def parse_request(line: str, *, max_length: int = MAX_REQUEST_LENGTH) -> Request:
    """Parse one request line (without its ``\\n``) into its dataclass.

    Raises :class:`RequestError` naming the request and the field when tincd
    would refuse the line: an unknown request number, too few fields, a bad
    number, name or subnet. Fields after the last one tincd reads are ignored.
    Lines longer than ``max_length`` (tincd's receive buffer) and lines with a
    newline or NUL inside are refused too.
    """
    if len(line) > max_length:
        raise RequestError(
            f"request line is {len(line)} characters long, more than the limit of {max_length}"
        )
    if "\n" in line or "\0" in line:
        raise RequestError("request line contains a newline or NUL character")
    found = _REQUEST_NUMBER.scan(line)
    if not found:
        raise RequestError(f"not a request: {line[:40]!r} does not start with a request number")
    number = found.number(0)
    try:
        rtype = RequestType(number)
    except ValueError:
        raise RequestError(f"unknown request type {number}") from None
    return _PARSERS[rtype](line)
