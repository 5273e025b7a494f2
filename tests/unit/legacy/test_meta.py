"""The legacy (tinc 1.0) meta connection, sans-IO: two objects wired back to back.

Known-answer checks use an independent AES-CFB "tap" built straight from
``cryptography`` and the recorded random bytes, so the wire format (which key
material keys which direction, the key/IV split, the hashes) is checked
without trusting the code under test. The real tincd checks are in
tests/interop/test_legacy_meta_tincd10.py.
"""

from __future__ import annotations

import hashlib
import random as pyrandom
import re
from collections.abc import Callable, Iterable

import pytest
from cryptography.hazmat.decrepit.ciphers import modes as old_modes
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tinca.core.errors import TincaError
from tinca.core.meta.connection import merge_options
from tinca.core.meta.requests import (
    OPTION_CLAMP_MSS,
    OPTION_INDIRECT,
    OPTION_PMTU_DISCOVERY,
    OPTION_TCPONLY,
)
from tinca.plugins.ciphers.legacy.evp import CIPHERS, DIGESTS
from tinca.plugins.ciphers.legacy.meta import (
    MAX_BUFFER_SIZE,
    Authenticated,
    LegacyMetaConnection,
    MetaEvent,
    MetaProtocolError,
    PacketReceived,
    RequestLine,
)
from tinca.plugins.ciphers.legacy.meta_rsa import (
    RawRSAError,
    clear_top_bits,
    decrypt_no_padding,
    encrypt_no_padding,
    rsa_size,
)

# ---------------------------------------------------------------------------
# Fixtures and helpers
# ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def keys() -> dict[str, rsa.RSAPrivateKey]:
    return {
        name: rsa.generate_private_key(public_exponent=65537, key_size=1024)
        for name in ("alpha", "beta", "mallory")
    }


class FakeClock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class RecordingRandom:
    """Seeded random bytes that remember each draw (METAKEY material comes first)."""

    def __init__(self, seed: int) -> None:
        self._random = pyrandom.Random(seed)
        self.draws: list[bytes] = []

    def __call__(self, n: int) -> bytes:
        data = self._random.randbytes(n)
        self.draws.append(data)
        return data


def make(
    keys: dict[str, rsa.RSAPrivateKey],
    name: str,
    *,
    outgoing: bool,
    known: Iterable[str] | None = None,
    public: dict[str, rsa.RSAPublicKey] | None = None,
    seed: int = 1,
    clock: Callable[[], float] | None = None,
    **kwargs: object,
) -> LegacyMetaConnection:
    """A connection for ``name``; it knows the public keys of ``known`` (default: all)."""
    peers = {n: k.public_key() for n, k in keys.items() if known is None or n in known}
    peers.update(public or {})
    options: dict[str, object] = {
        "my_port": 655 if name == "alpha" else 656,
        "my_options": OPTION_PMTU_DISCOVERY | OPTION_CLAMP_MSS,
        "expected_peer": ("beta" if name == "alpha" else "alpha") if outgoing else None,
    }
    options.update(kwargs)
    return LegacyMetaConnection(
        my_name=name,
        my_key=keys[name],
        outgoing=outgoing,
        lookup_public_key=peers.get,
        clock=clock or FakeClock(),
        random=RecordingRandom(seed),
        **options,  # type: ignore[arg-type]
    )


class Pair:
    """Two connections wired back to back in memory, like h11's ConnectionPair.

    ``chunks`` (sizes, used in turn) cuts every transmission into pieces.
    """

    def __init__(
        self,
        client: LegacyMetaConnection,
        server: LegacyMetaConnection,
        chunks: list[int] | None = None,
    ) -> None:
        self.client = client
        self.server = server
        self.events: dict[str, list[MetaEvent]] = {"client": [], "server": []}
        self.wire: dict[str, bytearray] = {"client": bytearray(), "server": bytearray()}
        self._chunks = chunks or []
        self._turn = 0

    def _deliver(self, sender: str, data: bytes) -> None:
        self.wire[sender] += data
        receiver = "server" if sender == "client" else "client"
        conn = self.server if sender == "client" else self.client
        pos = 0
        while pos < len(data):
            size = len(data)
            if self._chunks:
                size = self._chunks[self._turn % len(self._chunks)]
                self._turn += 1
            self.events[receiver] += conn.receive_data(data[pos:pos + size])
            pos += size

    def handshake(self) -> None:
        """Run until neither side has anything more to say."""
        self.send("client", self.client.initiate())
        self.send("server", self.server.initiate())
        self.flush()

    def send(self, sender: str, data: bytes) -> None:
        self._deliver(sender, data)

    def flush(self) -> None:
        for _ in range(20):
            moved = False
            for name, conn in (("client", self.client), ("server", self.server)):
                data = conn.data_to_send()
                if data:
                    self._deliver(name, data)
                    moved = True
            if not moved:
                return
        raise AssertionError("the two sides keep talking")


