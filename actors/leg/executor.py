"""LegExecutor actor (one per venue account): pre-trade checks, client order ids, order states.

In: ``LegOrder`` and ``CancelLeg`` from the ComboExecutor (or risk), ``TradingState`` from the
RiskSupervisor, the venue's order-entry reports (``Ack``, ``Reject``, ``Fill``, ``Done``,
``CancelReject``, ``OrderStatus``) and its own ``Timer``\\s. Out: ``NewOrder``/``CancelReq``/
``QueryReq`` to ``@oe``, ``ExecReport`` to every name in ``report_to``, ``SetTimer`` to
``@timer`` and alarm ``Decision``\\s to the journal.

The core owns one object per concern and its ``on_<message>`` handlers delegate to them:
``book`` (``actors.leg.book``: order records, their indexes, positions, counters; closed orders
retired after ``RETIRE_AFTER_NS``, revived by a late report), ``reports``
(``actors.leg.reports``: venue reports, queries, inferred rejects, alarms), ``pretrade``
(``actors.leg.pretrade``: limits, market view, rate buckets, denial counts), ``link``
(``actors.leg.link``) and ``reconciler`` (``actors.leg.reconciler``). Money rules:

- the client order id is ``f"{epoch}.{combo_id}.{leg}.{attempt}"`` and an id is used at most once,
  ever (a repeated ``LegOrder`` is denied ``duplicate_cl``, denied ids stay reserved);
- no ack, fill or done within ``request_timeout_ms`` makes the outcome *unknown* (a flag): the
  order is queried with backoff, never resent; ``unknown`` answers keep the flag, they are not a
  rejection; while any order is unknown only position-reducing orders pass (``venue_uncertain``);
  "not found" answers past ``unknown_bound_ms`` that agree make an inferred reject; an outcome
  still unknown after ``unknown_halt_ms`` sends ``Halt("unresolved_unknown:<cl>")`` to risk (both
  0 = off in the constructor; the node passes ``VenueConfig``'s, 3000 and 15000 by default);
- fills are deduped by trade id (one ExecReport ``fill`` per trade, ever), applied even when late,
  beyond the order quantity or after an illegal transition (alarmed), and drive the positions;
- with ``oe_link=True`` (the node sets it) the leg pings its venue on ``@oe`` every
  ``ping_interval_ms`` (from ``on_start``); no pong for ``oe_timeout_ms`` is a disconnect (open
  orders flagged unknown, new orders denied ``disconnected``);
- an order-entry frame that does not decode (``BadFrame``, the shell logged it) is never
  silent: alarm ``bad_frame``, counter ``bad_frames``, and the venue is *uncertain* (only
  position-reducing orders pass, ``venue_uncertain``; the strategies hear ``uncertain``): the
  frame may have been an ack, a fill or a done of any working order, so every open order is
  flagged unknown and queried (never resent). The venue proves itself again -- the flag
  clears -- with the next pong (an answer to a ping sent after the bad frame; without
  ``oe_link``, the next report that decodes) or a finished reconciliation; the gate then
  stays shut until every order flagged unknown has been answered. ``bad_frame_limit`` bad
  frames within ``bad_frame_window_ms`` also send ``Reduce("bad_frames:<venue>: ...")`` to
  risk (REDUCING until resumed; again at most once per window);
- when the node's intent WAL fails (``IntentFailed`` from ``@wal``: the shell could not make
  these orders' intents durable and did not send them) the orders are rejected locally
  (``rejected``, reason ``intent_wal_failed``: they never left), the first failure alarms
  ``intent_wal_failed`` and sends ``Reduce("intent_wal_failed:<venue>: ...")`` to risk; from
  then on only position-reducing orders pass (the rest are denied ``intent_wal_failed``) and
  each goes without a durable intent, journaled ``Decision("non_durable")`` (why:
  ``actors.runtime.venue_shell``);
- it reconciles with the venue at start -- with ``oe_link`` or when a node supervises it
  (``reconcile_at_start``) --, after a rebuild (``restarted``) and when pongs resume after a
  disconnect; new orders are denied ``reconciling`` until it is done. A core built with neither
  (tests driving it directly) does not. A rebuilt executor refuses a ``LegOrder`` for an order
  it holds from an earlier epoch (``prior``) as a duplicate.

- a ``reject`` or ``cancel_reject`` with code ``throttled`` (the venue's rate limit, protocol v2)
  starts a back-off of at least its ``retry_ms`` plus a jitter derived from the client id
  (``throttle_jitter_ms``: deterministic, so replay is exact; it spreads the retries of several
  accounts hit at once). Meanwhile no new order goes to the venue (denied ``throttled``; the
  strategies hear ``throttled`` and open nothing there) and cancels are held; when it ends
  the held cancels go first, then new orders may go. A throttled ``reject`` is definitive (the
  order never traded); a throttled ``cancel_reject`` is retried when the back-off ends.

Timers are ``LegTimer`` keys; a per-order timer carries its client order id in ``arg``. The
strategies (``gate_to``) hear ``VenueGate`` when ``venue_gate`` changes: every handler that can
change it ends with ``_gated``.
"""

