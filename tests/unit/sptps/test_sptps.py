"""SPTPS sessions back to back: handshakes, re-KEX, the replay window and bad input."""

from __future__ import annotations

import random as _random
from collections.abc import Callable
from functools import cache

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tinca.core.suite import MetaError, PacketError
from tinca.plugins.ciphers.sptps.ed25519_keys import key_from_seed
from tinca.plugins.ciphers.sptps.sptps import (
    DATAGRAM_OVERHEAD,
    MAX_RECORD_DATA,
    RECORD_ALERT,
    RECORD_HANDSHAKE,
    SPTPS,
    STREAM_OVERHEAD,
    Failure,
    HandshakeDone,
    Record,
    SptpsError,
    SptpsMetaError,
    SptpsPacketError,
    State,
)

KEY_A = key_from_seed(bytes(range(32)))
KEY_B = key_from_seed(bytes(range(32, 64)))
KEY_C = key_from_seed(bytes(range(64, 96)))
LABEL = b"tinca test label"


def make_random(seed: int) -> Callable[[int], bytes]:
    return _random.Random(seed).randbytes


def session(
    *,
    initiator: bool,
    datagram: bool,
    peer_public: bytes | None = None,
    replay_window: int = 16,
    clock: Callable[[], float] | None = None,
) -> SPTPS:
    me, peer = (KEY_A, KEY_B) if initiator else (KEY_B, KEY_A)
    return SPTPS(
        initiator=initiator,
        datagram=datagram,
        my_key=me,
        peer_public=peer.public if peer_public is None else peer_public,
        label=LABEL,
        random=make_random(1 if initiator else 2),
        replay_window=replay_window,
        clock=clock,
    )


class Pair:
    """An initiator ``a`` and a responder ``b`` wired together in memory."""

    def __init__(self, datagram: bool, **kwargs: object) -> None:
        self.a = session(initiator=True, datagram=datagram, **kwargs)
        self.b = session(initiator=False, datagram=datagram, **kwargs)
        self.to_b: list[bytes] = [self.a.start()]
        self.to_a: list[bytes] = [self.b.start()]
        self.events: dict[str, list] = {"a": [], "b": []}
        self.delivered_to_b: list[bytes] = []

    def step(self) -> bool:
        """Deliver the oldest item in flight each way; whether anything moved."""
        moved = False
        if self.to_b:
            item = self.to_b.pop(0)
            self.delivered_to_b.append(item)
            self.events["b"] += self.b.receive(item)
            self.to_a += self.b.data_to_send()
            moved = True
        if self.to_a:
            self.events["a"] += self.a.receive(self.to_a.pop(0))
            self.to_b += self.a.data_to_send()
            moved = True
        return moved

    def settle(self) -> None:
        while self.step():
            pass

    def records(self, side: str) -> list[Record]:
        return [e for e in self.events[side] if isinstance(e, Record)]

    def handshakes(self, side: str) -> list[HandshakeDone]:
        return [e for e in self.events[side] if isinstance(e, HandshakeDone)]


def established(datagram: bool, **kwargs: object) -> Pair:
    pair = Pair(datagram, **kwargs)
    pair.settle()
    assert pair.a.established and pair.b.established
    return pair


MODES = pytest.mark.parametrize("datagram", [False, True], ids=["stream", "datagram"])


def error_class(datagram: bool) -> type[SptpsError]:
    return SptpsPacketError if datagram else SptpsMetaError


# ---------------------------------------------------------------------------
# Handshake and records


