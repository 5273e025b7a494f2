"""Every sample package under ``tests/sample_plugins`` installs and is listed; each works.

The first tests are generic: a sample dropped into ``tests/sample_plugins``
is installed into a fresh environment and must appear in ``tinca plugins``
with its distribution, version and the slots its ``[tool.tinca-sample]``
table names, and must not appear without it. The rest check each sample's
own logic without sockets (loaded from its source file, so the interpreter
running pytest never sees its entry point); ``test_samples_netns.py`` and
``test_samples_netns_slots.py`` select each through config and run it in
network namespaces.
"""

from __future__ import annotations

import asyncio
import ctypes
import ctypes.util
import importlib.util
import os
import random
import re
import subprocess
import sys
import urllib.request
from pathlib import Path
from types import ModuleType, SimpleNamespace

import pytest

from tests.sample_packages import (
    SAMPLES,
    SampleInstaller,
    sample,
    sample_installer,
    sample_names,
)
from tinca.core.control.handler import PluginRequestError
from tinca.core.control.records import NODE_REACHABLE, NODE_UDP_CONFIRMED, NodeRecord
from tinca.core.counters import Counters, PeerCounters
from tinca.core.discovery import Candidate
from tinca.core.errors import ConfigError
from tinca.core.mtu import MTUSettings
from tinca.core.registry import Registry
from tinca.core.suite import Authenticated, PacketError, RequestLine

__all__ = ["sample_installer"]

RUN_TIMEOUT = 60


def load_sample_module(name: str) -> ModuleType:
    """Sample ``name``'s module, imported from its source file (no entry point on sys.path)."""
    (path,) = (SAMPLES / name / "src").glob("*.py")
    spec = importlib.util.spec_from_file_location(f"_sample_{path.stem}", path)
    assert spec is not None and spec.loader is not None
    if spec.name in sys.modules:
        return sys.modules[spec.name]
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def plugin_rows(stdout: str) -> dict[str, str]:
    """``tinca plugins`` output as {plugin name: its line}, header checked."""
    lines = [line for line in stdout.splitlines() if line.strip()]
    assert lines and re.match(r"\s*NAME\s+DISTRIBUTION\s+VERSION\s+SLOTS\b", lines[0]), stdout
    return {line.split()[0]: line for line in lines[1:]}


def tinca_plugins(tmp_path: Path, env: dict[str, str]) -> dict[str, str]:
    confdir = tmp_path / "net"
    (confdir / "hosts").mkdir(parents=True, exist_ok=True)
    (confdir / "tinc.conf").write_text("Name = alpha\n")
    (confdir / "hosts" / "alpha").write_text("Port = 655\n")
    argv = [sys.executable, "-m", "tinca.core.cli.tinca", "-c", str(confdir), "plugins"]
    proc = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=RUN_TIMEOUT)
    assert proc.returncode == 0, proc.stderr
    return plugin_rows(proc.stdout)


# ---------------------------------------------------------------------------
# Generic: every sample
# ---------------------------------------------------------------------------


def test_there_is_a_sample_per_slot_kind_so_far() -> None:
    names = sample_names()
    for expected in ("tinca-sample-plugin", "tinca-sample-ladder", "tinca-sample-lz4",
                     "tinca-sample-xts", "tinca-sample-addrfile", "tinca-sample-audit",
                     "tinca-sample-portfilter", "tinca-sample-prometheus",
                     "tinca-sample-peers"):
        assert expected in names


@pytest.mark.parametrize("name", sample_names())
def test_sample_documents_itself(name: str) -> None:
    spec = sample(name)
    assert spec.distribution == name, "the directory is named after the distribution"
    assert spec.plugins, f"{name} declares no entry point in the tinca group"
    assert spec.slots, f"{name}: [tool.tinca-sample] slots lists nothing to check"
    module = load_sample_module(name)
    doc = module.__doc__ or ""
    assert doc.startswith(name + ":"), f"{name}'s module docstring should open with its name"
    assert len(doc.splitlines()) >= 10, f"{name}'s module docstring is its README"


