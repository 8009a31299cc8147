"""The order records of one venue account: orders, their open / unknown-outcome indexes,
positions and counters.

The LegExecutor (``actors.leg.executor``) owns one ``OrderBook``; its ``Reports``
(``actors.leg.reports``) and its ``Reconciler`` (``actors.leg.reconciler``) change it. The book
keeps two indexes in step with the records (``sync``, after every change of an order): ``open``
(the orders that may still trade) and ``unknown`` (the client ids whose outcome is unknown), so
the order path never scans every order. ``open`` (an ``OpenOrders``) also keeps the lots still
working per (sym, side) as a running sum, so ``working`` -- asked up to three times per new
order -- costs the same with ten thousand open orders as with one (it was a scan of ``open``,
half the hot thread at 10,000 orders/s once acks lagged). The sum is derived: a checkpoint
holds only the orders, and a load recomputes it (``OpenOrders.__reduce__``).

Orders closed for ``RETIRE_AFTER_NS`` (10 min) are retired: pickled aside, their ids still used,
revived by any late report (``retire`` / ``find``), so a day of orders does not weigh on the hot
group's checkpoints.
"""

from __future__ import annotations

import pickle
from typing import Any

from actors.core import restore_attrs
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
    "adopted_orders",
    "reconciles",
    "orphans_canceled",
    "position_mismatches",
    "oe_disconnects",
    "revived",
    "bad_frames",
)

_dict_set, _dict_del, _dict_pop = dict.__setitem__, dict.__delitem__, dict.pop
_dict_setdefault = dict.setdefault
_MISSING: Any = object()

#: an order closed this long ago is retired (pickled aside, see ``OrderBook.retire``)
RETIRE_AFTER_NS = 600 * 1_000_000_000
RETIRE_EVERY_NS = 60 * 1_000_000_000


