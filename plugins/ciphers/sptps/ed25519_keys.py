"""tinc 1.1's Ed25519 keys: file formats, generation and expanded-key signing.

tinc does not store the 32-byte RFC 8032 seed. Its private key file holds 96
bytes: SHA-512(seed) with the first half clamped (the secret scalar, then the
nonce prefix), followed by the public key. The body of its PEM-like files is
tinc's own base64 (see :mod:`.tinc_base64`), 48 bytes per line, each line
decoded on its own. A host file names the public key on one line,
``Ed25519PublicKey = <43 characters>``, or carries an ``ED25519 PUBLIC KEY``
block.

``cryptography`` can only build a signing key from a seed, so signing with a
key file uses libsodium's low-level scalar and point operations (through
PyNaCl) to run RFC 8032 with the stored scalar and prefix. Verification is
plain Ed25519 and uses ``cryptography``.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric import ed25519
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from nacl import bindings as sodium

from tinca.core.errors import KeyFileError
from tinca.core.keys import KeygenRequest, insecure_key_warning, key_text, read_key_file
from tinca.plugins.ciphers.sptps import tinc_base64

PRIVATE_KEY_PEM_TYPE = "ED25519 PRIVATE KEY"
PUBLIC_KEY_PEM_TYPE = "ED25519 PUBLIC KEY"
PUBLIC_KEY_VARIABLE = "Ed25519PublicKey"
PRIVATE_KEY_FILE = "ed25519_key.priv"
PUBLIC_KEY_FILE = "ed25519_key.pub"  # used instead of hosts/NAME when Name is unknown

SEED_SIZE = 32
PUBLIC_KEY_SIZE = 32
PRIVATE_KEY_SIZE = 96
SIGNATURE_SIZE = 64
PEM_BYTES_PER_LINE = 48


# ---------------------------------------------------------------------------
# Keys and signatures
# ---------------------------------------------------------------------------


@dataclass(frozen=True, repr=False)
class ExpandedEd25519Key:
    """A private key as tinc stores it: scalar (32) || prefix (32) || public key (32)."""

    raw: bytes

    def __post_init__(self) -> None:
        if len(self.raw) != PRIVATE_KEY_SIZE:
            raise ValueError(
                f"an expanded Ed25519 key has {PRIVATE_KEY_SIZE} bytes, not {len(self.raw)}"
            )

    def __repr__(self) -> str:
        # Never print secret bytes (logs, tracebacks); the public half identifies the key.
        return f"ExpandedEd25519Key(public={self.public_b64})"

    @property
    def scalar(self) -> bytes:
        """The clamped secret scalar (little-endian, not reduced modulo the group order)."""
        return self.raw[:32]

    @property
    def prefix(self) -> bytes:
        """The second half of SHA-512(seed), which makes signature nonces."""
        return self.raw[32:64]

    @property
    def public(self) -> bytes:
        """The 32-byte public key."""
        return self.raw[64:]

    @property
    def public_b64(self) -> str:
        """The public key in tinc's base64 (43 characters)."""
        return tinc_base64.encode(self.public)

    def sign(self, message: bytes) -> bytes:
        """Sign ``message``; the same 64 bytes tinc's ``ecdsa_sign`` gives."""
        return sign(self.raw, message)


def key_from_seed(seed: bytes) -> ExpandedEd25519Key:
    """Expand a 32-byte RFC 8032 seed the way tinc's key generator does."""
    if len(seed) != SEED_SIZE:
        raise ValueError(f"an Ed25519 seed has {SEED_SIZE} bytes, not {len(seed)}")
    digest = bytearray(hashlib.sha512(seed).digest())
    # RFC 8032 clamping: clear the cofactor bits, clear bit 255, set bit 254.
    digest[0] &= 248
    digest[31] &= 127
    digest[31] |= 64
    public = (
        ed25519.Ed25519PrivateKey.from_private_bytes(seed)
        .public_key()
        .public_bytes(Encoding.Raw, PublicFormat.Raw)
    )
    return ExpandedEd25519Key(bytes(digest) + public)


def _reduce(scalar: bytes) -> bytes:
    """``scalar`` modulo the group order L (libsodium reduces 64-byte inputs)."""
    return sodium.crypto_core_ed25519_scalar_reduce(scalar.ljust(64, b"\0"))