@pytest.mark.parametrize("name", sample_names())
def test_sample_installed_is_listed_by_tinca_plugins(
    sample_installer: SampleInstaller, tmp_path: Path, name: str
) -> None:
    spec = sample(name)
    rows = tinca_plugins(tmp_path, sample_installer.env(name))
    for plugin in spec.plugins:
        assert plugin in rows, f"{plugin} missing from tinca plugins:\n{rows}"
        assert rows[plugin].split()[1:3] == [spec.distribution, spec.version]
    shown = " ".join(rows[p] for p in spec.plugins)
    for slot in spec.slots:
        assert slot in shown, f"{slot!r} not in {shown!r}"
    assert "dummy" in rows  # the built-ins are still there


@pytest.mark.parametrize("name", sample_names())
def test_sample_not_installed_is_not_listed(tmp_path: Path, name: str) -> None:
    rows = tinca_plugins(tmp_path, dict(os.environ))
    assert not set(sample(name).plugins) & set(rows)


# ---------------------------------------------------------------------------
# tinca-sample-xts: byte for byte what tincd's OpenSSL does
# ---------------------------------------------------------------------------


def system_xts(name: str, key: bytes, iv: bytes, data: bytes) -> bytes:
    """One EVP encryption with the system libcrypto (what Debian's tincd links)."""
    path = ctypes.util.find_library("crypto")
    if path is None:
        pytest.skip("no system libcrypto")
    lib = ctypes.CDLL(path)
    lib.EVP_get_cipherbyname.restype = ctypes.c_void_p
    lib.EVP_CIPHER_CTX_new.restype = ctypes.c_void_p
    lib.EVP_EncryptInit_ex.argtypes = [ctypes.c_void_p] * 5
    lib.EVP_EncryptUpdate.argtypes = [ctypes.c_void_p, ctypes.c_char_p,
                                      ctypes.POINTER(ctypes.c_int), ctypes.c_char_p, ctypes.c_int]
    lib.EVP_CIPHER_CTX_free.argtypes = [ctypes.c_void_p]
    cipher = lib.EVP_get_cipherbyname(name.encode())
    ctx = lib.EVP_CIPHER_CTX_new()
    try:
        assert lib.EVP_EncryptInit_ex(ctx, cipher, None, key, iv) == 1
        out = ctypes.create_string_buffer(len(data) + 32)
        produced = ctypes.c_int(0)
        # tincd's per-packet re-initialisation without key or IV, twice over:
        # the second packet must come out as the first did.
        for _ in range(2):
            assert lib.EVP_EncryptInit_ex(ctx, None, None, None, None) == 1
            assert lib.EVP_EncryptUpdate(ctx, out, ctypes.byref(produced), data, len(data)) == 1
        return out.raw[: produced.value]
    finally:
        lib.EVP_CIPHER_CTX_free(ctx)


@pytest.mark.parametrize("length", [16, 17, 31, 64, 1463])
@pytest.mark.parametrize("index", [0, 1])
def test_xts_matches_system_openssl(length: int, index: int) -> None:
    module = load_sample_module("tinca-sample-xts")
    cipher = module.CIPHERS[index]
    rng = random.Random(length)
    key = rng.randbytes(cipher.key_length)
    iv = rng.randbytes(cipher.iv_length)
    packet = rng.randbytes(length)
    encrypt = cipher.encrypter(key, iv)
    first = encrypt(packet)
    assert encrypt(packet) == first  # every packet restarts at the IV, as in tincd
    assert first == system_xts(cipher.name, key, iv, packet)
    assert cipher.decrypter(key, iv)(first) == packet


def test_xts_refuses_short_packets_and_equal_key_halves() -> None:
    cipher = load_sample_module("tinca-sample-xts").CIPHERS[1]
    decrypt = cipher.decrypter(bytes(range(64)), bytes(16))
    with pytest.raises(PacketError):
        decrypt(b"\x00" * 15)
    with pytest.raises(PacketError):
        cipher.encrypter(bytes(32) * 2, bytes(16))


# ---------------------------------------------------------------------------
# tinca-sample-lz4: liblz4 reads what it writes and the other way round
# ---------------------------------------------------------------------------


def liblz4() -> ctypes.CDLL:
    path = ctypes.util.find_library("lz4")
    if path is None:
        pytest.skip("no system liblz4")
    return ctypes.CDLL(path)


