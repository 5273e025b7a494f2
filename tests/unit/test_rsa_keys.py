"""tinc 1.0 RSA key files: ``tincd -K`` behaviour and the loaders."""

from __future__ import annotations

import math
import os
import re
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa

from tinca.core.errors import KeyFileError
from tinca.core.keys import KeygenRequest
from tinca.plugins.ciphers.legacy import rsa_keys as rk

PRIVATE_Q = "Please enter a file to save private RSA key to"
PUBLIC_Q = "Please enter a file to save public RSA key to"


@pytest.fixture
def umask_022() -> Iterator[None]:
    old = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(old)


@pytest.fixture(scope="module")
def key1024() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=1024)


class Recorder:
    """A KeygenRequest's I/O, recorded."""

    def __init__(self, answers: dict[str, str] | None = None) -> None:
        self.answers = answers or {}
        self.said: list[str] = []
        self.asked: list[tuple[str, str]] = []

    def ask(self, question: str, default: str) -> str:
        self.asked.append((question, default))
        return self.answers.get(question, "")

    def request(self, confbase: Path, name: str | None, bits: int | None = 1024) -> KeygenRequest:
        return KeygenRequest(confbase=confbase, name=name, bits=bits, ask=self.ask,
                             say=self.said.append)


def make_confbase(root: Path, name: str | None) -> Path:
    (root / "hosts").mkdir(parents=True)
    (root / "tinc.conf").write_text(f"Name = {name}\n" if name else "")
    return root


def same_key(private: rsa.RSAPrivateKey, public: rsa.RSAPublicKey) -> bool:
    return private.public_key().public_numbers() == public.public_numbers()


def shape(text: str) -> str:
    """A key file with its base64 lines reduced to their lengths, for structure checks."""
    return re.sub(r"^[A-Za-z0-9+/=]{8,}$", lambda m: f"<{len(m.group(0))}>", text, flags=re.M)


# ---------------------------------------------------------------------------
# Generation
# ---------------------------------------------------------------------------


def test_generate_default_2048(tmp_path: Path, umask_022: None) -> None:
    confbase = make_confbase(tmp_path, "alpha")
    io = Recorder()
    written = rk.generate_rsa_keys(io.request(confbase, "alpha", bits=None))

    private_file = confbase / "rsa_key.priv"
    host_file = confbase / "hosts" / "alpha"
    assert written == [private_file, host_file]
    assert io.said == ["Generating 2048 bits keys:", "Done."]
    assert io.asked == [(PRIVATE_Q, str(private_file)), (PUBLIC_Q, str(host_file))]

    private = rk.load_rsa_private_key(private_file)
    public = rk.load_rsa_public_key(host_file)
    assert private.key_size == 2048
    assert private.public_key().public_numbers().e == 65537
    assert same_key(private, public)
    # tincd runs with umask 077: both new files are 0600.
    assert stat.S_IMODE(private_file.stat().st_mode) == 0o600
    assert stat.S_IMODE(host_file.stat().st_mode) == 0o600


def test_file_layout_matches_tincd(tmp_path: Path) -> None:
    # tincd writes a newline, then the PEM block (OpenSSL's 64-character lines).
    confbase = make_confbase(tmp_path, "alpha")
    host_file = confbase / "hosts" / "alpha"
    host_file.write_text("Address = 127.0.0.1\nSubnet = 198.18.0.1/32\n")
    rk.generate_rsa_keys(Recorder().request(confbase, "alpha"))

    private_text = (confbase / "rsa_key.priv").read_text()
    assert private_text.startswith("\n-----BEGIN RSA PRIVATE KEY-----\n")
    assert private_text.endswith("\n-----END RSA PRIVATE KEY-----\n")
    assert all(len(line) <= 64 for line in private_text.splitlines())

    host_text = host_file.read_text()
    assert shape(host_text) == (
        "Address = 127.0.0.1\nSubnet = 198.18.0.1/32\n"
        "\n-----BEGIN RSA PUBLIC KEY-----\n<64>\n<64>\n<60>\n-----END RSA PUBLIC KEY-----\n"
    )