def public_key_of(expanded_private: bytes) -> bytes:
    """The public key the scalar of an expanded key implies (scalar times the base point)."""
    return sodium.crypto_scalarmult_ed25519_base_noclamp(_reduce(expanded_private[:32]))


def sign(expanded_private: bytes, message: bytes) -> bytes:
    """RFC 8032 Ed25519 signature made with tinc's 96-byte expanded private key.

    ``expanded_private`` is scalar || prefix || public key. The result is
    R || S, 64 bytes, and verifies with any Ed25519 implementation.
    """
    if len(expanded_private) != PRIVATE_KEY_SIZE:
        raise ValueError(
            f"an expanded Ed25519 key has {PRIVATE_KEY_SIZE} bytes, not {len(expanded_private)}"
        )
    scalar = _reduce(expanded_private[:32])
    prefix = expanded_private[32:64]
    public = expanded_private[64:]
    r = sodium.crypto_core_ed25519_scalar_reduce(hashlib.sha512(prefix + message).digest())
    big_r = sodium.crypto_scalarmult_ed25519_base_noclamp(r)
    k = sodium.crypto_core_ed25519_scalar_reduce(
        hashlib.sha512(big_r + public + message).digest()
    )
    s = sodium.crypto_core_ed25519_scalar_add(r, sodium.crypto_core_ed25519_scalar_mul(k, scalar))
    return big_r + s


def verify(public: bytes, message: bytes, signature: bytes) -> bool:
    """Whether ``signature`` is a valid Ed25519 signature of ``message`` by ``public``."""
    try:
        ed25519.Ed25519PublicKey.from_public_bytes(public).verify(signature, message)
    except (InvalidSignature, ValueError):
        return False
    return True


# ---------------------------------------------------------------------------
# Text formats
# ---------------------------------------------------------------------------


def public_key_line(public: bytes) -> str:
    """The host file line for a public key, without a newline."""
    return f"{PUBLIC_KEY_VARIABLE} = {tinc_base64.encode(public)}"


def parse_public_key_b64(value: str, source: str = "<text>") -> bytes:
    """Decode an ``Ed25519PublicKey`` value; tinc insists on exactly 43 characters."""
    if len(value) != tinc_base64.encoded_length(PUBLIC_KEY_SIZE):
        raise KeyFileError(
            f"{source}: invalid Ed25519 public key {value!r}: expected 43 characters of "
            f"tinc base64, got {len(value)}"
        )
    try:
        return tinc_base64.decode(value)
    except ValueError as exc:
        raise KeyFileError(f"{source}: invalid Ed25519 public key: {exc}") from None


def _pem(pem_type: str, data: bytes) -> str:
    lines = [f"-----BEGIN {pem_type}-----"]
    for start in range(0, len(data), PEM_BYTES_PER_LINE):
        lines.append(tinc_base64.encode(data[start : start + PEM_BYTES_PER_LINE]))
    lines.append(f"-----END {pem_type}-----")
    return "\n".join(lines) + "\n"


def private_key_pem(key: ExpandedEd25519Key) -> str:
    """The text of an ``ed25519_key.priv`` file, byte for byte as tinc writes it."""
    return _pem(PRIVATE_KEY_PEM_TYPE, key.raw)


def public_key_pem(public: bytes) -> str:
    """An ``ED25519 PUBLIC KEY`` block as tinc's ``sptps_keypair`` writes it."""
    return _pem(PUBLIC_KEY_PEM_TYPE, public)


def parse_pem(text: str, pem_type: str, size: int, source: str = "<text>") -> bytes | None:
    """Read the first ``pem_type`` block of ``text`` the way tinc does.

    Returns ``None`` when there is no such block. tinc matches the BEGIN line by
    prefix, decodes each body line separately with its own base64 and needs
    exactly ``size`` bytes in all; anything else raises :class:`KeyFileError`.
    """
    begin = f"-----BEGIN {pem_type}"
    data = bytearray()
    inside = False
    for line in text.splitlines():
        if not inside:
            inside = line.startswith(begin)
            continue
        if line.startswith("-----END "):
            break
        try:
            chunk = tinc_base64.decode(line.rstrip("\r"))
        except ValueError as exc:
            raise KeyFileError(f"{source}: bad base64 in the {pem_type} block: {exc}") from None
        if not chunk:
            raise KeyFileError(f"{source}: empty line inside the {pem_type} block")
        data += chunk
        if len(data) > size:
            raise KeyFileError(f"{source}: too much data in {pem_type} block (want {size} bytes)")
    if not inside:
        return None
    if len(data) < size:
        raise KeyFileError(
            f"{source}: too little data in {pem_type} block ({len(data)} of {size} bytes)"
        )
    return bytes(data)