def authenticated_pair(keys: dict[str, rsa.RSAPrivateKey], **kwargs: object) -> Pair:
    pair = Pair(make(keys, "alpha", outgoing=True), make(keys, "beta", outgoing=False), **kwargs)
    pair.handshake()
    assert pair.client.authenticated and pair.server.authenticated
    return pair


class Tap:
    """An independent AES-256-CFB view of one direction, from the METAKEY material."""

    def __init__(self, material: bytes) -> None:
        key, iv = material[-32:], material[-48:-32]
        self._dec = Cipher(algorithms.AES(key), old_modes.CFB(iv)).decryptor()
        self._enc = Cipher(algorithms.AES(key), old_modes.CFB(iv)).encryptor()

    def read(self, ciphertext: bytes) -> bytes:
        plain = self._dec.update(ciphertext)
        self._enc.update(plain)  # stay in step for forging
        return plain

    def forge(self, plaintext: bytes) -> bytes:
        ciphertext = self._enc.update(plaintext)
        self._dec.update(ciphertext)
        return ciphertext


def split_plain(wire: bytes, lines: int) -> tuple[list[bytes], bytes]:
    """The first ``lines`` clear-text lines of a side's output, and the rest."""
    parts = wire.split(b"\n", lines)
    return parts[:lines], parts[lines] if len(parts) > lines else b""


def metakey_material(sender: LegacyMetaConnection) -> bytes:
    """The key material ``sender`` drew for its METAKEY, top bit cleared as sent."""
    material = bytearray(sender._random.draws[0])  # type: ignore[attr-defined]
    material[0] &= 0x7F
    return bytes(material)


def expect_error(conn: LegacyMetaConnection, data: bytes, pattern: str) -> MetaProtocolError:
    with pytest.raises(MetaProtocolError, match=pattern) as info:
        conn.receive_data(data)
    return info.value


# ---------------------------------------------------------------------------
# The handshake
# ---------------------------------------------------------------------------


def test_both_sides_authenticate(keys: dict[str, rsa.RSAPrivateKey]) -> None:
    pair = authenticated_pair(keys)
    (at_client,) = pair.events["client"]
    (at_server,) = pair.events["server"]
    assert isinstance(at_client, Authenticated) and isinstance(at_server, Authenticated)
    assert (at_client.peer_name, at_client.peer_port) == ("beta", 656)
    assert (at_server.peer_name, at_server.peer_port) == ("alpha", 655)
    assert pair.client.peer_name == "beta" and pair.server.peer_name == "alpha"
    assert at_client.weight == at_server.weight


def test_wire_format_of_the_first_lines(keys: dict[str, rsa.RSAPrivateKey]) -> None:
    client = make(keys, "alpha", outgoing=True)
    server = make(keys, "beta", outgoing=False)
    assert client.initiate() == b"0 alpha 17\n"
    assert server.initiate() == b""  # the accepting side waits for the ID
    assert server.receive_data(b"0 alpha 17\n") == []
    (server_id, metakey), rest = split_plain(server.data_to_send(), 2)
    assert server_id == b"0 beta 17"
    assert rest == b""  # nothing more until alpha's METAKEY arrives

    fields = metakey.split(b" ")
    # METAKEY: aes-256-cfb (NID 429), sha256 (NID 672), MAC length 0, compression 0.
    assert fields[:5] == [b"1", b"429", b"672", b"0", b"0"]
    assert re.fullmatch(rb"[0-9A-F]{256}", fields[5])  # upper-case hex, alpha's modulus size
    # Raw RSA to alpha's key: alpha's private key gives back beta's material.
    decrypted = decrypt_no_padding(keys["alpha"], bytes.fromhex(fields[5].decode()))
    assert decrypted == metakey_material(server)
    modulus = keys["alpha"].public_key().public_numbers().n
    assert pow(int.from_bytes(decrypted, "big"), 65537, modulus) == int(fields[5], 16)


