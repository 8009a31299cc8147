"""A node notices its own freeze: a watcher thread whose clock jumped between two of its ticks.

Why a thread of its own and not each host's poll loop: a host frozen in the middle of a handler,
or a host whose handler is merely slow, must be told apart from a process that was stopped
(SIGSTOP, a paused VM): only the second leaves every host holding a world that moved on without
it. The watcher does nothing but sleep ``tick_ns`` and look at the clock, so a gap between two of
its ticks beyond ``freeze_ns`` means the whole process (or the interpreter) stood still.

Hosts read the watcher's state **synchronously** at the start of each message they handle
(``FreezeSeen.check``), before anything that message carries is routed: after SIGCONT the host
thread may run before the watcher does, so a tick older than ``freeze_ns`` counts as a freeze
too (the watcher, when it runs, records that same freeze; the host does not count it twice).
The state is one tuple replaced atomically, so a reader never sees a half-written record.
"""

from __future__ import annotations

import threading

from loguru import logger

from transports.clock import Clock


class FreezeWatch:
    """One per node: ticks every ``tick_ns`` and records every gap beyond ``freeze_ns``."""

    def __init__(self, clock: Clock, freeze_ns: int, tick_ns: int = 0) -> None:
        self.clock = clock
        self.freeze_ns = freeze_ns
        #: a tenth of the threshold (20-100 ms): fine enough, and nearly free
        self.tick_ns = tick_ns or max(20_000_000, min(100_000_000, freeze_ns // 10))
        #: (last tick's clock, freezes seen so far, the last freeze's gap): one atomic record
        self.state: tuple[int, int, int] = (clock.now_ns(), 0, 0)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="freeze-watch", daemon=True)

    def start(self) -> None:
        """Start ticking (no-op when the threshold is 0: detection is off)."""
        if self.freeze_ns > 0:
            self.state = (self.clock.now_ns(), self.state[1], self.state[2])
            self._thread.start()

    def stop(self) -> None:
        """Stop ticking."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(2)

    def tick(self) -> int:
        """Look at the clock once; return the gap recorded as a freeze (0: none)."""
        now = self.clock.now_ns()
        last, seq, gap = self.state
        if now - last > self.freeze_ns:
            self.state = (now, seq + 1, now - last)
            logger.warning("the clock jumped {:.0f} ms between two ticks of the freeze watch "
                           "(the process was stopped or starved)", (now - last) / 1e6)
            return now - last
        self.state = (now, seq, gap)
        return 0

    def _run(self) -> None:
        wait_s = self.tick_ns / 1e9
        while not self._stop.wait(wait_s):
            self.tick()


class FreezeSeen:
    """A host's view of its node's ``FreezeWatch``: which freezes it has already acted on."""

    __slots__ = ("seen", "watch")

    def __init__(self, watch: FreezeWatch) -> None:
        self.watch = watch
        self.seen = watch.state[1]  #: a host started after a freeze does not act on it

    def check(self, now_ns: int) -> int:
        """Return the gap of a freeze this host has not acted on yet (0: none)."""
        w = self.watch
        last, seq, gap = w.state
        if now_ns - last > w.freeze_ns > 0:
            # the watcher has not run since the process resumed: it will record this very
            # freeze as ``seq + 1``, which this host has then acted on already
            if self.seen == seq + 1:
                return 0  # acted on at an earlier message since the process resumed
            self.seen = seq + 1
            return now_ns - last
        if seq != self.seen:
            self.seen = seq
            return gap
        return 0


__all__ = ["FreezeSeen", "FreezeWatch"]
