"""The legacy meta connection (RSA handshake, AES-CFB stream) against Debian's tincd 1.0.36.

Our sans-IO :class:`LegacyMetaConnection` runs over a blocking socket on
127.0.0.1 as the node ``tinca1``; tincd runs as ``alpha`` with the dummy device.
Both directions are tested (we connect; tincd connects to us), then what comes
after the handshake (tincd's ADD_SUBNET/ADD_EDGE, PING/PONG, packets over TCP,
tincd's line limit), then the failures tincd and we must detect.
"""

from __future__ import annotations

import os
import re
import socket
import struct
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from tests.interop.tincd_harness import (
    TincdConfig,
    TincdProcess,
    free_port,
    generate_key,
    require_tincd,
)
from tinca.core.meta.requests import OPTION_CLAMP_MSS, OPTION_PMTU_DISCOVERY
from tinca.plugins.ciphers.legacy.meta import (
    MAX_BUFFER_SIZE,
    Authenticated,
    LegacyMetaConnection,
    MetaEvent,
    MetaProtocolError,
    PacketReceived,
    RequestLine,
)
from tinca.plugins.ciphers.legacy.meta_rsa import decrypt_no_padding

pytestmark = pytest.mark.root

TIMEOUT = 15.0
OUR_NAME = "tinca1"
ALPHA_SUBNET = "198.18.0.1/32"
ACTIVATED = r"Connection with tinca1 \(127\.0\.0\.1 port \d+\) activated"


@pytest.fixture(scope="module")
def tincd() -> str:
    return require_tincd()


@pytest.fixture(scope="module")
def our_key() -> rsa.RSAPrivateKey:
    return generate_key()


@pytest.fixture(scope="module")
def alpha_key() -> rsa.RSAPrivateKey:
    return generate_key()


class PeerClosed(Exception):
    """The TCP connection ended (tincd closed it)."""


class MetaSocket:
    """A blocking socket driving one :class:`LegacyMetaConnection`: the smallest I/O shell."""

    def __init__(self, sock: socket.socket, conn: LegacyMetaConnection) -> None:
        self.sock = sock
        self.conn = conn
        self.events: list[MetaEvent] = []
        self.seen = 0  # events already handed out by next_event

    def send(self, data: bytes) -> None:
        if data:
            self.sock.sendall(data)

    def pump_once(self, deadline: float) -> None:
        """Read once (up to the deadline), feed the connection, write its replies."""
        self.sock.settimeout(max(0.01, deadline - time.monotonic()))
        try:
            data = self.sock.recv(65536)
        except TimeoutError:
            return
        except ConnectionResetError as error:
            raise PeerClosed from error
        if not data:
            raise PeerClosed
        try:
            self.events += self.conn.receive_data(data)
        finally:
            self.send(self.conn.data_to_send())

    def wait(self, want: Callable[[MetaEvent], bool], timeout: float = TIMEOUT) -> MetaEvent:
        """The next event (after those seen) that ``want`` accepts; fails at the deadline."""
        deadline = time.monotonic() + timeout
        while True:
            while self.seen < len(self.events):
                event = self.events[self.seen]
                self.seen += 1
                if want(event):
                    return event
            if time.monotonic() >= deadline:
                pytest.fail(f"no wanted event within {timeout} s; got {self.events}")
            self.pump_once(deadline)

    def authenticate(self, timeout: float = TIMEOUT) -> Authenticated:
        self.send(self.conn.initiate())
        event = self.wait(lambda e: isinstance(e, Authenticated), timeout)
        assert isinstance(event, Authenticated)
        return event

    def line(self, pattern: str, timeout: float = TIMEOUT) -> re.Match[str]:
        """The next request line matching ``pattern`` (others are skipped)."""
        regex = re.compile(pattern)
        event = self.wait(lambda e: isinstance(e, RequestLine) and bool(regex.fullmatch(e.line)),
                          timeout)
        assert isinstance(event, RequestLine)
        match = regex.fullmatch(event.line)
        assert match is not None
        return match


