"""The shared SPTPS known-answer vectors, located and loaded once for every test.

They live in ``shared/vectors/sptps`` beside the repository (or wherever
``$TINCA_VECTORS`` points). Missing vectors skip a test, except under CI,
where they fail it.
"""

from __future__ import annotations

import json
import os
from functools import cache
from pathlib import Path

import pytest


def vectors_dir() -> Path:
    """$TINCA_VECTORS, else ``shared/vectors/sptps`` in the repository's parent."""
    override = os.environ.get("TINCA_VECTORS")
    if override:
        return Path(override)
    return Path(__file__).resolve().parents[1].parent / "shared" / "vectors" / "sptps"


@cache
def _load(name: str) -> dict | None:
    path = vectors_dir() / name
    return json.loads(path.read_text()) if path.is_file() else None


def load_vector(name: str) -> dict:
    """One vector file as JSON; skips (or fails under CI) when it is missing."""
    data = _load(name)
    if data is None:
        message = f"SPTPS vectors not found at {vectors_dir() / name} (set TINCA_VECTORS)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return data


class RecordedDraws:
    """A daemon's recorded KEX draws for one session, handed out in order.

    ``session_prefix`` picks the session ("meta connection", "per-node UDP");
    each KEX draws its 32-byte nonce, then its 32-byte ECDH seed.
    """

    def __init__(self, draws: list[dict], session_prefix: str) -> None:
        self._draws = [
            d for d in draws
            if d["role"] in ("kex_nonce", "ecdh_seed")
            and d.get("session", "").startswith(session_prefix)
        ]
        assert [d["role"] for d in self._draws] == ["kex_nonce", "ecdh_seed"]
        self._next = 0

    def __call__(self, size: int) -> bytes:
        assert self._next < len(self._draws), "drew more random bytes than tincd did"
        draw = self._draws[self._next]
        assert draw["len"] == size
        self._next += 1
        return bytes.fromhex(draw["hex"])
