"""Which protocol a tinc 1.1 meta connection speaks, decided from the ID lines.

Two nodes' suites are built from real configuration directories (Ed25519
and 1024-bit RSA keys, host files that do or do not hold the other's
Ed25519 key) and their meta sessions talk to each other through bytes, as
tinc 1.1's send_id/id_h/send_ack/upgrade_h would (src/protocol_auth.c):

* both keys known: 17.7 on both sides, SPTPS;
* the dialling side lacks the peer's key: it says 17.1, both run the
  legacy protocol and trade Ed25519 keys in place of the ACK, store what
  they lacked, and hang up; the next connection runs SPTPS;
* a peer whose key we know may not ask for 17.0 (a rollback);
* a tincd 1.0 (``0 NAME 17``) gets the legacy protocol with our minor in
  the top byte of our ACK's options.
"""

from __future__ import annotations

import logging
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from tests.unit.node.sptps_fakes import (
    KeyMaterial,
    key_material,
    suite_context,
    write_node,
)
from tinca.core.errors import ConfigError
from tinca.core.meta import requests as rq
from tinca.core.suite import (
    Authenticated,
    MetaError,
    MetaEvent,
    MetaParams,
    MetaSession,
    RequestLine,
)
from tinca.plugins.ciphers.legacy.path import LegacyPaths
from tinca.plugins.ciphers.legacy.suite import LegacySuite
from tinca.plugins.ciphers.sptps.ed25519_keys import parse_public_key_b64
from tinca.plugins.ciphers.sptps.negotiate import NegotiatingMetaSession
from tinca.plugins.ciphers.sptps.path import SptpsPaths
from tinca.plugins.ciphers.sptps.suite import SptpsSuite, make_suite

OPTIONS = rq.OPTION_PMTU_DISCOVERY | rq.OPTION_CLAMP_MSS
#: just enough of a node for a suite to build its paths
SERVICES: Any = SimpleNamespace(myself="alpha", peers={})


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> dict[str, KeyMaterial]:
    scratch = tmp_path_factory.mktemp("keys")
    return {name: key_material(scratch, name, rsa=True) for name in ("alpha", "beta")}


def other(name: str) -> str:
    return "beta" if name == "alpha" else "alpha"


def suite_for(
    tmp: Path, keys: dict[str, KeyMaterial], me: str, *, knows_peer: bool = True,
    ed25519: bool = True, rsa: bool = True, extra: str = "",
):  # type: ignore[no-untyped-def]
    """``me``'s suite; its host file for the other node holds its Ed25519 key
    when ``knows_peer``."""
    peer = other(me)
    confbase = tmp / me
    if not confbase.exists():
        write_node(confbase, keys[me], {peer: (keys[peer], knows_peer)},
                   ed25519=ed25519, rsa=rsa, extra=extra)
    return make_suite(suite_context(confbase, lambda: 100.0))


def session(suite, me: str, outgoing: bool) -> MetaSession:  # type: ignore[no-untyped-def]
    params = MetaParams(me, outgoing, other(me) if outgoing else None, "655", OPTIONS,
                        lambda: 100.0)
    return suite.meta_session(params)


def converse(
    dialler: MetaSession, acceptor: MetaSession
) -> tuple[list[MetaEvent], list[MetaEvent], bytes, bytes]:
    """Run the two sessions against each other until neither has anything to say.

    Returns each side's events and everything each side sent.
    """
    events_d: list[MetaEvent] = []
    events_a: list[MetaEvent] = []
    to_acceptor = dialler.initiate()
    acceptor.initiate()
    wire_d, wire_a = to_acceptor, b""
    for _ in range(20):
        if not to_acceptor:
            break
        events_a += acceptor.receive_data(to_acceptor)
        to_dialler = acceptor.data_to_send()
        wire_a += to_dialler
        if not to_dialler:
            break
        events_d += dialler.receive_data(to_dialler)
        to_acceptor = dialler.data_to_send()
        wire_d += to_acceptor
    else:
        raise AssertionError("the sessions did not settle")
    return events_d, events_a, wire_d, wire_a