def test_stream_key_iv_split_and_challenge_reply_hash(keys: dict[str, rsa.RSAPrivateKey]) -> None:
    pair = authenticated_pair(keys)
    # alpha's output: ID, METAKEY in clear, then its own stream.
    (_, _), alpha_stream = split_plain(bytes(pair.wire["client"]), 2)
    (_, _), beta_stream = split_plain(bytes(pair.wire["server"]), 2)
    alpha_plain = Tap(metakey_material(pair.client)).read(alpha_stream)
    beta_plain = Tap(metakey_material(pair.server)).read(beta_stream)

    alpha_lines = alpha_plain.split(b"\n")
    beta_lines = beta_plain.split(b"\n")
    assert [line[:2] for line in alpha_lines[:3]] == [b"2 ", b"3 ", b"4 "]
    assert [line[:2] for line in beta_lines[:3]] == [b"2 ", b"3 ", b"4 "]
    assert alpha_plain.endswith(b"\n") and beta_plain.endswith(b"\n")

    # Each CHALLENGE is as long as the receiver's modulus; each CHAL_REPLY is
    # SHA-256 of the challenge received, upper-case hex.
    alpha_challenge = bytes.fromhex(alpha_lines[0][2:].decode())
    beta_challenge = bytes.fromhex(beta_lines[0][2:].decode())
    assert len(alpha_challenge) == len(beta_challenge) == 128
    assert alpha_lines[1][2:] == hashlib.sha256(beta_challenge).hexdigest().upper().encode()
    assert beta_lines[1][2:] == hashlib.sha256(alpha_challenge).hexdigest().upper().encode()
    # The challenge is the second random draw, after the METAKEY material.
    assert alpha_challenge == pair.client._random.draws[1]  # type: ignore[attr-defined]
    # ACK: port, weight, options in hex.
    assert re.fullmatch(rb"4 655 \d+ c", alpha_lines[2])
    assert re.fullmatch(rb"4 656 \d+ c", beta_lines[2])


def test_accepting_side_answers_the_challenge_only_after_a_good_reply(
    keys: dict[str, rsa.RSAPrivateKey],
) -> None:
    client = make(keys, "alpha", outgoing=True)
    server = make(keys, "beta", outgoing=False)
    server.receive_data(client.initiate())
    client.receive_data(server.data_to_send())  # ID, METAKEY -> METAKEY, CHALLENGE, CHAL_REPLY?
    server.receive_data(client.data_to_send())
    # beta's first encrypted bytes: its CHALLENGE and nothing else.
    assert re.fullmatch(rb"2 [0-9A-F]{256}\n", Tap(metakey_material(server)).read(
        server.data_to_send()))


def test_weight_is_the_mean_of_both_estimates(keys: dict[str, rsa.RSAPrivateKey]) -> None:
    clock_a, clock_b = FakeClock(), FakeClock()
    client = make(keys, "alpha", outgoing=True, clock=clock_a)
    server = make(keys, "beta", outgoing=False, clock=clock_b)
    pair = Pair(client, server)
    pair.send("client", client.initiate())
    pair.send("server", server.data_to_send())  # ID, METAKEY
    pair.send("client", client.data_to_send())  # METAKEY, CHALLENGE, (nothing else yet)
    pair.send("server", server.data_to_send())  # CHALLENGE
    clock_a.now += 0.0309  # alpha sends its ACK 30.9 ms after it started: 30
    clock_b.now += 0.0111  # beta: 11
    pair.flush()
    (at_client,) = pair.events["client"]
    (at_server,) = pair.events["server"]
    assert isinstance(at_client, Authenticated) and isinstance(at_server, Authenticated)
    assert (at_client.peer_weight, at_server.peer_weight) == (11, 30)
    assert at_client.weight == at_server.weight == 20  # (30 + 11) / 2, truncated


def test_fixed_weight_and_options_per_peer(keys: dict[str, rsa.RSAPrivateKey]) -> None:
    asked: list[str] = []

    def options(peer: str) -> int:
        asked.append(peer)
        return OPTION_INDIRECT | OPTION_TCPONLY

    client = make(keys, "alpha", outgoing=True, weight=lambda peer: 100, my_options=options)
    server = make(keys, "beta", outgoing=False, weight=7, my_options=OPTION_PMTU_DISCOVERY)
    pair = Pair(client, server)
    pair.handshake()
    (at_client,) = pair.events["client"]
    (at_server,) = pair.events["server"]
    assert isinstance(at_client, Authenticated) and isinstance(at_server, Authenticated)
    assert asked == ["beta"]
    assert at_client.weight == at_server.weight == 53
    assert at_server.peer_options == OPTION_INDIRECT | OPTION_TCPONLY
    # PMTU discovery needs both; the rest is the union.
    assert at_client.options == at_server.options == OPTION_INDIRECT | OPTION_TCPONLY


