"""tinc 1.1 Ed25519 keys: byte-exact files, generation and signatures against real tinc captures."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric import ed25519
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.vectors import load_vector
from tinca.core.errors import KeyFileError
from tinca.core.keys import KeygenRequest
from tinca.plugins.ciphers.sptps import ed25519_keys as ek
from tinca.plugins.ciphers.sptps import tinc_base64


@pytest.fixture(scope="module")
def keys() -> dict:
    return load_vector("keys.json")["keys"]


KEY_NAMES = ["sptps_initiator", "sptps_responder", "alpha", "beta"]
TINC_MADE = ["alpha", "beta"]  # made by `tinc generate-ed25519-keys`, with a hosts file


@pytest.fixture
def umask_022() -> Iterator[None]:
    old = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(old)


class Recorder:
    """A KeygenRequest's I/O, recorded: what was said and asked, what was drawn."""

    def __init__(self, seed: bytes = bytes(range(32)), answers: dict[str, str] | None = None):
        self.seed = seed
        self.answers = answers or {}
        self.said: list[str] = []
        self.asked: list[tuple[str, str]] = []
        self.draws: list[int] = []

    def ask(self, question: str, default: str) -> str:
        self.asked.append((question, default))
        return self.answers.get(question, "")

    def random(self, n: int) -> bytes:
        self.draws.append(n)
        return self.seed[:n]

    def request(self, confbase: Path, name: str | None) -> KeygenRequest:
        return KeygenRequest(
            confbase=confbase,
            name=name,
            ask=self.ask,
            say=self.said.append,
            random=self.random,
        )


def make_confbase(root: Path, name: str | None) -> Path:
    """A fresh config directory like the vector driver's: tinc.conf and hosts/."""
    (root / "hosts").mkdir(parents=True)
    (root / "tinc.conf").write_text(f"Name = {name}\n" if name else "")
    return root


# ---------------------------------------------------------------------------
# Formats, from the recorded seeds
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("name", KEY_NAMES)
def test_key_from_recorded_seed_is_byte_identical(keys: dict, name: str) -> None:
    vector = keys[name]
    key = ek.key_from_seed(bytes.fromhex(vector["ed25519_seed_hex"]))
    assert key.raw.hex() == vector["private_key_raw_hex"]
    assert key.public.hex() == vector["public_key_hex"]
    assert ek.private_key_pem(key) == vector["private_key_file"]
    assert key.public_b64 == vector["public_key_b64_tinc"]
    assert ek.public_key_line(key.public) == vector["ed25519_public_key_line"]
    if "hosts_file_line" in vector:
        assert ek.public_key_line(key.public) == vector["hosts_file_line"]
    if "public_key_file" in vector:
        assert ek.public_key_pem(key.public) == vector["public_key_file"]


@pytest.mark.parametrize("name", KEY_NAMES)
def test_loading_recorded_files_gives_recorded_bytes(keys: dict, name: str, tmp_path: Path) -> None:
    vector = keys[name]
    private_file = tmp_path / "ed25519_key.priv"
    private_file.write_text(vector["private_key_file"])
    key = ek.load_ed25519_private_key(private_file)
    assert key.raw.hex() == vector["private_key_raw_hex"]
    assert key.scalar + key.prefix + key.public == key.raw

    public = bytes.fromhex(vector["public_key_hex"])
    host_file = tmp_path / "host"
    host_file.write_text(vector["ed25519_public_key_line"] + "\n")
    assert ek.load_ed25519_public_key(host_file) == public
    if "public_key_file" in vector:
        assert ek.load_ed25519_public_key(vector["public_key_file"]) == public
    if "hosts_file_after_generate" in vector:
        assert ek.load_ed25519_public_key(vector["hosts_file_after_generate"]) == public


@pytest.mark.parametrize("name", KEY_NAMES)
def test_expanded_layout_is_clamped_sha512_and_public(keys: dict, name: str) -> None:
    key = ek.parse_private_key(keys[name]["private_key_file"])
    assert key.scalar[0] & 7 == 0
    assert key.scalar[31] & 0xC0 == 0x40
    assert ek.public_key_of(key.raw) == key.public


def test_daemon_config_files_load() -> None:
    # The files the two tincd 1.1 daemons ran with in meta.json.
    meta = load_vector("meta.json")
    for node in ("alpha", "beta"):
        files = meta["nodes"][node]["config_files"]
        key = ek.parse_private_key(files["ed25519_key.priv"], f"{node}/ed25519_key.priv")
        assert key.raw.hex() == meta["nodes"][node]["private_key_raw_hex"]
        assert key.public.hex() == meta["nodes"][node]["public_key_hex"]
        for peer in ("alpha", "beta"):
            public = ek.load_ed25519_public_key(files[f"hosts/{peer}"], source=f"hosts/{peer}")
            assert public.hex() == meta["nodes"][peer]["public_key_hex"]