def authenticated(events: list[MetaEvent]) -> Authenticated:
    found = [e for e in events if isinstance(e, Authenticated)]
    assert len(found) == 1, events
    return found[0]


def first_line(wire: bytes) -> bytes:
    return wire.split(b"\n", 1)[0]


# ---------------------------------------------------------------------------
# SPTPS


def test_both_keys_known_gives_sptps_on_both_sides(
    tmp_path: Path, keys: dict[str, KeyMaterial]
) -> None:
    alpha = suite_for(tmp_path, keys, "alpha")
    beta = suite_for(tmp_path, keys, "beta")
    assert isinstance(alpha, SptpsSuite) and isinstance(beta, SptpsSuite)
    dialler, acceptor = session(alpha, "alpha", True), session(beta, "beta", False)
    assert isinstance(dialler, NegotiatingMetaSession)
    events_d, events_a, wire_d, wire_a = converse(dialler, acceptor)
    assert first_line(wire_d) == b"0 alpha 17.7"
    assert first_line(wire_a) == b"0 beta 17.7"
    assert dialler.protocol == acceptor.protocol == "sptps"  # type: ignore[attr-defined]
    ack_d, ack_a = authenticated(events_d), authenticated(events_a)
    assert (ack_d.peer_name, ack_a.peer_name) == ("beta", "alpha")
    # each side's ACK carries its minor in the options' top byte
    assert rq.option_version(ack_d.peer_options) == rq.PROT_MINOR_11
    assert rq.option_version(ack_a.peer_options) == rq.PROT_MINOR_11
    assert ack_d.peer_options & 0xFFFFFF == OPTIONS
    # requests, packets and raw 21 LEN data flow both ways
    assert acceptor.receive_data(dialler.send_request("8")) == [RequestLine("8")]
    assert dialler.receive_data(acceptor.send_request("9")) == [RequestLine("9")]
    raw = dialler.send_raw_packet(b"\x01" * 40)  # type: ignore[attr-defined]
    (event,) = acceptor.receive_data(raw)
    assert event.data == b"\x01" * 40  # type: ignore[union-attr]
    assert not dialler.finished and not acceptor.finished  # type: ignore[attr-defined]


def test_the_id_line_may_arrive_in_pieces(tmp_path: Path, keys: dict[str, KeyMaterial]) -> None:
    alpha = suite_for(tmp_path, keys, "alpha")
    beta = suite_for(tmp_path, keys, "beta")
    dialler, acceptor = session(alpha, "alpha", True), session(beta, "beta", False)
    hello = dialler.initiate()
    for i in range(len(hello)):
        assert acceptor.receive_data(hello[i:i + 1]) == []
    assert acceptor.protocol == "sptps"  # type: ignore[attr-defined]
    reply = acceptor.data_to_send()
    assert first_line(reply) == b"0 beta 17.7"
    dialler.receive_data(reply)
    assert dialler.protocol == "sptps"  # type: ignore[attr-defined]


# ---------------------------------------------------------------------------
# the key upgrade (minor 1)