def test_generate_rounds_bits_down(tmp_path: Path) -> None:
    confbase = make_confbase(tmp_path, "alpha")
    io = Recorder()
    rk.generate_rsa_keys(io.request(confbase, "alpha", bits=1031))
    assert io.said[0] == "Generating 1024 bits keys:"
    assert rk.load_rsa_private_key(confbase / "rsa_key.priv").key_size == 1024


@pytest.mark.parametrize("bits", [512, 1016])
def test_generate_refuses_keys_cryptography_cannot_make(tmp_path: Path, bits: int) -> None:
    confbase = make_confbase(tmp_path, "alpha")
    with pytest.raises(KeyFileError, match="at least 1024"):
        rk.generate_rsa_keys(Recorder().request(confbase, "alpha", bits=bits))
    assert not (confbase / "rsa_key.priv").exists()


def test_generate_without_name_writes_pub_file(tmp_path: Path) -> None:
    confbase = make_confbase(tmp_path, None)
    io = Recorder()
    written = rk.generate_rsa_keys(io.request(confbase, None))
    assert written == [confbase / "rsa_key.priv", confbase / "rsa_key.pub"]
    assert io.asked[1] == (PUBLIC_Q, str(confbase / "rsa_key.pub"))
    assert same_key(rk.load_rsa_private_key(written[0]), rk.load_rsa_public_key(written[1]))


def test_generate_again_disables_old_keys(tmp_path: Path, umask_022: None) -> None:
    confbase = make_confbase(tmp_path, "alpha")
    host_file = confbase / "hosts" / "alpha"
    host_file.write_text("Subnet = 198.18.0.1/32\n")
    host_file.chmod(0o644)
    first = Recorder()
    rk.generate_rsa_keys(first.request(confbase, "alpha"))
    old_private = (confbase / "rsa_key.priv").read_text()
    old_public = host_file.read_text()
    assert stat.S_IMODE(host_file.stat().st_mode) == 0o644  # existing file: mode kept

    second = Recorder()
    rk.generate_rsa_keys(second.request(confbase, "alpha"))
    assert second.said == [
        "Generating 1024 bits keys:",
        "Done.",
        "Warning: old key(s) found and disabled.",
        "Warning: old key(s) found and disabled.",
    ]
    private_text = (confbase / "rsa_key.priv").read_text()
    host_text = host_file.read_text()
    # The old blocks stay, renamed to OLD; the new ones follow.
    assert private_text.startswith(old_private.replace(" RSA ", " OLD "))
    assert host_text.startswith(old_public.replace(" RSA ", " OLD "))
    assert private_text.count("-----BEGIN OLD PRIVATE KEY-----") == 1
    assert private_text.count("-----BEGIN RSA PRIVATE KEY-----") == 1
    assert host_text.count("-----END OLD PUBLIC KEY-----") == 1
    assert host_text.count("-----END RSA PUBLIC KEY-----") == 1

    private = rk.load_rsa_private_key(confbase / "rsa_key.priv")
    public = rk.load_rsa_public_key(host_file)
    assert same_key(private, public)
    old_key = rk.parse_public_key(old_public)
    assert private.public_key().public_numbers() != old_key.public_numbers()
    # Rewritten through a 0600 temporary file, as tincd does under its umask 077.
    assert stat.S_IMODE(host_file.stat().st_mode) == 0o600
    assert not list(confbase.rglob("*.tmp"))


def test_new_files_are_0600_whatever_the_umask(tmp_path: Path) -> None:
    # tincd sets its umask to 077 before creating the files, ignoring the caller's.
    confbase = make_confbase(tmp_path, "alpha")
    old = os.umask(0o277)
    try:
        written = rk.generate_rsa_keys(Recorder().request(confbase, "alpha"))
    finally:
        os.umask(old)
    assert [stat.S_IMODE(p.stat().st_mode) for p in written] == [0o600, 0o600]