@MODES
def test_handshake_then_records_both_ways(datagram: bool) -> None:
    ticks = iter(range(100, 200))
    pair = Pair(datagram, clock=lambda: float(next(ticks)))
    assert pair.a.state is State.KEX and not pair.a.established
    pair.settle()
    assert pair.handshakes("a") == [HandshakeDone(initial=True)]
    assert pair.handshakes("b") == [HandshakeDone(initial=True)]
    assert pair.a.state is State.SECONDARY_KEX and pair.b.state is State.SECONDARY_KEX
    assert pair.a.handshake_completed_at is not None and pair.b.handshake_completed_at is not None

    sent_by_a = [(0, b"hello"), (1, b""), (127, bytes(range(256)) * 5)]
    sent_by_b = [(0, b"x" * MAX_RECORD_DATA), (42, b"reply")]
    for record_type, data in sent_by_a:
        pair.to_b.append(pair.a.send_record(record_type, data))
    for record_type, data in sent_by_b:
        pair.to_a.append(pair.b.send_record(record_type, data))
    pair.settle()
    assert [(r.type, r.data) for r in pair.records("b")] == sent_by_a
    assert [(r.type, r.data) for r in pair.records("a")] == sent_by_b


@MODES
def test_record_overhead(datagram: bool) -> None:
    pair = established(datagram)
    wire = pair.a.send_record(0, b"z" * 1400)
    assert len(wire) == 1400 + (DATAGRAM_OVERHEAD if datagram else STREAM_OVERHEAD)
    # The payload is encrypted: the plaintext does not show on the wire.
    assert b"z" * 16 not in wire


def test_stream_records_split_and_joined_arbitrarily() -> None:
    pair = established(False)
    stream = b"".join(pair.a.send_record(0, bytes([i]) * i) for i in range(60))
    cuts = sorted(_random.Random(7).sample(range(1, len(stream)), 40))
    events = []
    for start, end in zip([0, *cuts], [*cuts, len(stream)], strict=True):
        events += pair.b.receive(stream[start:end])
    assert [e.data for e in events] == [bytes([i]) * i for i in range(60)]


def test_stream_sequence_numbers_are_implicit() -> None:
    """The same record sent twice differs on the wire: the seqno is the nonce."""
    pair = established(False)
    first, second = pair.a.send_record(0, b"same"), pair.a.send_record(0, b"same")
    assert first[:2] == second[:2] == b"\x00\x04"  # the length is in the clear
    assert first != second


def test_datagram_carries_its_sequence_number() -> None:
    pair = established(True)
    assert pair.a.out_seqno == 2  # KEX and SIG were 0 and 1
    datagram = pair.a.send_record(0, b"data")
    assert datagram[:4] == (2).to_bytes(4, "big")
    assert pair.a.out_seqno == 3


# ---------------------------------------------------------------------------
# Re-KEX


@MODES
@pytest.mark.parametrize("forcer", ["a", "b"], ids=["initiator-forces", "responder-forces"])
def test_rekex_with_records_interleaved(datagram: bool, forcer: str) -> None:
    pair = established(datagram)
    sides = {"a": (pair.a, pair.to_b), "b": (pair.b, pair.to_a)}
    sent: dict[str, list[bytes]] = {"a": [], "b": []}

    def send(side: str, text: str) -> None:
        sess, queue = sides[side]
        data = f"{side}: {text}".encode()
        queue.append(sess.send_record(0, data))
        sent[side].append(data)

    forcing, queue = sides[forcer]
    assert forcing.can_force_kex
    queue.append(forcing.force_kex())
    assert forcing.state is State.KEX and not forcing.can_force_kex
    step = 0
    while len(pair.handshakes("a")) < 2 or len(pair.handshakes("b")) < 2:
        assert step < 20, "the re-KEX did not finish"
        send("a", f"step {step}")
        send("b", f"step {step}")
        step += 1
        pair.step()
    assert step > 3  # records really were interleaved with KEX, SIG and ACK
    assert (
        pair.handshakes("a")
        == pair.handshakes("b")
        == [
            HandshakeDone(initial=True),
            HandshakeDone(initial=False),
        ]
    )
    # Records still in flight after the last step went out under the new keys.
    send("a", "after")
    send("b", "after")
    pair.settle()
    assert [r.data for r in pair.records("b")] == sent["a"]
    assert [r.data for r in pair.records("a")] == sent["b"]
    assert pair.a.can_force_kex and pair.b.can_force_kex