@pytest.mark.parametrize("acceptor_knows", [True, False], ids=["acceptor-knows", "neither-knows"])
def test_a_dialler_without_the_peers_key_upgrades_over_the_legacy_protocol(
    tmp_path: Path, keys: dict[str, KeyMaterial], caplog: pytest.LogCaptureFixture,
    acceptor_knows: bool,
) -> None:
    caplog.set_level(logging.INFO, logger="tinca")
    alpha = suite_for(tmp_path, keys, "alpha", knows_peer=False)
    beta = suite_for(tmp_path, keys, "beta", knows_peer=acceptor_knows)
    assert alpha.public_key("beta") is None
    dialler, acceptor = session(alpha, "alpha", True), session(beta, "beta", False)
    events_d, events_a, wire_d, wire_a = converse(dialler, acceptor)
    assert first_line(wire_d) == b"0 alpha 17.1"
    assert first_line(wire_a) == b"0 beta 17.7"
    assert dialler.protocol == acceptor.protocol == "legacy"  # type: ignore[attr-defined]
    # METAKEY follows the ID: the legacy handshake ran
    assert wire_d.split(b"\n")[1].startswith(b"1 ")
    # keys instead of ACKs: nobody is authenticated, both hang up
    assert not any(isinstance(e, Authenticated) for e in events_d + events_a)
    assert dialler.finished and acceptor.finished  # type: ignore[attr-defined]
    # the TERMREQ each side sent reached the other
    assert RequestLine("7") in events_d and RequestLine("7") in events_a

    host_beta = (tmp_path / "alpha" / "hosts" / "beta").read_text()
    assert keys["beta"].ed25519_public_line + "\n" in host_beta
    assert alpha.public_key("beta") == parse_public_key_b64(
        keys["beta"].ed25519_public_line.split("= ")[1])
    text = caplog.text
    assert text.count("Got Ed25519 public key from beta, upgrading!") == 1
    if acceptor_knows:
        assert text.count("Already have Ed25519 public key from alpha, ignoring.") == 1
        assert "Got Ed25519 public key from alpha" not in text
        assert (tmp_path / "beta" / "hosts" / "alpha").read_text().count("Ed25519PublicKey") == 1
    else:
        assert text.count("Got Ed25519 public key from alpha, upgrading!") == 1
        host_alpha = (tmp_path / "beta" / "hosts" / "alpha").read_text()
        assert keys["alpha"].ed25519_public_line in host_alpha

    # The next connection (fresh suites read the host files again) runs SPTPS.
    alpha2 = suite_for(tmp_path, keys, "alpha")
    beta2 = suite_for(tmp_path, keys, "beta")
    dialler, acceptor = session(alpha2, "alpha", True), session(beta2, "beta", False)
    events_d, events_a, wire_d, _ = converse(dialler, acceptor)
    assert first_line(wire_d) == b"0 alpha 17.7"
    assert dialler.protocol == acceptor.protocol == "sptps"  # type: ignore[attr-defined]
    authenticated(events_d)
    authenticated(events_a)


def test_a_learned_key_gets_its_own_line_in_a_host_file_without_a_final_newline(
    tmp_path: Path, keys: dict[str, KeyMaterial]
) -> None:
    # tinc 1.1 appends "\n# The following line was automatically added by
    # tinc\nEd25519PublicKey = ...\n" (conf.c append_config_file), so a host
    # file whose last line has no newline keeps that line and gains the key.
    suite_for(tmp_path, keys, "alpha", knows_peer=False)
    host = tmp_path / "alpha" / "hosts" / "beta"
    host.write_text(host.read_text() + "Address = 192.0.2.2")  # no newline at the end
    alpha = make_suite(suite_context(tmp_path / "alpha", lambda: 100.0))
    beta = suite_for(tmp_path, keys, "beta")
    _, _, wire_d, _ = converse(session(alpha, "alpha", True), session(beta, "beta", False))
    assert first_line(wire_d) == b"0 alpha 17.1"
    lines = host.read_text().splitlines()
    assert "Address = 192.0.2.2" in lines
    assert keys["beta"].ed25519_public_line in lines
    # the next connection finds the key and runs SPTPS
    alpha2 = make_suite(suite_context(tmp_path / "alpha", lambda: 100.0))
    assert alpha2.public_key("beta") is not None
    dialler = session(alpha2, "alpha", True)
    assert first_line(dialler.initiate()) == b"0 alpha 17.7"


def test_an_upgrade_with_a_different_key_than_the_known_one_is_refused(
    tmp_path: Path, keys: dict[str, KeyMaterial], tmp_path_factory: pytest.TempPathFactory,
) -> None:
    alpha = suite_for(tmp_path, keys, "alpha", knows_peer=False)
    # beta's host file at alpha's peer holds a key that is not alpha's
    impostor = key_material(tmp_path_factory.mktemp("other"), "mallory", rsa=False)
    confbase = tmp_path / "beta"
    write_node(confbase, keys["beta"], {"alpha": (keys["alpha"], False)})
    with (confbase / "hosts" / "alpha").open("a") as host:
        host.write(impostor.ed25519_public_line + "\n")
    beta = make_suite(suite_context(confbase, lambda: 100.0))
    dialler, acceptor = session(alpha, "alpha", True), session(beta, "beta", False)
    with pytest.raises(MetaError, match="different from the one presented"):
        converse(dialler, acceptor)


