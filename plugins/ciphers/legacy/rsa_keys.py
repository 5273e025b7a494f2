"""tinc 1.0's RSA key files: ``tincd -K`` and the loaders for ``rsa_key.priv`` and host files.

Formats, as tincd 1.0.36 writes them with OpenSSL:

* ``rsa_key.priv``: a newline, then a PKCS#1 ``RSA PRIVATE KEY`` PEM block.
* ``hosts/NAME`` (or ``rsa_key.pub`` when ``Name`` is unknown): a newline, then a
  PKCS#1 ``RSA PUBLIC KEY`` PEM block, appended after whatever the file held.

Before appending, tincd renames the ``RSA`` in every ``-----BEGIN RSA`` and
``-----END RSA`` line already in the file to ``OLD``, so an older key stays in
the file but is no longer found. Readers take the first ``RSA PRIVATE KEY`` /
``RSA PUBLIC KEY`` block (tincd falls back to a SubjectPublicKeyInfo ``PUBLIC
KEY`` block for public keys) and skip everything else in the file.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from tinca.core.errors import KeyFileError
from tinca.core.keys import KeygenRequest, insecure_key_warning, key_text, read_key_file

DEFAULT_BITS = 2048
MIN_BITS_TINCD = 512  # the smallest ``-K`` argument tincd 1.0 accepts
MIN_BITS = 1024  # the smallest size ``cryptography`` generates
PUBLIC_EXPONENT = 65537  # tincd's RSA_generate_key_ex exponent, 0x10001
HEX_KEY_EXPONENT = 0xFFFF  # tincd's exponent for the obsolete hex PublicKey/PrivateKey

PRIVATE_KEY_FILE = "rsa_key.priv"
PUBLIC_KEY_FILE = "rsa_key.pub"  # used instead of hosts/NAME when Name is unknown

_PEM_BLOCK = re.compile(
    r"^-----BEGIN (?P<label>[^\n]+?)-----[ \t\r]*\n.*?^-----END (?P=label)-----[ \t\r]*$",
    re.MULTILINE | re.DOTALL,
)


# ---------------------------------------------------------------------------
# Generation (tincd -n NET -K [BITS])
# ---------------------------------------------------------------------------


def parse_bits(argument: str | None) -> int:
    """The key size tincd 1.0 makes of ``-K``'s argument.

    No argument means 2048. Like tincd (``atoi``), leading digits count and the
    rest is ignored; fewer than 512 bits is an error; the size is rounded down to
    a multiple of 8. Raises :class:`ValueError` with tincd's complaint.
    """
    if argument is None:
        return DEFAULT_BITS
    match = re.match(r"\s*([+-]?\d+)", argument)
    bits = int(match.group(1)) if match else 0
    if bits < MIN_BITS_TINCD:
        raise ValueError(
            f"Invalid argument `{argument}'; BITS must be a number equal to or greater than "
            f"{MIN_BITS_TINCD}."
        )
    return bits & ~7


def _ask_path(request: KeygenRequest, what: str, default: Path) -> Path:
    """Ask where to save ``what``; tincd resolves relative answers against the cwd."""
    answer = request.ask(f"Please enter a file to save {what} to", str(default)) or str(default)
    path = Path(answer)
    return path if path.is_absolute() else Path.cwd() / path


def _disable_old_keys(path: Path, say: Callable[[str], None]) -> None:
    """Turn ``-----BEGIN RSA``/``-----END RSA`` lines in ``path`` into ``... OLD ...``.

    tincd 1.0 writes the result to ``PATH.tmp`` (created 0600, since it runs
    with umask 077 here) and renames it over ``path``; a file without RSA keys
    is left alone.
    """
    try:
        lines = path.read_bytes().splitlines(keepends=True)
    except OSError:
        return
    found = False
    out = bytearray()
    for line in lines:
        if line.startswith(b"-----BEGIN RSA"):
            line = b"-----BEGIN OLD" + line[14:]
            found = True
        elif line.startswith(b"-----END RSA"):
            line = b"-----END OLD" + line[12:]
            found = True
        out += line
    if not found:
        return
    tmp = path.with_name(path.name + ".tmp")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(out)
        os.replace(tmp, path)
    except OSError:
        tmp.unlink(missing_ok=True)
        say("Warning: old key(s) found, remove them by hand!")
        return
    say("Warning: old key(s) found and disabled.")


def _append(path: Path, text: str, *, private: bool) -> None:
    """Append ``text`` as tincd 1.0 does: new files get mode 0600 (it sets umask
    077 first), the private key file is chmod 0600 even when it already existed.
    """
    try:
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_EXCL, 0o600)
        created = True
    except FileExistsError:
        created = False
        try:
            fd = os.open(path, os.O_WRONLY | os.O_APPEND)
        except OSError as exc:
            raise KeyFileError(f"Error opening file `{path}': {exc.strerror or exc}") from None
    except OSError as exc:
        raise KeyFileError(f"Error opening file `{path}': {exc.strerror or exc}") from None
    try:
        with os.fdopen(fd, "a", encoding="ascii", newline="\n") as f:
            if created or private:
                os.fchmod(f.fileno(), 0o600)
            f.write(text)
    except OSError as exc:
        raise KeyFileError(f"Error writing file `{path}': {exc.strerror or exc}") from None


def private_key_pem(key: rsa.RSAPrivateKey) -> str:
    """PKCS#1 ``RSA PRIVATE KEY`` PEM, as OpenSSL's ``PEM_write_RSAPrivateKey``."""
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    ).decode("ascii")


