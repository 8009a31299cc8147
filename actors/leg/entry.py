"""The LegExecutor's order-entry path: a ``LegOrder`` checked and sent as a ``NewOrder``, and
cancels (held while throttled, delayed over the venue's cancel rate, never dropped).

Money rules (the rest are ``actors.leg.executor``'s): the client order id is used at most once,
ever (a repeated ``LegOrder`` is denied ``duplicate_cl``, denied ids stay reserved); the "sent"
report goes before the ``NewOrder`` so the journal holds the intent before the order leaves;
after the intent WAL failed only reducing orders go, each journaled ``Decision("non_durable")``.
On a version 2 venue an order that can only close a perpetual's position (``perps``, set from
the gateway's ``VenueInfo`` by ``actors.leg.session``) goes with ``reduce_only``; every other
``NewOrder`` carries version 1 keys only (the version 2 keys are omitted at their defaults).
A contract with ``offsets`` (CTP futures) gets its order's ``offset`` from ``actors.leg.offsets``
(``offsets``, set by the executor); the part of an order closing more than a bucket holds is
denied there (``close_exceeds_position``) and the rest goes.
"""

from __future__ import annotations

import json

from actors.core import Out
from actors.leg.book import OrderBook
from actors.leg.faults import BadFrames, WalFailure
from actors.leg.offsets import Offsets
from actors.leg.orders import LegTimer, LiveOrder, St
from actors.leg.pretrade import PreTrade, pretrade_reason, reduces
from actors.leg.reports import Reports
from actors.leg.throttle import Throttle
from transports.config.engine import ContractConfig
from transports.wire.messages import CancelLeg, Decision, ExecReport, LegOrder, SetTimer
from transports.wire.venue_msgs import CancelReject, NewOrder

_SUBMITTED_STATE, _INITIALIZED = St.SUBMITTED, St.INITIALIZED
#: ``LiveOrder(...)`` on the order path as its two steps: the class call looks ``__new__`` and
#: ``__init__`` up on every call (the same object results; ``LiveOrder`` has no ``__new__``)
_new_object = object.__new__
_init_order = LiveOrder.__init__
_SUBMITTED = St.SUBMITTED._value_  #: a just-sent order's state in its "sent" report
_ACK = LegTimer.ACK