def test_merge_options() -> None:
    both = OPTION_PMTU_DISCOVERY | OPTION_CLAMP_MSS
    assert merge_options(both, both) == both
    assert merge_options(both, OPTION_CLAMP_MSS) == OPTION_CLAMP_MSS
    assert merge_options(OPTION_INDIRECT, OPTION_TCPONLY) == OPTION_INDIRECT | OPTION_TCPONLY
    # A tinc 1.1 peer puts its protocol minor in the top byte; it passes through.
    assert merge_options(0, 0x07000000 | OPTION_CLAMP_MSS) == 0x07000008


def test_deterministic_with_injected_random(keys: dict[str, rsa.RSAPrivateKey]) -> None:
    first = authenticated_pair(keys)
    second = authenticated_pair(keys)
    assert first.wire == second.wire
    assert first.events == second.events


def test_different_meta_ciphers_per_direction(keys: dict[str, rsa.RSAPrivateKey]) -> None:
    # tincd with Cipher = aes-128-cbc announces aes-128-cfb; each side decrypts
    # with what the other announced.
    client = make(keys, "alpha", outgoing=True, meta_cipher=CIPHERS["aes-128-cfb"])
    server = make(keys, "beta", outgoing=False, meta_cipher=CIPHERS["aes-192-cfb"])
    pair = Pair(client, server)
    pair.handshake()
    assert client.authenticated and server.authenticated
    assert pair.wire["client"].split(b"\n")[1].split()[1] == b"421"  # aes-128-cfb
    assert pair.wire["server"].split(b"\n")[1].split()[1] == b"425"  # aes-192-cfb
    pair.send("client", client.send_request("8"))
    pair.send("server", server.send_request("9"))
    assert pair.events["server"][-1] == RequestLine("8")
    assert pair.events["client"][-1] == RequestLine("9")


def test_challenge_reply_uses_the_challengers_digest(keys: dict[str, rsa.RSAPrivateKey]) -> None:
    # alpha announces SHA-1, beta SHA-256: alpha must answer beta's challenge
    # with SHA-256 and beta alpha's with SHA-1 (each checks with its own).
    client = make(keys, "alpha", outgoing=True, meta_digest=DIGESTS["sha1"])
    server = make(keys, "beta", outgoing=False)
    pair = Pair(client, server)
    pair.handshake()
    assert client.authenticated and server.authenticated
    assert pair.wire["client"].split(b"\n")[1].split()[2] == b"64"  # sha1's NID
    (_, _), alpha_stream = split_plain(bytes(pair.wire["client"]), 2)
    (_, _), beta_stream = split_plain(bytes(pair.wire["server"]), 2)
    alpha_reply = Tap(metakey_material(client)).read(alpha_stream).split(b"\n")[1]
    beta_reply = Tap(metakey_material(server)).read(beta_stream).split(b"\n")[1]
    assert len(alpha_reply) == 2 + 64 and len(beta_reply) == 2 + 40


def test_minor_version_is_ignored_like_tincd_10(keys: dict[str, rsa.RSAPrivateKey]) -> None:
    server = make(keys, "beta", outgoing=False)
    assert server.receive_data(b"0 alpha 17.7\n") == []
    assert server.data_to_send().startswith(b"0 beta 17\n1 ")


# ---------------------------------------------------------------------------
# After authentication
# ---------------------------------------------------------------------------


def test_requests_and_packets_both_ways(keys: dict[str, rsa.RSAPrivateKey]) -> None:
    pair = authenticated_pair(keys)
    client, server = pair.client, pair.server
    packet = bytes(range(256)) + b"\n17 5\n"  # newlines inside a packet are data
    pair.send("client", client.send_request("10 1 alpha 198.18.0.1/32"))
    pair.send("client", client.send_packet(packet) + client.send_packet(b""))
    pair.send("client", client.send_request("8"))
    pair.send("server", server.send_packet(b"\x00" * 1500) + server.send_request("9"))
    assert pair.events["server"][1:] == [
        RequestLine("10 1 alpha 198.18.0.1/32"),
        PacketReceived(packet),
        PacketReceived(b""),
        RequestLine("8"),
    ]
    assert pair.events["client"][1:] == [PacketReceived(b"\x00" * 1500), RequestLine("9")]


