"""The group commit of order intents in a dispatcher host, and the host's dispatcher sink.

An executor's shell (``LegShell``, ``actors.runtime.shells.venue_shell``) writes each ``NewOrder``'s
intent when its executor decides it and holds the frame; the host later calls its
``flush_sends()``: one fdatasync (and, with a hot standby, one replication) for every intent
held, then the frames leave. Nothing leaves before its intent is durable (and replicated).

**When the host releases** (``Host._release_sends``): once per *wake* at most, not once per
dispatch cycle. Every input is still its own dispatch cycle, journaled and replayed as before
(replay and rebuilds only see inputs and what they caused; when the frames physically left is
not part of it); what is shared is the sync. The LegOrders of one node-link frame, the frames
drained from a socket in one wake (at most ``MAX_FRAMES_PER_POLL`` each) and the items of one
``GroupBatch`` are routed cycle by cycle, and the orders of consecutive cycles leave together
after one fdatasync. Three rules keep that from costing latency:

- only orders wait for orders: what is held is released after the first cycle that decided no
  order (a tick that did not fire, an ack, market data from another socket), or at the end of
  the wake. An order never waits for input that adds nothing to its commit (held to the end of
  the wake, an order would wait behind every frame drained after it). On a venue socket (market
  data, order entry), where most frames decide nothing, an order is held only inside a run:
  the order of a frame whose predecessor decided none leaves at once, the orders of the frames
  that follow it and order too share the next sync (an isolated order pays no extra cycle; a
  burst of firing ticks pays two syncs, not one each). The LegOrders of a node-link frame or a
  ``GroupBatch`` are orders by nature and are held from the first;
- the hold bound (``hold_bound_ns``): an order held that long while the cycles still decide
  orders is released at the end of the current cycle, so the first order of a long run of
  orders does not wait for all of it. The bound is what the last group commit took (an order
  waits for company at most about as long as its own sync would take), kept between
  ``GROUP_COMMIT_MIN_NS`` and ``GROUP_COMMIT_MAX_NS``: on a fast disk a short wait; on a slow
  or busy one, where each sync blocks the host for a millisecond, more orders share each sync
  (``cmc bench orders`` at 3,000/s on a shared disk: ~1.7 orders per sync with a fixed 250 µs
  bound, ~4-4.5 with this one);
- FIFO per socket: a frame that is not a ``NewOrder`` (a cancel, a query, a reconciliation
  request) for a shell that holds orders first releases that shell's orders (``HostSink.send``),
  so nothing overtakes an order on the wire (a cancel must never reach the venue before the
  order it cancels, an open-orders query never before an order the executor counts as sent).

An intent that could not be made durable comes back from ``flush_sends`` as an ``IntentFailed``
input, routed to its executor from ``@wal`` (journaled, so a replay and a rebuild see it) as
soon as the commit is done, before the next input (``Host._after_cycle``); an order the shell
meets after the failure, before its executor heard of it, is refused the same way
(``LegShell``).

Without a durable sync to share (``run.durable_intents = false`` and no replication) an order
frame leaves as soon as its executor decided it (``HostSink.send``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from loguru import logger

from actors.runtime.dispatch import Sink
from transports.wire.messages import Reconnect
from transports.wire.venue_msgs import NewOrder

if TYPE_CHECKING:
    from actors.runtime.host.host import Host

#: the hold bound's floor: about one fdatasync on the reference disk when it is quiet
GROUP_COMMIT_MIN_NS = 250_000
#: the hold bound's ceiling: one slow sync (a disk stall) must not hold later orders long
#: (the same millisecond smart batching allows, ``host.GROUP_BATCH_MAX_NS``)
GROUP_COMMIT_MAX_NS = 1_000_000


def hold_bound_ns(last_commit_ns: int) -> int:
    """How long an order may wait in a wake for others to share its sync, given what the last
    group commit took (``Host._release_sends``)."""
    return min(GROUP_COMMIT_MAX_NS, max(GROUP_COMMIT_MIN_NS, last_commit_ns))


def no_commit_to_share(shell: Any) -> bool:
    """True if ``shell``'s pending orders wait for nothing a later order could share: no
    durable intent sync (no WAL, or ``durable_intents`` off) and no replication."""
    wal = getattr(shell, "intent_wal", None)
    return (wal is None or not wal.durable) and getattr(shell, "replicate", None) is None


class HostSink(Sink):
    """The host's side of its dispatcher: sockets (with the group commit), other groups and
    nodes, errors."""

    def __init__(self, host: Host) -> None:
        self.h = host
        self.forward = host.out.forward  # type: ignore[method-assign]  # no extra call per hop

    def send(self, actor: str, key: str, msg: Any) -> None:
        h = self.h
        shell = h.shells[actor]
        held = h._pending_sends
        if held and actor in held and not isinstance(msg, NewOrder):
            self.release_one(actor, shell, h.clock.now_ns())  # FIFO per socket (module)
        shell.send(key, msg)
        if getattr(shell, "pending", False):
            if no_commit_to_share(shell):
                # nothing durable to wait for: the order leaves now, not after the rest of the
                # wake; a failure (raised: the dispatcher journals it as the actor's error;
                # returned: ``IntentFailed``) is routed when the wake's cycles are done
                failed = shell.flush_sends()  # type: ignore[attr-defined]
                if failed:
                    h._wal_failed.append((actor, failed))
                return
            if not held:
                h._held_since_mono_ns = h.clock.mono_ns()
            held[actor] = shell  # released after the cycle (``Host._after_cycle``)
            h._ordered = True

    def release_one(self, actor: str, shell: Any, now: int) -> None:
        """Release ``actor``'s held orders now (their intents synced, then sent); a failure is
        routed from ``@wal`` with the wake's (``Host._wal_failed``)."""
        h = self.h
        del h._pending_sends[actor]
        if not h._pending_sends:
            h._ordered = False
        try:
            failed = shell.flush_sends()
        except Exception as exc:  # noqa: BLE001 - the frame that asked must still go
            h.dispatch.failed(actor, exc, now)
            return
        if failed:
            h._wal_failed.append((actor, failed))

    def host(self, actor: str, msg: Any) -> None:
        if isinstance(msg, Reconnect):
            self.h.io.reopen(self.h.shells[actor], msg.key)

    def failed(self, actor: str, exc: BaseException, now_ns: int) -> None:
        h = self.h
        h.counters[f"errors.{actor}"] += 1
        logger.opt(exception=exc).error("actor {} raised in its handler; message dropped", actor)
        if h.on_error is not None:
            h.on_error(actor, exc)


__all__ = ["GROUP_COMMIT_MAX_NS", "GROUP_COMMIT_MIN_NS", "HostSink", "hold_bound_ns",
           "no_commit_to_share"]