class OrderEntry:
    """New orders and cancels for one venue account. It uses the executor's helpers it is
    given (the same objects the executor owns); what only the executor knows (its gate, the
    trading state, the client id) comes with each call."""

    #: (epoch, "<epoch>.") of the last client id made: a cache, so a class default (an entry
    #: pickled before it existed reads this one)
    _cl_prefix: tuple[int | None, str] = (None, "")

    def __init__(self, book: OrderBook, pretrade: PreTrade, reports: Reports,
                 throttle: Throttle, frames: BadFrames, wal: WalFailure, venue: str,
                 contracts: dict[str, ContractConfig]) -> None:
        self.book = book
        self.pretrade = pretrade
        self.reports = reports
        self.throttle = throttle
        self.frames = frames
        self.wal = wal
        self.venue = venue
        self.contracts = contracts  #: keyed by sym on this venue (the executor's dict)
        #: the symbols whose closing orders go ``reduce_only`` (version 2 perpetuals)
        self.perps: frozenset[str] = frozenset()
        #: the offsets state (``actors.leg.offsets``) when a contract has offsets, else None
        self.offsets: Offsets | None = None

    def new(self, o: LegOrder, epoch: int, prior: dict[str, int], gate: str,
            trading_state: str, now_ns: int) -> Out:
        """Check ``o`` and send it, or deny it with a report. ``epoch``, ``prior`` and ``gate``
        (empty if open) are the executor's (``LegExecutorCore``).

        The hot path (one call per order; see docs/performance.md): the order's fields are
        read once into locals, objects are built with positional arguments, and the common
        case (nothing trimmed, nothing non-durable) returns its four outputs as one list."""
        combo_id, leg, attempt = o.combo_id, o.leg, o.attempt
        # ``cl_for``, inline, with the epoch's part formatted once per epoch (a tuple: the
        # rebuild's ``re_epoch`` shifts integer attributes, never this pair)
        ep, prefix = self._cl_prefix
        if ep != epoch:
            ep, prefix = self._cl_prefix = (epoch, f"{epoch}.")
        cl = f"{prefix}{combo_id}.{leg}.{attempt}"
        if prior:  # a rebuilt executor: an order it holds from an earlier epoch?
            old = prior.get(f"{combo_id}.{leg}.{attempt}")
            if old is not None:
                cl = f"{old}.{combo_id}.{leg}.{attempt}"  # found below: a duplicate
        book = self.book
        orders = book.orders
        if cl in orders or cl in book.retired:
            return self._duplicate(o, cl, now_ns)
        sym = o.sym
        side = o.side
        qty = o.qty_lots
        px = o.px_ticks
        lo = _new_object(LiveOrder)
        _init_order(lo, cl, o.venue, sym, side, px, qty, o.tif, combo_id, leg, attempt,
                    o.purpose, now_ns)
        orders[cl] = lo
        opened = book.open
        pre = self.pretrade
        positions = book.positions
        # ``book.working``, inline; nothing works while no order is open (the common case)
        working = opened.sums.get((sym, side), 0) if opened else 0
        reason = gate or ("throttled" if self.throttle.until_ns else "") or pretrade_reason(
            o, self.venue, self.contracts.get(sym), trading_state, positions.get(sym, 0),
            working, True if book.unknown else self.frames.suspect_ns > 0, pre.bucket, now_ns,
            pre.market, positions, opened.values() if opened else ())
        wal_failed = self.wal.reason
        offs = self.offsets
        if reason or wal_failed or offs is not None or self.perps:
            return self._rare(o, lo, cl, reason, wal_failed, working, now_ns)
        # ``lo.submit(now_ns)``, inline: ``lo`` is new, so INITIALIZED, the one state the
        # table lets submit (to SUBMITTED, remembering INITIALIZED)
        lo.state = _SUBMITTED_STATE
        lo.previous_state = _INITIALIZED
        lo.sent_ns = now_ns
        # ``book.sync(lo)`` for a just-submitted order: open, outcome known (a new cl was never
        # in ``unknown``; the discard keeps that true whatever happened before)
        opened.put(cl, lo)
        unknown = book.unknown
        if unknown:
            unknown.discard(cl)
        book.counters["sent"] += 1
        reports = self.reports
        to = reports.report_to
        # the "sent" report goes first so the journal holds the intent before the order leaves
        # (``reports.emit(lo, "sent", now_ns, reason=o.purpose)``, inline: a new order has
        # nothing filled, so its leaves are its quantity, checked > 0 above)
        rep = ExecReport(self.venue, cl, combo_id, leg, attempt, sym, side,  # type: ignore[arg-type]
                         "sent", _SUBMITTED, px, qty, 0, qty, 0.0, "", o.purpose, now_ns, now_ns)
        # positional (cl, sym, side, px, qty, tif, ts, offset, reduce_only)
        new = NewOrder(cl, sym, side, px, qty, o.tif, now_ns, "", False)  # type: ignore[arg-type]
        timer = ("@timer", SetTimer(_ACK, now_ns + reports.timeout_ns, cl))
        if len(to) == 2:
            return [(to[0], rep), (to[1], rep), ("@oe", new), timer]
        out: Out = []
        for d in to:  # a loop, not a generator: ``rep`` stays a plain local
            out.append((d, rep))
        out.append(("@oe", new))
        out.append(timer)
        return out

    def _duplicate(self, o: LegOrder, cl: str, now_ns: int) -> Out:
        """``o`` would reuse the client id ``cl``: denied ``duplicate_cl`` and alarmed (never
        send a cl twice; the existing order's record is left untouched)."""
        self.pretrade.deny("duplicate_cl")
        dup = LiveOrder(cl, o.venue, o.sym, o.side, o.px_ticks, o.qty_lots, o.tif,
                        combo_id=o.combo_id, leg=o.leg, attempt=o.attempt, purpose=o.purpose)
        dup.deny("duplicate_cl")
        return [
            *self.reports.emit(dup, "denied", now_ns, reason="duplicate_cl"),
            self.reports.alarm("duplicate_cl", now_ns, cl=cl),
        ]

    def _rare(self, o: LegOrder, lo: LiveOrder, cl: str, reason: str, wal_failed: str,
              working: int, now_ns: int) -> Out:
        """The rest of ``new`` for an order denied, or sent while the intent WAL has failed,
        on a contract with offsets or on a venue with perpetuals (``lo`` is recorded, not yet
        submitted; ``working``: the lots working on its side)."""
        book = self.book
        opened = book.open
        pre = self.pretrade
        positions = book.positions
        non_durable: Out = []
        if wal_failed and not reason:
            # no durable intent is possible: only an order that reduces what we hold goes
            if reduces(o.side, o.qty_lots, positions.get(o.sym, 0), working):
                book.counters["non_durable"] = book.counters.get("non_durable", 0) + 1
                reports = self.reports
                non_durable = [(reports.journal, Decision(reports.name, "non_durable", json.dumps(
                    {"cl": cl, "sym": o.sym, "side": o.side, "qty": o.qty_lots,
                     "purpose": o.purpose, "wal": wal_failed[:200]}), now_ns))]
            else:
                reason = "intent_wal_failed"
        offset = ""
        trimmed: Out = []
        offs = self.offsets
        if offs is not None and not reason and o.sym in offs.rules:
            d = offs.decide(o.sym, o.side, o.qty_lots, opened.values(), now_ns)
            offset = d.offset
            if d.qty <= 0:
                reason = d.reason
            elif d.qty < o.qty_lots:
                # one order, one client id: the part no bucket holds is denied, the rest goes
                pre.deny(d.reason)
                offs.trimmed_lots += o.qty_lots - d.qty
                trimmed = [self.reports.alarm(d.reason, now_ns, cl=cl, sym=o.sym, side=o.side,
                                              qty=o.qty_lots, sent=d.qty, offset=offset)]
                lo.qty_lots = d.qty
        if reason:
            lo.deny(reason)
            pre.deny(reason)
            return self.reports.emit(lo, "denied", now_ns, reason=reason)
        # before the order counts as working: it must close what is held with what else works
        reduce_only = bool(self.perps) and o.sym in self.perps and reduces(
            o.side, o.qty_lots, positions.get(o.sym, 0), working)
        lo.submit(now_ns)
        opened.put(cl, lo)  # ``book.sync(lo)``, as in ``new``
        book.unknown.discard(cl)
        book.counters["sent"] += 1
        # positional (cl, sym, side, px, qty, tif, ts, offset, reduce_only)
        new = NewOrder(cl, o.sym, o.side, o.px_ticks, lo.qty_lots, o.tif, now_ns,
                       offset, reduce_only)  # type: ignore[arg-type]
        if offset:
            offs.on_sent(cl, offset)  # type: ignore[union-attr]
        # the "sent" report goes first so the journal holds the intent before the order leaves
        # (its ``offset`` is "" as it always was: the journal's records are the replay's)
        leaves = lo.qty_lots - lo.cum_lots  # ``leaves_lots`` of an open order
        rep = ExecReport(self.venue, cl, lo.combo_id, lo.leg, lo.attempt, lo.sym,
                         lo.side,  # type: ignore[arg-type]
                         "sent", lo.state._value_, lo.px_ticks, lo.qty_lots, lo.cum_lots,
                         leaves if leaves > 0 else 0,
                         0.0, "", o.purpose, now_ns, now_ns)
        reports = self.reports
        timer = ("@timer", SetTimer(_ACK, now_ns + reports.timeout_ns, cl))
        return [*non_durable, *trimmed, *((d, rep) for d in reports.report_to), ("@oe", new),
                timer]

    def cancel(self, lo: LiveOrder, now_ns: int) -> Out:
        """Cancel ``lo`` if it is open and not being cancelled: now, or on a timer over the
        venue's cancel rate, or when the throttled back-off ends."""
        if not lo.is_open or lo.state is St.PENDING_CANCEL:
            return []
        if self.throttle.hold(lo.cl):
            # the venue asked us to wait: the cancel goes first when the back-off ends
            return []
        retry_ns = self.pretrade.cancel_delay(now_ns)
        if retry_ns:
            # over the venue's cancel rate: not sent now, retried on a timer (never dropped)
            return [("@timer", SetTimer(LegTimer.CANCEL_RETRY, now_ns + retry_ns, lo.cl))]
        return self.reports.cancel(lo, now_ns)

    def cancel_leg(self, m: CancelLeg, now_ns: int) -> Out:
        """Cancel the order ``m`` names, or alarm if it is not one of ours."""
        lo = self.book.find(m.cl)
        if lo is None or m.venue != self.venue:
            self.book.counters["unknown_reports"] += 1
            return [self.reports.alarm("cancel_unknown_cl", now_ns, cl=m.cl)]
        return self.cancel(lo, now_ns)

    def cancel_all(self, now_ns: int) -> Out:
        """Cancel every open order (trading HALTED)."""
        out: Out = []
        for lo in list(self.book.open.values()):
            out += self.cancel(lo, now_ns)
        return out

    def cancel_throttled(self, m: CancelReject, now_ns: int) -> Out:
        """A ``throttled`` cancel reject: the venue did not look at the cancel, so no query;
        the back-off starts and the cancel is retried after it (``cancel`` holds it)."""
        out = self.reports.on_cancel_reject(m, now_ns, query=False)
        out += self.throttle.start(m.cl, m.retry_ms, now_ns)
        lo = self.book.find(m.cl)
        if lo is not None:
            out += self.cancel(lo, now_ns)
        return out

    def throttle_ends(self, now_ns: int) -> Out:
        """The back-off is over (``Throttle.end``): the held cancels go first, then new orders
        may go again."""
        out: Out = []
        for cl in self.throttle.end(now_ns):
            lo = self.book.find(cl)
            if lo is not None:
                out += self.cancel(lo, now_ns)
        return out


__all__ = ["OrderEntry"]