def parse_private_key(text: str, source: str = "<text>") -> ExpandedEd25519Key:
    """Parse the text of an ``ed25519_key.priv`` file; check the public half matches."""
    raw = parse_pem(text, PRIVATE_KEY_PEM_TYPE, PRIVATE_KEY_SIZE, source)
    if raw is None:
        raise KeyFileError(f"{source}: no {PRIVATE_KEY_PEM_TYPE} block found")
    # tinc trusts the stored public half; a mismatch would only show up later as
    # signatures every peer rejects, so say so now.
    if public_key_of(raw) != raw[64:]:
        raise KeyFileError(
            f"{source}: the public key stored in the Ed25519 private key does not match its "
            "secret scalar; the file is corrupt"
        )
    return ExpandedEd25519Key(raw)


def _host_variables(text: str) -> Iterator[tuple[str, str]]:
    """Yield ``(name, value)`` of the ``Key = Value`` lines of a tinc config text.

    Mirrors tinc's line syntax: ``#`` comments, PEM blocks skipped, the name ends
    at a space, tab or ``=``, one optional ``=`` between blanks.
    """
    in_pem = False
    for line in text.splitlines():
        if in_pem:
            in_pem = not line.startswith("-----END")
            continue
        if line.startswith("-----BEGIN"):
            in_pem = True
            continue
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        end = next((i for i, c in enumerate(line) if c in " \t="), len(line))
        rest = line[end:].lstrip(" \t")
        if rest.startswith("="):
            rest = rest[1:].lstrip(" \t")
        yield line[:end], rest


def parse_public_key(text: str, source: str = "<text>") -> bytes:
    """The Ed25519 public key in a host file's text, as tinc 1.1 looks for it.

    First an ``Ed25519PublicKey`` line (the first one counts, case-insensitive
    name), else the first ``ED25519 PUBLIC KEY`` block.
    """
    for name, value in _host_variables(text):
        if name.lower() == PUBLIC_KEY_VARIABLE.lower():
            return parse_public_key_b64(value, source)
    raw = parse_pem(text, PUBLIC_KEY_PEM_TYPE, PUBLIC_KEY_SIZE, source)
    if raw is None:
        raise KeyFileError(
            f"{source}: no Ed25519 public key ({PUBLIC_KEY_VARIABLE} line or "
            f"{PUBLIC_KEY_PEM_TYPE} block) found"
        )
    return raw


# ---------------------------------------------------------------------------
# Files
# ---------------------------------------------------------------------------


def load_ed25519_private_key(path: str | os.PathLike[str]) -> ExpandedEd25519Key:
    """Load ``ed25519_key.priv`` (or ``Ed25519PrivateKeyFile``)."""
    path = Path(path)
    return parse_private_key(read_key_file(path, "Ed25519 private key"), str(path))


def load_ed25519_public_key(
    text_or_path: str | os.PathLike[str], *, source: str | None = None
) -> bytes:
    """The 32-byte public key from a host file, given as a path or as its text.

    A :class:`~pathlib.Path` (or other path-like object) is read from disk; a
    ``str`` is taken as file text when it holds a newline or a PEM line, else as
    a path. ``source`` names the text in error messages.
    """
    return parse_public_key(*key_text(text_or_path, source, "Ed25519 public key"))


def private_key_permission_warning(path: str | os.PathLike[str]) -> str | None:
    """tinc's warning when a private key file is open to group or others, else ``None``."""
    return insecure_key_warning(path, "Ed25519 private key")


# ---------------------------------------------------------------------------
# Generation (tinc -n NET generate-ed25519-keys)
# ---------------------------------------------------------------------------


def _ask_path(request: KeygenRequest, what: str, default: Path) -> Path:
    """Ask where to save ``what``; tinc resolves relative answers against the cwd."""
    answer = request.ask(f"Please enter a file to save {what} to", str(default)) or str(default)
    path = Path(answer)
    return path if path.is_absolute() else Path.cwd() / path


