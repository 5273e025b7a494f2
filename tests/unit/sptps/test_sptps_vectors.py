"""SPTPS byte for byte against captures of real tinc 1.1 programs.

Each side of each capture is replayed on its own: tinca gets that side's key,
the random bytes tinc drew (KEX nonce, then ephemeral seed, per key exchange)
and, in the recorded order, the peer's bytes and the local actions (a line on
``sptps_test``'s stdin). It must send exactly the recorded bytes and decode
the peer's records to the recorded plaintext. The vectors and their README
live in ``../shared/vectors/sptps`` beside the repository (or $TINCA_VECTORS).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from nacl import bindings as sodium

from tests.vectors import load_vector
from tinca.plugins.ciphers.sptps import tinc_base64
from tinca.plugins.ciphers.sptps.chacha_poly import RecordCipher
from tinca.plugins.ciphers.sptps.ed25519_keys import ExpandedEd25519Key
from tinca.plugins.ciphers.sptps.sptps import SPTPS, HandshakeDone, Record
from tinca.plugins.ciphers.sptps.sptps_kex import Ephemeral, key_material, prf_seed

P25519 = 2**255 - 19




class Draws:
    """A random source that hands out tinc's recorded KEX draws, in order, exactly."""

    def __init__(self, draws: list[dict]) -> None:
        self._draws = [d for d in draws if d["role"] in ("kex_nonce", "ecdh_seed")]
        self._next = 0

    def __call__(self, size: int) -> bytes:
        assert self._next < len(self._draws), "tinca drew more random bytes than tinc did"
        draw = self._draws[self._next]
        # tinc draws the nonce, then the seed: the roles must come in that order.
        expected_role = "kex_nonce" if self._next % 2 == 0 else "ecdh_seed"
        assert draw["role"] == expected_role
        assert draw["len"] == size
        self._next += 1
        return bytes.fromhex(draw["hex"])

    def all_used(self) -> bool:
        return self._next == len(self._draws)


def _session(side: dict, *, datagram: bool, label: bytes, draws: Draws) -> SPTPS:
    return SPTPS(
        initiator=side["initiator"],
        datagram=datagram,
        my_key=ExpandedEd25519Key(bytes.fromhex(side["key"]["private_key_raw_hex"])),
        peer_public=bytes.fromhex(side["peer_public_key_hex"]),
        label=label,
        random=draws,
    )


# ---------------------------------------------------------------------------
# sptps_test captures (stream.json, datagram.json)


@dataclass
class Replay:
    """What one side sent and received when its inputs were replayed."""

    sent: list[bytes]
    records: list[Record]
    handshakes: list[HandshakeDone]
    draws_all_used: bool


def _stdin_action(session: SPTPS, line: str, app: dict) -> list[bytes]:
    """Do what ``sptps_test -s`` does with one stdin line (``app`` is the record it sent)."""
    assert app["stdin_line"] == line
    sent = []
    if line.startswith("#"):
        session.out_seqno = int(line[1:].split()[0])
    if line.startswith("$"):
        sent.append(session.force_kex())
    sent.append(session.send_record(app["type"], bytes.fromhex(app["data_hex"])))
    return sent


def _inputs(vector: dict, side_name: str) -> Iterator[tuple[float, str, object]]:
    """This side's inputs in time order: ("stdin", line) and ("peer", bytes)."""
    peer_dir = "r2i" if side_name == "initiator" else "i2r"
    items: list[tuple[float, str, object]] = [
        (e["t"], "stdin", e["data"])
        for e in vector["events"]
        if e["event"] == "stdin" and e["side"] == side_name
    ]
    if vector["datagram"]:
        items += [
            (d["t"], "peer", bytes.fromhex(d["hex"]))
            for d in vector["datagrams"]
            if d["dir"] == peer_dir
        ]
    else:
        stream = bytes.fromhex(vector["wire"][peer_dir]["hex"])
        items += [
            (c["t"], "peer", stream[c["offset"] : c["offset"] + c["len"]])
            for c in vector["wire"][peer_dir]["chunks"]
        ]
    return iter(sorted(items, key=lambda item: item[0]))


