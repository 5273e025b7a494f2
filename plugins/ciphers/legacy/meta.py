"""tinc 1.0's meta connection: RSA authentication and the encrypted request stream, sans-IO.

One :class:`LegacyMetaConnection` is one TCP meta connection with a tinc 1.0
peer (protocol 17.0). It never touches a socket or the wall clock: the caller
feeds it the bytes it read with :meth:`~LegacyMetaConnection.receive_data`,
writes out the bytes it returns, and injects the clock and the random source.

Theory of operation (tinc 1.0.36, src/protocol_auth.c and src/meta.c)
-----------------------------------------------------------------------

The side that connected speaks first; the side that accepted stays silent until
it has read the peer's ID::

    connecting side                         accepting side
    ID                      ------------->
                            <-------------  ID, METAKEY        (on ID)
    METAKEY                 ------------->                     (on ID)
    CHALLENGE (on METAKEY)  <------------>  CHALLENGE          (on METAKEY)
    CHAL_REPLY (on CHALLENGE) ----------->                     it does not answer yet
                            <-------------  CHAL_REPLY, ACK    (on a good CHAL_REPLY)
    ACK (on a good CHAL_REPLY) ---------->
    authenticated on ACK                    authenticated on ACK

Each line is one request: decimal request number, arguments separated by
spaces, ``\\n``. The requests, with tinc 1.0.36's formats:

- ``0 NAME 17`` (ID). A tinc 1.1 peer sends ``17.7``; tincd 1.0 reads the
  version with ``%d``, so it sees 17 and ignores the minor version, as we do.
- ``1 CIPHER DIGEST MACLENGTH COMPRESSION KEY`` (METAKEY): OpenSSL NIDs of the
  meta cipher and digest, then 0 and 0 (tincd's meta connection values), then
  random key material as long as the *receiver's* RSA modulus, its top bit
  cleared so it is below the modulus, RSA-encrypted without padding,
  upper-case hex. The sender's outgoing stream is encrypted with the material
  it *sent*, starting with the byte after this line; the receiver decrypts
  what follows the line with the material it received. Key and IV are taken
  from the end of the material: the cipher key is the last ``key_length``
  bytes, the IV the ``iv_length`` bytes before them. tincd 1.0.36 always
  announces AES in CFB mode (the key size follows its ``Cipher``: see
  :func:`~tinca.plugins.ciphers.legacy.evp.meta_cipher_for`) and SHA-256.
- ``2 CHALLENGE`` (CHALLENGE): random bytes as long as the receiver's RSA
  modulus, hex.
- ``3 HASH`` (CHAL_REPLY): the challenge hashed with the digest the
  *challenged* side received in the challenger's METAKEY, hex; the challenger
  checks it with its own digest.
- ``4 PORT WEIGHT OPTIONS`` (ACK): the sender's TCP port, its weight estimate
  (milliseconds from the start of the connection to sending the ACK, unless
  the ``Weight`` of the peer's host config overrides it) and its options in
  hex. The edge weight both sides use is the mean of both estimates, rounded
  towards zero, so both get the same number.

After the ACK every line is handed to the caller as a :class:`RequestLine`,
except ``17 LEN`` (PACKET), which is followed by LEN raw bytes in the same
encrypted stream: those become one :class:`PacketReceived`.

The stream cipher runs over the whole byte stream, not per line, so a line can
arrive in any number of pieces and several lines in one piece. As in tincd,
unconsumed input that reaches ``MAXBUFSIZE`` bytes without a complete request
is an error, so no line is longer than :data:`MAX_BUFFER_SIZE` bytes.

Output style: replies that :meth:`~LegacyMetaConnection.receive_data` makes are
queued; :meth:`~LegacyMetaConnection.data_to_send` takes them. The cipher
stream makes the order of bytes matter, so :meth:`~LegacyMetaConnection.send_request`
and :meth:`~LegacyMetaConnection.send_packet` return the queued bytes first,
followed by their own: whatever any method returns can be written as it is.
"""

from __future__ import annotations

import hmac
import re
from collections.abc import Callable

from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey, RSAPublicKey

