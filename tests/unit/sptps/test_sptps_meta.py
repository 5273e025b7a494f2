"""tinc 1.1's meta connection (17.7 over SPTPS): vectors from real tincd, then unit tests.

The vector tests replay each daemon of ``meta.json`` on its own: the session
gets that daemon's key, its recorded meta-connection KEX draws and a clock
that reproduces its recorded weight, is fed the other daemon's TCP stream
chunk by chunk (or byte by byte), and is asked to send the requests the
daemon sent. Its whole outgoing stream must equal the recorded one, and it
must decode every request and packet the other daemon sent.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator
from itertools import pairwise

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.helpers import counter_random
from tests.vectors import RecordedDraws, load_vector
from tinca.core.meta.requests import OPTION_CLAMP_MSS, OPTION_PMTU_DISCOVERY
from tinca.core.suite import Authenticated, MetaError, PacketReceived, RequestLine
from tinca.plugins.ciphers.sptps.ed25519_keys import ExpandedEd25519Key, key_from_seed
from tinca.plugins.ciphers.sptps.meta import (
    BadIdError,
    PeerAuthenticationError,
    SptpsMetaConnection,
    SptpsMetaConnectionError,
    SptpsPacketReceived,
    UnknownIdentityError,
    VersionRollbackError,
    meta_label,
)
from tinca.plugins.ciphers.sptps.sptps import Failure

OPTIONS = OPTION_PMTU_DISCOVERY | OPTION_CLAMP_MSS  # what both daemons sent (0xc)


# ---------------------------------------------------------------------------
# helpers


def stepping_clock(*times: float) -> Callable[[], float]:
    """A clock returning ``times`` in order (the session reads it at ID and at ACK)."""
    values: Iterator[float] = iter(times)
    return lambda: next(values)




# ---------------------------------------------------------------------------
# meta.json


PEER = {"alpha": "beta", "beta": "alpha"}


def _vector_session(vector: dict, me: str, weight: int) -> SptpsMetaConnection:
    node = vector["nodes"][me]
    peer = PEER[me]
    peer_public = bytes.fromhex(vector["nodes"][peer]["public_key_hex"])
    return SptpsMetaConnection(
        my_name=me,
        my_key=ExpandedEd25519Key(bytes.fromhex(node["private_key_raw_hex"])),
        outgoing=me == vector["initiator"],
        lookup_public_key=lambda name: peer_public if name == peer else None,
        my_port=vector["ports"][me],
        my_options=OPTIONS,
        # half a millisecond more than the recorded weight: truncation gives it back
        clock=stepping_clock(100.0, 100.0 + (weight + 0.5) / 1000),
        random=RecordedDraws(node["random"], "meta connection"),
        expected_peer=peer if me == vector["initiator"] else None,
    )


def _recorded_weight(vector: dict, me: str) -> int:
    ack = vector["derived"]["meta_requests"][f"{me}2{PEER[me]}"][1]
    assert ack["request"] == "ACK"
    return int(ack["line"].split()[2])


def _chunks(vector: dict, direction: str, bytewise: bool) -> list[bytes]:
    wire = bytes.fromhex(vector["wire"][direction]["hex"])
    if bytewise:
        return [wire[i : i + 1] for i in range(len(wire))]
    return [wire[c["offset"] : c["offset"] + c["len"]] for c in vector["wire"][direction]["chunks"]]


def _replay(vector: dict, me: str, *, bytewise: bool, weight: int | None = None):
    weight = _recorded_weight(vector, me) if weight is None else weight
    session = _vector_session(vector, me, weight)
    sent = session.initiate()
    events = []
    for chunk in _chunks(vector, f"{PEER[me]}2{me}", bytewise):
        events += session.receive_data(chunk)
        sent += session.data_to_send()
    return session, sent, events


@pytest.mark.parametrize("bytewise", [False, True], ids=["chunks", "bytewise"])
@pytest.mark.parametrize("me", ["alpha", "beta"])
def test_vector_whole_stream_byte_exact(me: str, bytewise: bool) -> None:
    vector = load_vector("meta.json")
    session, sent, _ = _replay(vector, me, bytewise=bytewise)
    assert session.authenticated
    # What the daemon sent after its ACK, sent again through the session.
    mine = vector["derived"]["meta_requests"][f"{me}2{PEER[me]}"]
    for entry in mine[2:]:
        if "tcp_packet_hex" in entry:
            continue  # went out with the PACKET line before it
        if entry["request"] == "PACKET":
            index = mine.index(entry)
            sent += session.send_packet(bytes.fromhex(mine[index + 1]["tcp_packet_hex"]))
        else:
            sent += session.send_request(entry["line"])
    assert sent.hex() == vector["wire"][f"{me}2{PEER[me]}"]["hex"]


@settings(max_examples=25, deadline=None)
@given(cuts=st.lists(st.integers(min_value=0, max_value=700), max_size=12))
def test_vector_any_chunking_gives_the_same_events(cuts: list[int]) -> None:
    """However the recorded stream is cut, beta sends and decodes the same."""
    vector = load_vector("meta.json")
    wire = bytes.fromhex(vector["wire"]["alpha2beta"]["hex"])
    _, whole_sent, whole_events = _replay(vector, "beta", bytewise=False)
    session = _vector_session(vector, "beta", _recorded_weight(vector, "beta"))
    sent = session.initiate()
    events = []
    bounds = sorted({0, len(wire), *(c for c in cuts if c < len(wire))})
    for start, end in pairwise(bounds):
        events += session.receive_data(wire[start:end])
        sent += session.data_to_send()
    assert events == whole_events
    assert sent == whole_sent


@pytest.mark.parametrize("me", ["alpha", "beta"])
def test_vector_decodes_every_request_of_the_peer(me: str) -> None:
    vector = load_vector("meta.json")
    _, _, events = _replay(vector, me, bytewise=False)
    theirs = vector["derived"]["meta_requests"][f"{PEER[me]}2{me}"]
    assert theirs[0]["plaintext_id_line"] == f"0 {PEER[me]} 17.7"
    my_weight = _recorded_weight(vector, me)
    peer_weight = _recorded_weight(vector, PEER[me])
    assert events[0] == Authenticated(
        peer_name=PEER[me],
        peer_port=vector["ports"][PEER[me]],
        peer_options=0x0700000C,
        weight=(my_weight + peer_weight) // 2,
        options=0x0700000C,
        peer_weight=peer_weight,
    )
    expected = []
    for entry in theirs[2:]:
        if "tcp_packet_hex" in entry:
            expected.append(PacketReceived(bytes.fromhex(entry["tcp_packet_hex"])))
        elif entry["request"] != "PACKET":
            expected.append(RequestLine(entry["line"]))
    assert events[1:] == expected
    if me == "beta":
        assert any(isinstance(e, PacketReceived) for e in events)


@pytest.mark.parametrize("me", ["alpha", "beta"])
def test_vector_handshake_exact_with_any_weight(me: str) -> None:
    """ID, KEX and SIG never depend on the clock; the ACK keeps its form."""
    vector = load_vector("meta.json")
    _, sent, events = _replay(vector, me, bytewise=False, weight=1234)
    recorded = bytes.fromhex(vector["wire"][f"{me}2{PEER[me]}"]["hex"])
    id_length = len(f"0 {me} 17.7\n")
    handshake = id_length + 68 + 67  # the ID line, KEX (65 + 3) and SIG (64 + 3)
    assert sent[:handshake] == recorded[:handshake]
    assert sent[:id_length] == f"0 {me} 17.7\n".encode()
    ack = f"4 {vector['ports'][me]} 1234 700000c\n".encode()
    assert len(sent) == handshake + 2 + 1 + len(ack) + 16
    assert sent[handshake : handshake + 2] == len(ack).to_bytes(2, "big")
    assert isinstance(events[0], Authenticated) and events[0].peer_name == PEER[me]


def test_meta_label_has_trailing_nul() -> None:
    vector = load_vector("meta.json")
    assert meta_label("alpha", "beta").hex() == vector["meta_label"]["hex"]
    assert len(meta_label("alpha", "beta")) == vector["meta_label"]["length"]


# ---------------------------------------------------------------------------
# back to back


KEYS = {name: key_from_seed(hashlib.sha256(name.encode()).digest()) for name in ("a", "b", "c")}


def make(
    me: str,
    peer: str,
    *,
    outgoing: bool,
    known: dict[str, bytes] | None = None,
    key: ExpandedEd25519Key | None = None,
    options: int = OPTIONS,
    weight: int | None = None,
    expected_peer: str | None = None,
) -> SptpsMetaConnection:
    publics = known if known is not None else {peer: KEYS[peer].public}
    return SptpsMetaConnection(
        my_name=me,
        my_key=key or KEYS[me],
        outgoing=outgoing,
        lookup_public_key=publics.get,
        my_port=655,
        my_options=options,
        clock=stepping_clock(10.0, 10.0125 if outgoing else 10.0105),
        random=counter_random(me.encode()),
        expected_peer=expected_peer or (peer if outgoing else None),
        weight=weight,
    )


def pump(a: SptpsMetaConnection, b: SptpsMetaConnection, *, bytewise: bool = False):
    """Run the handshake; returns the events each side saw."""
    events: dict[str, list] = {"a": [], "b": []}
    to_b = a.initiate()
    to_a = b.initiate()
    assert to_a == b""
    while to_a or to_b:
        feed_b = [to_b[i : i + 1] for i in range(len(to_b))] if bytewise else [to_b]
        to_b = b""
        for piece in feed_b:
            if piece:
                events["b"] += b.receive_data(piece)
                to_a += b.data_to_send()
        feed_a = [to_a[i : i + 1] for i in range(len(to_a))] if bytewise else [to_a]
        to_a = b""
        for piece in feed_a:
            if piece:
                events["a"] += a.receive_data(piece)
                to_b += a.data_to_send()
    return events


@pytest.mark.parametrize("bytewise", [False, True])
def test_back_to_back_authenticates(bytewise: bool) -> None:
    a, b = make("a", "b", outgoing=True), make("b", "a", outgoing=False)
    events = pump(a, b, bytewise=bytewise)
    assert a.authenticated and b.authenticated
    # a measured 12 ms, b 10 ms: both agree on the mean.
    assert events["a"] == [Authenticated("b", 655, 0x0700000C, 11, 0x0700000C, 10)]
    assert events["b"] == [Authenticated("a", 655, 0x0700000C, 11, 0x0700000C, 12)]
    assert b.peer_name == "a"


def test_fixed_weight_and_options_merge() -> None:
    a = make("a", "b", outgoing=True, weight=100, options=OPTION_PMTU_DISCOVERY | 1)
    b = make("b", "a", outgoing=False, options=OPTION_CLAMP_MSS)
    events = pump(a, b)
    (auth,) = events["b"]
    assert auth.peer_weight == 100 and auth.weight == 55
    # PMTU discovery only if both ask; the peer's version byte stays.
    assert auth.options == 0x07000009
    assert events["a"][0].options == 0x07000009


def _pair() -> tuple[SptpsMetaConnection, SptpsMetaConnection]:
    a, b = make("a", "b", outgoing=True), make("b", "a", outgoing=False)
    pump(a, b)
    return a, b


def _feed(session: SptpsMetaConnection, data: bytes, bytewise: bool) -> list:
    if not bytewise:
        return session.receive_data(data)
    events = []
    for i in range(len(data)):
        events += session.receive_data(data[i : i + 1])
    return events


@pytest.mark.parametrize("bytewise", [False, True])
def test_requests_packets_and_raw_packets_both_ways(bytewise: bool) -> None:
    a, b = _pair()
    raw = bytes(range(40)) + b"\n17 3\n"  # raw bytes are never parsed
    wire = a.send_request("8") + a.send_packet(b"\x45" * 60) + a.send_request("10 1 a 198.18.0.1")
    wire += a.send_raw_packet(raw) + a.send_request("9") + a.send_packet(b"\n")
    assert _feed(b, wire, bytewise) == [
        RequestLine("8"),
        PacketReceived(b"\x45" * 60),
        RequestLine("10 1 a 198.18.0.1"),
        SptpsPacketReceived(raw),
        RequestLine("9"),
        PacketReceived(b"\n"),
    ]
    back = b.send_request("9") + b.send_raw_packet(b"\x00" * 3) + b.send_request("8")
    assert _feed(a, back, bytewise) == [
        RequestLine("9"), SptpsPacketReceived(b"\x00" * 3), RequestLine("8"),
    ]


def test_queued_handshake_bytes_come_first() -> None:
    """An ACK queued by receive_data goes out before a request sent next."""
    a, b = make("a", "b", outgoing=True), make("b", "a", outgoing=False)
    b.receive_data(a.initiate())
    a.receive_data(b.data_to_send())
    b.receive_data(a.data_to_send())  # KEX and SIG: b queues its SIG and ACK
    assert isinstance(a.receive_data(b.data_to_send())[0], Authenticated)
    wire = a.send_request("8")  # a's queued ACK must come first
    events = b.receive_data(wire)
    assert isinstance(events[0], Authenticated) and events[1:] == [RequestLine("8")]
    assert a.data_to_send() == b""


def test_sending_before_authentication_is_refused() -> None:
    a = make("a", "b", outgoing=True)
    a.initiate()
    with pytest.raises(RuntimeError):
        a.send_request("8")
    with pytest.raises(RuntimeError):
        a.send_packet(b"x")


def test_bad_send_arguments() -> None:
    a, _ = _pair()
    with pytest.raises(ValueError):
        a.send_request("8\n9")
    with pytest.raises(ValueError):
        a.send_packet(b"")
    with pytest.raises(ValueError):
        a.send_packet(b"x" * 40000)
    with pytest.raises(ValueError):
        a.send_raw_packet(b"x" * 40000)


# ---------------------------------------------------------------------------
# errors


def _accepting_error(first: bytes, **kwargs) -> SptpsMetaConnectionError:
    b = make("b", "a", outgoing=False, **kwargs)
    with pytest.raises(SptpsMetaConnectionError) as info:
        b.receive_data(first)
    # The connection is dead: the same error again.
    with pytest.raises(SptpsMetaConnectionError) as again:
        b.receive_data(b"0 a 17.7\n")
    assert again.value is info.value
    assert isinstance(info.value, MetaError)
    return info.value


@pytest.mark.parametrize(
    ("line", "kind", "words"),
    [
        (b"0 a\n", BadIdError, "Got bad ID"),
        (b"0 a!b 17.7\n", BadIdError, "Got bad ID"),
        (b"0 b 17.7\n", BadIdError, "invalid name"),  # our own name
        (b"0 ^cookie 17.7\n", BadIdError, "invalid name"),
        (b"0 a 18.7\n", BadIdError, "incompatible version 18.7"),
        (b"0 c 17.7\n", UnknownIdentityError, "unknown identity (c)"),
        (b"0 a 17\n", VersionRollbackError, "roll back protocol version to 17.0"),
        (b"0 a 17.0\n", VersionRollbackError, "roll back"),
        (b"0 a 17.1\n", VersionRollbackError, "legacy protocol"),
        (b"hello\n", SptpsMetaConnectionError, "Bogus data"),
        (b"4 655 1 c\n", SptpsMetaConnectionError, "Unauthorized request"),
    ],
)
def test_bad_id_lines(line: bytes, kind: type, words: str) -> None:
    error = _accepting_error(line)
    assert type(error) is kind
    assert words in str(error)


def test_id_line_that_never_ends_fills_the_buffer() -> None:
    error = _accepting_error(b"0 " + b"a" * 3000)
    assert "Input buffer full" in str(error)


def test_outgoing_side_checks_who_answered() -> None:
    a = make("a", "b", outgoing=True, known={"b": KEYS["b"].public, "c": KEYS["c"].public})
    a.initiate()
    with pytest.raises(BadIdError, match="Peer is c instead of b"):
        a.receive_data(b"0 c 17.7\n")


def test_wrong_key_fails_the_signature() -> None:
    # b believes a's key is c's: a's SIG cannot verify.
    a = make("a", "b", outgoing=True)
    b = make("b", "a", outgoing=False, known={"a": KEYS["c"].public})
    b.receive_data(a.initiate())
    a.receive_data(b.data_to_send())
    with pytest.raises(PeerAuthenticationError) as info:
        b.receive_data(a.data_to_send())
    assert info.value.failure is Failure.BAD_SIGNATURE
    assert "Failed to verify SIG" in str(info.value)


def test_impostor_key_fails_on_the_outgoing_side() -> None:
    # b signs with c's key; a expects b's.
    a = make("a", "b", outgoing=True)
    b = make("b", "a", outgoing=False, key=KEYS["c"])
    b.receive_data(a.initiate())
    a.receive_data(b.data_to_send())
    b.receive_data(a.data_to_send())  # b accepts a's SIG and answers with its (wrong) one
    with pytest.raises(PeerAuthenticationError) as info:
        a.receive_data(b.data_to_send())
    assert info.value.failure is Failure.BAD_SIGNATURE


def test_tampered_record_and_garbage_after_authentication() -> None:
    a, b = _pair()
    wire = bytearray(a.send_request("8"))
    wire[5] ^= 1
    with pytest.raises(PeerAuthenticationError) as info:
        b.receive_data(bytes(wire))
    assert info.value.failure is Failure.BAD_TAG
    with pytest.raises(PeerAuthenticationError):
        b.receive_data(a.send_request("9"))


def test_garbage_instead_of_kex() -> None:
    b = make("b", "a", outgoing=False)
    with pytest.raises(PeerAuthenticationError) as info:
        b.receive_data(b"0 a 17.7\n\x00\x02\x00hi")  # an application record in plaintext
    assert info.value.failure is Failure.HANDSHAKE_NOT_FINISHED


@pytest.mark.parametrize(
    ("lines", "words"),
    [
        (["8"], "Unauthorized request"),
        (["4 655 x"], "Got bad ACK"),
        (["99 1"], "Unknown request"),
    ],
)
def test_bad_requests_during_the_ack_phase(lines: list[str], words: str) -> None:
    a, b = make("a", "b", outgoing=True), make("b", "a", outgoing=False)

    def forged_ack() -> None:
        # a sends these lines where its ACK belongs.
        for line in lines:
            a._outbox += a._sptps.send_record(0, line.encode() + b"\n")

    a._send_ack = forged_ack
    b.receive_data(a.initiate())
    a.receive_data(b.data_to_send())
    b.receive_data(a.data_to_send())
    a.receive_data(b.data_to_send())
    with pytest.raises(SptpsMetaConnectionError, match=words):
        b.receive_data(a.data_to_send())


@pytest.mark.parametrize(
    ("line", "words"),
    [("17 -1", "Got bad PACKET"), ("21 x", "Got bad SPTPS_PACKET"), ("x", "Bogus data")],
)
def test_bad_requests_after_authentication(line: str, words: str) -> None:
    a, b = _pair()
    wire = a.send_request("9") + a.send_request(line)
    with pytest.raises(SptpsMetaConnectionError, match=words) as info:
        b.receive_data(wire)
    # What the same call decoded before the fault is not lost.
    assert info.value.events == (RequestLine("9"),)


def test_packet_of_the_wrong_length() -> None:
    a, b = _pair()
    wire = a.send_request("17 5") + a.send_request("8")  # a 2-byte record, not 5
    with pytest.raises(SptpsMetaConnectionError, match="PACKET announced 5"):
        b.receive_data(wire)


def test_constructor_checks() -> None:
    with pytest.raises(ValueError):
        make("a b", "b", outgoing=False, key=KEYS["a"])
    with pytest.raises(ValueError):
        SptpsMetaConnection(
            my_name="a", my_key=KEYS["a"], outgoing=True, lookup_public_key=lambda _: None,
            my_port=655, my_options=0, clock=lambda: 0.0, random=counter_random(b"x"),
        )
