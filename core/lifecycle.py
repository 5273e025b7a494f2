"""Lifecycle events delivered in order, off the protocol path.

tincd runs ``host-up``, ``subnet-up`` and the other scripts with a blocking
``system()``: while one runs, no packet is forwarded and no keepalive is
answered, for every peer. tinca hands the hook calls of host and subnet
events to a :class:`LifecycleQueue` instead. One worker thread takes them in
the order the node fired them and calls the hook through pluggy, so the
scripts plugin still runs scripts one at a time in tincd's order and with
tincd's environment, while the event loop goes on moving packets.

Why a thread and not an asyncio task: hook implementations are plain
synchronous functions (pluggy calls them synchronously) and the scripts
plugin blocks in ``waitpid``; an asyncio runner would need an executor
thread for them anyway. One daemon thread consuming a FIFO is the smallest
ordered executor, it does not depend on the loop (asyncio or uvloop), and
unlike ``concurrent.futures`` threads it never holds up the interpreter's
exit for a hook that hangs.

Hook implementations therefore run on the worker thread: they get immutable
event objects and must not touch the node's state.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from typing import Any

from tinca.core.logs import DEBUG_STATUS, level_for

log = logging.getLogger(__name__)

DRAIN_TIMEOUT = 5.0
"""Seconds shutdown waits for the running event before going on with tinc-down.

Every event that finishes restarts the wait, so the host-down and subnet-down
scripts of a shutdown all run however many there are (nothing is lost while
they make progress), but one script still hanging from before the stop (a
slow ``host-up``) does not hold the daemon up for its whole ``ScriptsTimeout``.
"""

HookCall = Callable[[str, Mapping[str, Any]], object]
"""Calls hook ``name`` with keyword arguments (``manager.hook.NAME(**kwargs)``)."""


class LifecycleQueue:
    """Calls hooks one at a time, in submission order, on a worker thread.

    ``call(hook_name, kwargs)`` makes one hook call (through pluggy); an
    exception it raises is logged once and the queue goes on with the next
    event. :meth:`submit` never blocks; :meth:`drain` and :meth:`close` wait
    a bounded time.
    """

    def __init__(self, call: HookCall, *, name: str = "tinca-lifecycle") -> None:
        self._call = call
        self._items: deque[tuple[str, dict[str, Any]]] = deque()
        self._cond = threading.Condition()
        self._running: str | None = None
        #: events finished so far; drain() waits while this keeps moving
        self._finished = 0
        self._closed = False
        self._thread = threading.Thread(target=self._work, name=name, daemon=True)
        self._thread.start()

    @property
    def pending(self) -> int:
        """Events submitted and not finished yet (the running one included)."""
        with self._cond:
            return len(self._items) + (self._running is not None)

    def submit(self, hook_name: str, /, **kwargs: Any) -> bool:
        """Queue the call ``hook_name(**kwargs)`` behind every earlier one.

        Returns False, and drops the event, after :meth:`close`: a late
        callback of shutdown must not deliver an event after tinc-down.
        """
        with self._cond:
            if self._closed:
                log.log(level_for(DEBUG_STATUS), "Not delivering %s: shutting down", hook_name)
                return False
            self._items.append((hook_name, kwargs))
            self._cond.notify_all()
        return True

    def drain(self, timeout: float) -> bool:
        """Wait until every event submitted so far has run; False if no
        event finishes for ``timeout`` seconds (each one that finishes
        restarts the wait)."""
        with self._cond:
            finished = self._finished
            deadline = time.monotonic() + timeout
            while self._items or self._running is not None:
                if self._finished != finished:
                    finished = self._finished
                    deadline = time.monotonic() + timeout
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._cond.wait(remaining)
        return True

    def close(self, timeout: float = DRAIN_TIMEOUT) -> bool:
        """Drain (until no event finishes for ``timeout`` seconds), then stop the worker.

        Returns True when every event ran. Otherwise the events still queued
        are dropped with a warning naming the hook still running, which is
        left to finish (or be ended by its plugin) on the daemon thread.
        """
        drained = self.drain(timeout)
        with self._cond:
            dropped = len(self._items)
            self._items.clear()
            running = self._running
            self._closed = True
            self._cond.notify_all()
        if drained:
            self._thread.join(timeout)
        else:
            log.warning(
                "Lifecycle hook %s still running after %g seconds; "
                "not delivering %d queued event%s",
                running,
                timeout,
                dropped,
                "" if dropped == 1 else "s",
            )
        return drained

    def _work(self) -> None:
        while True:
            with self._cond:
                while not self._items and not self._closed:
                    self._cond.wait()
                if not self._items:
                    return  # closed
                hook_name, kwargs = self._items.popleft()
                self._running = hook_name
            try:
                self._call(hook_name, kwargs)
            except Exception as err:  # a wrapper or hook failure must not end the queue
                log.error("Lifecycle hook %s failed: %s", hook_name, err)
            finally:
                with self._cond:
                    self._running = None
                    self._finished += 1
                    self._cond.notify_all()