@MODES
def test_rekex_draws_fresh_randomness_and_repeats(datagram: bool) -> None:
    draws: list[int] = []

    def counting(seed: int) -> Callable[[int], bytes]:
        source = make_random(seed)

        def draw(n: int) -> bytes:
            draws.append(n)
            return source(n)

        return draw

    pair = Pair(datagram)
    pair.a._random = counting(3)  # private: count what the re-KEXes draw
    pair.settle()
    for _ in range(3):
        pair.to_b.append(pair.a.force_kex())
        pair.settle()
        pair.to_a.append(pair.b.force_kex())
        pair.settle()
    assert draws == [32, 32] * 6  # nonce, then ephemeral seed, per KEX
    assert len(pair.handshakes("a")) == len(pair.handshakes("b")) == 7
    pair.to_b.append(pair.a.send_record(5, b"still fine"))
    pair.settle()
    assert pair.records("b") == [Record(5, b"still fine")]


@MODES
def test_both_sides_force_kex_at_once(datagram: bool) -> None:
    pair = established(datagram)
    pair.to_b.append(pair.a.force_kex())
    pair.to_a.append(pair.b.force_kex())
    pair.settle()
    assert len(pair.handshakes("a")) == len(pair.handshakes("b")) == 2
    pair.to_a.append(pair.b.send_record(0, b"ok"))
    pair.settle()
    assert pair.records("a") == [Record(0, b"ok")]


@MODES
def test_force_kex_only_when_established_and_idle(datagram: bool) -> None:
    pair = Pair(datagram)
    with pytest.raises(error_class(datagram), match="Cannot force KEX") as info:
        pair.a.force_kex()
    assert info.value.reason is Failure.BAD_STATE
    pair.settle()
    pair.to_b.append(pair.a.force_kex())
    with pytest.raises(error_class(datagram), match="Cannot force KEX"):
        pair.a.force_kex()


# ---------------------------------------------------------------------------
# Datagram replay window


def _datagrams(pair: Pair, count: int) -> list[bytes]:
    return [pair.a.send_record(0, i.to_bytes(4, "big")) for i in range(count)]


def test_reordered_datagrams_within_the_window_are_accepted_once() -> None:
    pair = established(True)
    datagrams = _datagrams(pair, 100)
    order = list(range(100))
    _random.Random(3).shuffle(order)
    # Shuffle only within blocks of 50, so nothing falls out of the 128-wide window.
    order = sorted(order[:50]) + order[50:]
    got = [pair.b.receive_datagram(datagrams[i]) for i in order]
    assert sorted(int.from_bytes(r.data, "big") for r in got) == list(range(100))
    for i in (0, 57, 99):
        with pytest.raises(SptpsPacketError, match="late or replayed") as info:
            pair.b.receive(datagrams[i])
        assert info.value.reason is Failure.REPLAYED
        assert isinstance(info.value, PacketError)


def test_datagram_older_than_the_window_is_rejected() -> None:
    pair = established(True)
    datagrams = _datagrams(pair, 200)
    assert pair.b.receive_datagram(datagrams[100]) == Record(0, (100).to_bytes(4, "big"))
    assert pair.b.receive_datagram(datagrams[0]) is not None  # 100 behind: inside the window
    pair.b.receive_datagram(datagrams[199])
    with pytest.raises(SptpsPacketError, match="late or replayed"):
        pair.b.receive_datagram(datagrams[50])  # 149 behind 199: outside the 128 window