def test_packet_bytes_on_the_wire(keys: dict[str, rsa.RSAPrivateKey]) -> None:
    pair = authenticated_pair(keys)
    tap = Tap(metakey_material(pair.client))
    (_, _), before = split_plain(bytes(pair.wire["client"]), 2)
    tap.read(before)
    assert tap.read(pair.client.send_packet(b"ab\ncd")) == b"17 5\nab\ncd"
    assert tap.read(pair.client.send_request("8")) == b"8\n"


def test_byte_at_a_time(keys: dict[str, rsa.RSAPrivateKey]) -> None:
    whole = authenticated_pair(keys)
    pair = authenticated_pair(keys, chunks=[1])
    for p in (whole, pair):
        p.send("client", p.client.send_request("12 a alpha beta 127.0.0.1 655 c 10"))
        p.send("client", p.client.send_packet(b"\n\n\n"))
        p.send("server", p.server.send_packet(b"x" * 100))
    assert pair.events == whole.events
    assert pair.wire == whole.wire


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(chunks=st.lists(st.integers(min_value=1, max_value=700), min_size=1, max_size=8))
def test_any_split_of_the_stream_gives_the_same_events(
    keys: dict[str, rsa.RSAPrivateKey], chunks: list[int]
) -> None:
    pair = authenticated_pair(keys, chunks=chunks)
    pair.send("client", pair.client.send_request("8") + pair.client.send_packet(b"p\n" * 40)
              + pair.client.send_request("10 1 alpha 198.18.0.0/16"))
    pair.send("server", pair.server.send_request("9"))
    assert pair.events["server"][1:] == [
        RequestLine("8"), PacketReceived(b"p\n" * 40), RequestLine("10 1 alpha 198.18.0.0/16")
    ]
    assert pair.events["client"][1:] == [RequestLine("9")]


def test_replies_queued_by_receive_data_come_first(keys: dict[str, rsa.RSAPrivateKey]) -> None:
    # beta's CHAL_REPLY and ACK are queued when alpha's ACK arrives; if beta
    # sends a request before taking them, the returned bytes still keep order.
    client = make(keys, "alpha", outgoing=True)
    server = make(keys, "beta", outgoing=False)
    server.receive_data(client.initiate())
    client.receive_data(server.data_to_send())
    server.receive_data(client.data_to_send())
    client.receive_data(server.data_to_send())
    server.receive_data(client.data_to_send())  # CHAL_REPLY: beta queues CHAL_REPLY + ACK
    out = server.data_to_send()
    events = client.receive_data(out)
    assert isinstance(events[0], Authenticated)
    events = server.receive_data(client.data_to_send())  # alpha's ACK
    assert isinstance(events[0], Authenticated)
    # Nothing queued now, so send_request returns just its own line.
    assert client.receive_data(server.send_request("8")) == [RequestLine("8")]


def test_garbage_after_authentication(keys: dict[str, rsa.RSAPrivateKey]) -> None:
    pair = authenticated_pair(keys)
    with pytest.raises(MetaProtocolError, match="Bogus data received from alpha"):
        pair.send("client", pair.client.send_request("hello"))

    pair = authenticated_pair(keys)
    with pytest.raises(MetaProtocolError, match="Got bad PACKET"):
        pair.send("client", pair.client.send_request("17 x"))

    pair = authenticated_pair(keys)
    with pytest.raises(MetaProtocolError, match="Got bad PACKET"):
        pair.send("client", pair.client.send_request("17 70000"))


def test_line_length_limit(keys: dict[str, rsa.RSAPrivateKey]) -> None:
    pair = authenticated_pair(keys)
    longest = "8" + " " * (MAX_BUFFER_SIZE - 2)  # with its newline: MAX_BUFFER_SIZE bytes
    pair.send("client", pair.client.send_request(longest))
    assert pair.events["server"][-1] == RequestLine(longest)
    with pytest.raises(ValueError, match="too long"):
        pair.client.send_request(longest + " ")

    # A peer with a bigger buffer sends one byte more: the receiver gives up.
    client = make(keys, "alpha", outgoing=True, max_buffer_size=4 * MAX_BUFFER_SIZE)
    pair = Pair(client, make(keys, "beta", outgoing=False))
    pair.handshake()
    with pytest.raises(MetaProtocolError, match="Metadata read buffer overflow"):
        pair.send("client", client.send_request(longest + " "))