class RecordingRandom:
    """os.urandom that remembers what it gave (the METAKEY material comes first)."""

    def __init__(self) -> None:
        self.given: list[bytes] = []

    def __call__(self, n: int) -> bytes:
        data = os.urandom(n)
        self.given.append(data)
        return data


def make_conn(
    key: rsa.RSAPrivateKey,
    peers: dict[str, rsa.RSAPublicKey],
    *,
    outgoing: bool,
    name: str = OUR_NAME,
    port: int = 40000,
    weight: int | None = None,
    random: Callable[[int], bytes] = os.urandom,
    max_buffer_size: int = MAX_BUFFER_SIZE,
) -> LegacyMetaConnection:
    return LegacyMetaConnection(
        my_name=name,
        my_key=key,
        outgoing=outgoing,
        lookup_public_key=peers.get,
        my_port=port,
        my_options=OPTION_PMTU_DISCOVERY | OPTION_CLAMP_MSS,
        clock=time.monotonic,
        random=random,
        expected_peer="alpha" if outgoing else None,
        weight=weight,
        max_buffer_size=max_buffer_size,
    )


def alpha_config(tmp_path: Path, alpha_key: rsa.RSAPrivateKey, **kwargs: object) -> TincdConfig:
    return TincdConfig.create(
        tmp_path / "alpha",
        "alpha",
        private_key=alpha_key,
        host_lines=[f"Subnet = {ALPHA_SUBNET}"],
        **kwargs,  # type: ignore[arg-type]
    )


def connect(port: int) -> socket.socket:
    return socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT)