# ---------------------------------------------------------------------------
# Generation, driven like `tinc -c DIR generate-ed25519-keys`
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("name", TINC_MADE)
def test_generate_reproduces_tinc(keys: dict, name: str, tmp_path: Path, umask_022: None) -> None:
    vector = keys[name]
    confbase = make_confbase(tmp_path / name, name)
    io = Recorder(seed=bytes.fromhex(vector["ed25519_seed_hex"]))

    written = ek.generate_ed25519_keys(io.request(confbase, name))

    private_file = confbase / "ed25519_key.priv"
    host_file = confbase / "hosts" / name
    assert written == [private_file, host_file]
    assert private_file.read_text() == vector["private_key_file"]
    assert host_file.read_text() == vector["hosts_file_after_generate"]
    assert stat.S_IMODE(private_file.stat().st_mode) == 0o600
    assert stat.S_IMODE(host_file.stat().st_mode) == 0o644  # 0666 minus the umask
    assert io.draws == [32]
    assert io.said == ["Generating Ed25519 key pair:", "Done."]
    assert io.asked == [
        ("Please enter a file to save private Ed25519 key to", str(private_file)),
        ("Please enter a file to save public Ed25519 key to", str(host_file)),
    ]


def test_generate_without_name_writes_pub_file(tmp_path: Path, umask_022: None) -> None:
    confbase = make_confbase(tmp_path, None)
    io = Recorder()
    written = ek.generate_ed25519_keys(io.request(confbase, None))
    assert written == [confbase / "ed25519_key.priv", confbase / "ed25519_key.pub"]
    key = ek.load_ed25519_private_key(written[0])
    assert written[1].read_text() == ek.public_key_line(key.public) + "\n"
    assert ek.load_ed25519_public_key(written[1]) == key.public


def test_generate_again_comments_old_keys_out(tmp_path: Path, umask_022: None) -> None:
    confbase = make_confbase(tmp_path, "alpha")
    host_file = confbase / "hosts" / "alpha"
    rsa_block = "-----BEGIN RSA PUBLIC KEY-----\nMAo=\n-----END RSA PUBLIC KEY-----\n"
    host_file.write_text("Subnet = 198.18.0.1/32\n" + rsa_block)
    host_file.chmod(0o600)

    first = Recorder(seed=b"\x01" * 32)
    ek.generate_ed25519_keys(first.request(confbase, "alpha"))
    second = Recorder(seed=b"\x02" * 32)
    ek.generate_ed25519_keys(second.request(confbase, "alpha"))

    old = ek.key_from_seed(b"\x01" * 32)
    new = ek.key_from_seed(b"\x02" * 32)
    commented = "".join("#" + line for line in ek.private_key_pem(old).splitlines(keepends=True))
    private_file = confbase / "ed25519_key.priv"
    assert private_file.read_text() == commented + ek.private_key_pem(new)
    assert host_file.read_text() == (
        "Subnet = 198.18.0.1/32\n"
        + rsa_block  # other keys are left alone
        + "#"
        + ek.public_key_line(old.public)
        + "\n"
        + ek.public_key_line(new.public)
        + "\n"
    )
    assert ek.load_ed25519_private_key(private_file).raw == new.raw
    assert ek.load_ed25519_public_key(host_file) == new.public
    assert second.said == [
        "Generating Ed25519 key pair:",
        "Done.",
        "Warning: old key(s) found and disabled.",
        "Warning: old key(s) found and disabled.",
    ]
    assert first.said == ["Generating Ed25519 key pair:", "Done."]
    # tinc re-applies 0666 minus the umask to the host file, and 0600 to the private key.
    assert stat.S_IMODE(host_file.stat().st_mode) == 0o644
    assert stat.S_IMODE(private_file.stat().st_mode) == 0o600
    assert not list(confbase.rglob("*.tmp"))


def test_generate_fixes_private_key_mode(tmp_path: Path, umask_022: None) -> None:
    confbase = make_confbase(tmp_path, "alpha")
    private_file = confbase / "ed25519_key.priv"
    private_file.write_text("")
    private_file.chmod(0o644)
    ek.generate_ed25519_keys(Recorder().request(confbase, "alpha"))
    assert stat.S_IMODE(private_file.stat().st_mode) == 0o600