def test_error_keeps_earlier_events_and_sticks(keys: dict[str, rsa.RSAPrivateKey]) -> None:
    pair = authenticated_pair(keys)
    data = pair.client.send_request("8") + pair.client.send_request("nonsense")
    with pytest.raises(MetaProtocolError) as info:
        pair.server.receive_data(data)
    assert info.value.events == (RequestLine("8"),)
    assert isinstance(info.value, TincaError)
    with pytest.raises(MetaProtocolError, match="Bogus data"):
        pair.server.receive_data(b"")
    with pytest.raises(MetaProtocolError):
        pair.server.send_request("8")


def test_send_rules(keys: dict[str, rsa.RSAPrivateKey]) -> None:
    client = make(keys, "alpha", outgoing=True)
    with pytest.raises(RuntimeError):
        client.receive_data(b"0 beta 17\n")  # before initiate()
    client.initiate()
    with pytest.raises(RuntimeError):
        client.initiate()
    with pytest.raises(RuntimeError, match="not authenticated"):
        client.send_request("8")
    with pytest.raises(RuntimeError, match="not authenticated"):
        client.send_packet(b"x")

    pair = authenticated_pair(keys)
    with pytest.raises(ValueError, match="newline"):
        pair.client.send_request("8\n9")
    with pytest.raises(ValueError, match="too long"):
        pair.client.send_packet(bytes(MAX_BUFFER_SIZE + 1))
    pair.send("client", pair.client.send_packet(bytes(MAX_BUFFER_SIZE)))
    assert pair.events["server"][-1] == PacketReceived(bytes(MAX_BUFFER_SIZE))


def test_constructor_rules(keys: dict[str, rsa.RSAPrivateKey]) -> None:
    with pytest.raises(ValueError, match="expected_peer"):
        make(keys, "alpha", outgoing=True, expected_peer=None)
    with pytest.raises(ValueError, match="stream mode"):
        make(keys, "alpha", outgoing=False, meta_cipher=CIPHERS["aes-256-cbc"])


# ---------------------------------------------------------------------------
# Failures during the handshake
# ---------------------------------------------------------------------------


def test_unknown_peer(keys: dict[str, rsa.RSAPrivateKey]) -> None:
    server = make(keys, "beta", outgoing=False, known=["beta"])
    expect_error(server, b"0 alpha 17\n", r"Peer had unknown identity \(alpha\)")
    assert server.data_to_send() == b""  # tincd says nothing to an unknown peer


def test_outgoing_checks_who_answers(keys: dict[str, rsa.RSAPrivateKey]) -> None:
    client = make(keys, "alpha", outgoing=True)
    client.initiate()
    expect_error(client, b"0 mallory 17\n", "Peer is mallory instead of beta")


def test_accepting_side_may_restrict_the_peer(keys: dict[str, rsa.RSAPrivateKey]) -> None:
    server = make(keys, "beta", outgoing=False, expected_peer="mallory")
    expect_error(server, b"0 alpha 17\n", "Peer is alpha instead of mallory")


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        (b"hello\n", "Bogus data received"),
        (b"\n", "Bogus data received"),
        (b"99 alpha 17\n", "Unknown request"),
        (b"1 429 672 0 0 00\n", "Unauthorized request .* METAKEY while waiting for ID"),
        (b"8\n", "Unauthorized request"),
        (b"0 alpha\n", "Got bad ID"),
        (b"0 alpha x17\n", "Got bad ID"),
        (b"0 al-pha 17\n", "invalid name"),
        (b"0 beta 17\n", "invalid name"),  # our own name
        (b"0 alpha 16\n", "Peer alpha uses incompatible version 16"),
    ],
)
def test_bad_first_lines(keys: dict[str, rsa.RSAPrivateKey], line: bytes, reason: str) -> None:
    expect_error(make(keys, "beta", outgoing=False), line, reason)


def server_after_id(keys: dict[str, rsa.RSAPrivateKey]) -> LegacyMetaConnection:
    server = make(keys, "beta", outgoing=False)
    server.receive_data(b"0 alpha 17\n")
    server.data_to_send()
    return server