def test_generate_chmods_existing_private_key(tmp_path: Path) -> None:
    confbase = make_confbase(tmp_path, "alpha")
    private_file = confbase / "rsa_key.priv"
    private_file.write_text("")
    private_file.chmod(0o644)
    rk.generate_rsa_keys(Recorder().request(confbase, "alpha"))
    assert stat.S_IMODE(private_file.stat().st_mode) == 0o600


def test_generate_uses_answers_relative_to_cwd(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    confbase = make_confbase(tmp_path / "conf", "alpha")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    io = Recorder(answers={PRIVATE_Q: "key.priv", PUBLIC_Q: str(tmp_path / "key.pub")})
    written = rk.generate_rsa_keys(io.request(confbase, "alpha"))
    assert written == [elsewhere / "key.priv", tmp_path / "key.pub"]
    assert same_key(rk.load_rsa_private_key(written[0]), rk.load_rsa_public_key(written[1]))
    assert not (confbase / "rsa_key.priv").exists()


def test_generate_without_hosts_dir_fails_naming_the_file(tmp_path: Path) -> None:
    with pytest.raises(KeyFileError, match=re.escape(str(tmp_path / "hosts" / "alpha"))):
        rk.generate_rsa_keys(Recorder().request(tmp_path, "alpha"))
    assert (tmp_path / "rsa_key.priv").exists()  # written before, as in tincd


@pytest.mark.parametrize(
    ("argument", "bits"),
    [(None, 2048), ("4096", 4096), ("1031", 1024), ("512", 512), ("2048xyz", 2048)],
)
def test_parse_bits(argument: str | None, bits: int) -> None:
    assert rk.parse_bits(argument) == bits


@pytest.mark.parametrize("argument", ["511", "abc", "", "-2048"])
def test_parse_bits_rejects(argument: str) -> None:
    with pytest.raises(ValueError, match="equal to or greater than 512"):
        rk.parse_bits(argument)


# ---------------------------------------------------------------------------
# Loading
# ---------------------------------------------------------------------------


def pkcs1_private(key: rsa.RSAPrivateKey) -> str:
    return rk.private_key_pem(key)


def test_private_key_pkcs8_accepted(tmp_path: Path, key1024: rsa.RSAPrivateKey) -> None:
    path = tmp_path / "rsa_key.priv"
    path.write_bytes(
        key1024.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    assert rk.load_rsa_private_key(path).private_numbers() == key1024.private_numbers()


@pytest.mark.parametrize(
    ("content", "words"),
    [
        ("Subnet = 198.18.0.1/32\n", "no RSA PRIVATE KEY block"),
        ("-----BEGIN RSA PRIVATE KEY-----\nAAAA\n-----END RSA PRIVATE KEY-----\n", "malformed"),
    ],
)
def test_private_key_errors_name_the_file(tmp_path: Path, content: str, words: str) -> None:
    path = tmp_path / "rsa_key.priv"
    path.write_text(content)
    with pytest.raises(KeyFileError, match=words) as info:
        rk.load_rsa_private_key(path)
    assert str(path) in str(info.value)


def test_private_key_missing_file(tmp_path: Path) -> None:
    with pytest.raises(KeyFileError, match="Error reading RSA private key file") as info:
        rk.load_rsa_private_key(tmp_path / "rsa_key.priv")
    assert str(tmp_path / "rsa_key.priv") in str(info.value)


def test_private_key_encrypted(tmp_path: Path, key1024: rsa.RSAPrivateKey) -> None:
    path = tmp_path / "rsa_key.priv"
    path.write_bytes(
        key1024.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.TraditionalOpenSSL,
            serialization.BestAvailableEncryption(b"secret"),
        )
    )
    with pytest.raises(KeyFileError, match="encrypted"):
        rk.load_rsa_private_key(path)


def test_private_key_not_rsa(tmp_path: Path) -> None:
    path = tmp_path / "rsa_key.priv"
    path.write_bytes(
        ed25519.Ed25519PrivateKey.generate().private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    with pytest.raises(KeyFileError, match="no RSA key"):
        rk.load_rsa_private_key(path)


def test_public_key_in_host_file_text(key1024: rsa.RSAPrivateKey) -> None:
    text = (
        "Address = 127.0.0.1\n# a comment\nSubnet = 198.18.0.1/32\n\n"
        + rk.public_key_pem(key1024.public_key())
        + "Port = 655\n"
    )
    assert same_key(key1024, rk.load_rsa_public_key(text))


def test_public_key_spki_fallback_and_pkcs1_preference(key1024: rsa.RSAPrivateKey) -> None:
    other = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    spki = other.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode()
    assert same_key(other, rk.load_rsa_public_key(spki))
    # An RSA PUBLIC KEY block wins even when it comes after a PUBLIC KEY block.
    both = spki + "\n" + rk.public_key_pem(key1024.public_key())
    assert same_key(key1024, rk.load_rsa_public_key(both))


def test_public_key_skips_disabled_blocks(key1024: rsa.RSAPrivateKey) -> None:
    other = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    old = rk.public_key_pem(other.public_key()).replace(" RSA ", " OLD ")
    text = "Subnet = 198.18.0.1/32\n\n" + old + "\n" + rk.public_key_pem(key1024.public_key())
    assert same_key(key1024, rk.load_rsa_public_key(text))


@pytest.mark.parametrize(
    ("content", "words"),
    [
        ("Subnet = 198.18.0.1/32\n", "no RSA public key"),
        ("-----BEGIN RSA PUBLIC KEY-----\nAAAA\n-----END RSA PUBLIC KEY-----\n", "malformed"),
    ],
)
def test_public_key_errors_name_the_file(tmp_path: Path, content: str, words: str) -> None:
    path = tmp_path / "alpha"
    path.write_text(content)
    with pytest.raises(KeyFileError, match=words) as info:
        rk.load_rsa_public_key(path)
    assert str(path) in str(info.value)
    with pytest.raises(KeyFileError, match="hosts/alpha"):
        rk.load_rsa_public_key(content, source="hosts/alpha")


def test_public_key_not_rsa() -> None:
    spki = ed25519.Ed25519PrivateKey.generate().public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode()
    with pytest.raises(KeyFileError, match="no RSA key"):
        rk.load_rsa_public_key(spki)


def test_public_key_missing_file(tmp_path: Path) -> None:
    with pytest.raises(KeyFileError, match="Error reading RSA public key file"):
        rk.load_rsa_public_key(tmp_path / "hosts" / "nobody")
    with pytest.raises(KeyFileError, match="nobody"):
        rk.load_rsa_public_key(str(tmp_path / "hosts" / "nobody"))


def test_hex_keys_use_exponent_ffff() -> None:
    # tincd's obsolete PublicKey/PrivateKey variables imply e = 0xFFFF.
    while True:
        key = rsa.generate_private_key(public_exponent=65537, key_size=1024)
        numbers = key.private_numbers()
        p, q = numbers.p, numbers.q
        if math.gcd(0xFFFF, (p - 1) * (q - 1)) == 1:
            break
    n = p * q
    d = pow(0xFFFF, -1, (p - 1) * (q - 1))
    public = rk.rsa_public_key_from_hex(f"{n:X}")
    assert public.public_numbers() == rsa.RSAPublicNumbers(0xFFFF, n)
    private = rk.rsa_private_key_from_hex(f"{n:X}", f"{d:x}")
    assert {private.private_numbers().p, private.private_numbers().q} == {p, q}
    assert same_key(private, public)
    with pytest.raises(KeyFileError, match="PublicKey"):
        rk.rsa_public_key_from_hex("12G4")
    with pytest.raises(KeyFileError, match="PrivateKey"):
        rk.rsa_private_key_from_hex(f"{n:X}", "")


def test_permission_warning(tmp_path: Path, key1024: rsa.RSAPrivateKey) -> None:
    path = tmp_path / "rsa_key.priv"
    path.write_text(pkcs1_private(key1024))
    path.chmod(0o600)
    assert rk.private_key_permission_warning(path) is None
    path.chmod(0o604)
    warning = rk.private_key_permission_warning(path)
    assert warning is not None and str(path) in warning