def replay_side(vector: dict, side_name: str) -> Replay:
    side = vector["sides"][side_name]
    draws = Draws(side["random"])
    session = _session(
        side,
        datagram=vector["datagram"],
        label=bytes.fromhex(vector["label"]["hex"]),
        draws=draws,
    )
    apps = iter(side["app_records_sent"])
    sent = [session.start()]
    records: list[Record] = []
    handshakes: list[HandshakeDone] = []
    for _, kind, payload in _inputs(vector, side_name):
        if kind == "stdin":
            sent += _stdin_action(session, payload, next(apps))
            continue
        for event in session.receive(payload):
            if isinstance(event, Record):
                records.append(event)
            else:
                handshakes.append(event)
        sent += session.data_to_send()
    assert next(apps, None) is None, "a recorded application record was never sent"
    return Replay(sent, records, handshakes, draws.all_used())


def _recorded_output(vector: dict, side_name: str) -> list[bytes]:
    """The records one side sent, each as its bytes on the wire, in order."""
    own_dir = "i2r" if side_name == "initiator" else "r2i"
    if vector["datagram"]:
        return [bytes.fromhex(d["hex"]) for d in vector["datagrams"] if d["dir"] == own_dir]
    return _split_records(
        bytes.fromhex(vector["wire"][own_dir]["hex"]), vector["derived"]["records"][own_dir]
    )


@pytest.mark.parametrize("side_name", ["initiator", "responder"])
@pytest.mark.parametrize("name", ["stream.json", "datagram.json"])
def test_sptps_test_side_sends_the_recorded_bytes(name: str, side_name: str) -> None:
    vector = load_vector(name)
    replay = replay_side(vector, side_name)
    # Each item tinca returned is exactly one record (stream) or datagram.
    assert [r.hex() for r in replay.sent] == [r.hex() for r in _recorded_output(vector, side_name)]
    assert replay.draws_all_used


@pytest.mark.parametrize("side_name", ["initiator", "responder"])
@pytest.mark.parametrize("name", ["stream.json", "datagram.json"])
def test_sptps_test_side_decodes_every_peer_record(name: str, side_name: str) -> None:
    vector = load_vector(name)
    replay = replay_side(vector, side_name)
    peer = vector["sides"]["responder" if side_name == "initiator" else "initiator"]
    assert [(r.type, r.data.hex()) for r in replay.records] == [
        (app["type"], app["data_hex"]) for app in peer["app_records_sent"]
    ]
    # sptps_test writes every application record's data to stdout.
    assert (
        b"".join(r.data for r in replay.records).hex() == vector["sides"][side_name]["stdout_hex"]
    )
    # The first handshake and the two forced re-KEXes.
    assert replay.handshakes == [
        HandshakeDone(initial=True),
        HandshakeDone(initial=False),
        HandshakeDone(initial=False),
    ]


def test_stream_capture_has_the_features_the_replay_claims_to_cover() -> None:
    """Guard the vector itself: a max-size record and three key epochs."""
    vector = load_vector("stream.json")
    lengths = [app["len"] for app in vector["sides"]["initiator"]["app_records_sent"]]
    assert 65535 in lengths
    assert len(vector["derived"]["epochs"]) == 3


def test_datagram_capture_jumps_the_sequence_number() -> None:
    vector = load_vector("datagram.json")
    seqnos = [r["seqno"] for r in vector["derived"]["records"]["i2r"]]
    assert 40 in seqnos and 8 not in seqnos


def test_stream_replay_takes_any_chunking() -> None:
    """Byte-by-byte and all-at-once input decode the same records as the recorded chunks."""
    vector = load_vector("stream.json")
    side = vector["sides"]["responder"]
    peer_stream = bytes.fromhex(vector["wire"]["i2r"]["hex"])
    for chunking in ("all", "bytes"):
        draws = Draws(side["random"])
        session = _session(
            side, datagram=False, label=bytes.fromhex(vector["label"]["hex"]), draws=draws
        )
        session.start()
        # Without its own stdin actions the responder cannot decode past its own
        # forced re-KEX, so stop at the initiator's first re-KEX's last record.
        cut = sum(r["wire_len"] for r in vector["derived"]["records"]["i2r"][:9])
        data = peer_stream[:cut]
        events = []
        if chunking == "all":
            events += session.receive(data)
        else:
            for i in range(len(data)):
                events += session.receive(data[i : i + 1])
        records = [e for e in events if isinstance(e, Record)]
        assert [r.data for r in records] == [
            bytes.fromhex(app["data_hex"])
            for app in vector["sides"]["initiator"]["app_records_sent"][:4]
        ]