def metakey(
    keys: dict[str, rsa.RSAPrivateKey], cipher: int = 429, digest: int = 672, mac: int = 0,
    material: bytes | None = None,
) -> bytes:
    """A METAKEY from alpha to beta."""
    public = keys["beta"].public_key()
    material = material or bytes([0x12]) * rsa_size(public)
    hexkey = encrypt_no_padding(public, material).hex().upper()
    return f"1 {cipher} {digest} {mac} 0 {hexkey}\n".encode()


@pytest.mark.parametrize(
    ("kwargs", "reason"),
    [
        ({"cipher": 0}, "uses null cipher"),
        ({"cipher": 99999}, "uses unknown cipher"),
        ({"cipher": 427}, "aes-256-cbc, which cannot encrypt the meta stream"),
        ({"digest": 0}, "uses null digest"),
        ({"digest": 99999}, "uses unknown digest"),
        ({"mac": 33}, "bogus MAC length"),
        ({"mac": -1}, "bogus MAC length"),
    ],
)
def test_bad_metakey_algorithms(
    keys: dict[str, rsa.RSAPrivateKey], kwargs: dict[str, int], reason: str
) -> None:
    expect_error(server_after_id(keys), metakey(keys, **kwargs), reason)


def test_bad_metakey_encoding(keys: dict[str, rsa.RSAPrivateKey]) -> None:
    size = rsa_size(keys["beta"])
    expect_error(server_after_id(keys), b"1 429 672 0 0 ABCD\n", "wrong keylength")
    expect_error(server_after_id(keys), b"1 429 672 0\n", "Got bad METAKEY")
    bad_hex = b"1 429 672 0 0 " + b"ZZ" * size + b"\n"
    expect_error(server_after_id(keys), bad_hex, "invalid key")
    too_big = b"1 429 672 0 0 " + b"FF" * size + b"\n"
    expect_error(server_after_id(keys), too_big, "Error during decryption of meta key")


def test_good_metakey_switches_decryption_mid_piece(keys: dict[str, rsa.RSAPrivateKey]) -> None:
    """Bytes after the METAKEY line in the same piece are decrypted with its key."""
    material = bytes(range(1, 129))
    server = server_after_id(keys)
    tap = Tap(material)
    challenge = b"2 " + b"AB" * rsa_size(keys["beta"]) + b"\n"
    assert server.receive_data(metakey(keys, material=material) + tap.forge(challenge)) == []
    # A wrong CHAL_REPLY, in the same stream, is caught.
    expect_error(server, tap.forge(b"3 " + b"00" * 32 + b"\n"),
                 "Possible intruder alpha: wrong challenge reply")


def test_forged_challenge_reply_is_rejected(keys: dict[str, rsa.RSAPrivateKey]) -> None:
    """alpha's CHAL_REPLY altered on the wire (re-encrypted in step): beta refuses it."""
    client = make(keys, "alpha", outgoing=True)
    server = make(keys, "beta", outgoing=False)
    server.receive_data(client.initiate())
    assert client.receive_data(server.data_to_send()) == []
    out = client.data_to_send()
    (metakey_line,), stream = split_plain(out, 1)  # METAKEY in clear, then the stream
    assert metakey_line.startswith(b"1 ")
    tap = Tap(metakey_material(client))
    assert tap.read(stream).startswith(b"2 ")
    server.receive_data(out)
    client.receive_data(server.data_to_send())  # beta's CHALLENGE
    real = client.data_to_send()  # alpha's CHAL_REPLY, withheld
    wrong = hashlib.sha256(b"not beta's challenge").hexdigest().upper().encode()
    forged = tap.forge(b"3 " + wrong + b"\n")
    assert len(forged) == len(real) and forged != real
    expect_error(server, forged, "Possible intruder alpha: wrong challenge reply")


@pytest.mark.parametrize(
    ("challenge", "reason"),
    [
        (b"2 ABCD\n", "wrong challenge length"),
        (b"2 " + b"G0" * 128 + b"\n", "invalid challenge"),
        (b"2\n", "Got bad CHALLENGE"),
        (b"3 00\n", "Unauthorized request"),
    ],
)
def test_bad_challenges(keys: dict[str, rsa.RSAPrivateKey], challenge: bytes, reason: str) -> None:
    material = bytes(range(1, 129))
    server = server_after_id(keys)
    tap = Tap(material)
    server.receive_data(metakey(keys, material=material))
    expect_error(server, tap.forge(challenge), reason)


