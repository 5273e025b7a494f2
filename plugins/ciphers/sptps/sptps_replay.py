"""The replay window of SPTPS datagrams (tinc 1.1's ``sptps_check_seqno``).

A datagram session expects sequence numbers to rise but tolerates loss and
reordering within a window. The window is ``size`` bytes of bitmap
(``ReplayWindow`` in tinc.conf, 16 by default), so it covers ``size * 8``
sequence numbers below the next expected one. A set bit marks a number that
was skipped and may still arrive once.

Rules, as tinc applies them after a datagram has been authenticated:

* the expected number, or one up to ``size * 8 - 1`` beyond it, is accepted;
  the numbers skipped over are marked late;
* an older number is accepted once if its late bit is set and it is within
  the window, else it is a replay;
* a number ``size * 8`` or more ahead is dropped, unless ``size // 4`` such
  datagrams came in a row: then tinc assumes it lost the packets between,
  accepts it and marks the whole bitmap late;
* a window of 0 turns all checks off.

Sequence numbers are 32-bit and wrap as tinc's ``uint32_t`` arithmetic does.
"""

from __future__ import annotations

from tinca.plugins.ciphers.sptps.sptps_errors import Failure, SptpsPacketError

DEFAULT_SIZE = 16
"""tinc's default ``ReplayWindow`` (``sptps_replaywin``, sptps.c), in bytes of bitmap."""

_U32 = 0xFFFFFFFF


class ReplayWindow:
    """Which datagram sequence numbers a session still accepts."""

    __slots__ = ("_late", "expected", "farfuture", "size")

    def __init__(self, size: int = DEFAULT_SIZE, expected: int = 0) -> None:
        if size < 0:
            raise ValueError("the replay window cannot be negative")
        self.size = size
        self.expected = expected
        """The next sequence number in order (tinc's ``inseqno``)."""
        self.farfuture = 0
        """How many datagrams in a row were too far ahead."""
        self._late = bytearray(size)

    def accepts(self, seqno: int) -> bool:
        """Whether :meth:`check` would let ``seqno`` through; changes nothing."""
        size = self.size
        expected = self.expected
        if not size or seqno == expected:
            return True
        span = size * 8
        if seqno >= (expected + span) & _U32:
            return self.farfuture >= size >> 2
        if seqno < expected:
            return self._is_late(seqno, expected, span)
        return True

    def check(self, seqno: int) -> None:
        """Accept ``seqno`` and record it, or raise :class:`SptpsPacketError`."""
        size = self.size
        expected = self.expected
        if size:
            late = self._late
            if seqno != expected:
                span = size * 8
                if seqno >= (expected + span) & _U32:
                    give_up = self.farfuture >= size >> 2
                    self.farfuture += 1
                    if not give_up:
                        raise SptpsPacketError(
                            Failure.FAR_FUTURE,
                            f"Packet is {seqno - expected} seqs in the future, dropped "
                            f"({self.farfuture})",
                        )
                    # Enough of them in a row: the ones between are lost, and
                    # whatever is still in the window may yet arrive.
                    late[:] = b"\xff" * size
                elif seqno < expected:
                    if not self._is_late(seqno, expected, span):
                        raise SptpsPacketError(
                            Failure.REPLAYED,
                            f"Received late or replayed packet, seqno {seqno}, "
                            f"last received {expected}",
                        )
                else:
                    for skipped in range(expected, seqno):
                        late[(skipped >> 3) % size] |= 1 << (skipped & 7)
            late[(seqno >> 3) % size] &= ~(1 << (seqno & 7)) & 0xFF
            self.farfuture = 0
        if seqno >= expected:
            self.expected = (seqno + 1) & _U32

    def _is_late(self, seqno: int, expected: int, span: int) -> bool:
        if expected >= span and seqno < expected - span:
            return False
        return bool(self._late[(seqno >> 3) % self.size] & (1 << (seqno & 7)))