def _current_umask() -> int:
    # POSIX has no way to read the umask without setting it; the key commands
    # are single-threaded, so setting it back at once is safe.
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _disable_old_keys(path: Path, say: Callable[[str], None]) -> None:
    """Comment out old Ed25519 keys in ``path`` as tinc 1.1 does before appending.

    Every line of an ``ED25519`` PEM block and every ``Ed25519PublicKey`` line
    gets a ``#`` in front. The file is rewritten through ``PATH.tmp`` (with the
    file's own permissions) and renamed over the original.
    """
    try:
        with path.open("rb") as f:
            lines = f.read().splitlines(keepends=True)
            mode = os.fstat(f.fileno()).st_mode & 0o7777
    except OSError:
        return  # nothing there yet (or unreadable: opening for append will say so)

    found = False
    in_block = False
    out = bytearray()
    for line in lines:
        if not in_block and line.startswith(b"-----BEGIN ") and b" ED25519 " in line:
            in_block = found = True
        # tinc's test: the name, then a blank, '=' or the end of the text.
        is_key_line = line[:16].lower() == PUBLIC_KEY_VARIABLE.lower().encode() and (
            len(line) == 16 or line[16:17] in (b" ", b"\t", b"=")
        )
        found = found or is_key_line
        if in_block or is_key_line:
            out += b"#"
        out += line
        if in_block and line.startswith(b"-----END "):
            in_block = False
    if not found:
        return

    tmp = path.with_name(path.name + ".tmp")
    try:
        perms = mode & ~_current_umask()
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, perms)
        with os.fdopen(fd, "wb") as f:
            if perms & 0o444:
                os.fchmod(f.fileno(), perms)
            f.write(out)
        os.replace(tmp, path)
    except OSError:
        tmp.unlink(missing_ok=True)
        say("Warning: old key(s) found, remove them by hand!")
        return
    say("Warning: old key(s) found and disabled.")


def _append(path: Path, perms: int, text: str) -> None:
    """Append to ``path`` as tinc's ``fopenmask(path, "a", perms)`` does.

    The permissions are ``perms`` minus the umask, and they are applied to an
    existing file too (so ``ed25519_key.priv`` always ends up 0600).
    """
    perms &= ~_current_umask()
    try:
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, perms)
    except OSError as exc:
        raise KeyFileError(f"Error opening file `{path}': {exc.strerror or exc}") from None
    try:
        with os.fdopen(fd, "a", encoding="ascii", newline="\n") as f:
            if perms & 0o444:
                os.fchmod(f.fileno(), perms)
            f.write(text)
    except OSError as exc:
        raise KeyFileError(f"Error writing file `{path}': {exc.strerror or exc}") from None


def generate_ed25519_keys(request: KeygenRequest) -> list[Path]:
    """Do what ``tinc -n NET generate-ed25519-keys`` does; return the two files written.

    Draws a 32-byte seed from ``request.random``, appends the private key PEM to
    ``ed25519_key.priv`` (mode 0600) and the line ``Ed25519PublicKey = ...`` to
    ``hosts/NAME`` (or ``ed25519_key.pub`` without a Name; mode 0666 minus the
    umask). Old Ed25519 keys in either file are commented out first. Nothing is
    created but the files themselves: a missing ``hosts/`` is an error, as in tinc.
    """
    request.say("Generating Ed25519 key pair:")
    seed = request.random(SEED_SIZE)
    if len(seed) != SEED_SIZE:
        raise ValueError(f"random source returned {len(seed)} bytes, wanted {SEED_SIZE}")
    key = key_from_seed(seed)
    request.say("Done.")

    confbase = Path(request.confbase)
    private_path = _ask_path(request, "private Ed25519 key", confbase / PRIVATE_KEY_FILE)
    _disable_old_keys(private_path, request.say)
    _append(private_path, 0o600, private_key_pem(key))

    if request.name:
        default_public = confbase / "hosts" / request.name
    else:
        default_public = confbase / PUBLIC_KEY_FILE
    public_path = _ask_path(request, "public Ed25519 key", default_public)
    _disable_old_keys(public_path, request.say)
    _append(public_path, 0o666, public_key_line(key.public) + "\n")
    return [private_path, public_path]