def public_key_pem(key: rsa.RSAPublicKey) -> str:
    """PKCS#1 ``RSA PUBLIC KEY`` PEM, as OpenSSL's ``PEM_write_RSAPublicKey``."""
    return key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.PKCS1
    ).decode("ascii")


def generate_rsa_keys(request: KeygenRequest) -> list[Path]:
    """Do what ``tincd -n NET -K [BITS]`` does; return the two files appended to.

    ``request.bits`` (default 2048) is rounded down to a multiple of 8. The key
    has public exponent 65537. The private key goes to ``rsa_key.priv``, the
    public key to ``hosts/NAME`` or, without a Name, ``rsa_key.pub``; each path
    is first offered through ``request.ask``. Each file gets a newline and the
    PEM block appended, after older RSA keys in it were renamed to ``OLD``.
    Nothing but the files is created: a missing ``hosts/`` is an error, as in tincd.

    ``cryptography`` draws its own randomness, so ``request.random`` is unused.
    """
    bits = (DEFAULT_BITS if request.bits is None else request.bits) & ~7
    if bits < MIN_BITS:
        raise KeyFileError(
            f"cannot generate a {bits} bits RSA key: tinca needs at least {MIN_BITS} bits"
        )
    request.say(f"Generating {bits} bits keys:")
    try:
        key = rsa.generate_private_key(public_exponent=PUBLIC_EXPONENT, key_size=bits)
    except ValueError as exc:
        request.say("Error during key generation!")
        raise KeyFileError(f"RSA key generation failed: {exc}") from None
    request.say("Done.")

    confbase = Path(request.confbase)
    private_path = _ask_path(request, "private RSA key", confbase / PRIVATE_KEY_FILE)
    _disable_old_keys(private_path, request.say)
    _append(private_path, "\n" + private_key_pem(key), private=True)

    if request.name:
        default_public = confbase / "hosts" / request.name
    else:
        default_public = confbase / PUBLIC_KEY_FILE
    public_path = _ask_path(request, "public RSA key", default_public)
    _disable_old_keys(public_path, request.say)
    _append(public_path, "\n" + public_key_pem(key.public_key()), private=False)
    return [private_path, public_path]


# ---------------------------------------------------------------------------
# Loading
# ---------------------------------------------------------------------------


def _pem_blocks(text: str) -> list[tuple[str, str]]:
    """``(label, whole block)`` for every PEM block in ``text``, in file order."""
    return [(m.group("label"), m.group(0)) for m in _PEM_BLOCK.finditer(text)]


def parse_private_key(text: str, source: str = "<text>") -> rsa.RSAPrivateKey:
    """The first ``RSA PRIVATE KEY`` (or PKCS#8 ``PRIVATE KEY``) block of ``text``."""
    for label, block in _pem_blocks(text):
        if label not in ("RSA PRIVATE KEY", "PRIVATE KEY"):
            continue
        try:
            key = serialization.load_pem_private_key(block.encode("ascii"), password=None)
        except TypeError:
            raise KeyFileError(
                f"{source}: the RSA private key is encrypted; tinca cannot ask for its passphrase"
            ) from None
        except ValueError as exc:
            raise KeyFileError(f"{source}: malformed {label} block: {exc}") from None
        if not isinstance(key, rsa.RSAPrivateKey):
            raise KeyFileError(f"{source}: the {label} block holds no RSA key")
        return key
    raise KeyFileError(f"{source}: no RSA PRIVATE KEY block found")