from __future__ import annotations

import collections
import json
import zlib
from typing import Any

from actors.core import Core, Out
from actors.leg.book import OrderBook
from actors.leg.link import OeLink
from actors.leg.orders import LegTimer, LiveOrder, St
from actors.leg.pretrade import MarketView, PreTrade, pretrade_reason, reduces
from actors.leg.reconciler import Reconciler
from actors.leg.reports import Reports
from actors.topology import DEFAULT, Topology
from transports.config.engine import ContractConfig, RiskConfig
from transports.wire.messages import (
    BadFrame,
    BookUpdate,
    CancelLeg,
    ClockJump,
    Decision,
    ExecReport,
    FeedHealth,
    InFlight,
    IntentFailed,
    LegOrder,
    Reduce,
    RiskView,
    SessionStatus,
    SetParams,
    SetTimer,
    Timer,
    TradingState,
    VenueGate,
)
from transports.wire.venue_msgs import (
    Ack,
    CancelReject,
    Done,
    Fill,
    NewOrder,
    OpenOrders,
    OrderStatus,
    Pong,
    Positions,
    Reject,
    Trades,
)

_NS = 1_000_000
#: the jitter added to a venue's ``retry_ms`` is below this share of it
THROTTLE_JITTER_SHARE = 0.2


def throttle_jitter_ms(cl: str, retry_ms: int) -> int:
    """The deterministic jitter (ms, ``0 <= j < 20%`` of ``retry_ms``) added to a ``throttled``
    back-off: a CRC of the client id, not ``hash`` (salted per process) nor ``random`` (global
    state), so a replay waits exactly as the run did."""
    span = int(retry_ms * THROTTLE_JITTER_SHARE)
    return zlib.crc32(cl.encode()) % span if span > 0 else 0