@pytest.fixture
def listener() -> Iterator[socket.socket]:
    """A TCP socket listening on a free 127.0.0.1 port, for tincd to connect to."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", free_port()))
    sock.listen(4)
    sock.settimeout(TIMEOUT)
    try:
        yield sock
    finally:
        sock.close()


def check_tincd_follow_up(peer: MetaSocket, auth: Authenticated, our_port: int) -> None:
    """What tincd sends once it has our ACK (src/protocol_auth.c ack_h, send_everything)."""
    peer.line(rf"10 [0-9a-f]+ alpha {re.escape(ALPHA_SUBNET)}(#\d+)?")  # tincd adds #weight
    edge = peer.line(r"12 [0-9a-f]+ alpha tinca1 (\S+) (\S+) ([0-9a-f]+) (-?\d+)")
    address, port, options, weight = edge.groups()
    assert (address, int(port)) == ("127.0.0.1", our_port)
    # Both sides average the same two estimates and merge options the same way.
    assert int(weight) == auth.weight
    assert int(options, 16) == auth.options


def ping_pong(peer: MetaSocket) -> None:
    peer.send(peer.conn.send_request("8"))
    peer.line(r"9")


# ---------------------------------------------------------------------------
# (a) We connect to tincd
# ---------------------------------------------------------------------------


def test_we_connect_authenticate_and_talk(
    tincd: str, tmp_path: Path, our_key: rsa.RSAPrivateKey, alpha_key: rsa.RSAPrivateKey
) -> None:
    config = alpha_config(tmp_path, alpha_key)
    config.add_host(OUR_NAME, our_key.public_key())
    with TincdProcess(config, binary=tincd) as daemon:
        daemon.wait_for(r"\bReady\b")
        conn = make_conn(our_key, {"alpha": config.public_key}, outgoing=True, weight=100)
        with connect(config.port) as sock:
            peer = MetaSocket(sock, conn)
            auth = peer.authenticate()
            assert (auth.peer_name, auth.peer_port) == ("alpha", config.port)
            # tincd enables PMTU discovery and ClampMSS by default, as we do.
            assert auth.peer_options == OPTION_PMTU_DISCOVERY | OPTION_CLAMP_MSS
            assert auth.weight == (100 + auth.peer_weight) // 2
            daemon.wait_for(ACTIVATED)
            check_tincd_follow_up(peer, auth, our_port=40000)
            ping_pong(peer)
            daemon.wait_for(r"Got PING from tinca1 \(127\.0\.0\.1 port \d+\)")


def test_meta_keys_are_the_ones_tincd_logs(
    tincd: str, tmp_path: Path, our_key: rsa.RSAPrivateKey, alpha_key: rsa.RSAPrivateKey
) -> None:
    """At -d10 tincd logs both meta keys in clear: they match ours byte for byte.

    This pins down raw RSA without padding, the cleared top bit and the hex form.
    """
    config = alpha_config(tmp_path, alpha_key)
    config.add_host(OUR_NAME, our_key.public_key())
    random = RecordingRandom()
    with TincdProcess(config, binary=tincd, debug=10) as daemon:
        daemon.wait_for(r"\bReady\b")
        conn = make_conn(our_key, {"alpha": config.public_key}, outgoing=True, random=random)
        with connect(config.port) as sock:
            sock.sendall(conn.initiate())
            # tincd answers our ID with its ID and METAKEY, both in clear.
            raw = b""
            while raw.count(b"\n") < 2:
                chunk = sock.recv(65536)
                assert chunk, "tincd closed the connection"
                raw += chunk
            theirs_hex = raw.split(b"\n")[1].split()[5].decode()
            peer = MetaSocket(sock, conn)
            peer.events += conn.receive_data(raw)
            peer.send(conn.data_to_send())
            peer.wait(lambda e: isinstance(e, Authenticated))

        ours = bytearray(random.given[0])
        ours[0] &= 0x7F
        received = daemon.wait_for(r"Received random meta key \(unencrypted\): ([0-9A-F]+)")
        assert received.group(1) == ours.hex().upper()
        generated = daemon.wait_for(r"Generated random meta key \(unencrypted\): ([0-9A-F]+)")
        theirs = decrypt_no_padding(our_key, bytes.fromhex(theirs_hex))
        assert generated.group(1) == theirs.hex().upper()


# ---------------------------------------------------------------------------
# (b) tincd connects to us
# ---------------------------------------------------------------------------


def test_tincd_connects_and_we_accept(
    tincd: str,
    tmp_path: Path,
    our_key: rsa.RSAPrivateKey,
    alpha_key: rsa.RSAPrivateKey,
    listener: socket.socket,
) -> None:
    our_port = listener.getsockname()[1]
    config = alpha_config(tmp_path, alpha_key, connect_to=[OUR_NAME])
    config.add_host(OUR_NAME, our_key.public_key(), [f"Address = 127.0.0.1 {our_port}"])
    with TincdProcess(config, binary=tincd) as daemon:
        sock, _ = listener.accept()
        with sock:
            conn = make_conn(our_key, {"alpha": config.public_key}, outgoing=False,
                             port=our_port)
            peer = MetaSocket(sock, conn)
            auth = peer.authenticate()
            assert auth.peer_name == "alpha"
            assert auth.peer_port == config.port
            daemon.wait_for(ACTIVATED)
            check_tincd_follow_up(peer, auth, our_port=our_port)
            ping_pong(peer)


# ---------------------------------------------------------------------------
# After authentication: packets over TCP and tincd's line limit
# ---------------------------------------------------------------------------


def ipv4_icmp_echo(source: str, destination: str) -> bytes:
    """An Ethernet frame (tinc 1.0 packets carry one, also in router mode) with a ping."""
    icmp = struct.pack("!BBHHH", 8, 0, 0, 0x1234, 1) + b"tinca meta test"
    header = struct.pack(
        "!BBHHHBBH4s4s", 0x45, 0, 20 + len(icmp), 0, 0, 64, 1, 0,
        socket.inet_aton(source), socket.inet_aton(destination),
    )
    checksum = 0
    for (word,) in struct.iter_unpack("!H", header):
        checksum += word
    while checksum >> 16:
        checksum = (checksum & 0xFFFF) + (checksum >> 16)
    header = header[:10] + struct.pack("!H", ~checksum & 0xFFFF) + header[12:]
    return bytes(12) + b"\x08\x00" + header + icmp


def test_packets_over_the_meta_connection(
    tincd: str, tmp_path: Path, our_key: rsa.RSAPrivateKey, alpha_key: rsa.RSAPrivateKey
) -> None:
    config = alpha_config(tmp_path, alpha_key)
    config.add_host(OUR_NAME, our_key.public_key())
    with TincdProcess(config, binary=tincd) as daemon:
        daemon.wait_for(r"\bReady\b")
        conn = make_conn(our_key, {"alpha": config.public_key}, outgoing=True)
        with connect(config.port) as sock:
            peer = MetaSocket(sock, conn)
            auth = peer.authenticate()
            # Our side of the edge and our subnet, so tincd can route to us.
            peer.send(conn.send_request(
                f"12 1 tinca1 alpha 127.0.0.1 {config.port} {auth.options:x} {auth.weight}"
            ))
            peer.send(conn.send_request("10 2 tinca1 198.18.0.2/32"))
            daemon.wait_for(r"Node tinca1 \(.*\) became reachable")

            # To tincd's own subnet: it reads the packet from the stream.
            packet = ipv4_icmp_echo("198.18.0.2", "198.18.0.1")
            peer.send(conn.send_packet(packet))
            daemon.wait_for(rf"Received packet of {len(packet)} bytes from tinca1")

            # To nobody's subnet: tincd answers with ICMP "net unknown", and a
            # reply to a packet that came over TCP goes back over TCP.
            peer.send(conn.send_packet(ipv4_icmp_echo("198.18.0.2", "198.18.77.1")))
            reply = peer.wait(lambda e: isinstance(e, PacketReceived))
            assert isinstance(reply, PacketReceived)
            frame = reply.data
            assert frame[12:14] == b"\x08\x00"
            ip = frame[14:]
            assert socket.inet_ntoa(ip[16:20]) == "198.18.0.2"
            assert ip[9] == 1  # ICMP
            icmp = ip[(ip[0] & 0x0F) * 4:]
            assert (icmp[0], icmp[1]) == (3, 6)  # destination unreachable, net unknown


def test_line_limit_is_tincds(
    tincd: str, tmp_path: Path, our_key: rsa.RSAPrivateKey, alpha_key: rsa.RSAPrivateKey
) -> None:
    """A line of MAX_BUFFER_SIZE bytes with its newline passes; one byte more kills it."""
    config = alpha_config(tmp_path, alpha_key)
    config.add_host(OUR_NAME, our_key.public_key())
    with TincdProcess(config, binary=tincd) as daemon:
        daemon.wait_for(r"\bReady\b")
        # A peer that thinks lines may be longer (say, a jumbogram build).
        conn = make_conn(our_key, {"alpha": config.public_key}, outgoing=True,
                         max_buffer_size=2 * MAX_BUFFER_SIZE)
        with connect(config.port) as sock:
            peer = MetaSocket(sock, conn)
            peer.authenticate()
            longest = "8" + " " * (MAX_BUFFER_SIZE - 2)  # PING ignores its arguments
            peer.send(conn.send_request(longest))
            peer.line(r"9")
            peer.send(conn.send_request(longest + " "))
            daemon.wait_for(r"Metadata read buffer overflow for tinca1")


# ---------------------------------------------------------------------------
# (c) Failures
# ---------------------------------------------------------------------------


def drive_until_stuck(peer: MetaSocket, timeout: float) -> MetaProtocolError | None:
    """Run the handshake until our side fails, tincd closes, or nothing more comes."""
    peer.send(peer.conn.initiate())
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            peer.pump_once(deadline)
            assert not any(isinstance(e, Authenticated) for e in peer.events)
    except MetaProtocolError as error:
        return error
    except PeerClosed:
        pass
    return None


def test_tincd_rejects_an_unknown_name(
    tincd: str, tmp_path: Path, our_key: rsa.RSAPrivateKey, alpha_key: rsa.RSAPrivateKey
) -> None:
    config = alpha_config(tmp_path, alpha_key)
    with TincdProcess(config, binary=tincd) as daemon:
        daemon.wait_for(r"\bReady\b")
        conn = make_conn(our_key, {"alpha": config.public_key}, outgoing=True, name="stranger")
        with connect(config.port) as sock:
            sock.sendall(conn.initiate())
            daemon.wait_for(r"Peer 127\.0\.0\.1 port \d+ had unknown identity \(stranger\)")
            # tincd "tarpits" the socket: it stays open and silent.
            sock.settimeout(0.5)
            with pytest.raises(TimeoutError):
                sock.recv(1)
        assert "activated" not in daemon.log()


def test_we_reject_an_unknown_tincd(
    tincd: str,
    tmp_path: Path,
    our_key: rsa.RSAPrivateKey,
    alpha_key: rsa.RSAPrivateKey,
    listener: socket.socket,
) -> None:
    our_port = listener.getsockname()[1]
    config = alpha_config(tmp_path, alpha_key, connect_to=[OUR_NAME])
    config.add_host(OUR_NAME, our_key.public_key(), [f"Address = 127.0.0.1 {our_port}"])
    with TincdProcess(config, binary=tincd) as daemon:
        sock, _ = listener.accept()
        with sock:
            conn = make_conn(our_key, {}, outgoing=False, port=our_port)
            peer = MetaSocket(sock, conn)
            with pytest.raises(MetaProtocolError, match=r"Peer had unknown identity \(alpha\)"):
                peer.authenticate()
        daemon.wait_for(r"Connection closed by tinca1 \(127\.0\.0\.1 port \d+\)")


def test_wrong_private_key_does_not_authenticate(
    tincd: str, tmp_path: Path, our_key: rsa.RSAPrivateKey, alpha_key: rsa.RSAPrivateKey
) -> None:
    """tincd has another public key for tinca1 than the private key we use.

    We cannot read tincd's stream then: our side fails on garbage, or waits for
    a newline that never comes. Either way nothing is activated, and tincd sees
    us go away.
    """
    config = alpha_config(tmp_path, alpha_key)
    config.add_host(OUR_NAME, generate_key().public_key())
    with TincdProcess(config, binary=tincd) as daemon:
        daemon.wait_for(r"\bReady\b")
        conn = make_conn(our_key, {"alpha": config.public_key}, outgoing=True)
        with connect(config.port) as sock:
            peer = MetaSocket(sock, conn)
            drive_until_stuck(peer, timeout=3.0)
            assert not conn.authenticated
        daemon.wait_for(r"Connection closed by tinca1 \(127\.0\.0\.1 port \d+\)")
        assert "activated" not in daemon.log()


def test_tincd_rejects_us_when_we_hold_a_wrong_key_for_it(
    tincd: str, tmp_path: Path, our_key: rsa.RSAPrivateKey, alpha_key: rsa.RSAPrivateKey
) -> None:
    """Our METAKEY is encrypted for a key that is not alpha's: tincd reads garbage.

    We read tincd's side fine and answer its challenge; tincd, whose view of
    our stream is noise, logs an error and drops us (or times out, if the noise
    holds no newline).
    """
    config = alpha_config(tmp_path, alpha_key, conf_lines=["PingTimeout = 2"])
    config.add_host(OUR_NAME, our_key.public_key())
    wrong = generate_key().public_key()
    with TincdProcess(config, binary=tincd) as daemon:
        daemon.wait_for(r"\bReady\b")
        conn = make_conn(our_key, {"alpha": wrong}, outgoing=True)
        with connect(config.port) as sock:
            peer = MetaSocket(sock, conn)
            drive_until_stuck(peer, timeout=1.0)
            daemon.wait_for(
                r"(Bogus data received from|Unknown request from|Unauthorized request from"
                r"|Error during decryption of meta key for|Timeout from"
                r"|Metadata read buffer overflow for|Possible intruder) tinca1",
                timeout=TIMEOUT,
            )
            assert not conn.authenticated
        assert "activated" not in daemon.log()
