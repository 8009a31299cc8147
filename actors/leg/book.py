"""The order records of one venue account: orders, their open / unknown-outcome indexes,
positions and counters.

The LegExecutor (``actors.leg.executor``) owns one ``OrderBook``; its ``Reports``
(``actors.leg.reports``) and its ``Reconciler`` (``actors.leg.reconciler``) change it. The book
keeps two indexes in step with the records (``sync``, after every change of an order): ``open``
(the orders that may still trade) and ``unknown`` (the client ids whose outcome is unknown), so
the order path never scans every order.

Orders closed for ``RETIRE_AFTER_NS`` (10 min) are retired: pickled aside, their ids still used,
revived by any late report (``retire`` / ``find``), so a day of orders does not weigh on the hot
group's checkpoints.
"""

from __future__ import annotations

import pickle

from actors.leg.orders import TERMINAL, LiveOrder, St
from transports.wire.messages import LegOrder

COUNTERS = (
    "sent",
    "rejects",
    "fills",
    "duplicate_fills",
    "late_fills",
    "overfills",
    "illegal_transitions",
    "unknown_outcomes",
    "queries",
    "cancels",
    "cancel_rejects",
    "unknown_reports",
    "unresolved",
    "queries_exhausted",
    "inferred_rejects",
    "inferred_reconciled",
    "unknown_halts",
    "recovered_fills",
    "reconciles",
    "orphans_canceled",
    "position_mismatches",
    "oe_disconnects",
    "revived",
    "bad_frames",
)

#: an order closed this long ago is retired (pickled aside, see ``OrderBook.retire``)
RETIRE_AFTER_NS = 600 * 1_000_000_000
RETIRE_EVERY_NS = 60 * 1_000_000_000


class OrderBook:
    """Order records, their indexes, positions and counters of one venue account."""

    def __init__(self) -> None:
        self.orders: dict[str, LiveOrder] = {}
        #: closed orders past ``RETIRE_AFTER_NS``, pickled: kept (their ids stay used, a late
        #: report finds them, ``find`` revives them) without weighing on every checkpoint
        self.retired: dict[str, bytes] = {}
        self.next_retire_ns = 0
        self.positions: dict[str, int] = {}  #: signed lots per sym, from fills
        self.counters: dict[str, int] = dict.fromkeys(COUNTERS, 0)
        self.open: dict[str, LiveOrder] = {}  #: cl -> order, the orders that may still trade
        self.unknown: set[str] = set()  #: the cls whose outcome is unknown
        self.last_fill_ts = 0  #: the venue ts of the latest fill applied (for ``TradesReq``)

    def sync(self, lo: LiveOrder) -> None:
        """Bring the indexes in step with ``lo`` (after any change of its state or flag)."""
        state = lo.state
        # ``lo.is_open`` and ``lo.unknown``, inline (this runs on every order and report)
        if state not in TERMINAL and state is not St.INITIALIZED:
            self.open[lo.cl] = lo
        else:
            self.open.pop(lo.cl, None)
        if lo.unknown_since_ns > 0:
            self.unknown.add(lo.cl)
        else:
            self.unknown.discard(lo.cl)

    def find(self, cl: str) -> LiveOrder | None:
        """The order ``cl``, revived from the retired ones if it was retired."""
        lo = self.orders.get(cl)
        if lo is None and cl in self.retired:
            lo = self.orders[cl] = pickle.loads(self.retired.pop(cl))  # our own bytes
            self.counters["revived"] += 1
        return lo

    def retire(self, now_ns: int) -> int:
        """Retire the orders closed (terminal, outcome known, every fill the venue reported
        applied) for more than ``RETIRE_AFTER_NS``;
        return how many. Run from the ping timer at most once a ``RETIRE_EVERY_NS``."""
        self.next_retire_ns = now_ns + RETIRE_EVERY_NS
        horizon = now_ns - RETIRE_AFTER_NS
        old = [lo for lo in self.orders.values()
               if lo.state in TERMINAL and not lo.unknown_since_ns and lo.cl not in self.open
               and not lo.missing_fills  # its fills are still being asked for: keep it live
               and max(lo.done_ns, lo.sent_ns, lo.created_ns) < horizon]
        for lo in old:
            self.retired[lo.cl] = pickle.dumps(lo, protocol=5)
            del self.orders[lo.cl]
        return len(old)

    def prior_epochs(self, epoch: int) -> dict[str, int]:
        """``combo.leg.attempt`` -> epoch of every order held (live or retired) from an epoch
        other than ``epoch``."""
        prior: dict[str, int] = {}
        for cl in (*self.orders, *self.retired):
            ep, _, rest = cl.partition(".")
            if ep.isdigit() and int(ep) != epoch:
                prior[rest] = int(ep)
        return prior

    def working(self, sym: str, side: str) -> int:
        """Lots still working on ``side`` of ``sym``."""
        return sum(x.leaves_lots for x in self.open.values() if x.sym == sym and x.side == side)

    def flatten_orders(self, venue: str, now_ns: int, px_ticks: dict[str, int],
                       combo_id: int) -> list[LegOrder]:
        """Return IOC ``flatten`` orders on ``venue`` that would bring each priced position to
        zero (leg i is the i-th instrument in sorted order)."""
        out: list[LegOrder] = []
        for i, sym in enumerate(sorted(self.positions)):
            pos = self.positions[sym]
            if pos == 0 or sym not in px_ticks:
                continue
            out.append(
                LegOrder(
                    combo_id,
                    i,
                    0,
                    venue,
                    sym,
                    "S" if pos > 0 else "B",
                    abs(pos),
                    px_ticks[sym],
                    "IOC",
                    "flatten",
                    now_ns,
                    now_ns,
                )
            )
        return out


__all__ = ["COUNTERS", "RETIRE_AFTER_NS", "RETIRE_EVERY_NS", "OrderBook"]