def test_far_future_datagrams_are_dropped_until_enough_arrive() -> None:
    pair = established(True)  # 16-byte window: 128 seqnos, give up after 16 >> 2 = 4
    datagrams = _datagrams(pair, 400)
    pair.b.receive_datagram(datagrams[0])
    for i in range(200, 204):
        with pytest.raises(SptpsPacketError, match="seqs in the future") as info:
            pair.b.receive_datagram(datagrams[i])
        assert info.value.reason is Failure.FAR_FUTURE
    # The fifth in a row is accepted: what lay between is considered lost...
    assert pair.b.receive_datagram(datagrams[204]) is not None
    # ...but everything still inside the window may arrive, once.
    assert pair.b.receive_datagram(datagrams[201]) is not None
    assert pair.b.receive_datagram(datagrams[150]) is not None
    with pytest.raises(SptpsPacketError, match="late or replayed"):
        pair.b.receive_datagram(datagrams[201])
    # An in-order datagram resets the far-future count.
    pair.b.receive_datagram(datagrams[205])
    with pytest.raises(SptpsPacketError, match="seqs in the future"):
        pair.b.receive_datagram(datagrams[399])


def test_a_bad_datagram_does_not_move_the_window() -> None:
    pair = established(True)
    datagrams = _datagrams(pair, 300)
    forged = bytearray(datagrams[299])
    forged[-1] ^= 1
    for _ in range(10):  # far ahead, but not authentic: must not count as far-future
        with pytest.raises(SptpsPacketError, match="decrypt and verify"):
            pair.b.receive_datagram(bytes(forged))
    with pytest.raises(SptpsPacketError, match="seqs in the future"):
        pair.b.receive_datagram(datagrams[298])


def test_replay_window_zero_accepts_everything() -> None:
    pair = established(True, replay_window=0)
    datagram = pair.a.send_record(0, b"again")
    for _ in range(3):
        assert pair.b.receive_datagram(datagram) == Record(0, b"again")


def test_verify_datagram_checks_without_consuming() -> None:
    pair = established(True)
    datagram = pair.a.send_record(0, b"probe")
    assert pair.b.verify_datagram(datagram)
    assert pair.b.verify_datagram(datagram)  # nothing was recorded
    assert not pair.b.verify_datagram(datagram[:-1] + bytes([datagram[-1] ^ 1]))
    assert not pair.b.verify_datagram(datagram[:20])
    assert pair.b.receive_datagram(datagram) == Record(0, b"probe")
    assert not pair.b.verify_datagram(datagram)  # now it would be a replay
    assert not Pair(True).b.verify_datagram(datagram)  # no keys yet


# ---------------------------------------------------------------------------
# Bad input


@MODES
@pytest.mark.parametrize(
    ("mangle", "message"),
    [
        (lambda kex: b"\x01" + kex[1:], "incorrect version 1"),
        (lambda kex: kex[:-1], "Invalid KEX record length 64"),
        (lambda kex: kex + b"\x00", "Invalid KEX record length 66"),
    ],
    ids=["version", "short", "long"],
)
def test_forged_kex_is_rejected(datagram: bool, mangle: Callable, message: str) -> None:
    responder = session(initiator=False, datagram=datagram)
    responder.start()
    honest = session(initiator=True, datagram=datagram).start()
    header_size = 4 if datagram else 2
    body = mangle(honest[header_size + 1 :])
    header = bytes(4) if datagram else len(body).to_bytes(2, "big")
    with pytest.raises(error_class(datagram), match=message) as info:
        responder.receive(header + b"\x80" + body)
    assert info.value.reason is Failure.BAD_KEX
    assert isinstance(info.value, MetaError if not datagram else PacketError)


@MODES
def test_signature_by_another_key_is_rejected(datagram: bool) -> None:
    pair = Pair(datagram)
    # b expects KEY_C, but a signs with KEY_A.
    pair.b = session(initiator=False, datagram=datagram, peer_public=KEY_C.public)
    pair.to_a = [pair.b.start()]
    with pytest.raises(error_class(datagram), match="Failed to verify SIG") as info:
        pair.settle()
    assert info.value.reason is Failure.BAD_SIGNATURE
    assert not pair.b.established


@MODES
def test_wrong_label_fails_the_signature(datagram: bool) -> None:
    pair = Pair(datagram)
    pair.b._label = b"another purpose"  # private: same keys, different session label
    with pytest.raises(error_class(datagram), match="Failed to verify SIG"):
        pair.settle()


