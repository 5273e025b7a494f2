"""tinc's own base64, used for Ed25519 keys and SPTPS data carried in text.

It is not RFC 4648 base64. tinc reads each group of three bytes as a 24-bit
little-endian number and emits its 6-bit digits least significant first, and it
never pads: a trailing group of two bytes gives three characters, one byte gives
two. The alphabet is the standard one (``+`` and ``/``); the decoder also takes
the URL-safe ``-`` and ``_``, because tinc 1.1's invitations write those.

So the bytes ``45 45 35`` encode as ``FVUN`` here but as ``RUU1`` in RFC 4648.
"""

from __future__ import annotations

STANDARD_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
URLSAFE_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"

# Character -> 6-bit value; both alphabets decode.
_DECODE: dict[str, int] = {c: i for i, c in enumerate(STANDARD_ALPHABET)}
_DECODE.update({"-": 62, "_": 63})


def encoded_length(n: int) -> int:
    """Number of characters :func:`encode` makes from ``n`` bytes (32 bytes -> 43)."""
    if n < 0:
        raise ValueError(f"a byte count cannot be negative: {n}")
    return n // 3 * 4 + (0, 2, 3)[n % 3]


def encode(data: bytes, *, urlsafe: bool = False) -> str:
    """Encode ``data`` in tinc's base64 (unpadded, least significant digit first).

    ``urlsafe`` uses ``-`` and ``_`` for 62 and 63, as tinc's invitation code does.
    """
    alphabet = URLSAFE_ALPHABET if urlsafe else STANDARD_ALPHABET
    data = bytes(data)
    out: list[str] = []
    for start in range(0, len(data), 3):
        group = data[start : start + 3]
        value = int.from_bytes(group, "little")
        # 3 bytes -> 4 digits, 2 -> 3, 1 -> 2: just enough digits for the bits present.
        for _ in range(len(group) + 1):
            out.append(alphabet[value & 63])
            value >>= 6
    return "".join(out)


def decode(text: str | bytes) -> bytes:
    """Decode tinc's base64; raise :class:`ValueError` naming the first problem.

    Accepts both alphabets. Whitespace, padding (``=``) and other characters are
    errors, and so is a length of 1 modulo 4, which no byte string encodes to.
    Like tinc, bits beyond the last whole byte of a short final group are ignored.
    """
    if isinstance(text, (bytes, bytearray, memoryview)):
        try:
            text = bytes(text).decode("ascii")
        except UnicodeDecodeError as exc:
            raise ValueError(f"tinc base64 must be ASCII: {exc}") from None
    if len(text) % 4 == 1:
        raise ValueError(
            f"invalid tinc base64 length {len(text)}: a final group of one character holds no byte"
        )
    out = bytearray()
    for start in range(0, len(text), 4):
        group = text[start : start + 4]
        value = 0
        for offset, char in enumerate(group):
            digit = _DECODE.get(char)
            if digit is None:
                raise ValueError(
                    f"invalid character {char!r} at position {start + offset} in tinc base64"
                )
            value |= digit << (6 * offset)
        nbytes = len(group) - 1  # 4 digits -> 3 bytes, 3 -> 2, 2 -> 1
        out += (value & ((1 << (8 * nbytes)) - 1)).to_bytes(nbytes, "little")
    return bytes(out)