class LegExecutorCore(Core):
    """Pure order management for one venue account: it owns its order records (``book``), the
    handling of its venue's reports (``reports``), its pre-trade state (``pretrade``), its
    order-entry link (``link``) and its reconciliation with the venue (``reconciler``)."""

    def __init__(
        self, name: str, venue: str, account: str, contracts: dict[str, ContractConfig],
        epoch: int, risk: RiskConfig, report_to: list[str], request_timeout_ms: int, *,
        journal: str | None = None, max_queries: int = 10, max_query_interval_ms: int = 10_000,
        unknown_bound_ms: int = 0, unknown_halt_ms: int = 0, ping_interval_ms: int = 1000,
        oe_timeout_ms: int = 1500, oe_link: bool = False, gate_to: tuple[str, ...] = (),
        topology: Topology = DEFAULT, bad_frame_limit: int = 3, bad_frame_window_ms: int = 10_000,
    ) -> None:
        super().__init__(name)
        self.topology = topology  #: the names of the actors it reports to (``risk``)
        self.venue = venue
        self.account = account
        self.contracts = contracts  #: keyed by sym on this venue
        self.epoch = epoch
        self.trading_state = "ACTIVE"
        self.book = OrderBook()
        # ``journal=``: the old way to name the journal, still honoured
        self.reports = Reports(self.book, name, venue, report_to, journal or topology.journal,
                               topology.risk, request_timeout_ms * _NS, max_queries,
                               max_query_interval_ms * _NS, unknown_bound_ms * _NS,
                               unknown_halt_ms * _NS)
        self.pretrade = PreTrade(venue, risk, contracts)
        #: why every new order is denied now: "" | "disconnected" | "reconciling"
        self.gate = ""
        self.oe_link = oe_link  #: ping and reconcile from ``on_start`` (the node sets it)
        self.link = OeLink(ping_interval_ms * _NS, oe_timeout_ms * _NS)
        self.reconciler = Reconciler(request_timeout_ms * _NS, at_start=oe_link)
        #: ``combo.leg.attempt`` -> the epoch of an order held from an earlier epoch (set by
        #: ``restarted``): a LegOrder for it is a duplicate, not a new order of this epoch
        self.prior: dict[str, int] = {}
        #: who hears of ``venue_gate`` changes (the strategies: no combo opens into a venue
        #: that would deny its leg) and the last state they heard
        self.gate_to = gate_to
        self._gate_sent = ""
        #: when the latest undecodable frame came, while the venue has not proved itself since
        #: (0: it has); the venue is uncertain meanwhile (``on_bad_frame``)
        self.suspect_ns = 0
        self.bad_frame_limit = bad_frame_limit
        self.bad_frame_window_ns = bad_frame_window_ms * _NS
        self._bad_ns: collections.deque[int] = collections.deque()  #: recent bad frames
        self._bad_reduce_ns = 0  #: when the last ``Reduce`` for bad frames went to risk
        #: the intent WAL's error once an intent failed ('' = never): only reducing orders
        #: pass, without a durable intent (``on_intent_failed``)
        self.wal_failed = ""
        #: when the venue's ``throttled`` back-off ends (0: not throttled): new orders are
        #: denied ``throttled`` until the ``THROTTLE`` timer clears it
        self.throttled_until_ns = 0
        #: client ids whose cancel waits for the back-off's end (sent first then)
        self.held_cancels: list[str] = []

    # --- what other code reads (the helpers' state) -----------------------------------------------

    @property
    def journal(self) -> str:
        """The journal's actor name (``reports.journal``)."""
        return self.reports.journal

    @property
    def report_to(self) -> list[str]:
        """Who hears every ``ExecReport`` (``reports.report_to``)."""
        return self.reports.report_to

    @property
    def timeout_ns(self) -> int:
        """No ack / cancel answer within this makes an outcome unknown (``reports``)."""
        return self.reports.timeout_ns

    @property
    def orders(self) -> dict[str, LiveOrder]:
        """cl -> order, every order not retired (``book.orders``)."""
        return self.book.orders

    @property
    def positions(self) -> dict[str, int]:
        """sym -> signed lots, from fills (``book.positions``)."""
        return self.book.positions

    @positions.setter
    def positions(self, value: dict[str, int]) -> None:
        self.book.positions = value

    @property
    def counters(self) -> dict[str, int]:
        """The executor's counters (``book.counters``)."""
        return self.book.counters

    @property
    def risk(self) -> RiskConfig:
        """The pre-trade limits in force (``pretrade.risk``)."""
        return self.pretrade.risk

    @property
    def market(self) -> MarketView:
        """What the pre-trade checks know of the market and of risk (``pretrade.market``)."""
        return self.pretrade.market

    @property
    def denied(self) -> dict[str, int]:
        """reason -> denials (``pretrade.denied``)."""
        return self.pretrade.denied

    def _gated(self, out: Out, now_ns: int) -> Out:
        """``out``, plus a ``VenueGate`` to ``gate_to`` if ``venue_gate`` changed: the last step
        of every handler that can change it (reports, timers, the link, the reconciliation)."""
        if self.gate_to and self.venue_gate != self._gate_sent:
            self._gate_sent = g = self.venue_gate
            gate = VenueGate(self.venue, g, now_ns)
            out = [*out, *((s, gate) for s in self.gate_to)]
        return out

    @property
    def venue_gate(self) -> str:
        """"" when new orders may go; else why not (``uncertain`` lets only reducing ones)."""
        return self.gate or ("uncertain" if self.book.unknown or self.suspect_ns else "") or (
            "throttled" if self.throttled_until_ns else "")

    def cl_for(self, combo_id: int, leg: int, attempt: int) -> str:
        """Return the deterministic client order id."""
        return f"{self.epoch}.{combo_id}.{leg}.{attempt}"

    def retire(self, now_ns: int) -> int:
        """Retire the long-closed orders (``OrderBook.retire``); return how many."""
        return self.book.retire(now_ns)

    # --- orders in -------------------------------------------------------------------------------

    def on_leg_order(self, o: LegOrder, now_ns: int) -> Out:
        book = self.book
        cl = f"{self.epoch}.{o.combo_id}.{o.leg}.{o.attempt}"  # ``cl_for``, inline
        if self.prior:  # a rebuilt executor: an order it holds from an earlier epoch?
            old = self.prior.get(f"{o.combo_id}.{o.leg}.{o.attempt}")
            if old is not None:
                cl = f"{old}.{o.combo_id}.{o.leg}.{o.attempt}"  # found below: a duplicate
        if cl in book.orders or cl in book.retired:
            # never send a cl twice; the existing order's record is left untouched
            self.pretrade.deny("duplicate_cl")
            dup = LiveOrder(cl, o.venue, o.sym, o.side, o.px_ticks, o.qty_lots, o.tif,
                            combo_id=o.combo_id, leg=o.leg, attempt=o.attempt, purpose=o.purpose)
            dup.deny("duplicate_cl")
            return [
                *self.reports.emit(dup, "denied", now_ns, reason="duplicate_cl"),
                self.reports.alarm("duplicate_cl", now_ns, cl=cl),
            ]
        # positional calls: this is the hot path (keyword calls cost more than the work)
        lo = LiveOrder(cl, o.venue, o.sym, o.side, o.px_ticks, o.qty_lots, o.tif, o.combo_id,
                       o.leg, o.attempt, o.purpose, now_ns)
        book.orders[cl] = lo
        opened = book.open
        pre = self.pretrade
        positions = book.positions
        throttled = "throttled" if self.throttled_until_ns else ""
        reason = self.gate or throttled or pretrade_reason(
            o, self.venue, self.contracts.get(o.sym), self.trading_state,
            positions.get(o.sym, 0), book.working(o.sym, o.side) if opened else 0,
            bool(book.unknown) or self.suspect_ns > 0, pre.bucket, now_ns, pre.market, positions,
            opened.values())
        non_durable: Out = []
        if self.wal_failed and not reason:
            # no durable intent is possible: only an order that reduces what we hold goes
            if reduces(o.side, o.qty_lots, positions.get(o.sym, 0),
                       book.working(o.sym, o.side) if opened else 0):
                book.counters["non_durable"] = book.counters.get("non_durable", 0) + 1
                non_durable = [(self.journal, Decision(self.name, "non_durable", json.dumps(
                    {"cl": cl, "sym": o.sym, "side": o.side, "qty": o.qty_lots,
                     "purpose": o.purpose, "wal": self.wal_failed[:200]}), now_ns))]
            else:
                reason = "intent_wal_failed"
        if reason:
            lo.deny(reason)
            pre.deny(reason)
            return self.reports.emit(lo, "denied", now_ns, reason=reason)
        lo.submit(now_ns)
        # ``book.sync(lo)`` for a just-submitted order: open, outcome known (a new cl was never
        # in ``unknown``; the discard keeps that true whatever happened before)
        opened[cl] = lo
        book.unknown.discard(cl)
        book.counters["sent"] += 1
        new = NewOrder(
            cl=cl, sym=o.sym, side=o.side, px=o.px_ticks, qty=o.qty_lots, tif=o.tif, ts=now_ns
        )
        # the "sent" report goes first so the journal holds the intent before the order leaves
        # (``reports.emit(lo, "sent", now_ns, reason=o.purpose)``, inline)
        rep = ExecReport(self.venue, cl, lo.combo_id, lo.leg, lo.attempt, lo.sym,
                         lo.side,  # type: ignore[arg-type]
                         "sent", lo.state._value_, lo.px_ticks, lo.qty_lots, lo.cum_lots,
                         max(0, lo.qty_lots - lo.cum_lots),  # ``leaves_lots`` of an open order
                         0.0, "", o.purpose, now_ns, now_ns)
        reports = self.reports
        timer = ("@timer", SetTimer(LegTimer.ACK, now_ns + reports.timeout_ns, cl))
        to = reports.report_to
        if non_durable:
            return [*non_durable, *((d, rep) for d in to), ("@oe", new), timer]
        if len(to) == 2:
            return [(to[0], rep), (to[1], rep), ("@oe", new), timer]
        return [*((d, rep) for d in to), ("@oe", new), timer]

    def _cancel(self, lo: LiveOrder, now_ns: int) -> Out:
        if not lo.is_open or lo.state is St.PENDING_CANCEL:
            return []
        if self.throttled_until_ns:
            # the venue asked us to wait: the cancel goes first when the back-off ends
            if lo.cl not in self.held_cancels:
                self.held_cancels.append(lo.cl)
            return []
        retry_ns = self.pretrade.cancel_delay(now_ns)
        if retry_ns:
            # over the venue's cancel rate: not sent now, retried on a timer (never dropped)
            return [("@timer", SetTimer(LegTimer.CANCEL_RETRY, now_ns + retry_ns, lo.cl))]
        return self.reports.cancel(lo, now_ns)

    def on_cancel_leg(self, m: CancelLeg, now_ns: int) -> Out:
        lo = self.book.find(m.cl)
        if lo is None or m.venue != self.venue:
            self.book.counters["unknown_reports"] += 1
            return [self.reports.alarm("cancel_unknown_cl", now_ns, cl=m.cl)]
        return self._cancel(lo, now_ns)

    def on_trading_state(self, m: TradingState, now_ns: int) -> Out:
        self.trading_state = m.state
        out: Out = []
        if m.state == "HALTED":
            for lo in list(self.book.open.values()):
                out += self._cancel(lo, now_ns)
        return out

    # --- what the pre-trade checks learn (``pretrade``) ------------------------------------------

    def on_set_params(self, m: SetParams, now_ns: int) -> Out:
        return self.pretrade.on_set_params(m, self.name, self.journal, now_ns)

    def on_risk_view(self, m: RiskView, now_ns: int) -> Out:
        return self.pretrade.on_risk_view(m)

    def on_book_update(self, u: BookUpdate, now_ns: int) -> Out:
        return self.pretrade.on_book_update(u)

    def on_feed_health(self, h: FeedHealth, now_ns: int) -> Out:
        return self.pretrade.on_feed_health(h)

    def on_session_status(self, m: SessionStatus, now_ns: int) -> Out:
        return self.pretrade.on_session_status(m)

    # --- timers ----------------------------------------------------------------------------------

    def on_timer(self, t: Timer, now_ns: int) -> Out:
        return self._gated(self._timer(t.key, t.arg, now_ns), now_ns)

    def _timer(self, key: str, cl: str, now_ns: int) -> Out:
        if key == LegTimer.PING:
            if now_ns >= self.book.next_retire_ns:
                self.book.retire(now_ns)  # off the order path: the ping timer, once a minute
            return self._ping(now_ns)
        if key == LegTimer.RECONCILE:
            return self.reconciler.ask(self, now_ns)
        if key == LegTimer.THROTTLE:
            return self._throttle_ends(now_ns)
        lo = self.book.orders.get(cl)
        if lo is None:
            return []
        if key == LegTimer.CANCEL_RETRY:
            return self._cancel(lo, now_ns)
        return self.reports.on_order_timer(key, lo, now_ns)

    # --- the link and the reconciliation ---------------------------------------------------------

    def on_start(self, now_ns: int) -> Out:
        """Start pinging (``oe_link``) and reconcile with the venue before the first order
        (``oe_link`` or ``reconcile_at_start``)."""
        out: Out = self.link.start(now_ns) if self.oe_link else []
        if self.reconciler.at_start:
            out += self.reconciler.begin(self, now_ns, start=True)
        return self._gated(out, now_ns)

    def reconcile_at_start(self, timeout_ns: int) -> None:
        """Reconcile with the venue at every start, re-asking it every ``timeout_ns`` (a node
        supervises this executor: ``actors.leg.reconciler.wrap_leg``)."""
        self.reconciler.at_start = True
        self.reconciler.timeout_ns = timeout_ns

    def restarted(self) -> LegExecutorCore:
        """This core, rebuilt from the journal and moved to a new epoch, starts over: it trades
        again only after reconciling (from ``on_start``), and refuses a ``LegOrder`` for an
        order it holds from an earlier epoch (``prior``)."""
        self.prior.update(self.book.prior_epochs(self.epoch))
        self.reconciler.at_start = True
        self.reconciler.wait.clear()
        self.gate = "reconciling"  # shut until ``on_start``'s reconciliation is done
        return self

    def _ping(self, now_ns: int) -> Out:
        out = self.link.ping(now_ns)
        if self.link.lost(now_ns):
            book = self.book
            self.gate = "disconnected"
            book.counters["oe_disconnects"] += 1
            out.append(self.reports.alarm("oe_disconnected", now_ns, open=len(book.open),
                                          since_pong_ms=(now_ns - self.link.last_pong_ns) // _NS))
            for lo in list(book.open.values()):
                out += self.reports.flag_unknown(lo, "oe_disconnect", now_ns)
        return out

    def on_clock_jump(self, m: ClockJump, now_ns: int) -> Out:
        """The node was frozen for ``m.gap_ns``: whatever the venue did meanwhile is unknown
        here, so reconcile (gate shut until done, as after a reconnect). The pongs missed were
        our silence, not the venue's: the link is judged from now on."""
        self.link.last_pong_ns = max(self.link.last_pong_ns, now_ns)
        if self.reconciler.active:
            return []  # already asking the venue: its answers are from after the freeze
        return self._gated([self.reports.alarm("clock_jump", now_ns, gap_ms=m.gap_ns // _NS),
                            *self.reconciler.begin(self, now_ns, start=False)], now_ns)

    def on_pong(self, m: Pong, now_ns: int) -> Out:
        if not self.link.pong(now_ns):
            # an answer to a ping sent after a bad frame: the venue's frames decode again
            return self._proved(now_ns) if self.suspect_ns else []
        self.suspect_ns = 0  # the reconciliation below re-learns everything
        return self._gated([self.reports.alarm("oe_reconnected", now_ns),
                            *self.reconciler.begin(self, now_ns, start=False)], now_ns)

    def on_in_flight(self, m: InFlight, now_ns: int) -> Out:
        return self.reconciler.on_in_flight(self, m, now_ns)

    def on_open_orders(self, m: OpenOrders, now_ns: int) -> Out:
        return self._gated(self.reconciler.on_open_orders(self, m, now_ns), now_ns)

    def on_trades(self, m: Trades, now_ns: int) -> Out:
        return self._gated(self.reconciler.on_trades(self, m, now_ns), now_ns)

    def on_positions(self, m: Positions, now_ns: int) -> Out:
        return self._gated(self.reconciler.on_positions(self, m, now_ns), now_ns)

    # --- the intent WAL failed (``actors.runtime.venue_shell``) -----------------------------------

    def on_intent_failed(self, m: IntentFailed, now_ns: int) -> Out:
        """These orders' intents could not be made durable and the shell did not send them:
        each is rejected here (``intent_wal_failed``; it never traded). The first failure
        alarms and asks risk to reduce; only reducing orders pass from then on."""
        book = self.book
        out: Out = []
        first = not self.wal_failed
        self.wal_failed = m.reason or "intent WAL failed"
        for cl in m.cls:
            lo = book.orders.get(cl)
            if lo is None or lo.state is not St.SUBMITTED:
                continue  # not an order of ours still waiting for its first answer
            book.counters["intent_failed"] = book.counters.get("intent_failed", 0) + 1
            out.append(("@timer", SetTimer(LegTimer.ACK, 0, cl)))
            out += self.reports.reject_local(lo, "intent_wal_failed", now_ns)
        if first:
            why = f"intent_wal_failed:{self.venue}: {self.wal_failed}"[:300]
            out += [(self.topology.risk, Reduce(why)),
                    self.reports.alarm("intent_wal_failed", now_ns, orders=list(m.cls),
                                       reason=self.wal_failed[:200])]
        return self._gated(out, now_ns)

    # --- frames that do not decode ---------------------------------------------------------------

    def on_bad_frame(self, b: BadFrame, now_ns: int) -> Out:
        """An order-entry frame that did not decode: alarmed, the venue uncertain, every open
        order flagged unknown and queried; repeats ask risk for REDUCING (see the module)."""
        book = self.book
        book.counters["bad_frames"] = book.counters.get("bad_frames", 0) + 1
        self.suspect_ns = now_ns
        out: Out = [self.reports.alarm("bad_frame", now_ns, key=b.key, reason=b.reason[:200],
                                       open=len(book.open))]
        for lo in list(book.open.values()):
            if not lo.unknown:  # it may have been this order's ack, fill or done
                out += self.reports.flag_unknown(lo, "bad_frame", now_ns)
        recent = self._bad_ns
        recent.append(now_ns)
        while now_ns - recent[0] > self.bad_frame_window_ns:
            recent.popleft()
        if len(recent) >= self.bad_frame_limit and (
                not self._bad_reduce_ns
                or now_ns - self._bad_reduce_ns >= self.bad_frame_window_ns):
            self._bad_reduce_ns = now_ns
            ms = self.bad_frame_window_ns // _NS
            why = f"bad_frames:{self.venue}: {len(recent)} undecodable frames in {ms} ms"
            out += [(self.topology.risk, Reduce(why)),
                    self.reports.alarm("bad_frames_reduce", now_ns, count=len(recent),
                                       window_ms=ms)]
        return self._gated(out, now_ns)

    def _proved(self, now_ns: int) -> Out:
        """The venue's frames decode again since the last bad frame: the venue is no longer
        uncertain on that account (orders flagged unknown keep the gate until answered)."""
        self.suspect_ns = 0
        return self._gated([], now_ns)

    # --- venue reports (``reports``), then the gate ----------------------------------------------

    def on_ack(self, m: Ack, now_ns: int) -> Out:
        if self.suspect_ns and not self.oe_link:
            self.suspect_ns = 0  # no pings: a report that decodes is the proof
        return self._gated(self.reports.on_ack(m, now_ns), now_ns)

    def on_fill(self, m: Fill, now_ns: int) -> Out:
        if self.suspect_ns and not self.oe_link:
            self.suspect_ns = 0  # no pings: a report that decodes is the proof
        return self._gated(self.reports.on_fill(m, now_ns), now_ns)

    def on_done(self, m: Done, now_ns: int) -> Out:
        if self.suspect_ns and not self.oe_link:
            self.suspect_ns = 0  # no pings: a report that decodes is the proof
        return self._gated(self.reports.on_done(m, now_ns), now_ns)

    def on_reject(self, m: Reject, now_ns: int) -> Out:
        if self.suspect_ns and not self.oe_link:
            self.suspect_ns = 0  # no pings: a report that decodes is the proof
        out = self.reports.on_reject(m, now_ns)  # definitive, throttled or not
        if m.code == "throttled":
            out += self._throttle(m.cl, m.retry_ms, now_ns)
        return self._gated(out, now_ns)

    def on_cancel_reject(self, m: CancelReject, now_ns: int) -> Out:
        if self.suspect_ns and not self.oe_link:
            self.suspect_ns = 0  # no pings: a report that decodes is the proof
        if m.code != "throttled":
            return self._gated(self.reports.on_cancel_reject(m, now_ns), now_ns)
        # the venue did not look at the cancel: no query, the cancel is retried after the
        # back-off (``_cancel`` holds it while throttled)
        out = self.reports.on_cancel_reject(m, now_ns, query=False)
        out += self._throttle(m.cl, m.retry_ms, now_ns)
        lo = self.book.find(m.cl)
        if lo is not None:
            out += self._cancel(lo, now_ns)
        return self._gated(out, now_ns)

    # --- the venue's rate limit (``throttled``) ------------------------------------------------

    def _throttle(self, cl: str, retry_ms: int, now_ns: int) -> Out:
        """Start (or lengthen) the back-off a ``throttled`` answer about ``cl`` asks for: at
        least ``retry_ms`` plus ``throttle_jitter_ms``. A venue that gives no ``retry_ms`` gets
        the order timeout's worth (we must wait some time; it said how long nowhere)."""
        wait_ms = retry_ms if retry_ms > 0 else self.reports.timeout_ns // _NS
        until = now_ns + (wait_ms + throttle_jitter_ms(cl, wait_ms)) * _NS
        book = self.book
        book.counters["throttled"] = book.counters.get("throttled", 0) + 1
        out: Out = [self.reports.alarm("throttled", now_ns, cl=cl, retry_ms=retry_ms,
                                       until_ms=(until - now_ns) // _NS)]
        if until > self.throttled_until_ns:
            self.throttled_until_ns = until
            out.append(("@timer", SetTimer(LegTimer.THROTTLE, until, "")))
        return out

    def _throttle_ends(self, now_ns: int) -> Out:
        """The back-off is over: the held cancels go first, then new orders may go again."""
        if not self.throttled_until_ns or now_ns < self.throttled_until_ns:
            return []  # lengthened since this timer was set: its own timer comes later
        self.throttled_until_ns = 0
        held, self.held_cancels = self.held_cancels, []
        out: Out = []
        for cl in held:
            lo = self.book.find(cl)
            if lo is not None:
                out += self._cancel(lo, now_ns)
        return out

    def on_order_status(self, m: OrderStatus, now_ns: int) -> Out:
        # a status that shows an unacked order working acks it through ``on_ack`` (gated there)
        if self.suspect_ns and not self.oe_link:
            self.suspect_ns = 0  # no pings: a report that decodes is the proof
        return self._gated(self.reports.on_order_status(m, now_ns, self.on_ack), now_ns)

    # --- views -----------------------------------------------------------------------------------

    def open_orders(self) -> list[LiveOrder]:
        """Return the orders that may still trade."""
        return list(self.book.open.values())

    def flatten_orders(
        self, now_ns: int, px_ticks: dict[str, int], combo_id: int
    ) -> list[LegOrder]:
        """Return IOC ``flatten`` orders that would bring each priced position to zero.

        The caller feeds them back through ``handle`` (so every check applies) and must pick a
        ``combo_id`` no combo uses; leg i is the i-th instrument in sorted order.
        """
        return self.book.flatten_orders(self.venue, now_ns, px_ticks, combo_id)

    def snapshot(self) -> dict[str, Any]:
        """Return orders (cl -> state, cum, unknown), positions and counters."""
        book, denied = self.book, self.pretrade.denied
        return {
            "venue": self.venue,
            "trading_state": self.trading_state,
            "orders": {
                cl: {"state": lo.state.value, "cum": lo.cum_lots, "unknown": lo.unknown}
                for cl, lo in book.orders.items()
            },
            "positions": dict(book.positions),
            "open": sorted(book.open),
            "counters": {**book.counters, "unresolved": len(book.unknown),
                         "denied": dict(denied), "retired": len(book.retired)},
            "gate": self.gate,
            "reconcile": {**self.reconciler.snapshot(),
                          "denied_before": denied.get("reconciling", 0)},
        }


__all__ = ["LegExecutorCore"]
