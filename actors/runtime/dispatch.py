"""The one dispatcher: how a group's cores are run, what they cause, and what is journaled.

Every runner of cores uses this module, so the rule is written once: the live ``Host``, the replay
of ``cmc replay --verify`` and the supervisor's rebuilds (``actors.runtime.rebuild.group_router``),
the what-if replay, the bench floor, the profiler and the test harnesses. Replay and rebuilds are
only right while they route exactly as the host did; with one copy they cannot drift apart.

The rule (``Dispatcher.route``):

- **FIFO, run to completion**: a message to a core of the group is a call; what the handler
  returns is appended to one FIFO, drained before ``route`` returns.
- **``@`` outputs at once**: an actor's outputs for ``@`` destinations take effect when its
  handler returns, before anything queued is delivered (an order leaves as soon as its executor
  decided it): ``@timer`` arms or cancels a timer, ``@host`` is a request to the runner
  (``Sink.host``: e.g. ``Reconnect``), any other ``@key`` is a frame for the actor's own socket
  ``key`` (``Sink.send``).
- **Journaled** (appended to ``journaled``, when the dispatcher journals): every delivery to a
  core of the group except the journal's, as ``(sender, dest, msg)``, but not derived market
  data (``NOT_JOURNALED``) made inside the group, which replay recomputes; socket frames as
  ``(actor, actor@key, msg)``; a handler that raised as ``(actor, journal, Decision(actor,
  "error", ...))``. Timer requests and host requests are not journaled (the ``Timer`` that
  fires is, as a delivery from ``@timer``).
- Messages for actors outside the group go to ``Sink.forward``.

Timers: a timer is identified by ``(actor, key, arg)``; ``SetTimer`` with ``due_ns`` 0 cancels
it, a replaced timer never fires. ``fire_due(now)`` delivers the due ones (``Timer(key, now,
arg)`` from ``@timer``), ``next_due()`` says when the next one is due. A replay, which reads
the timers that fired from the journal, only tracks them (``fire=False``, ``disarm``).

Lifecycle: ``start``/``stop`` journal ``Start(epoch)``/``Stop()`` (from ``@start``/``@stop``) and
run the core's ``on_start``/``on_stop``.
"""

from __future__ import annotations

import heapq
import threading
from collections import deque
from collections.abc import Callable
from typing import Any

from actors.core import Out
from transports.wire.messages import (
    BookDelta,
    BookSnapshot,
    BookUpdate,
    Decision,
    SetTimer,
    Start,
    Stop,
    Timer,
)

#: Derived market data is not journaled: replay recomputes it from the venue frames (which are).
NOT_JOURNALED: frozenset[type] = frozenset({BookDelta, BookSnapshot, BookUpdate})

JOURNAL = "journal"

#: ``observe(actor, msg, handler, now_ns)``: called after every delivery that did not raise
Observer = Callable[[str, Any, Any, int], None]
#: a pending timer: (key, arg, due_ns)
Pending = tuple[str, str, int]


def contained(exc: BaseException) -> None:
    """Decide that ``exc``, raised by a handler, is contained (journaled, the actor's crash):
    any ``BaseException`` — ``SystemExit`` from a library, a ``RecursionError``, a
    ``MemoryError`` — must not end the host thread with its actors dead and its process alive.
    Only a ``KeyboardInterrupt`` in the main thread (a person pressing Ctrl-C during a replay or
    a test) is passed on."""
    if isinstance(exc, KeyboardInterrupt) and threading.current_thread() is threading.main_thread():
        raise exc


def fatal(exc: BaseException) -> bool:
    """True if ``exc`` leaves the actor's state in doubt: not an ordinary ``Exception`` (a
    ``SystemExit``, a ``KeyboardInterrupt`` in a host thread), or a ``RecursionError`` or
    ``MemoryError`` that may have stopped a handler half way. The supervisor restarts such an
    actor at once instead of counting errors."""
    return not isinstance(exc, Exception) or isinstance(exc, RecursionError | MemoryError)


class Sink:
    """Where the effects that leave a group go. The defaults drop them; runners override."""

    def send(self, actor: str, key: str, msg: Any) -> None:
        """Send ``msg`` on ``actor``'s own socket ``key`` (already journaled)."""

    def host(self, actor: str, msg: Any) -> None:
        """A request of ``actor`` to its runner (``@host``, e.g. ``Reconnect``)."""

    def forward(self, dest: str, msg: Any) -> None:
        """``msg`` for ``dest``, an actor outside this group (or the journal when it is not
        hosted here)."""

    def failed(self, actor: str, exc: BaseException, now_ns: int) -> None:
        """``actor``'s handler raised ``exc`` (the message is dropped; already journaled)."""