def packets() -> list[bytes]:
    rng = random.Random(12)
    out = [b"", b"x", bytes(12), bytes(13), b"abcd" * 400, bytes(1500)]
    for size in (20, 100, 600, 1500):
        for alphabet in (b"ab", b"tinca ", bytes(range(256))):
            out.append(bytes(rng.choice(alphabet) for _ in range(size)))
    return out


@pytest.mark.parametrize("data", packets(), ids=lambda d: f"{len(d)}B-{d[:2].hex()}")
def test_lz4_interoperates_with_liblz4(data: bytes) -> None:
    module = load_sample_module("tinca-sample-lz4")
    lib = liblz4()
    ours = module.compress(data)
    out = ctypes.create_string_buffer(4096)
    assert lib.LZ4_decompress_safe(ours, out, len(ours), 4096) == len(data)
    assert out.raw[: len(data)] == data
    bound = lib.LZ4_compressBound(len(data))
    theirs = ctypes.create_string_buffer(bound)
    size = lib.LZ4_compress_default(data, theirs, len(data), bound)
    assert module.decompress(theirs.raw[:size], 4096) == data


def test_lz4_hostile_input_raises_only_its_error() -> None:
    module = load_sample_module("tinca-sample-lz4")
    rng = random.Random(4)
    for _ in range(3000):
        block = rng.randbytes(rng.randrange(0, 40))
        try:
            assert len(module.decompress(block)) <= module.MAX_OUTPUT
        except module.Lz4Error:
            pass
    with pytest.raises(module.Lz4Error):
        module.decompress(module.compress(bytes(2000)))  # more than tinc's packet buffer


def test_lz4_codec_counts_its_calls() -> None:
    module = load_sample_module("tinca-sample-lz4")
    codec = module.Lz4Codec()
    assert codec.decompress(codec.compress(b"hello " * 50)) == b"hello " * 50
    assert (codec.compressed, codec.decompressed) == (1, 1)


# ---------------------------------------------------------------------------
# tinca-sample-ladder: hours of probing in milliseconds
# ---------------------------------------------------------------------------


def test_ladder_settles_on_the_largest_rung_that_answers() -> None:
    module = load_sample_module("tinca-sample-ladder")
    ladder = module.Ladder(MTUSettings(ping_interval=60, peer="beta"))
    assert ladder.next_wakeup() is None and ladder.due_probes(0.0) == []
    ladder.start(10.0)
    assert ladder.udp_limit == 0 and ladder.mtu is None  # TCP until a rung answers
    assert ladder.due_probes(10.0) == list(module.RUNGS)
    ladder.send_too_big(1518)  # the kernel refused the top rung
    for size in (1280, 1400):
        ladder.probe_replied(size, 10.1)
    assert (ladder.minmtu, ladder.udp_limit, ladder.mtu) == (1400, 1400, None)
    now = 11.0
    while ladder.mtu is None:
        assert ladder.next_wakeup() == now
        assert ladder.due_probes(now) in ([1459], [1400])
        now += 1
    assert now - 11.0 <= module.ROUNDS + 1
    assert (ladder.mtu, ladder.maxmtu) == (1400, 1400)
    wake = ladder.next_wakeup()
    assert wake is not None and ladder.due_probes(wake) == [1400]  # keep-alive
    assert ladder.next_wakeup() == wake + 60
    ladder.stop()
    assert (ladder.minmtu, ladder.mtu, ladder.next_wakeup()) == (0, None, None)


def test_ladder_settles_at_once_when_the_top_rung_answers() -> None:
    module = load_sample_module("tinca-sample-ladder")
    ladder = module.Ladder(MTUSettings(pmtu=1400))
    assert ladder.rungs[0] == 1400  # PMTU caps the ladder
    ladder.start(0.0)
    ladder.due_probes(0.0)
    ladder.probe_replied(1400, 0.1)
    assert ladder.mtu == 1400



# ---------------------------------------------------------------------------
# tinca-sample-addrfile: the file, read and pushed
# ---------------------------------------------------------------------------