from tinca.core.control.records import CONNECTION_DECRYPTIN, CONNECTION_ENCRYPTOUT
from tinca.core.meta.connection import (
    ALLOW_ALL,
    MetaConnectionBase,
    MetaConnectionError,
    merge_options,
    truncating_mean,
)
from tinca.core.suite import (
    Authenticated,
    MetaError,
    PacketReceived,
    PublicKeyOffered,
    RequestLine,
)
from tinca.plugins.ciphers.legacy.evp import (
    CIPHERS,
    DIGESTS,
    LegacyCipherInfo,
    LegacyDigestInfo,
    cipher_by_nid,
    digest_by_nid,
)
from tinca.plugins.ciphers.legacy.meta_rsa import (
    RawRSAError,
    clear_top_bits,
    decrypt_no_padding,
    encrypt_no_padding,
    rsa_size,
)

# ---------------------------------------------------------------------------
# Wire constants (tinc 1.0.36)
# ---------------------------------------------------------------------------

PROTOCOL_MAJOR = 17  # src/protocol.h PROT_CURRENT; ID carries it

# Request numbers this module handles itself (src/protocol.h, enum request_t).
ID, METAKEY, CHALLENGE, CHAL_REPLY, ACK = 0, 1, 2, 3, 4
PACKET = 17  # "17 LEN" then LEN raw bytes (src/protocol_misc.c send_tcppacket)
_LAST = 18  # one past the highest request number tincd 1.0.36 knows

# src/net.h: MAXBUFSIZE = max(MAXSIZE, 2048) + 128 with MTU 1518 (Debian builds
# tincd 1.0 without jumbograms), i.e. 2048 + 128. tincd drops a connection
# whose unconsumed input reaches this many bytes.
MAX_BUFFER_SIZE = 2176
MAX_PACKET_LENGTH = 0xFFFF  # length_t is uint16_t in tincd 1.0

# src/net_setup.c: a meta connection announces MAC length 0 and compression 0.
META_MAC_LENGTH = 0
META_COMPRESSION = 0

# tincd 1.0.36 with its default Cipher (aes-256-cbc): AES-256-CFB and SHA-256.
DEFAULT_META_CIPHER = CIPHERS["aes-256-cfb"]
DEFAULT_META_DIGEST = DIGESTS["sha256"]

_REQUEST_NAMES = (
    "ID", "METAKEY", "CHALLENGE", "CHAL_REPLY", "ACK", "STATUS", "ERROR", "TERMREQ",
    "PING", "PONG", "ADD_SUBNET", "DEL_SUBNET", "ADD_EDGE", "DEL_EDGE", "KEY_CHANGED",
    "REQ_KEY", "ANS_KEY", "PACKET",
)

# C's sscanf("%d") and ("%x"): leading whitespace, a sign, then digits; the
# rest of the token is ignored. tincd parses every number this way.
_C_INT = re.compile(rb"[ \t\n\v\f\r]*([+-]?[0-9]+)")
_C_HEX = re.compile(rb"[ \t\n\v\f\r]*([+-]?)(?:0[xX])?([0-9a-fA-F]+)")
_NODE_NAME = re.compile(rb"[A-Za-z0-9_]+")  # src/protocol.c check_id (C locale isalnum)
_HEX = re.compile(rb"[0-9a-fA-F]*")


# ---------------------------------------------------------------------------
# Events and errors
# ---------------------------------------------------------------------------


# The events are the core's (tinca.core.suite), so the node can consume any
# cipher suite's sessions the same way.
MetaEvent = Authenticated | RequestLine | PacketReceived | PublicKeyOffered


class MetaProtocolError(MetaConnectionError):
    """The peer broke tinc 1.0's meta protocol; the connection must be closed."""


# ---------------------------------------------------------------------------
# Small parsers with sscanf's rules
# ---------------------------------------------------------------------------


def _c_int(token: bytes) -> int | None:
    match = _C_INT.match(token)
    return int(match.group(1)) if match else None


def _c_hex(token: bytes) -> int | None:
    match = _C_HEX.match(token)
    if not match:
        return None
    value = int(match.group(2), 16)
    return (-value if match.group(1) == b"-" else value) & 0xFFFFFFFF