@MODES
def test_bad_tag_is_rejected(datagram: bool) -> None:
    pair = established(datagram)
    wire = bytearray(pair.a.send_record(0, b"payload"))
    wire[-5] ^= 0x40
    with pytest.raises(error_class(datagram), match="Failed to decrypt and verify") as info:
        pair.b.receive(bytes(wire))
    assert info.value.reason is Failure.BAD_TAG


def test_bad_ciphertext_in_stream_ends_the_session() -> None:
    pair = established(False)
    wire = bytearray(pair.a.send_record(0, b"payload"))
    wire[4] ^= 1  # in the encrypted data, not the tag
    with pytest.raises(SptpsMetaError, match="decrypt and verify"):
        pair.b.receive(bytes(wire))
    with pytest.raises(SptpsMetaError, match="already failed") as info:
        pair.b.receive(pair.a.send_record(0, b"next"))
    assert info.value.reason is Failure.SESSION_FAILED


def test_bad_datagram_is_dropped_and_the_session_goes_on() -> None:
    pair = established(True)
    wire = bytearray(pair.a.send_record(0, b"first"))
    wire[6] ^= 1
    with pytest.raises(SptpsPacketError):
        pair.b.receive(bytes(wire))
    assert pair.b.receive(pair.a.send_record(0, b"second")) == [Record(0, b"second")]


@pytest.mark.parametrize("size", [0, 3, 4, 20])
def test_truncated_datagram(size: int) -> None:
    pair = established(True)
    wire = pair.a.send_record(0, b"")
    assert len(wire) == 21
    with pytest.raises(SptpsPacketError, match="short packet") as info:
        pair.b.receive(wire[:size])
    assert info.value.reason is Failure.TRUNCATED


def test_truncated_handshake_datagram() -> None:
    responder = session(initiator=False, datagram=True)
    responder.start()
    with pytest.raises(SptpsPacketError, match="short packet"):
        responder.receive(b"\x00\x00\x00\x00")


def test_truncated_stream_record_waits_then_fails_when_misframed() -> None:
    pair = established(False)
    whole = pair.a.send_record(0, b"0123456789")
    assert pair.b.receive(whole[:-1]) == []  # incomplete: wait for the rest
    # The record's last byte never comes; the next record's first byte completes it.
    with pytest.raises(SptpsMetaError, match="decrypt and verify"):
        pair.b.receive(pair.a.send_record(0, b"next"))


def test_stream_record_with_a_shortened_length_fails() -> None:
    pair = established(False)
    wire = bytearray(pair.a.send_record(0, b"0123456789"))
    wire[1] -= 1
    with pytest.raises(SptpsMetaError, match="decrypt and verify"):
        pair.b.receive(bytes(wire[:-1]))


def test_handshake_datagram_out_of_order() -> None:
    responder = session(initiator=False, datagram=True)
    responder.start()
    kex = session(initiator=True, datagram=True).start()
    with pytest.raises(SptpsPacketError, match="Invalid packet seqno: 1 != 0") as info:
        responder.receive((1).to_bytes(4, "big") + kex[4:])
    assert info.value.reason is Failure.BAD_SEQNO


@MODES
def test_application_record_before_the_handshake(datagram: bool) -> None:
    """Plaintext application data before the keys exist is refused, as in tinc."""
    responder = session(initiator=False, datagram=datagram)
    responder.start()
    header = bytes(4) if datagram else (5).to_bytes(2, "big")
    with pytest.raises(error_class(datagram), match="before handshake finished") as info:
        responder.receive(header + b"\x00hello")
    assert info.value.reason is Failure.HANDSHAKE_NOT_FINISHED


@MODES
def test_sending_before_the_handshake(datagram: bool) -> None:
    pair = Pair(datagram)
    with pytest.raises(error_class(datagram), match="Handshake phase not finished yet") as info:
        pair.a.send_record(0, b"too early")
    assert info.value.reason is Failure.HANDSHAKE_NOT_FINISHED
    # Half-way (a has the KEX, b not yet the SIG) is still too early.
    pair.step()
    with pytest.raises(error_class(datagram), match="not finished"):
        pair.b.send_record(0, b"too early")