# ---------------------------------------------------------------------------
# Helpers for meta.json


def _split_id_line(stream: bytes) -> bytes:
    return stream[stream.index(b"\n") + 1 :]


def _meta_label(meta: dict) -> bytes:
    return bytes.fromhex(meta["meta_label"]["hex"])


def _node_session(
    meta: dict, node: str, *, datagram: bool, prefix: str, label: bytes
) -> tuple[SPTPS, Draws]:
    other = "beta" if node == "alpha" else "alpha"
    info = meta["nodes"][node]
    draws = Draws([d for d in info["random"] if (d.get("session") or "").startswith(prefix)])
    session = SPTPS(
        initiator=node == meta["initiator"],
        datagram=datagram,
        my_key=ExpandedEd25519Key(bytes.fromhex(info["private_key_raw_hex"])),
        peer_public=bytes.fromhex(meta["nodes"][other]["public_key_hex"]),
        label=label,
        random=draws,
    )
    return session, draws


def _udp_handshake_datagrams(meta: dict, direction: str) -> list[bytes]:
    """The per-node session's handshake datagrams one node sent inside REQ_KEY/ANS_KEY."""
    out = []
    for request in meta["derived"]["meta_requests"][direction]:
        fields = request.get("line", "").split()
        if request.get("request") == "REQ_KEY" and len(fields) == 5:
            out.append(tinc_base64.decode(fields[4]))
        elif request.get("request") == "ANS_KEY":
            out.append(tinc_base64.decode(fields[3]))
    return out


def _udp_payloads(meta: dict, direction: str) -> list[bytes]:
    """SPTPS datagrams one node sent over UDP (after the two 6-byte node IDs)."""
    return [bytes.fromhex(u["hex"])[12:] for u in meta["udp"] if u["dir"] == direction]


# ---------------------------------------------------------------------------
# Derived values (the independent checker's output) and the recorded ciphertext


def _split_records(stream: bytes, records: list[dict]) -> list[bytes]:
    """Cut a recorded byte stream into its records, using each record's wire length."""
    out, pos = [], 0
    for record in records:
        out.append(stream[pos : pos + record["wire_len"]])
        pos += record["wire_len"]
    assert pos == len(stream)
    return out


@dataclass
class Capture:
    """One recorded SPTPS session: its derived values, both sides' draws, its wire records."""

    derived: dict
    datagram: bool
    initiator_draws: list[dict]
    responder_draws: list[dict]
    wire: dict[str, list[bytes]]  # direction -> each record's bytes, in order


def _kex_draws(draws: list[dict], session_prefix: str = "") -> list[dict]:
    return [d for d in Draws(draws)._draws if (d.get("session") or "").startswith(session_prefix)]


def capture(which: str) -> Capture:
    if which in ("stream", "datagram"):
        vector = load_vector(f"{which}.json")
        records = vector["derived"]["records"]
        if vector["datagram"]:
            wire = {
                direction: [
                    bytes.fromhex(d["hex"]) for d in vector["datagrams"] if d["dir"] == direction
                ]
                for direction in records
            }
        else:
            wire = {
                direction: _split_records(
                    bytes.fromhex(vector["wire"][direction]["hex"]), records[direction]
                )
                for direction in records
            }
        return Capture(
            vector["derived"],
            vector["datagram"],
            _kex_draws(vector["sides"]["initiator"]["random"]),
            _kex_draws(vector["sides"]["responder"]["random"]),
            wire,
        )
    meta = load_vector("meta.json")
    prefix = "meta connection" if which == "meta" else "per-node UDP"
    derived = meta["derived"]["meta_session" if which == "meta" else "udp_session"]
    if which == "meta":
        wire = {
            direction: _split_records(
                _split_id_line(bytes.fromhex(meta["wire"][direction]["hex"])),
                derived["records"][direction],
            )
            for direction in derived["records"]
        }
    else:
        wire = {
            direction: _udp_handshake_datagrams(meta, direction) + _udp_payloads(meta, direction)
            for direction in derived["records"]
        }
    return Capture(
        derived,
        which == "udp",
        _kex_draws(meta["nodes"]["alpha"]["random"], prefix),
        _kex_draws(meta["nodes"]["beta"]["random"], prefix),
        wire,
    )