def _from_hex(token: bytes, length: int) -> bytes | None:
    """``length`` bytes from ``2 * length`` hex digits (either case), or None."""
    if len(token) != 2 * length or not _HEX.fullmatch(token):
        return None
    return bytes.fromhex(token.decode("ascii"))


# ---------------------------------------------------------------------------
# The stream cipher of one direction
# ---------------------------------------------------------------------------


def _byte_budget(cipher: LegacyCipherInfo) -> int:
    """How many bytes tincd lets one meta key carry (src/protocol_auth.c ``byte_budget``).

    A birthday bound on the block (or, for stream modes, IV) size, capped to 64 bits.
    """
    size = cipher.block_size if cipher.block_size > 1 else (
        cipher.iv_length if cipher.iv_length > 1 else 8
    )
    bits = size * 4 - 1
    return 1 << bits if bits < 64 else (1 << 64) - 1


class _StreamCipher:
    """One direction's cipher context, built once, with tincd's byte budget."""

    __slots__ = ("_budget", "_update", "direction")

    def __init__(self, info: LegacyCipherInfo, material: bytes, *, encrypt: bool) -> None:
        key_end = len(material)
        key_start = key_end - info.key_length
        iv_start = key_start - info.iv_length
        cipher = info.cipher(material[key_start:key_end], material[iv_start:key_start])
        context = cipher.encryptor() if encrypt else cipher.decryptor()
        self._update = context.update
        self._budget = _byte_budget(info)
        self.direction = "encryption to" if encrypt else "decryption from"

    def update(self, data: bytes | bytearray) -> bytes:
        if len(data) > self._budget:
            raise MetaProtocolError(f"Byte limit exceeded for {self.direction} the peer")
        self._budget -= len(data)
        return self._update(data)


# ---------------------------------------------------------------------------
# The connection
# ---------------------------------------------------------------------------