@MODES
def test_send_record_checks_type_and_size(datagram: bool) -> None:
    pair = established(datagram)
    with pytest.raises(ValueError, match="record type 128"):
        pair.a.send_record(RECORD_HANDSHAKE, b"")
    with pytest.raises(ValueError, match="at most 65535"):
        pair.a.send_record(0, bytes(MAX_RECORD_DATA + 1))
    before = pair.a.out_seqno
    pair.a.send_record(0, bytes(MAX_RECORD_DATA))
    assert pair.a.out_seqno == before + 1


def test_reserved_record_type_in_plaintext_stream() -> None:
    responder = session(initiator=False, datagram=False)
    responder.start()
    with pytest.raises(SptpsMetaError, match="Invalid record type 129") as info:
        responder.receive(b"\x00\x00\x81")
    assert info.value.reason is Failure.BAD_RECORD_TYPE


@MODES
def test_reserved_record_type_when_encrypted(datagram: bool) -> None:
    pair = established(datagram)
    forged = pair.a._frame(RECORD_ALERT, b"")  # private: tinc never sends type 129
    with pytest.raises(error_class(datagram), match="Invalid record type 129"):
        pair.b.receive(forged)


@MODES
def test_non_empty_ack_is_rejected(datagram: bool) -> None:
    pair = established(datagram)
    a, b = pair.a, pair.b
    b.receive(a.force_kex())
    for item in b.data_to_send():  # b's KEX
        a.receive(item)
    for item in a.data_to_send():  # a's SIG
        b.receive(item)
    b.data_to_send()  # b's SIG and ACK, never delivered
    assert pair.b.state is State.ACK
    forged = pair.a._frame(RECORD_HANDSHAKE, b"\x00")  # private: an ACK with data
    with pytest.raises(error_class(datagram), match="Invalid ACK record length") as info:
        pair.b.receive(forged)
    assert info.value.reason is Failure.BAD_ACK


@MODES
def test_receive_before_start(datagram: bool) -> None:
    with pytest.raises(error_class(datagram), match="not started") as info:
        session(initiator=True, datagram=datagram).receive(b"\x00\x00\x00\x00\x80")
    assert info.value.reason is Failure.NOT_STARTED


def test_start_twice() -> None:
    sess = session(initiator=True, datagram=False)
    sess.start()
    with pytest.raises(SptpsMetaError, match="already started"):
        sess.start()


def test_constructor_and_random_source_are_checked() -> None:
    with pytest.raises(ValueError, match="32 bytes"):
        session(initiator=True, datagram=False, peer_public=b"short")
    sess = SPTPS(
        initiator=True,
        datagram=False,
        my_key=KEY_A,
        peer_public=KEY_B.public,
        label=LABEL,
        random=lambda n: bytes(n - 1),
    )
    with pytest.raises(ValueError, match="random source returned 31 bytes"):
        sess.start()


# ---------------------------------------------------------------------------
# Property tests: nothing but the documented errors, whatever comes in


def _only_sptps_errors(sess: SPTPS, chunks: list[bytes], datagram: bool) -> bool:
    """Feed ``chunks``; fail on anything but the mode's SPTPS error. Whether one was raised."""
    expected = error_class(datagram)
    raised = False
    for chunk in chunks:
        try:
            events = sess.receive(chunk)
        except expected:
            raised = True
            if not datagram:
                break  # a stream session is over after its first error
            continue
        assert all(isinstance(e, HandshakeDone | Record) for e in events)
        sess.data_to_send()
    return raised


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    datagram=st.booleans(),
    established_first=st.booleans(),
    chunks=st.lists(st.binary(max_size=200), max_size=8),
)
def test_random_bytes_only_raise_sptps_errors(
    datagram: bool, established_first: bool, chunks: list[bytes]
) -> None:
    if established_first:
        sess = established(datagram).b
    else:
        sess = session(initiator=False, datagram=datagram)
        sess.start()
    _only_sptps_errors(sess, chunks, datagram)