CAPTURES = pytest.mark.parametrize("which", ["stream", "datagram", "meta", "udp"])


def _epoch_seeds(epochs: list[dict], draws: list[dict], kex_key: str) -> list[bytes]:
    """Each epoch's ephemeral seed of one side, found through its KEX nonce."""
    seeds = []
    for epoch in epochs:
        nonce = epoch[kex_key][2 : 2 + 64]
        index = next(i for i, d in enumerate(draws) if d["hex"] == nonce)
        seeds.append(bytes.fromhex(draws[index + 1]["hex"]))
    return seeds


@CAPTURES
def test_derived_secrets_and_keys(which: str) -> None:
    cap = capture(which)
    label = bytes.fromhex(cap.derived["label_hex"])
    epochs = cap.derived["epochs"]
    i_seeds = _epoch_seeds(epochs, cap.initiator_draws, "initiator_kex_hex")
    r_seeds = _epoch_seeds(epochs, cap.responder_draws, "responder_kex_hex")
    for epoch, i_seed, r_seed in zip(epochs, i_seeds, r_seeds, strict=True):
        i_kex = bytes.fromhex(epoch["initiator_kex_hex"])
        r_kex = bytes.fromhex(epoch["responder_kex_hex"])
        assert i_seed.hex() == epoch["initiator_ecdh_seed_hex"]
        i_eph, r_eph = Ephemeral(i_seed), Ephemeral(r_seed)
        assert i_eph.public == i_kex[33:] and r_eph.public == r_kex[33:]
        shared = i_eph.shared_secret(r_eph.public)
        assert shared.hex() == epoch["shared_secret_hex"]
        assert r_eph.shared_secret(i_eph.public) == shared
        assert prf_seed(i_kex, r_kex, label).hex() == epoch["prf_seed_hex"]
        keys = key_material(shared, i_kex, r_kex, label)
        assert keys.hex() == epoch["key_material_hex"]
        assert keys[:64].hex() == epoch["key0_responder_to_initiator_hex"]
        assert keys[64:].hex() == epoch["key1_initiator_to_responder_hex"]


@CAPTURES
def test_libsodium_conversion_is_the_readme_formula(which: str) -> None:
    """u = (1 + y) / (1 - y) mod p, with y the Edwards key without its sign bit."""
    for epoch in capture(which).derived["epochs"]:
        for kex_key in ("initiator_kex_hex", "responder_kex_hex"):
            edwards = bytes.fromhex(epoch[kex_key])[33:]
            y = int.from_bytes(edwards, "little") & ((1 << 255) - 1)
            u = (1 + y) * pow(1 - y, P25519 - 2, P25519) % P25519
            assert sodium.crypto_sign_ed25519_pk_to_curve25519(edwards) == u.to_bytes(32, "little")


@CAPTURES
def test_record_cipher_on_every_recorded_record(which: str) -> None:
    """Each recorded record opens under its epoch's key, and sealing remakes its exact bytes."""
    cap = capture(which)
    header_size = 4 if cap.datagram else 2
    epochs = cap.derived["epochs"]
    for direction, records in cap.derived["records"].items():
        key_name = (
            "key1_initiator_to_responder_hex"
            if direction in ("i2r", "alpha2beta")
            else "key0_responder_to_initiator_hex"
        )
        wire = cap.wire[direction]
        assert len(wire) == len(records)
        for record, raw in zip(records, wire, strict=True):
            assert len(raw) == record["wire_len"]
            body = bytes((record["type"],)) + bytes.fromhex(record["data_hex"])
            if not record["encrypted"]:
                assert raw[header_size:] == body
                continue
            cipher = RecordCipher(bytes.fromhex(epochs[record["epoch"] - 1][key_name]))
            assert cipher.open(record["seqno"], raw[header_size:]) == body
            assert cipher.seal(record["seqno"], raw[:header_size], body[0], body[1:]) == raw
            if cap.datagram:
                assert int.from_bytes(raw[:4], "big") == record["seqno"]
            # Any other sequence number gives another keystream and tag.
            assert cipher.open(record["seqno"] + 1, raw[header_size:]) is None