@pytest.mark.parametrize("protocol", ["sptps", "legacy"])
def test_the_dialler_estimates_its_weight_from_its_own_id_as_without_negotiation(
    tmp_path: Path, keys: dict[str, KeyMaterial], protocol: str
) -> None:
    # tinc starts the weight estimate when it sends its ID (send_id sets
    # c->start), so the dialler's estimate includes the ID round trip. The
    # negotiation must not start it only when the peer's ID is in.
    alpha = suite_for(tmp_path, keys, "alpha", knows_peer=protocol == "sptps")
    beta = suite_for(tmp_path, keys, "beta", ed25519=protocol == "sptps")

    def dialler_weight(make_dialler) -> int:  # type: ignore[no-untyped-def]
        now = [100.0]
        params = MetaParams("alpha", True, "beta", "655", OPTIONS, lambda: now[0])
        dialler = make_dialler(params)
        acceptor = beta.meta_session(
            MetaParams("beta", False, None, "655", OPTIONS, lambda: now[0]))
        to_acceptor, events = dialler.initiate(), []
        for _ in range(10):
            now[0] += 1.0  # one second per trip
            events += acceptor.receive_data(to_acceptor)
            now[0] += 1.0
            dialler.receive_data(acceptor.data_to_send())
            to_acceptor = dialler.data_to_send()
            if not to_acceptor:
                break
        return authenticated(events).peer_weight

    if protocol == "sptps":
        direct = alpha.sptps_meta_session
    else:
        def direct(params):  # type: ignore[no-untyped-def]
            return alpha.legacy.meta_session(params, id_minor=1, ack_minor=rq.PROT_MINOR_11)
    expected = dialler_weight(direct)
    assert expected >= 2000  # the ID round trip counts
    assert dialler_weight(alpha.meta_session) == expected


# ---------------------------------------------------------------------------
# rollback and tinc 1.0


@pytest.mark.parametrize("version", [b"17", b"17.0"])
def test_a_peer_whose_key_we_know_may_not_roll_back_to_minor_0(
    tmp_path: Path, keys: dict[str, KeyMaterial], version: bytes
) -> None:
    beta = suite_for(tmp_path, keys, "beta")
    acceptor = session(beta, "beta", False)
    acceptor.initiate()
    with pytest.raises(MetaError, match="roll back"):
        acceptor.receive_data(b"0 alpha " + version + b"\n")


def test_the_dialler_refuses_a_rollback_answer_too(
    tmp_path: Path, keys: dict[str, KeyMaterial]
) -> None:
    alpha = suite_for(tmp_path, keys, "alpha")
    dialler = session(alpha, "alpha", True)
    assert first_line(dialler.initiate()) == b"0 alpha 17.7"
    with pytest.raises(MetaError, match="roll back"):
        dialler.receive_data(b"0 beta 17\n")


@pytest.mark.parametrize("tinc11_dials", [True, False], ids=["we-dial", "tincd-dials"])
def test_a_tinc_10_peer_gets_the_legacy_protocol_with_our_minor_in_the_ack(
    tmp_path: Path, keys: dict[str, KeyMaterial], tinc11_dials: bool
) -> None:
    alpha = suite_for(tmp_path, keys, "alpha", knows_peer=False)
    assert isinstance(alpha, SptpsSuite)
    # beta is a tincd 1.0: no Ed25519 key at all, the plain legacy suite
    beta = suite_for(tmp_path, keys, "beta", knows_peer=False, ed25519=False)
    assert isinstance(beta, LegacySuite)
    ours, theirs = session(alpha, "alpha", tinc11_dials), session(beta, "beta", not tinc11_dials)
    if tinc11_dials:
        events_ours, events_theirs, wire_ours, wire_theirs = converse(ours, theirs)
    else:
        events_theirs, events_ours, wire_theirs, wire_ours = converse(theirs, ours)
    assert first_line(wire_theirs) == b"0 beta 17"
    assert first_line(wire_ours) == (b"0 alpha 17.1" if tinc11_dials else b"0 alpha 17.7")
    assert ours.protocol == "legacy"  # type: ignore[attr-defined]
    assert not ours.finished  # type: ignore[attr-defined]
    ack_ours, ack_theirs = authenticated(events_ours), authenticated(events_theirs)
    # the tincd reads our ACK's options with minor 7 in the top byte
    assert ack_theirs.peer_options == (rq.PROT_MINOR_11 << 24) | OPTIONS
    # we keep the peer's options word as it came (no version: a 1.0 node), so
    # the node will not try SPTPS with it
    assert ack_ours.peer_options == OPTIONS
    assert rq.option_version(ack_ours.options) == 0
    assert theirs.receive_data(ours.send_request("8")) == [RequestLine("8")]


