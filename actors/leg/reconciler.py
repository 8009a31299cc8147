"""A LegExecutor's one reconciliation with its venue: at start, after a rebuild, after a reconnect.

The executor (``actors.leg.executor``) owns one ``Reconciler``. ``begin`` shuts the executor's
gate (new orders denied ``reconciling``; the strategies hear ``VENUE_RECONCILING``) and asks the
venue, on the leg's own ``@oe`` socket, for its open orders, its trades since the executor's last
fill and its positions -- each once, again only for what is still missing after ``timeout_ns``
(the ``RECONCILE`` timer: a request may be lost); a version 2 gateway is asked its ``balances``
too (``actors.leg.session``; not waited for). With the three answers in, the gate opens (unless
the link or the gateway's session is down), the venue's positions go to risk (``Position``:
exposure a previous run left is exposure no combo owns) and a ``Decision("reconciled")`` records
what was done.

- **Open orders** the executor does not know (a previous incarnation's, or denied ones) are
  cancelled and the list asked again until it comes back without one (the venue answers in
  order, after those cancels); an order we sent whose ack we lack is acked by the listing.
- **Trades** we lacked are applied (deduplicated by trade id, fill reports emitted). At start
  a trade of an order this executor never heard of is this run's own when it is at least as
  new as the executor's first start (``began_ns``, kept across rebuilds and a standby's
  take-over, which replay that start) and its client id is one of ours
  (``epoch.combo.leg.attempt``): an order the previous incarnation sent whose intent never
  reached this journal -- a reducing order sent without a durable or replicated intent, the
  old primary's close during a partition -- so it is recorded as an order (purpose
  ``adopted``) and its fills reported like any recovered fill: the ComboExecutor adopts its
  combo (``actors.combo.adopt``) and what the strategy holds agrees with the venue again.
  Older trades (a previous run's: no combo of this journal holds them) and ones without a
  ``sym``/``side`` are left to the positions, as are all at the very first start; after a
  start an unknown trade is alarmed.
- **Positions** (each entry's ``net``: signed lots, or long minus short where the venue keeps
  two sides): the venue's are adopted, at start (a fresh or a rebuilt executor) and after a
  reconnect; a difference from the executor's own is alarmed ``position_mismatch`` first. After
  a reconnect the recovered trades normally close it; what is left (a trade no report and no
  ``trades`` entry told us of: another session on the account, a venue's lost history) is
  still the venue's truth: the executor's positions become the venue's and the ``Position``
  messages sent to risk carry the venue's figure, so risk adopts the difference at the mark and
  flattens it as exposure no combo owns (``actors.risk.orphans``). The venue answers in order,
  so a fill report arriving after the positions reply is a trade the reply did not hold. A
  re-ask for trades at start asks for positions again too, so a trade applied after the
  adoption is in it.

**The positions check** (between reconciliations): every ``check_every_ns`` (the venue's
``position_check_ms``, 60 s; 0 = off) after a reconciliation, an executor with nothing working
and nothing unknown asks the venue's ``positions`` without closing its gate (``check``). A
difference counts only if no fill arrived between the ask and the answer and nothing was sent
meanwhile; the first sighting is kept, and the same difference at the next check (a report in
flight would have arrived by then) is a drift: alarmed ``position_drift`` and reconciled as
after a reconnect (trades recovered, the rest adopted and told to risk, which flattens what no
combo owns). A reconciliation takes a positions answer only after its trades answer (it asks
them first, the venue answers in order): one before it answers a check asked earlier. Without
the check a fill of another session on the account (reliability V13) stayed unseen until the
next start, reconnect or clock jump.

Who reconciles at start: an executor with an order-entry link (``oe_link``), and every executor
a node supervises (``wrap_leg``, also after a rebuild: ``LegExecutorCore.restarted``). The names
``wrap_leg`` and, in a run's ``cores.json``, ``"LegReconciler"`` are kept for the call sites and
for replaying older journals.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from actors.core import Out
from actors.leg.orders import LegTimer, LiveOrder, St
from transports.wire.messages import Decision, InFlight, Position, SetTimer
from transports.wire.venue_msgs import (
    Ack,
    CancelReq,
    OpenOrders,
    OpenOrdersReq,
    Positions,
    PositionsReq,
    Trades,
    TradesReq,
)

if TYPE_CHECKING:
    from actors.leg.executor import LegExecutorCore
    from transports.config.engine import AppConfig

_OPEN, _TRADES, _POSITIONS = "open_orders", "trades", "positions"


class Reconciler:
    """The state of the executor's reconciliation; handlers take the executor (``ex``): its
    ``book`` (orders, positions, counters) and gate it reads and changes, its ``reports``
    applies the trades it recovers, and an open order it lists unacked is acked through the
    executor's own ``on_ack`` (so the gate is re-judged right there)."""

    def __init__(self, timeout_ns: int, at_start: bool) -> None:
        self.timeout_ns = timeout_ns  #: re-ask what is missing after this
        self.at_start = at_start  #: reconcile from ``on_start`` (the node's executors do)
        self.wait: set[str] = set()  #: replies still missing; empty when not reconciling
        self.start = False  #: this reconciliation is a start's (positions adopted)
        self.done = False  #: the latest reconciliation finished
        self.done_ns = 0
        self.rounds = 0  #: asks of the current reconciliation
        self.cancelled: list[str] = []  #: orphans cancelled by the current reconciliation
        self.recovered: list[str] = []  #: trade ids recovered by it
        self.mismatch: dict[str, Any] = {}
        self.adopted: dict[str, int] = {}  #: the venue's positions adopted last (start, mismatch)
        self.records: list[dict[str, Any]] = []  #: one per finished reconciliation
        #: intents a restarted node's WAL holds that this (rebuilt) executor did not know
        #: (``InFlight``); queried by client id at the next start, before anything else
        self.in_flight: list[Any] = []
        self.queried: list[str] = []  #: the in-flight client ids the current start queried

    #: the executor's first start (engine ns): a trade this old or newer that the executor
    #: does not know is its own previous incarnation's (a class default: an older checkpoint
    #: reads 0, and its next start counts as the first)
    began_ns = 0
    #: at the current start: adopt unknown trades from this ts on (0: adopt none)
    adopt_from_ns = 0
    #: the client ids the current start adopted from their trades
    adopted_orders: tuple[str, ...] = ()
    #: how often the positions are checked between reconciliations (0: never)
    check_every_ns = 60_000_000_000
    #: the fills counter when the pending check asked (-1: no check pending)
    check_fills = -1
    #: the difference the last check saw (JSON; "" none): the same one next time is a drift
    drift = ""

    @property
    def active(self) -> bool:
        """True while a reconciliation waits for the venue."""
        return bool(self.wait)

    def begin(self, ex: LegExecutorCore, now_ns: int, start: bool) -> Out:
        """Shut the gate and ask the venue for its open orders, trades and positions."""
        self.start = start
        if start:
            # the first start adopts nothing (what the venue holds from before is a previous
            # run's); a later one adopts its own previous incarnation's orders from their trades
            self.adopt_from_ns = self.began_ns
            if not self.began_ns:
                self.began_ns = now_ns
        self.wait = {_OPEN, _TRADES, _POSITIONS}
        self.done = False
        self.rounds = 0
        self.cancelled, self.recovered, self.mismatch = [], [], {}
        self.adopted_orders = ()
        ex.gate = "reconciling"
        ex.book.counters["reconciles"] += 1
        # in-flight orders first: the venue answers in order, so their status (and fills)
        # comes before the positions this start adopts, which then already hold those fills
        pre = self._query_in_flight(ex, now_ns) if start else []
        # a version 2 gateway's balances too (kept, not waited for: they gate nothing)
        return pre + self.ask(ex, now_ns) + ex.session.ask_balances()

    def on_in_flight(self, ex: LegExecutorCore, m: InFlight, now_ns: int) -> Out:
        """Keep the WAL's intents this executor does not know; queried at the next start."""
        if m.venue == ex.venue:
            book = ex.book
            self.in_flight += [o for o in m.orders
                               if o.cl not in book.orders and o.cl not in book.retired]
        return []

    def _query_in_flight(self, ex: LegExecutorCore, now_ns: int) -> Out:
        """Record each kept intent as a sent order whose outcome is unknown and query it by
        client id: its fills (the status lists them) become ours, a "not found" resolves it
        as an inferred reject after the venue's unknown bound, and the executor's gate stays
        ``uncertain`` meanwhile (no new order opens on this venue)."""
        out: Out = []
        self.queried = []
        for o in self.in_flight:
            if o.cl in ex.book.orders or o.cl in ex.book.retired:
                continue
            parts = o.cl.split(".")
            ids = [int(p) if p.isdigit() else 0 for p in (parts + ["0"] * 4)[1:4]]
            lo = LiveOrder(o.cl, ex.venue, o.sym, o.side, o.px_ticks, o.qty_lots, o.tif,
                           ids[0], ids[1], ids[2], "in_flight", o.ts_sent_ns)
            lo.submit(o.ts_sent_ns)
            ex.book.orders[o.cl] = lo
            self.queried.append(o.cl)
            out += ex.reports.flag_unknown(lo, "in_flight_at_restart", now_ns)
        self.in_flight = []
        return out

    def ask(self, ex: LegExecutorCore, now_ns: int) -> Out:
        """Ask for what is still missing (on ``begin`` and on the ``RECONCILE`` timer)."""
        if not self.wait:
            return []
        if self.start and _TRADES in self.wait:
            self.wait.add(_POSITIONS)  # positions adopted before a trade would count it twice
        self.rounds += 1
        out: Out = []
        if _OPEN in self.wait:
            out.append(("@oe", OpenOrdersReq()))
        if _TRADES in self.wait:
            out.append(("@oe", TradesReq(since=ex.book.last_fill_ts)))
        if _POSITIONS in self.wait:
            out.append(("@oe", PositionsReq()))
        out.append(("@timer", SetTimer(LegTimer.RECONCILE, now_ns + self.timeout_ns)))
        return out

    def on_open_orders(self, ex: LegExecutorCore, m: OpenOrders, now_ns: int) -> Out:
        """Cancel the venue's open orders we do not know; ack the ones we sent unacked."""
        if _OPEN not in self.wait:
            return []
        out: Out = []
        orphans = 0
        for r in m.list:
            lo = ex.book.find(r.cl)
            if lo is None or lo.state is St.DENIED:
                # not ours (a previous incarnation, or lost state): cancel it; cancels are safe
                orphans += 1
                ex.book.counters["cancels"] += 1
                if r.cl not in self.cancelled:
                    ex.book.counters["orphans_canceled"] += 1
                    self.cancelled.append(r.cl)
                out.append(("@oe", CancelReq(cl=r.cl, ts=now_ns)))
            elif lo.state is St.SUBMITTED or lo.inferred:
                # it is working at the venue: that is the ack we did not get
                out += ex.on_ack(Ack(cl=r.cl, oid=r.oid, ts=now_ns), now_ns)
        if orphans:
            # the venue answers in order: the next list comes after these cancels
            return [*out, ("@oe", OpenOrdersReq())]
        self.wait.discard(_OPEN)
        return out + self._finish(ex, now_ns)

    def on_trades(self, ex: LegExecutorCore, m: Trades, now_ns: int) -> Out:
        """Apply the venue's trades we lacked (deduplicated by trade id)."""
        if _TRADES not in self.wait:
            return []
        out: Out = []
        mine = self._own_unknown(ex, m) if self.start and self.adopt_from_ns else {}
        for f in m.list:
            lo = ex.book.find(f.cl)
            if lo is None and f.cl in mine:
                lo = self._adopt_order(ex, f, mine.pop(f.cl), now_ns)
                out.append(ex.reports.alarm("trade_adopted", now_ns, cl=f.cl, sym=f.sym,
                                            side=f.side, lots=lo.qty_lots))
            if lo is None or lo.state is St.DENIED:
                if not self.start:  # at start: a previous incarnation's (positions adopt)
                    ex.book.counters["unknown_reports"] += 1
                    out.append(ex.reports.alarm("unknown_fill", now_ns, cl=f.cl, tid=f.tid, px=f.px,
                                         qty=f.qty))
                elif f.ts > ex.book.last_fill_ts:
                    ex.book.last_fill_ts = f.ts
                continue
            if f.tid in lo.trade_ids:
                continue
            ex.book.counters["recovered_fills"] += 1
            self.recovered.append(f.tid)
            if lo.inferred:
                out += ex.reports.revive(lo, "trades", now_ns)
            out += ex.reports.apply_fill(lo, f.tid, f.px, f.qty, f.fee, f.ts, now_ns)
        self.wait.discard(_TRADES)
        return out + self._finish(ex, now_ns)

    def _own_unknown(self, ex: LegExecutorCore, m: Trades) -> dict[str, int]:
        """Client id -> total lots of the listed trades that are this executor's previous
        incarnation's orders it does not know (see the module): new enough, one of our client
        ids, on a contract of this venue, with a side."""
        lots: dict[str, int] = {}
        for f in m.list:
            if f.ts < self.adopt_from_ns or f.sym not in ex.contracts or f.side not in ("B", "S"):
                continue
            lo = ex.book.find(f.cl)
            if lo is not None or _combo_ids(f.cl) is None:
                continue
            lots[f.cl] = lots.get(f.cl, 0) + f.qty
        return lots

    def _adopt_order(self, ex: LegExecutorCore, f: Any, qty: int, now_ns: int) -> LiveOrder:
        """Record an order of the previous incarnation from its first listed trade (``qty``:
        all its listed lots; its fills are then applied as recovered ones)."""
        ids = _combo_ids(f.cl)
        assert ids is not None
        lo = LiveOrder(f.cl, ex.venue, f.sym, f.side, f.px, qty, "IOC", ids[0], ids[1], ids[2],
                       "adopted", f.ts)
        lo.submit(f.ts)
        ex.book.orders[f.cl] = lo
        counters = ex.book.counters  # an older checkpoint's counters lack the name
        counters["adopted_orders"] = counters.get("adopted_orders", 0) + 1
        self.adopted_orders = (*self.adopted_orders, f.cl)
        return lo

    def check(self, ex: LegExecutorCore, now_ns: int) -> Out:
        """The ``POSITIONS`` timer: ask the venue's positions if nothing works or is unknown
        and no reconciliation runs (see the module); re-arm."""
        out: Out = [("@timer", SetTimer(LegTimer.POSITIONS, now_ns + self.check_every_ns))]
        book = ex.book
        if self.wait or ex.gate or book.open or book.unknown or not ex.link.up:
            self.check_fills = -1
            return out
        self.check_fills = book.counters["fills"]
        return [("@oe", PositionsReq()), *out]

    def _checked(self, ex: LegExecutorCore, m: Positions, now_ns: int) -> Out:
        """The answer to a positions check (outside a reconciliation)."""
        asked, self.check_fills = self.check_fills, -1
        book = ex.book
        if asked < 0 or book.counters["fills"] != asked or book.open or book.unknown \
                or ex.gate:
            return []  # nothing asked, or something traded meanwhile: it proves nothing
        venue = {r.sym: r.net for r in m.list if r.sym in ex.contracts and r.net}
        mine = {s: q for s, q in book.positions.items() if q}
        if venue == mine:
            self.drift = ""
            return []
        seen = json.dumps({"engine": mine, "venue": venue}, sort_keys=True)
        if seen != self.drift:
            self.drift = seen  # first sighting: a report in flight may still explain it
            return []
        self.drift = ""
        book.counters["position_drifts"] = book.counters.get("position_drifts", 0) + 1
        return [ex.reports.alarm("position_drift", now_ns, engine=mine, venue=venue),
                *self.begin(ex, now_ns, start=False)]

    def on_positions(self, ex: LegExecutorCore, m: Positions, now_ns: int) -> Out:
        """Adopt the venue's positions at start; alarm a difference."""
        if _POSITIONS not in self.wait or _TRADES in self.wait:
            # not this reconciliation's answer: the venue answers in order and it asked its
            # trades first, so a positions answer before the trades one answers an older ask
            # (a positions check in flight when it began); adopted, it would count the trades
            # listed after it twice
            return self._checked(ex, m, now_ns)
        out: Out = []
        # ``net``: a venue that keeps two sides (protocol v2 ``long``/``short``) nets here
        venue = {r.sym: r.net for r in m.list if r.sym in ex.contracts and r.net}
        mine = {s: q for s, q in ex.book.positions.items() if q}
        if mine != venue and (mine or not self.start):
            ex.book.counters["position_mismatches"] += 1
            self.mismatch = {"engine": mine, "venue": venue}
            out.append(ex.reports.alarm("position_mismatch", now_ns, engine=mine, venue=venue))
        if self.start or mine != venue:
            # the venue's account is the truth a start begins from; after a reconnect, what the
            # recovered trades did not explain is adopted too (risk hears it as ``Position``)
            ex.book.positions = dict(venue)
            self.adopted = dict(venue)
        if ex.offsets.rules:
            # the venue's buckets (today / yesterday) are the truth the offsets start from
            ex.offsets.adopt(m.list, now_ns)
        self.wait.discard(_POSITIONS)
        return out + self._finish(ex, now_ns)

    def _finish(self, ex: LegExecutorCore, now_ns: int) -> Out:
        if self.wait:
            return []
        ex.gate = ("disconnected" if not ex.link.up
                   else "session_down" if ex.session.down else "")
        # the venue answered every question: a bad frame's doubt is settled
        ex.frames.suspect_ns = 0
        self.done, self.done_ns = True, now_ns
        rec = {"start": self.start, "at_ns": now_ns, "cancelled": list(self.cancelled),
               "recovered": list(self.recovered), "mismatch": dict(self.mismatch),
               "in_flight": list(self.queried),
               "positions": dict(ex.book.positions), "rounds": self.rounds,
               "denied": ex.pretrade.denied.get("reconciling", 0)}
        if self.adopted_orders:  # (only when there are: older journals replay unchanged)
            rec["adopted_orders"] = list(self.adopted_orders)
        if ex.offsets.rules:  # futures offsets: both sides, today's part too
            rec["sides"] = ex.offsets.snapshot()["positions"]
        self.records.append(rec)
        # the venue's positions, now this executor's, go to risk as facts: a position a previous
        # run (or a restart) left behind is exposure that no combo owns
        pos = [(ex.topology.risk, Position(ex.venue, sym, ex.book.positions.get(sym, 0), now_ns))
               for sym in sorted(ex.contracts)]
        self.check_fills, self.drift = -1, ""
        check = ([("@timer", SetTimer(LegTimer.POSITIONS, now_ns + self.check_every_ns))]
                 if self.check_every_ns else [])
        return [("@timer", SetTimer(LegTimer.RECONCILE, 0)),
                (ex.journal, Decision(ex.name, "reconciled", json.dumps(rec, sort_keys=True),
                                      now_ns)), *pos, *check]

    def snapshot(self) -> dict[str, Any]:
        """The latest reconciliation: done, when, asks, orphans cancelled, positions adopted."""
        return {"done": self.done, "at_ns": self.done_ns, "active": self.active,
                "rounds": self.rounds, "cancelled": list(self.cancelled),
                "adopted": dict(self.adopted), "count": len(self.records),
                "in_flight": list(self.queried)}


def _combo_ids(cl: str) -> tuple[int, int, int] | None:
    """(combo id, leg, attempt) of one of this engine's client ids (``epoch.combo.leg.attempt``,
    ``actors.leg.entry``; a rebuilt executor's duplicate carries one more part in front), or
    None for a client id of another kind."""
    parts = cl.split(".")
    if len(parts) < 4 or not all(p.isdigit() for p in parts):
        return None
    return int(parts[-3]), int(parts[-2]), int(parts[-1])


def wrap_leg(actor: str, core: Any, cfg: AppConfig) -> Any:
    """Make a node's LegExecutor reconcile with its venue at start (re-asking every
    ``supervision.reconcile_timeout_ms``); other cores are returned as they are. The core
    itself is returned: the reconciliation is the executor's own (no wrapper)."""
    from actors.leg.executor import LegExecutorCore

    if isinstance(core, LegExecutorCore):
        core.reconcile_at_start(cfg.supervision.reconcile_timeout_ms * 1_000_000)
    return core


__all__ = ["Reconciler", "wrap_leg"]