def test_generate_uses_answers_relative_to_cwd(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, umask_022: None
) -> None:
    confbase = make_confbase(tmp_path / "conf", "alpha")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    io = Recorder(
        answers={
            "Please enter a file to save private Ed25519 key to": "my.priv",
            "Please enter a file to save public Ed25519 key to": str(tmp_path / "my.pub"),
        }
    )
    written = ek.generate_ed25519_keys(io.request(confbase, "alpha"))
    assert written == [elsewhere / "my.priv", tmp_path / "my.pub"]
    assert not (confbase / "ed25519_key.priv").exists()
    assert not (confbase / "hosts" / "alpha").exists()
    key = ek.load_ed25519_private_key(elsewhere / "my.priv")
    assert ek.load_ed25519_public_key(tmp_path / "my.pub") == key.public


def test_generate_without_hosts_dir_fails_naming_the_file(tmp_path: Path) -> None:
    (tmp_path / "tinc.conf").write_text("Name = alpha\n")
    with pytest.raises(KeyFileError, match=str(tmp_path / "hosts" / "alpha")):
        ek.generate_ed25519_keys(Recorder().request(tmp_path, "alpha"))
    # Like tinc, the private key was already written by then.
    assert (tmp_path / "ed25519_key.priv").exists()


def test_generate_rejects_short_random(tmp_path: Path) -> None:
    io = Recorder(seed=b"\x00" * 8)
    with pytest.raises(ValueError, match="8 bytes"):
        ek.generate_ed25519_keys(io.request(make_confbase(tmp_path, "alpha"), "alpha"))


# ---------------------------------------------------------------------------
# Loading errors
# ---------------------------------------------------------------------------


@pytest.fixture
def alpha_pem(keys: dict) -> str:
    return keys["alpha"]["private_key_file"]


def test_private_key_missing_file(tmp_path: Path) -> None:
    with pytest.raises(KeyFileError, match="nothere"):
        ek.load_ed25519_private_key(tmp_path / "nothere")


@pytest.mark.parametrize(
    ("mangle", "words"),
    [
        (lambda t: t.replace("ED25519 PRIVATE", "ED25519 PUBLIC"), "no ED25519 PRIVATE KEY block"),
        (lambda t: "\n".join(t.splitlines()[:2] + t.splitlines()[3:]) + "\n", "too little"),
        (lambda t: t.replace("\n-----END", "\nAAAA\n-----END"), "too much"),
        (lambda t: t.replace("4OUy", "4O*y"), "bad base64"),
        (lambda t: t.replace("-----\n4OUy", "-----\n\n4OUy"), "empty line"),
        (lambda t: t.replace("PlXnMCZ", "PlXnMCa"), "does not match"),
    ],
)
def test_private_key_errors_name_the_file(alpha_pem: str, tmp_path: Path, mangle, words) -> None:
    path = tmp_path / "ed25519_key.priv"
    path.write_text(mangle(alpha_pem))
    with pytest.raises(KeyFileError, match=words) as info:
        ek.load_ed25519_private_key(path)
    assert str(path) in str(info.value)


def test_private_key_block_found_after_other_text(alpha_pem: str, keys: dict) -> None:
    text = "#-----BEGIN ED25519 PRIVATE KEY-----\n#junk\n#-----END ED25519 PRIVATE KEY-----\n"
    assert ek.parse_private_key(text + alpha_pem).raw.hex() == keys["alpha"]["private_key_raw_hex"]


def test_public_key_line_syntax_variants(keys: dict) -> None:
    b64 = keys["beta"]["public_key_b64_tinc"]
    public = bytes.fromhex(keys["beta"]["public_key_hex"])
    for text in (
        f"ed25519publickey={b64}\n",
        f"Ed25519PublicKey\t{b64}\n",
        f"Subnet = 198.18.0.2/32\n  Ed25519PublicKey =  {b64}  \n",
        f"#Ed25519PublicKey = {'A' * 43}\nEd25519PublicKey = {b64}\n",
    ):
        assert ek.load_ed25519_public_key(text) == public, text


def test_public_key_line_wins_over_pem_and_first_line_counts(keys: dict) -> None:
    alpha = keys["alpha"]
    beta = keys["beta"]
    text = (
        ek.public_key_pem(bytes.fromhex(beta["public_key_hex"]))
        + alpha["ed25519_public_key_line"]
        + "\n"
        + beta["ed25519_public_key_line"]
        + "\n"
    )
    assert ek.load_ed25519_public_key(text).hex() == alpha["public_key_hex"]


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("Subnet = 198.18.0.1/32\n", "no Ed25519 public key"),
        ("Ed25519PublicKey = AAAA\n", "43 characters"),
        ("Ed25519PublicKey = " + "*" * 43 + "\n", "invalid character"),
    ],
)
def test_public_key_errors(text: str, words: str, tmp_path: Path) -> None:
    path = tmp_path / "hosts_alpha"
    path.write_text(text)
    with pytest.raises(KeyFileError, match=words) as info:
        ek.load_ed25519_public_key(path)
    assert str(path) in str(info.value)