def parse_public_key(text: str, source: str = "<text>") -> rsa.RSAPublicKey:
    """The RSA public key in a host file's text, as tincd 1.0 looks for it.

    The first PKCS#1 ``RSA PUBLIC KEY`` block; if there is none, the first
    SubjectPublicKeyInfo ``PUBLIC KEY`` block. ``Key = Value`` lines and other
    blocks (such as disabled ``OLD PUBLIC KEY`` ones) are skipped.
    """
    blocks = _pem_blocks(text)
    for wanted in ("RSA PUBLIC KEY", "PUBLIC KEY"):
        for label, block in blocks:
            if label != wanted:
                continue
            try:
                key = serialization.load_pem_public_key(block.encode("ascii"))
            except ValueError as exc:
                raise KeyFileError(f"{source}: malformed {label} block: {exc}") from None
            if not isinstance(key, rsa.RSAPublicKey):
                raise KeyFileError(f"{source}: the {label} block holds no RSA key")
            return key
    raise KeyFileError(f"{source}: no RSA public key (RSA PUBLIC KEY block) found")


def load_rsa_private_key(path: str | os.PathLike[str]) -> rsa.RSAPrivateKey:
    """Load ``rsa_key.priv`` (or ``PrivateKeyFile``)."""
    path = Path(path)
    return parse_private_key(read_key_file(path, "RSA private key"), str(path))


def load_rsa_public_key(
    text_or_path: str | os.PathLike[str], *, source: str | None = None
) -> rsa.RSAPublicKey:
    """The RSA public key from a host file (or ``PublicKeyFile``), as a path or its text.

    A :class:`~pathlib.Path` (or other path-like object) is read from disk; a
    ``str`` is taken as file text when it holds a newline or a PEM line, else as
    a path. ``source`` names the text in error messages.
    """
    return parse_public_key(*key_text(text_or_path, source, "RSA public key"))


def _parse_hex(value: str, what: str) -> int:
    if not value or not re.fullmatch(r"[0-9A-Fa-f]+", value):
        raise KeyFileError(f"Invalid {what}: {value!r} is not a hexadecimal number")
    return int(value, 16)


def rsa_public_key_from_hex(modulus_hex: str) -> rsa.RSAPublicKey:
    """The key of the obsolete ``PublicKey = <hex modulus>`` variable.

    tincd 1.0 pairs that modulus with the public exponent 0xFFFF (not 65537).
    """
    n = _parse_hex(modulus_hex, "PublicKey")
    try:
        return rsa.RSAPublicNumbers(HEX_KEY_EXPONENT, n).public_key()
    except ValueError as exc:
        raise KeyFileError(f"Invalid PublicKey: {exc}") from None


def rsa_private_key_from_hex(modulus_hex: str, private_exponent_hex: str) -> rsa.RSAPrivateKey:
    """The key of the obsolete ``PrivateKey = <hex d>`` with ``PublicKey = <hex n>``.

    The exponent is 0xFFFF as in tincd; the primes are recovered from n, e and d
    because ``cryptography`` needs the CRT form.
    """
    n = _parse_hex(modulus_hex, "PublicKey")
    d = _parse_hex(private_exponent_hex, "PrivateKey")
    try:
        p, q = rsa.rsa_recover_prime_factors(n, HEX_KEY_EXPONENT, d)
        numbers = rsa.RSAPrivateNumbers(
            p,
            q,
            d,
            rsa.rsa_crt_dmp1(d, p),
            rsa.rsa_crt_dmq1(d, q),
            rsa.rsa_crt_iqmp(p, q),
            rsa.RSAPublicNumbers(HEX_KEY_EXPONENT, n),
        )
        return numbers.private_key()
    except ValueError as exc:
        raise KeyFileError(f"Invalid PrivateKey/PublicKey pair: {exc}") from None


def private_key_permission_warning(path: str | os.PathLike[str]) -> str | None:
    """tinc's warning when a private key file is open to group or others, else ``None``."""
    return insecure_key_warning(path, "RSA private key")