def test_addrfile_parses_lines_and_skips_bad_ones() -> None:
    module = load_sample_module("tinca-sample-addrfile")
    text = "# comment\nbeta 192.0.2.2\n\nbeta host.example 700  # second\ngamma\ndelta a b c d\n"
    assert module.parse_addresses(text) == {
        "beta": [Candidate("192.0.2.2", "655", "addrfile"),
                 Candidate("host.example", "700", "addrfile")],
    }


def test_addrfile_pushes_what_changed(tmp_path: Path) -> None:
    module = load_sample_module("tinca-sample-addrfile")
    pushed: list[tuple[str, list[Candidate]]] = []
    path = tmp_path / "addresses"
    source = module.AddressFileSource(path, lambda peer, c: pushed.append((peer, list(c))))
    source.poll()
    assert pushed == []  # no file: nobody to push
    path.write_text("beta 192.0.2.2\ngamma 192.0.2.3 700\n")
    source.poll()
    assert pushed == [("beta", [Candidate("192.0.2.2", "655", "addrfile")]),
                      ("gamma", [Candidate("192.0.2.3", "700", "addrfile")])]
    source.poll()
    assert len(pushed) == 2  # unchanged file, nothing new
    path.write_text("beta 192.0.2.2\n# gamma is gone\n")
    source.poll()
    assert pushed[2:] == [("gamma", [])]  # a withdrawal
    assert asyncio.run(source.candidates("beta")) == []  # it pushes, never pulls


def test_addrfile_watches_between_start_and_stop(tmp_path: Path) -> None:
    module = load_sample_module("tinca-sample-addrfile")
    path = tmp_path / "addresses"
    pushed: list[str] = []

    async def run() -> None:
        source = module.AddressFileSource(path, lambda peer, c: pushed.append(peer), 0.01)
        source.start()
        path.write_text("beta 192.0.2.2\n")
        for _ in range(100):
            await asyncio.sleep(0.01)
            if pushed:
                break
        source.stop()
        path.write_text("beta 192.0.2.9\n")
        await asyncio.sleep(0.05)

    asyncio.run(run())
    assert pushed == ["beta"]


# ---------------------------------------------------------------------------
# tinca-sample-audit: everything passes through, sessions are logged
# ---------------------------------------------------------------------------


class InnerSession:
    """A meta session that authenticates its peer on the first bytes."""

    peer_name = "beta"
    finished = False
    status_bits = 7

    def initiate(self) -> bytes:
        return b"hello"

    def receive_data(self, data: bytes) -> list[object]:
        return [Authenticated("beta", 655, 0, 1, 0, 1), RequestLine(data.decode())]

    def data_to_send(self) -> bytes:
        return b"queued"

    def send_request(self, line: str) -> bytes:
        return line.encode()

    def send_packet(self, packet: bytes) -> bytes:
        return b"P" + packet

    def send_raw_packet(self, data: bytes) -> bytes:
        return b"R" + data


class InnerSuite:
    """Records what the audit suite passes on."""

    name = "inner"

    def __init__(self, context: object) -> None:
        self.context = context
        self.calls: list[str] = []

    def meta_session(self, params: object) -> InnerSession:
        self.calls.append("meta_session")
        return InnerSession()

    def answer_key_request(self, peer: str) -> tuple[str, str]:
        self.calls.append(f"answer {peer}")
        return ("offer", "opener")

    def accept_key_answer(self, peer: str, answer: object) -> str:
        self.calls.append(f"accept {peer}")
        return "sealer"

    def peer_paths(self, services: object) -> tuple[str, object]:
        return ("paths", services)

    def default_mtu_strategy(self, peer_options: int) -> str:
        return f"strategy-{peer_options}"

    def reconfigure(self, config: object) -> None:
        self.calls.append("reconfigure")


def suite_context(inner: str) -> SimpleNamespace:
    registry = Registry("cipher suite")
    registry.add("inner", InnerSuite, plugin="test")
    config = SimpleNamespace(server={"AuditedSuite": inner}, source="tinc.conf")
    return SimpleNamespace(config=config, registry=lambda hook: registry)