def test_permission_warning(tmp_path: Path, alpha_pem: str) -> None:
    path = tmp_path / "ed25519_key.priv"
    path.write_text(alpha_pem)
    path.chmod(0o600)
    assert ek.private_key_permission_warning(path) is None
    path.chmod(0o640)
    assert "insecure file permissions" in ek.private_key_permission_warning(path)


def test_repr_hides_secret(keys: dict) -> None:
    key = ek.parse_private_key(keys["alpha"]["private_key_file"])
    assert keys["alpha"]["private_key_raw_hex"][:16] not in repr(key)
    assert keys["alpha"]["public_key_b64_tinc"] in repr(key)


# ---------------------------------------------------------------------------
# Signatures
# ---------------------------------------------------------------------------


def handshake_signatures(records: dict, initiator_dir: str, responder_dir: str, label: bytes):
    """``(signer is initiator, signed bytes, recorded signature)`` for every SIG record.

    In each direction the n-th SIG belongs to the n-th KEX exchange.
    """

    def handshake(direction: str, kind: str) -> list[bytes]:
        return [
            bytes.fromhex(r["data_hex"])
            for r in records[direction]
            if r.get("handshake") == kind
        ]

    kex = {d: handshake(d, "KEX") for d in (initiator_dir, responder_dir)}
    sigs = {d: handshake(d, "SIG") for d in (initiator_dir, responder_dir)}
    assert sigs[initiator_dir] and len(sigs[initiator_dir]) == len(sigs[responder_dir])
    for n in range(len(sigs[initiator_dir])):
        mine, theirs = kex[initiator_dir][n], kex[responder_dir][n]
        assert len(mine) == len(theirs) == 65
        yield True, b"\x01" + mine + theirs + label, sigs[initiator_dir][n]
        yield False, b"\x00" + theirs + mine + label, sigs[responder_dir][n]


@pytest.mark.parametrize("vector", ["stream.json", "datagram.json"])
def test_sign_reproduces_sptps_test_signatures(vector: str) -> None:
    data = load_vector(vector)
    label = bytes.fromhex(data["label"]["hex"])
    sides = data["sides"]
    count = 0
    for by_initiator, message, recorded in handshake_signatures(
        data["derived"]["records"], "i2r", "r2i", label
    ):
        side = sides["initiator" if by_initiator else "responder"]
        expanded = bytes.fromhex(side["key"]["private_key_raw_hex"])
        assert ek.sign(expanded, message) == recorded
        public = bytes.fromhex(side["key"]["public_key_hex"])
        ed25519.Ed25519PublicKey.from_public_bytes(public).verify(recorded, message)
        assert ek.verify(public, message, recorded)
        assert not ek.verify(public, message + b"!", recorded)
        count += 1
    assert count == 6  # the first handshake and two re-KEXes, both directions


def test_sign_reproduces_tincd_meta_signatures() -> None:
    meta = load_vector("meta.json")
    label = bytes.fromhex(meta["meta_label"]["hex"])
    nodes = meta["nodes"]
    records = meta["derived"]["meta_session"]["records"]
    count = 0
    for by_initiator, message, recorded in handshake_signatures(
        records, "alpha2beta", "beta2alpha", label
    ):
        node = nodes["alpha" if by_initiator else "beta"]  # alpha made the connection
        key = ek.parse_private_key(node["config_files"]["ed25519_key.priv"])
        assert key.sign(message) == recorded
        assert ek.verify(key.public, message, recorded)
        count += 1
    assert count >= 2


@settings(max_examples=50)
@given(seed=st.binary(min_size=32, max_size=32), message=st.binary(max_size=200))
def test_expanded_signing_equals_seed_signing(seed: bytes, message: bytes) -> None:
    expanded = ek.key_from_seed(seed)
    reference = ed25519.Ed25519PrivateKey.from_private_bytes(seed).sign(message)
    assert ek.sign(expanded.raw, message) == reference
    assert ek.public_key_of(expanded.raw) == expanded.public


def test_sign_rejects_wrong_key_size() -> None:
    with pytest.raises(ValueError, match="96 bytes"):
        ek.sign(b"\x00" * 64, b"message")


def test_verify_rejects_garbage() -> None:
    assert not ek.verify(b"\x00" * 31, b"m", b"\x00" * 64)
    key = ek.key_from_seed(bytes(32))
    assert not ek.verify(key.public, b"m", b"\x00" * 64)


def test_public_key_line_round_trip() -> None:
    key = ek.key_from_seed(bytes(range(32)))
    line = ek.public_key_line(key.public)
    assert line.startswith("Ed25519PublicKey = ")
    assert tinc_base64.decode(line.split(" = ")[1]) == key.public