class Dispatcher:
    """The cores of one group (name -> an object with ``handle(msg, now_ns)``: a core or the
    shell wrapping it), their timers, and the routing rule (module docstring).

    ``journal`` is the journal actor's name: deliveries to it are never journaled, and the
    ``Decision`` of a handler that raised is addressed to it. ``journaling`` False: nothing is
    collected in ``journaled`` (a run without a journal). ``fire`` False: timers are tracked
    but never fired (a replay: the journal says when they fired)."""

    def __init__(self, handlers: dict[str, Any], sink: Sink | None = None, *,
                 journal: str = JOURNAL, journaling: bool = True, fire: bool = True,
                 observe: Observer | None = None) -> None:
        self.handlers = handlers
        self.sink = sink = sink or Sink()
        self.journal = journal
        #: the journaled items of the current cycle; the runner takes them (None: not kept)
        self.journaled: list[tuple[str, str, Any]] | None = [] if journaling else None
        self.observe = observe
        self.fire = fire
        self._send = sink.send
        self._host = sink.host
        self._forward = sink.forward
        self._failed = sink.failed
        self._armed: dict[tuple[str, str, str], tuple[int, int]] = {}  # id -> (due, seq)
        self._heap: list[tuple[int, int, str, str, str]] = []  # (due, seq, actor, key, arg)
        self._seq = 0

    # --- routing ---------------------------------------------------------------------------------

    def route(self, src: str, out: Out, now: int) -> None:
        """Deliver ``out`` (from ``src``) and everything it causes in this group (the rule in
        the module docstring); ``src``'s own ``@`` outputs take effect first, at once."""
        fifo: deque[tuple[str, str, Any]] = deque()
        for d, m in out:
            if d[0] == "@" and src in self.handlers:
                self._special(src, d, m, now)
            else:
                fifo.append((src, d, m))
        handlers, jbuf, jname = self.handlers, self.journaled, self.journal
        skip, observe, special = NOT_JOURNALED, self.observe, self._special
        while fifo:
            sender, dest, msg = fifo.popleft()
            handler = handlers.get(dest)
            if handler is not None:
                # derived book data made here is not journaled (replay recomputes it); what
                # arrives from outside the group (a source "@...") always is, or replay could
                # not feed it. The type first, and the sender's first character, not a slice:
                # most deliveries of a tick are derived book data (~40 ns a delivery)
                if jbuf is not None and (
                        type(msg) not in skip or (sender and sender[0] == "@")) and (
                        dest != jname):
                    jbuf.append((sender, dest, msg))
                try:
                    more = handler.handle(msg, now)
                except BaseException as exc:  # noqa: BLE001 - one catch point per handler
                    contained(exc)
                    self.failed(dest, exc, now)
                    continue
                if observe is not None:
                    observe(dest, msg, handler, now)
                if more:
                    for d, m in more:
                        if d[0] == "@":
                            # an order leaves as soon as its executor decided it, not after
                            # the FIFO drains
                            special(dest, d, m, now)
                        else:
                            fifo.append((dest, d, m))
            elif dest[0] == "@":
                special(sender, dest, msg, now)
            else:
                self._forward(dest, msg)

    def _special(self, actor: str, dest: str, msg: Any, now: int) -> None:
        if dest == "@timer":
            # ``set_timer`` inlined: several timers are armed per tick on the hot path
            ident = (actor, msg.key, msg.arg)
            due = msg.due_ns
            if due <= 0:
                self._armed.pop(ident, None)
                return
            self._seq = seq = self._seq + 1
            self._armed[ident] = (due, seq)
            if self.fire:
                heapq.heappush(self._heap, (due, seq, actor, msg.key, msg.arg))
            return
        if dest == "@host":
            self._host(actor, msg)
            return
        jbuf = self.journaled
        if jbuf is not None:
            jbuf.append((actor, actor + dest, msg))
        try:
            self._send(actor, dest[1:], msg)
        except BaseException as exc:  # noqa: BLE001 - a failed send is the actor's error
            contained(exc)
            self.failed(actor, exc, now)

    def failed(self, actor: str, exc: BaseException, now: int, what: str = "error",
               notify: bool = True) -> None:
        """Journal that ``actor`` raised (a ``Decision`` to the journal) and, with ``notify``,
        tell the sink."""
        jbuf = self.journaled
        if jbuf is not None:
            jbuf.append((actor, self.journal, Decision(actor, what, repr(exc), now)))
        if notify:
            self._failed(actor, exc, now)

    def run(self, actor: str, fn: Callable[[], Out], now: int, what: str = "error",
            notify: bool = True) -> BaseException | None:
        """Run ``fn`` as ``actor``'s handler (a lifecycle call, an admin call) and route what
        it returns; return what it raised (journaled as ``what``), else None."""
        try:
            out = fn()
        except BaseException as exc:  # noqa: BLE001 - as route
            contained(exc)
            self.failed(actor, exc, now, what, notify)
            return exc
        if out:
            self.route(actor, out, now)
        return None

    # --- lifecycle -------------------------------------------------------------------------------

    def start(self, actor: str, core: Any, now: int, epoch: int = 0, what: str = "error",
              notify: bool = True) -> BaseException | None:
        """Journal ``@start -> actor: Start(epoch)`` and run ``core.on_start``; return what it
        raised, else None."""
        jbuf = self.journaled
        if jbuf is not None and actor != self.journal:
            jbuf.append(("@start", actor, Start(epoch)))
        return self.run(actor, lambda: core.on_start(now), now, what, notify)

    def stop(self, actor: str, core: Any, now: int) -> BaseException | None:
        """Journal ``@stop -> actor: Stop()`` and run ``core.on_stop``; return what it raised,
        else None."""
        jbuf = self.journaled
        if jbuf is not None and actor != self.journal:
            jbuf.append(("@stop", actor, Stop()))
        return self.run(actor, lambda: core.on_stop(now), now)

    # --- timers ----------------------------------------------------------------------------------

    def set_timer(self, actor: str, req: SetTimer) -> None:
        """Arm, replace (``due_ns`` > 0) or cancel (0) ``actor``'s timer ``(key, arg)``."""
        ident = (actor, req.key, req.arg)
        if req.due_ns <= 0:
            self._armed.pop(ident, None)
            return
        self._seq += 1
        self._armed[ident] = (req.due_ns, self._seq)
        if self.fire:
            heapq.heappush(self._heap, (req.due_ns, self._seq, actor, req.key, req.arg))

    def arm(self, actor: str, pending: list[Pending]) -> int:
        """Arm the timers a rebuilt core expects (a due time in the past fires at once); the
        ones already armed are left as they are. Returns how many were armed."""
        n = 0
        for key, arg, due_ns in pending:
            if (actor, key, arg) not in self._armed and due_ns > 0:
                self.set_timer(actor, SetTimer(key, due_ns, arg))
                n += 1
        return n

    def disarm(self, actor: str, key: str, arg: str = "") -> None:
        """Forget a timer (a replay read from the journal that it fired)."""
        self._armed.pop((actor, key, arg), None)

    def drop_timers(self, actor: str | None = None) -> None:
        """Cancel every timer of ``actor`` (all timers when None): its core is replaced."""
        if actor is None:
            self._armed.clear()
            self._heap.clear()
            return
        for ident in [i for i in self._armed if i[0] == actor]:
            del self._armed[ident]

    def pending(self, actor: str) -> list[Pending]:
        """``actor``'s timers that have not fired: (key, arg, due_ns), soonest first."""
        return sorted(((k, g, d) for (a, k, g), (d, _s) in self._armed.items() if a == actor),
                      key=lambda p: (p[2], p[0], p[1]))

    def next_due(self) -> int | None:
        """When the next armed timer is due (ns), or None."""
        heap, armed = self._heap, self._armed
        while heap:
            due, seq, actor, key, arg = heap[0]
            got = armed.get((actor, key, arg))
            if got is not None and got[1] == seq:
                return due
            heapq.heappop(heap)  # replaced or cancelled: never fires
        return None

    def fire_due(self, now: int) -> int:
        """Deliver every timer due at ``now`` (``Timer(key, now, arg)`` from ``@timer``), in
        due order, each run to completion; return how many fired."""
        heap, armed = self._heap, self._armed
        n = 0
        while heap and heap[0][0] <= now:
            _due, seq, actor, key, arg = heapq.heappop(heap)
            ident = (actor, key, arg)
            got = armed.get(ident)
            if got is None or got[1] != seq:
                continue  # replaced or cancelled
            del armed[ident]
            n += 1
            self.route("@timer", [(actor, Timer(key, now, arg))], now)
        return n


__all__ = ["JOURNAL", "NOT_JOURNALED", "Dispatcher", "Observer", "Pending", "Sink", "contained",
           "fatal"]