def test_audit_suite_delegates_and_logs(caplog: pytest.LogCaptureFixture) -> None:
    module = load_sample_module("tinca-sample-audit")
    context = suite_context("inner")
    caplog.set_level("INFO", logger="tinca_sample_audit")
    suite = module.make_suite(context)
    inner = suite.inner
    assert isinstance(inner, InnerSuite) and inner.context is context
    assert suite.name == "audit"
    assert suite.peer_paths("services") == ("paths", "services")  # the inner suite's, as they are
    params = SimpleNamespace(outgoing=True, expected_peer="beta")
    session = suite.meta_session(params)
    assert session.initiate() == b"hello" and session.data_to_send() == b"queued"
    events = session.receive_data(b"8 0")
    assert [type(e) for e in events] == [Authenticated, RequestLine]
    assert session.send_packet(b"x") == b"Px" and session.send_raw_packet(b"y") == b"Ry"
    assert (session.peer_name, session.finished, session.status_bits) == ("beta", False, 7)
    assert suite.answer_key_request("beta") == ("offer", "opener")
    assert suite.accept_key_answer("beta", object()) == "sealer"
    assert suite.default_mtu_strategy(7 << 24) == f"strategy-{7 << 24}"
    suite.reconfigure(object())
    assert inner.calls == ["meta_session", "answer beta", "accept beta", "reconfigure"]
    assert (suite.sessions, suite.keys) == (1, 2)
    messages = [r.getMessage() for r in caplog.records]
    assert "audit: running cipher suite inner" in messages
    assert "audit: meta session 1 (outgoing to beta)" in messages
    assert "audit: beta authenticated" in messages


def test_audit_suite_refuses_to_wrap_itself() -> None:
    module = load_sample_module("tinca-sample-audit")
    with pytest.raises(ConfigError, match="wrap the audit suite in itself"):
        module.make_suite(suite_context("Audit"))


# ---------------------------------------------------------------------------
# tinca-sample-portfilter: rules and what they match
# ---------------------------------------------------------------------------


def ipv4_frame(protocol: int, ports: tuple[int, int] = (0, 0), fragment: int = 0) -> bytearray:
    """An Ethernet-framed IPv4 packet as tinc's router mode hands it to a policy."""
    header = bytes([0x45, 0, 0, 40, 0, 0, *fragment.to_bytes(2, "big"), 64, protocol, 0, 0,
                    198, 18, 0, 1, 198, 18, 0, 2])
    transport = ports[0].to_bytes(2, "big") + ports[1].to_bytes(2, "big") + bytes(16)
    return bytearray(bytes(12) + b"\x08\x00" + header + transport)


def ipv6_frame(next_header: int, ports: tuple[int, int] = (0, 0)) -> bytearray:
    header = bytes([0x60, 0, 0, 0, 0, 8, next_header, 64]) + bytes(32)
    transport = ports[0].to_bytes(2, "big") + ports[1].to_bytes(2, "big") + bytes(4)
    return bytearray(bytes(12) + b"\x86\xdd" + header + transport)


def test_portfilter_rules_parse_and_refuse() -> None:
    module = load_sample_module("tinca-sample-portfilter")
    rule = module.Rule()
    assert rule.parse("ICMP") == module.FilterRule("icmp")
    assert rule.parse("tcp 23") == module.FilterRule("tcp", 23)
    assert rule.format(rule.parse("udp  5353")) == "udp 5353"
    for bad in ("", "tcp", "icmp 1", "sctp 9", "udp 0", "udp 65536", "tcp http"):
        with pytest.raises(ValueError):
            rule.parse(bad)


def test_portfilter_drops_what_its_rules_match() -> None:
    module = load_sample_module("tinca-sample-portfilter")
    rules = [module.FilterRule("icmp"), module.FilterRule("tcp", 23)]
    policy = module.PortFilter(rules)
    drop = [ipv4_frame(1), ipv6_frame(58), ipv4_frame(6, (40000, 23)), ipv4_frame(6, (23, 80)),
            ipv6_frame(6, (23, 1))]
    keep = [ipv4_frame(6, (40000, 22)), ipv4_frame(17, (40000, 23)), ipv6_frame(17, (1, 23)),
            ipv4_frame(6, (0, 0), fragment=185),  # a later fragment has no ports to match
            bytearray(bytes(12) + b"\x08\x06" + bytes(28))]  # ARP
    for frame in drop:
        assert policy.decide("alpha", "beta", frame, True) is False, frame.hex()
    for frame in keep:
        assert policy.decide("alpha", "beta", frame, True) is True, frame.hex()
    assert policy.dropped == {rules[0]: 2, rules[1]: 3}