def test_the_peers_version_byte_is_kept_as_it_came(
    tmp_path: Path, keys: dict[str, KeyMaterial]
) -> None:
    # A legacy peer that puts a minor in its ACK (as tinc 1.1 does): the
    # connection's options carry it, which is what marks a node as SPTPS-capable.
    alpha = suite_for(tmp_path, keys, "alpha", knows_peer=False)
    beta = suite_for(tmp_path, keys, "beta", knows_peer=False, ed25519=False)
    params = MetaParams("beta", False, None, "655", OPTIONS, lambda: 100.0)
    acceptor = beta.meta_session(params, ack_minor=5)
    dialler = session(alpha, "alpha", True)
    events_d, events_a, _, _ = converse(dialler, acceptor)
    ack_d = authenticated(events_d)
    assert ack_d.peer_options == (5 << 24) | OPTIONS
    assert rq.option_version(ack_d.options) == 5
    assert rq.option_version(authenticated(events_a).peer_options) == rq.PROT_MINOR_11


# ---------------------------------------------------------------------------
# which suite a node gets


def test_without_an_ed25519_key_the_node_is_a_legacy_node(
    tmp_path: Path, keys: dict[str, KeyMaterial], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="tinca")
    suite = suite_for(tmp_path, keys, "alpha", ed25519=False)
    # No per-peer channels: every peer gets tinc 1.0's path.
    assert isinstance(suite, LegacySuite) and isinstance(suite.peer_paths(SERVICES), LegacyPaths)
    assert "Support for SPTPS disabled." in caplog.text
    hello = session(suite, "alpha", True).initiate()
    assert first_line(hello) == b"0 alpha 17"


def test_experimental_protocol_yes_without_a_key_is_a_configuration_error(
    tmp_path: Path, keys: dict[str, KeyMaterial]
) -> None:
    with pytest.raises(ConfigError, match="Ed25519"):
        suite_for(tmp_path, keys, "alpha", ed25519=False, extra="ExperimentalProtocol = yes\n")


def test_experimental_protocol_no_turns_sptps_off_despite_a_key(
    tmp_path: Path, keys: dict[str, KeyMaterial]
) -> None:
    suite = suite_for(tmp_path, keys, "alpha", extra="ExperimentalProtocol = no\n")
    assert isinstance(suite, LegacySuite)


def test_without_an_rsa_key_sptps_runs_alone_and_a_17_0_peer_is_refused(
    tmp_path: Path, keys: dict[str, KeyMaterial], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="tinca")
    suite = suite_for(tmp_path, keys, "alpha", rsa=False, knows_peer=False)
    assert isinstance(suite, SptpsSuite) and suite.legacy is None
    paths = suite.peer_paths(SERVICES)  # its channels come from the suite itself
    assert isinstance(paths, SptpsPaths) and paths.suite is suite
    assert "Support for legacy protocol disabled." in caplog.text
    acceptor = session(suite, "alpha", False)
    acceptor.initiate()
    with pytest.raises(MetaError, match="legacy protocol") as caught:
        acceptor.receive_data(b"0 beta 17\n")
    assert "beta" in str(caught.value)
    # and the legacy packet keys are refused as clearly
    with pytest.raises(MetaError, match="legacy protocol is disabled"):
        suite.answer_key_request("beta")