def test_bad_challenge_replies(keys: dict[str, rsa.RSAPrivateKey]) -> None:
    for reply, reason in [
        (b"3 ABCD\n", "wrong challenge reply length"),
        (b"3 " + b"XY" * 32 + b"\n", "invalid hash"),
        (b"3\n", "Got bad CHAL_REPLY"),
    ]:
        material = bytes(range(1, 129))
        server = server_after_id(keys)
        tap = Tap(material)
        server.receive_data(metakey(keys, material=material))
        server.receive_data(tap.forge(b"2 " + b"AB" * 128 + b"\n"))
        expect_error(server, tap.forge(reply), reason)


def test_bad_ack(keys: dict[str, rsa.RSAPrivateKey]) -> None:
    pair = Pair(make(keys, "alpha", outgoing=True), make(keys, "beta", outgoing=False))
    pair.send("client", pair.client.initiate())
    pair.send("server", pair.server.data_to_send())  # ID, METAKEY
    pair.send("client", pair.client.data_to_send())  # METAKEY, CHALLENGE
    pair.send("server", pair.server.data_to_send())  # CHALLENGE
    reply = pair.client.data_to_send()  # alpha's CHAL_REPLY
    pair.send("client", reply)  # beta now waits for alpha's ACK
    tap = Tap(metakey_material(pair.client))
    (_, _), stream = split_plain(bytes(pair.wire["client"]), 2)
    assert tap.read(stream).split(b"\n")[1].startswith(b"3 ")
    expect_error(pair.server, tap.forge(b"4 655 x c\n"), "Got bad ACK from alpha")


def test_wrong_private_key_never_authenticates(keys: dict[str, rsa.RSAPrivateKey]) -> None:
    """beta holds mallory's public key for alpha: alpha cannot read beta's stream.

    The result is noise, so how it fails varies (bad data, or a line that
    never ends), as with tincd; it must never authenticate.
    """
    for seed in range(8):
        client = make(keys, "alpha", outgoing=True, seed=seed)
        server = make(keys, "beta", outgoing=False, seed=seed + 100,
                      public={"alpha": keys["mallory"].public_key()})
        pair = Pair(client, server)
        try:
            pair.handshake()
        except MetaProtocolError as error:
            assert error.reason
        assert not client.authenticated and not server.authenticated
        assert not any(isinstance(e, Authenticated) for e in pair.events["client"])


# ---------------------------------------------------------------------------
# Raw RSA
# ---------------------------------------------------------------------------


def test_raw_rsa_round_trip_and_textbook_values(keys: dict[str, rsa.RSAPrivateKey]) -> None:
    key = keys["alpha"]
    numbers = key.private_numbers()
    n, d = numbers.public_numbers.n, numbers.d
    message = bytearray(pyrandom.Random(5).randbytes(rsa_size(key)))
    clear_top_bits(message, key.public_key())
    encrypted = encrypt_no_padding(key.public_key(), bytes(message))
    assert decrypt_no_padding(key, encrypted) == bytes(message)
    # The CRT + blinding result is plain c^d mod n, left-padded to the modulus size.
    small = (5).to_bytes(rsa_size(key), "big")
    assert decrypt_no_padding(key, small) == pow(5, d, n).to_bytes(rsa_size(key), "big")
    with pytest.raises(RawRSAError):
        decrypt_no_padding(key, n.to_bytes(rsa_size(key), "big"))
    with pytest.raises(RawRSAError):
        encrypt_no_padding(key.public_key(), b"\xff" * rsa_size(key))
    with pytest.raises(RawRSAError):
        encrypt_no_padding(key.public_key(), b"\x01")


def test_clear_top_bits_is_tincds_mask_and_safe_for_odd_sizes() -> None:
    key_2048 = rsa.generate_private_key(public_exponent=65537, key_size=2048).public_key()
    material = bytearray(b"\xff" * 256)
    clear_top_bits(material, key_2048)
    assert material[0] == 0x7F and material[1:] == b"\xff" * 255  # tincd: outkey[0] &= 0x7F

    odd = rsa.generate_private_key(public_exponent=65537, key_size=1028).public_key()
    material = bytearray(b"\xff" * rsa_size(odd))
    clear_top_bits(material, odd)
    assert int.from_bytes(material, "big") < odd.public_numbers().n
    encrypt_no_padding(odd, bytes(material))  # below the modulus: no error