# ---------------------------------------------------------------------------
# tinca-sample-prometheus: the text format, served
# ---------------------------------------------------------------------------


def counters() -> Counters:
    beta = SimpleNamespace(counters=PeerCounters())
    beta.counters.in_packets, beta.counters.in_bytes = 3, 300
    beta.counters.out_packets, beta.counters.out_bytes = 2, 200
    device = SimpleNamespace(packets_in=2, packets_out=3, bytes_in=200, bytes_out=300)
    return Counters("alpha", {"beta": beta}, device, {'packet policy "x"': 4})


def test_prometheus_renders_the_text_format() -> None:
    module = load_sample_module("tinca-sample-prometheus")
    text = module.render(counters().snapshot())
    assert 'tinca_peer_packets_total{node="alpha",peer="beta",direction="in"} 3\n' in text
    assert 'tinca_peer_bytes_total{node="alpha",peer="beta",direction="out"} 200\n' in text
    assert 'tinca_peer_packets_total{node="alpha",peer="alpha",direction="out"} 3\n' in text
    assert 'tinca_dropped_packets_total{node="alpha",reason="packet policy \\"x\\""} 4\n' in text
    assert "# TYPE tinca_peer_packets_total counter" in text


def test_prometheus_exporter_serves_until_stopped() -> None:
    module = load_sample_module("tinca-sample-prometheus")
    exporter = module.Exporter(counters(), "127.0.0.1", 0)
    exporter.start()
    try:
        url = f"http://127.0.0.1:{exporter.port}/metrics"
        with urllib.request.urlopen(url, timeout=5) as reply:
            assert reply.headers["Content-Type"].startswith("text/plain; version=0.0.4")
            assert b'peer="beta",direction="in"} 3' in reply.read()
    finally:
        exporter.stop()
    assert not exporter.thread.is_alive()


def test_prometheus_serves_only_when_configured() -> None:
    module = load_sample_module("tinca-sample-prometheus")
    node = SimpleNamespace(name="alpha", setting=lambda name: None)
    module.tinca_metrics_start(counters(), node)
    assert module._running == []


# ---------------------------------------------------------------------------
# tinca-sample-peers: the daemon's lines and the command's table
# ---------------------------------------------------------------------------


def node_record(name: str, status: int, host: str = "unknown", packets: int = 0) -> NodeRecord:
    return NodeRecord(
        name=name, id="0" * 12, host=host, port="655" if host != "unknown" else "unknown",
        cipher=0, digest=0, maclength=0, compression=0, options=0, status=status,
        nexthop=name, via=name, distance=1, pmtu=1451, minmtu=0, maxmtu=1518,
        last_state_change=0, udp_ping_rtt=-1, in_packets=packets, in_bytes=0,
        out_packets=packets + 1, out_bytes=0,
    )


class View:
    name = "alpha"

    def nodes(self) -> list[NodeRecord]:
        return [node_record("alpha", NODE_REACHABLE),
                node_record("gamma", 0),
                node_record("beta", NODE_REACHABLE | NODE_UDP_CONFIRMED, "192.0.2.2", 12)]


def test_peers_request_and_table() -> None:
    module = load_sample_module("tinca-sample-peers")
    lines = module.peer_rows(View(), [])
    assert lines == ["beta reachable 192.0.2.2:655 udp 1451 12 13",
                     "gamma unreachable - - 1451 0 1"]
    assert module.peer_rows(View(), ["gamma"]) == lines[1:]
    with pytest.raises(PluginRequestError) as raised:
        module.peer_rows(View(), ["delta"])
    assert raised.value.status == module.NO_SUCH_PEER
    table = module.table([tuple(line.split()) for line in lines]).splitlines()
    assert table[0].startswith("PEER   STATE        ADDRESS        PATH  PMTU  IN PACKETS")
    assert table[1].endswith("         12           13")
    assert len({len(row) for row in table}) == 1  # columns line up