# ---------------------------------------------------------------------------
# Two tincd 1.1 daemons (meta.json)


@pytest.mark.parametrize("node", ["alpha", "beta"])
def test_meta_connection_byte_for_byte(node: str) -> None:
    meta = load_vector("meta.json")
    other = "beta" if node == "alpha" else "alpha"
    own_dir, peer_dir = f"{node}2{other}", f"{other}2{node}"
    session, draws = _node_session(
        meta, node, datagram=False, prefix="meta connection", label=_meta_label(meta)
    )
    sent = [session.start()]
    peer_stream = bytes.fromhex(meta["wire"][peer_dir]["hex"])
    id_length = len(peer_stream) - len(_split_id_line(peer_stream))
    events = []
    for chunk in meta["wire"][peer_dir]["chunks"]:
        start, end = chunk["offset"], chunk["offset"] + chunk["len"]
        start = max(start, id_length)  # the ID line is plaintext, before SPTPS starts
        if start < end:
            events += session.receive(peer_stream[start:end])
        sent += session.data_to_send()
    records = meta["derived"]["meta_session"]["records"]
    for record in records[own_dir]:
        if record["type"] < 128:
            sent.append(session.send_record(record["type"], bytes.fromhex(record["data_hex"])))
    assert b"".join(sent) == _split_id_line(bytes.fromhex(meta["wire"][own_dir]["hex"]))
    assert draws.all_used()
    assert events[0] == HandshakeDone(initial=True)
    assert [(e.type, e.data.hex()) for e in events[1:]] == [
        (r["type"], r["data_hex"]) for r in records[peer_dir] if r["type"] < 128
    ]
    # The decoded lines are the requests tinc logged, in order.
    lines = [e.data for e in events[1:]]
    requests = [r for r in meta["derived"]["meta_requests"][peer_dir] if "line" in r]
    assert [line.decode().rstrip("\n") for line in lines if line.endswith(b"\n")] == [
        r["line"] for r in requests
    ]


@pytest.mark.parametrize("node", ["alpha", "beta"])
def test_per_node_udp_session_byte_for_byte(node: str) -> None:
    meta = load_vector("meta.json")
    other = "beta" if node == "alpha" else "alpha"
    own_dir, peer_dir = f"{node}2{other}", f"{other}2{node}"
    label = bytes.fromhex(meta["derived"]["udp_session"]["label_hex"])
    assert label == b"tinc UDP key expansion alpha beta\0"  # initiator's name first
    session, draws = _node_session(meta, node, datagram=True, prefix="per-node UDP", label=label)
    handshake_out = [session.start()]
    events = []
    for datagram in _udp_handshake_datagrams(meta, peer_dir):
        events += session.receive(datagram)
        handshake_out += session.data_to_send()
    assert handshake_out == _udp_handshake_datagrams(meta, own_dir)
    assert draws.all_used()
    assert events == [HandshakeDone(initial=True)]

    records = meta["derived"]["udp_session"]["records"]
    own_payloads = [
        session.send_record(r["type"], bytes.fromhex(r["data_hex"]))
        for r in records[own_dir]
        if r["type"] < 128
    ]
    assert own_payloads == _udp_payloads(meta, own_dir)
    decoded = [session.receive_datagram(d) for d in _udp_payloads(meta, peer_dir)]
    assert [(e.type, e.data.hex()) for e in decoded] == [
        (r["type"], r["data_hex"]) for r in records[peer_dir] if r["type"] < 128
    ]
    # PKT_PROBE (type 4): a probe of 14 zero bytes plus padding, or a reply "02 <len>".
    assert all(e.type == 4 for e in decoded)