@cache
def initiator_transcript(datagram: bool) -> tuple[bytes, ...]:
    """Everything the initiator sends in a short conversation with a re-KEX, in order."""
    pair = Pair(datagram)
    pair.settle()
    pair.to_b.append(pair.a.send_record(0, b"one"))
    pair.to_b.append(pair.a.force_kex())
    pair.settle()
    pair.to_b.append(pair.a.send_record(3, b"two" * 30))
    pair.settle()
    return tuple(pair.delivered_to_b)


@MODES
def test_transcript_replays_to_a_fresh_responder(datagram: bool) -> None:
    """The responder is deterministic, so the recorded transcript fits a fresh one."""
    responder = session(initiator=False, datagram=datagram)
    responder.start()
    events = [e for item in initiator_transcript(datagram) for e in responder.receive(item)]
    assert events == [
        HandshakeDone(initial=True),
        Record(0, b"one"),
        HandshakeDone(initial=False),
        Record(3, b"two" * 30),
    ]


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data(), datagram=st.booleans())
def test_mutated_transcripts_only_raise_sptps_errors(data: st.DataObject, datagram: bool) -> None:
    """A real conversation with one byte changed, dropped or inserted."""
    transcript = list(initiator_transcript(datagram))
    index = data.draw(st.integers(0, len(transcript) - 1))
    target = bytearray(transcript[index])
    position = data.draw(st.integers(0, len(target) - 1))
    action = data.draw(st.sampled_from(["flip", "drop", "insert"]))
    if action == "flip":
        target[position] ^= data.draw(st.integers(1, 255))
    elif action == "drop":
        del target[position]
    else:
        target.insert(position, data.draw(st.integers(0, 255)))
    transcript[index] = bytes(target)
    victim = session(initiator=False, datagram=datagram)
    victim.start()
    raised = _only_sptps_errors(victim, transcript, datagram)
    # Every byte is signed or authenticated, except a stream record's length: a
    # longer one may just leave the session waiting for bytes that never come.
    stream_length = not datagram and position < 2
    if action == "flip" and not stream_length:
        assert raised


def test_rekex_datagrams_may_cross_the_handshake_records() -> None:
    # The handshake records of a re-KEX go by the meta connections, data by
    # UDP: a side's data under its old key may come after its ACK, and under
    # its new key between its SIG and its ACK. Both are accepted, once.
    pair = established(True)
    a, b = pair.a, pair.b
    kex_a = a.force_kex()
    assert b.receive_datagram(kex_a) is None
    (kex_b,) = b.data_to_send()
    assert a.receive_datagram(kex_b) is None
    (sig_a,) = a.data_to_send()
    old_from_b = b.send_record(0, b"b old")
    assert b.receive_datagram(sig_a) is None
    sig_b, ack_b = b.data_to_send()  # b seals with the new key from here on
    new_from_b = b.send_record(0, b"b new")
    old_from_a = a.send_record(0, b"a old")
    assert a.rekeying
    assert a.receive_datagram(sig_b) is None
    (ack_a,) = a.data_to_send()  # a seals with the new key from here on
    assert a.receive_datagram(new_from_b) == Record(0, b"b new")  # before b's ACK
    assert a.receive_datagram(old_from_b) == Record(0, b"b old")  # late, old key
    assert a.receive_datagram(ack_b) == HandshakeDone(initial=False)
    assert b.receive_datagram(ack_a) == HandshakeDone(initial=False)
    assert b.receive_datagram(old_from_a) == Record(0, b"a old")  # after a's ACK
    assert not a.rekeying and not b.rekeying
    with pytest.raises(SptpsPacketError):
        b.receive_datagram(old_from_a)  # but only once
    assert a.receive_datagram(b.send_record(0, b"after")) == Record(0, b"after")
    assert b.receive_datagram(a.send_record(0, b"after")) == Record(0, b"after")