class LegacyMetaConnection(MetaConnectionBase):
    """One tinc 1.0 meta connection, from the first ID to the end, without I/O.

    ``outgoing`` is True on the side that connected (it speaks first; call
    :meth:`initiate`), False on the side that accepted. ``expected_peer`` is
    the name the connecting side dialled (required when ``outgoing``); on the
    accepting side it may restrict who is let in.

    ``lookup_public_key(name)`` returns the peer's RSA public key from its host
    config, or None when there is no such host: the connection then fails as
    tincd's does ("unknown identity"). It may raise
    :class:`~tinca.core.errors.KeyFileError`, which passes through.

    ``my_options`` is the options word for our ACK and ``weight`` an optional
    fixed weight (tinc's per-host ``Weight``); either may be a callable that
    gets the authenticated peer's name, since tincd takes ``IndirectData``,
    ``TCPOnly``, ``ClampMSS`` and ``Weight`` from that peer's host config.

    ``clock()`` returns seconds (monotonic); its value when the object is made
    starts the weight estimate, so make the object when the TCP connect starts
    or when the connection is accepted, as tincd does. ``random(n)`` returns
    ``n`` random bytes; the METAKEY and CHALLENGE take theirs from it, in
    that order.

    A tinc 1.1 node speaking the legacy protocol adds to it: ``id_minor`` is
    the minor version its ID line carries (``None``: tinc 1.0's bare ``17``);
    ``ack_minor`` goes into the top byte of the options in our ACK (tinc 1.1
    sends its minor there when SPTPS is on); ``upgrade_key``, when set, is our
    Ed25519 public key in tinc's base64, sent instead of the ACK because the
    connection runs at minor 1 (one side lacks the other's Ed25519 key): the
    peer's ACK then carries its key too and becomes :class:`PublicKeyOffered`.
    ``started_at`` replaces the construction time as the weight estimate's
    start when our ID went out before this object existed.

    ``meta_cipher`` and ``meta_digest`` are what we announce in our METAKEY;
    the cipher must be a stream mode (tincd uses AES-CFB). ``max_buffer_size``
    is tincd's ``MAXBUFSIZE``: the longest line (newline included) or packet
    accepted, and the longest line or packet we send.
    """

    def __init__(
        self,
        *,
        my_name: str,
        my_key: RSAPrivateKey,
        outgoing: bool,
        lookup_public_key: Callable[[str], RSAPublicKey | None],
        my_port: int,
        my_options: int | Callable[[str], int],
        clock: Callable[[], float],
        random: Callable[[int], bytes],
        expected_peer: str | None = None,
        weight: int | Callable[[str], int | None] | None = None,
        meta_cipher: LegacyCipherInfo = DEFAULT_META_CIPHER,
        meta_digest: LegacyDigestInfo = DEFAULT_META_DIGEST,
        max_buffer_size: int = MAX_BUFFER_SIZE,
        id_minor: int | None = None,
        ack_minor: int = 0,
        upgrade_key: str | None = None,
        started_at: float | None = None,
    ) -> None:
        if not _NODE_NAME.fullmatch(my_name.encode("ascii", "replace")):
            raise ValueError(f"invalid node name {my_name!r}")
        if outgoing and expected_peer is None:
            raise ValueError("an outgoing connection needs the expected_peer it dials")
        if meta_cipher.is_null or meta_cipher.block_size != 1:
            raise ValueError(f"the meta cipher must be a stream mode, not {meta_cipher.name}")
        if meta_digest.is_null:
            raise ValueError("the meta digest cannot be 'none'")
        self._my_name = my_name
        self._my_key = my_key
        self._my_size = rsa_size(my_key)
        self._outgoing = outgoing
        self._lookup_public_key = lookup_public_key
        self._my_port = my_port
        self._my_options = my_options
        self._weight = weight
        self._clock = clock
        self._random = random
        self._expected_peer = expected_peer
        self._meta_cipher = meta_cipher
        self._meta_digest = meta_digest
        self._max_buffer = max_buffer_size
        self._id_minor = id_minor
        self._ack_minor = ack_minor
        self._upgrade_key = upgrade_key

        super().__init__()
        self._start = clock() if started_at is None else started_at
        self._allow = ID  # the only request accepted next, or ALLOW_ALL
        self._peer_name: str | None = None
        self._peer_key: RSAPublicKey | None = None
        self._peer_digest: LegacyDigestInfo | None = None
        self._his_challenge = b""  # what we sent
        self._my_challenge = b""  # what we received
        self._estimated_weight = 0
        self._sent_options = 0
        self._encrypt: _StreamCipher | None = None
        self._decrypt: _StreamCipher | None = None
        self._inbuf = bytearray()
        self._scanned = 0  # bytes at the front of _inbuf known to hold no newline
        self._packet_length: int | None = None  # raw packet bytes still expected

    # -- output --------------------------------------------------------------

    def send_request(self, line: str) -> bytes:
        """Queue one request (without its newline); returns all queued bytes, encrypted.

        Only after :class:`Authenticated`. ValueError for a line with a newline,
        one that is not Latin-1, or one too long for tincd's buffer.
        """
        return self._send_now(self._request_bytes(line))

    def send_packet(self, packet: bytes) -> bytes:
        """Queue one VPN packet as ``17 LEN`` and its bytes; returns all queued bytes.

        Only after :class:`Authenticated`. ValueError for a packet longer than
        the peer's buffer can take.
        """
        self._check_sendable()
        if len(packet) > min(self._max_buffer, MAX_PACKET_LENGTH):
            raise ValueError(f"packet of {len(packet)} bytes is too long for a meta connection")
        return self._send_now(b"%d %d\n%b" % (PACKET, len(packet), packet))

    def send_raw_packet(self, data: bytes) -> bytes:
        """Always :class:`~tinca.core.suite.MetaError`: tinc 1.0's protocol has no
        request for raw datagrams (tinc 1.1's ``21 LEN``)."""
        raise MetaError("SPTPS_PACKET cannot travel on a legacy meta connection")

    @property
    def finished(self) -> bool:
        """Always False: the connection never ends itself (a key upgrade is the
        negotiating session's business)."""
        return False

    @property
    def status_bits(self) -> int:
        """``encryptout`` and ``decryptin``: the stream is encrypted with the
        METAKEY ciphers, as tinc shows an active legacy connection."""
        return CONNECTION_ENCRYPTOUT | CONNECTION_DECRYPTIN

    def _send_now(self, plain: bytes) -> bytes:
        assert self._encrypt is not None  # authenticated, so our METAKEY went out
        out = self._encrypt.update(plain)
        return self.data_to_send() + out if self._outbox else out

    # -- input ---------------------------------------------------------------

    def _receive(self, data: bytes, events: list[MetaEvent]) -> None:
        if not data:
            return
        buf = self._inbuf
        buf += self._decrypt.update(data) if self._decrypt is not None else data
        pos = 0
        try:
            while True:
                if self._packet_length is not None:
                    end = pos + self._packet_length
                    if len(buf) < end:
                        break
                    events.append(PacketReceived(bytes(buf[pos:end])))
                    pos = end
                    self._packet_length = None
                    continue
                newline = buf.find(b"\n", pos + self._scanned)
                if newline < 0:
                    self._scanned = len(buf) - pos
                    break
                if newline + 1 - pos > self._max_buffer:
                    # tincd's buffer fills up before the newline arrives.
                    raise MetaProtocolError("Metadata read buffer overflow")
                line = bytes(buf[pos:newline])
                pos = newline + 1
                self._scanned = 0
                if self._allow == ALLOW_ALL:
                    self._handle_request(line, events)
                    continue
                had_cipher = self._decrypt is not None
                self._handle_handshake(line, events)
                if not had_cipher and self._decrypt is not None and pos < len(buf):
                    # METAKEY just switched decryption on: what follows it in
                    # this piece is already ciphertext.
                    buf[pos:] = self._decrypt.update(buf[pos:])
        finally:
            del buf[:pos]
        if len(buf) >= self._max_buffer:
            raise MetaProtocolError("Metadata read buffer overflow")

    # -- after authentication ------------------------------------------------

    def _handle_request(self, line: bytes, events: list[MetaEvent]) -> None:
        match = _C_INT.match(line)
        if match is None:
            raise MetaProtocolError(f"Bogus data received from {self._peer_name}")
        if int(match.group(1)) != PACKET:
            events.append(RequestLine(line.decode("latin-1")))
            return
        tokens = line.split()
        length = _c_int(tokens[1]) if len(tokens) > 1 else None
        if length is None or not 0 <= length <= MAX_PACKET_LENGTH:
            raise MetaProtocolError(f"Got bad PACKET from {self._peer_name}")
        if length > self._max_buffer:
            # tincd could never hold it: its buffer would overflow first.
            raise MetaProtocolError("Metadata read buffer overflow")
        self._packet_length = length

    # -- the handshake -------------------------------------------------------

    def _who(self) -> str:
        return self._peer_name or self._expected_peer or "<unknown>"

    def _handle_handshake(self, line: bytes, events: list[MetaEvent]) -> None:
        tokens = line.split()
        number = _c_int(tokens[0]) if tokens else None
        if number is None:
            raise MetaProtocolError(f"Bogus data received from {self._who()}")
        if not 0 <= number < _LAST:
            raise MetaProtocolError(f"Unknown request from {self._who()}")
        if number != self._allow:
            raise MetaProtocolError(
                f"Unauthorized request from {self._who()}: got {_REQUEST_NAMES[number]} "
                f"while waiting for {_REQUEST_NAMES[self._allow]}"
            )
        if number == ID:
            self._on_id(tokens)
        elif number == METAKEY:
            self._on_metakey(tokens)
        elif number == CHALLENGE:
            self._on_challenge(tokens)
        elif number == CHAL_REPLY:
            self._on_chal_reply(tokens)
        else:
            events.append(self._on_ack(tokens))

    def _send_line(self, text: bytes) -> None:
        data = text + b"\n"
        self._outbox += self._encrypt.update(data) if self._encrypt is not None else data

    def _send_id(self) -> None:
        line = b"%d %s %d" % (ID, self._my_name.encode("ascii"), PROTOCOL_MAJOR)
        if self._id_minor is not None:
            line += b".%d" % self._id_minor
        self._send_line(line)

    def _on_id(self, tokens: list[bytes]) -> None:
        version = _c_int(tokens[2]) if len(tokens) >= 3 else None
        if version is None:
            raise MetaProtocolError(f"Got bad ID from {self._who()}")
        raw_name = tokens[1]
        name = raw_name.decode("latin-1")
        if not _NODE_NAME.fullmatch(raw_name) or name == self._my_name:
            raise MetaProtocolError(f"Got bad ID from {self._who()}: invalid name {name!r}")
        if self._expected_peer is not None and name != self._expected_peer:
            raise MetaProtocolError(f"Peer is {name} instead of {self._expected_peer}")
        self._peer_name = name
        if version != PROTOCOL_MAJOR:
            raise MetaProtocolError(f"Peer {name} uses incompatible version {version}")
        key = self._lookup_public_key(name)
        if key is None:
            raise MetaProtocolError(f"Peer had unknown identity ({name})")
        self._peer_key = key
        self._allow = METAKEY
        if not self._outgoing:
            self._send_id()
        self._send_metakey()

    def _send_metakey(self) -> None:
        assert self._peer_key is not None
        size = rsa_size(self._peer_key)
        cipher = self._meta_cipher
        if cipher.key_length + cipher.iv_length > size:
            raise MetaProtocolError(
                f"{self._who()}'s RSA key is too short to carry a {cipher.name} meta key"
            )
        material = bytearray(self._random(size))
        if len(material) != size:
            raise RuntimeError("the random source returned the wrong number of bytes")
        clear_top_bits(material, self._peer_key)
        try:
            encrypted = encrypt_no_padding(self._peer_key, bytes(material))
        except RawRSAError as error:
            raise MetaProtocolError(
                f"Error during encryption of meta key for {self._who()}: {error}"
            ) from None
        self._send_line(
            b"%d %d %d %d %d %s"
            % (METAKEY, cipher.nid, self._meta_digest.nid, META_MAC_LENGTH,
               META_COMPRESSION, encrypted.hex().upper().encode("ascii"))
        )
        # Everything after the METAKEY line goes out encrypted with what it carried.
        self._encrypt = _StreamCipher(cipher, bytes(material), encrypt=True)

    def _on_metakey(self, tokens: list[bytes]) -> None:
        who = self._who()
        numbers = [_c_int(t) for t in tokens[1:5]]
        if len(tokens) < 6 or any(n is None for n in numbers):
            raise MetaProtocolError(f"Got bad METAKEY from {who}")
        cipher_nid, digest_nid, mac_length = (int(n or 0) for n in numbers[:3])
        if len(tokens[5]) != 2 * self._my_size:
            raise MetaProtocolError(f"Possible intruder {who}: wrong keylength")
        encrypted = _from_hex(tokens[5], self._my_size)
        if encrypted is None:
            raise MetaProtocolError(f"Got bad METAKEY from {who}: invalid key")
        try:
            material = decrypt_no_padding(self._my_key, encrypted)
        except RawRSAError as error:
            raise MetaProtocolError(
                f"Error during decryption of meta key for {who}: {error}"
            ) from None

        if not cipher_nid:
            raise MetaProtocolError(f"{who} uses null cipher!")
        try:
            cipher = cipher_by_nid(cipher_nid)
        except KeyError:
            raise MetaProtocolError(f"{who} uses unknown cipher!") from None
        if cipher.block_size != 1 or cipher.key_length + cipher.iv_length > len(material):
            # tincd would try and then fail on the first piece of the stream.
            raise MetaProtocolError(
                f"{who} uses cipher {cipher.name}, which cannot encrypt the meta stream"
            )
        decrypt = _StreamCipher(cipher, material, encrypt=False)

        if not digest_nid:
            raise MetaProtocolError(f"{who} uses null digest!")
        try:
            digest = digest_by_nid(digest_nid)
        except KeyError:
            raise MetaProtocolError(f"Node {who} uses unknown digest!") from None
        if not 0 <= mac_length <= digest.digest_length:
            raise MetaProtocolError(f"{who} uses bogus MAC length!")

        self._decrypt = decrypt
        self._peer_digest = digest
        self._allow = CHALLENGE
        self._send_challenge()

    def _send_challenge(self) -> None:
        assert self._peer_key is not None
        size = rsa_size(self._peer_key)
        self._his_challenge = bytes(self._random(size))
        if len(self._his_challenge) != size:
            raise RuntimeError("the random source returned the wrong number of bytes")
        self._send_line(b"%d %s" % (CHALLENGE, self._his_challenge.hex().upper().encode("ascii")))

    def _on_challenge(self, tokens: list[bytes]) -> None:
        who = self._who()
        if len(tokens) < 2:
            raise MetaProtocolError(f"Got bad CHALLENGE from {who}")
        if len(tokens[1]) != 2 * self._my_size:
            raise MetaProtocolError(f"Possible intruder {who}: wrong challenge length")
        challenge = _from_hex(tokens[1], self._my_size)
        if challenge is None:
            raise MetaProtocolError(f"Got bad CHALLENGE from {who}: invalid challenge")
        self._my_challenge = challenge
        self._allow = CHAL_REPLY
        # The accepting side answers only after the peer has answered its own
        # challenge, so it never serves as an oracle for an unproven peer.
        if self._outgoing:
            self._send_chal_reply()

    def _send_chal_reply(self) -> None:
        assert self._peer_digest is not None
        hasher = self._peer_digest.hash()
        hasher.update(self._my_challenge)
        self._send_line(b"%d %s" % (CHAL_REPLY, hasher.finalize().hex().upper().encode("ascii")))

    def _on_chal_reply(self, tokens: list[bytes]) -> None:
        who = self._who()
        if len(tokens) < 2:
            raise MetaProtocolError(f"Got bad CHAL_REPLY from {who}")
        length = self._meta_digest.digest_length
        if len(tokens[1]) != 2 * length:
            raise MetaProtocolError(f"Possible intruder {who}: wrong challenge reply length")
        reply = _from_hex(tokens[1], length)
        if reply is None:
            raise MetaProtocolError(f"Got bad CHAL_REPLY from {who}: invalid hash")
        hasher = self._meta_digest.hash()
        hasher.update(self._his_challenge)
        if not hmac.compare_digest(reply, hasher.finalize()):
            raise MetaProtocolError(f"Possible intruder {who}: wrong challenge reply")
        self._allow = ACK
        if not self._outgoing:
            self._send_chal_reply()
        self._send_ack()

    def _send_ack(self) -> None:
        assert self._peer_name is not None
        if self._upgrade_key is not None:
            # tinc 1.1's upgrade: our Ed25519 key takes the place of the ACK.
            self._send_line(b"%d %s" % (ACK, self._upgrade_key.encode("ascii")))
            return
        elapsed = self._clock() - self._start
        estimate = int(elapsed * 1000)  # milliseconds, truncated as tincd's timeval maths
        fixed = self._weight(self._peer_name) if callable(self._weight) else self._weight
        self._estimated_weight = estimate if fixed is None else fixed
        options = self._my_options
        self._sent_options = (options(self._peer_name) if callable(options) else options)
        self._sent_options &= 0xFFFFFFFF
        wire_options = self._sent_options
        if self._ack_minor:
            # tinc 1.1 keeps the connection's options without a version and
            # sends its minor version in the top byte.
            self._sent_options &= 0xFFFFFF
            wire_options = self._sent_options | (self._ack_minor << 24)
        self._send_line(b"%d %d %d %x" % (ACK, self._my_port, self._estimated_weight, wire_options))

    def _on_ack(self, tokens: list[bytes]) -> Authenticated | PublicKeyOffered:
        assert self._peer_name is not None
        if self._upgrade_key is not None:
            if len(tokens) < 2:
                raise MetaProtocolError(f"Got bad ACK from {self._who()}")
            self._allow = ALLOW_ALL
            return PublicKeyOffered(self._peer_name, tokens[1].decode("latin-1"))
        weight = _c_int(tokens[2]) if len(tokens) >= 4 else None
        options = _c_hex(tokens[3]) if len(tokens) >= 4 else None
        if weight is None or options is None:
            raise MetaProtocolError(f"Got bad ACK from {self._who()}")
        port = _c_int(tokens[1])  # atoi: no number reads as 0
        self._allow = ALLOW_ALL
        return Authenticated(
            peer_name=self._peer_name,
            peer_port=port if port is not None and 0 <= port <= 0xFFFF else 0,
            peer_options=options,
            weight=truncating_mean(weight, self._estimated_weight),
            options=merge_options(self._sent_options, options),
            peer_weight=weight,
        )