class OpenOrders(dict[str, LiveOrder]):
    """cl -> order, the orders that may still trade, with ``sums``: (sym, side) -> the lots
    still working (``leaves_lots``), kept in step on every insert and removal.

    Every write goes through ``put`` (also ``__setitem__``) or ``pop`` (``OrderBook.sync``,
    and ``OrderEntry.new`` for a just-submitted order), and each counts the order again at its
    current leaves, so a fill (``sync`` after it) updates the sum too; reads are plain dict
    reads. The other mutating dict methods are refused, so nothing bypasses the sum. Pickled as
    its items only (``__reduce__``): a loaded copy recounts them, so a checkpoint cannot carry
    a sum that disagrees with its orders."""

    __slots__ = ("counted", "sums")

    def __init__(self, items: dict[str, LiveOrder] | None = None) -> None:
        super().__init__()
        #: cl -> (the order, its leaves as counted in ``sums``, (sym, side)); holds exactly
        #: the keys of the dict (``OrderBook.sync`` reads it to skip a write that changes
        #: nothing)
        self.counted: dict[str, tuple[LiveOrder, int, tuple[str, str]]] = {}
        self.sums: dict[tuple[str, str], int] = {}  #: (sym, side) -> lots working
        for cl, lo in (items or {}).items():
            self[cl] = lo

    def put(self, cl: str, lo: LiveOrder) -> None:
        """``self[cl] = lo``, counting its leaves (``OrderBook.sync``, the order path): a call
        of the method skips the ``__setitem__`` slot's C-to-Python call on every order."""
        # ``dict.setdefault`` is a fast call (``dict.__setitem__`` packs its arguments in a
        # tuple); it writes only a new key, so another object under ``cl`` is replaced after
        if _dict_setdefault(self, cl, lo) is not lo:
            _dict_set(self, cl, lo)
        lots = lo.qty_lots - lo.cum_lots  # ``leaves_lots`` of an open order, inline
        counted = self.counted
        old = counted.get(cl)
        if old is not None:
            if old[0] is lo and old[1] == lots:
                return  # nothing working changed
            self._uncount(cl)
        key = (lo.sym, lo.side)
        sums = self.sums
        sums[key] = sums.get(key, 0) + (lots if lots > 0 else 0)
        counted[cl] = (lo, lots, key)

    __setitem__ = put

    def __delitem__(self, cl: str) -> None:
        _dict_del(self, cl)
        self._uncount(cl)

    def pop(self, cl: str, default: Any = _MISSING) -> Any:
        """Remove ``cl`` (as ``dict.pop``) and its lots from ``sums``."""
        lo = _dict_pop(self, cl, _MISSING)
        if lo is _MISSING:
            if default is _MISSING:
                raise KeyError(cl)
            return default
        old = self.counted.pop(cl)  # ``_uncount``, inline: once per closed order
        self.sums[old[2]] -= old[1] if old[1] > 0 else 0
        return lo

    def _uncount(self, cl: str) -> None:
        old = self.counted.pop(cl, None)
        if old is not None:
            self.sums[old[2]] -= old[1] if old[1] > 0 else 0

    def working(self, sym: str, side: str) -> int:
        """Lots still working on ``side`` of ``sym``."""
        return self.sums.get((sym, side), 0)

    def _refused(self, *_: object, **__: object) -> None:
        raise TypeError("OpenOrders: only item assignment, del and pop keep the sums")

    clear = popitem = setdefault = update = __ior__ = _refused  # type: ignore[assignment]

    def copy(self) -> OpenOrders:  # type: ignore[override]
        """A copy with its own sums (``dict.copy`` would return a plain dict)."""
        return OpenOrders(dict(self))

    def __reduce__(self) -> tuple[object, ...]:
        # the orders only; the sums are recounted on load (see the class)
        return (OpenOrders, (dict(self),))


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
        #: cl -> order, the orders that may still trade, with their working lots summed
        self.open = OpenOrders()
        self.unknown: set[str] = set()  #: the cls whose outcome is unknown
        self.last_fill_ts = 0  #: the venue ts of the latest fill applied (for ``TradesReq``)

    def __setstate__(self, state: dict[str, Any]) -> None:
        """A pickled book (a checkpoint); one written before ``OpenOrders`` held ``open`` as a
        plain dict, which is counted into one here (else the first ``sync`` after an upgrade
        would fail on it)."""
        restore_attrs(self, state)  # attribute by attribute: reads stay fast
        if not isinstance(self.open, OpenOrders):
            self.open = OpenOrders(self.open)

    def sync(self, lo: LiveOrder) -> None:
        """Bring the indexes in step with ``lo`` (after any change of its state or flag)."""
        state = lo.state
        cl = lo.cl
        opened = self.open
        # ``lo.is_open`` and ``lo.unknown``, inline (this runs on every order and report)
        if state not in TERMINAL and state is not St.INITIALIZED:
            was = opened.counted.get(cl)
            # an ack, a cancel request: already in, its leaves unchanged -- nothing to write
            if was is None or was[0] is not lo or was[1] != lo.qty_lots - lo.cum_lots:
                opened.put(cl, lo)
        elif cl in opened:
            # ``opened.pop(cl)``, inline (every order's close): out of the dict and the sums
            _dict_pop(opened, cl)
            old = opened.counted.pop(cl)
            opened.sums[old[2]] -= old[1] if old[1] > 0 else 0
        unknown = self.unknown
        if lo.unknown_since_ns > 0:
            unknown.add(cl)
        elif unknown:  # nothing to discard from an empty set (the usual case): no call
            unknown.discard(cl)

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
        """Lots still working on ``side`` of ``sym`` (a running sum, see ``OpenOrders``)."""
        return self.open.sums.get((sym, side), 0)

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


__all__ = ["COUNTERS", "RETIRE_AFTER_NS", "RETIRE_EVERY_NS", "OpenOrders", "OrderBook"]
