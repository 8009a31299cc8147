"""LegExecutor actor (one per venue account): pre-trade checks, client order ids, order states.

In: ``LegOrder`` and ``CancelLeg`` from the ComboExecutor (or risk), ``TradingState`` from the
RiskSupervisor, the venue's order-entry reports (``Ack``, ``Reject``, ``Fill``, ``Done``,
``CancelReject``, ``OrderStatus``; version 2: ``Session``, ``Funding``, ``Balances``),
``VenueInfo`` from its Feed and its own ``Timer``\\s. Out: ``NewOrder``/``CancelReq``/
``QueryReq`` to ``@oe``, ``ExecReport`` to every name in ``report_to``, ``FundingPaid`` to risk,
``SetTimer`` to ``@timer`` and alarm ``Decision``\\s to the journal.

The core owns one object per concern and its ``on_<message>`` handlers delegate to them
(``book``, ``reports``, ``pretrade``, ``link``, ``reconciler``, ``throttle``, ``frames``,
``wal``, ``entry``, ``session``, ``offsets``); what each does and the money rules they keep are
in ``actors.leg``.

Timers are ``LegTimer`` keys; a per-order timer carries its client order id in ``arg``. The
strategies (``gate_to``) hear ``VenueGate`` when ``venue_gate`` changes: every handler that can
change it ends with ``_gated``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from actors.core import Core, Out
from actors.leg.book import OrderBook
from actors.leg.entry import OrderEntry
from actors.leg.faults import BadFrames, WalFailure, oe_lost
from actors.leg.link import OeLink
from actors.leg.offsets import Offsets
from actors.leg.orders import LegTimer, LiveOrder
from actors.leg.pretrade import (
    MarketView,
    PreTrade,
    take_feed_health,
    take_risk_view,
    take_session_status,
    take_touch,
)
from actors.leg.reconciler import Reconciler
from actors.leg.reports import Reports
from actors.leg.session import VenueSession
from actors.leg.status import on_order_status
from actors.leg.throttle import THROTTLE_JITTER_SHARE, Throttle, throttle_jitter_ms
from actors.leg.views import Via, leg_snapshot
from actors.topology import DEFAULT, Topology
from transports.config.engine import ContractConfig, RiskConfig
from transports.wire.messages import (
    FLATTEN_THROUGH_HALT,
    BadFrame,
    CancelLeg,
    ClockJump,
    InFlight,
    IntentFailed,
    LegOrder,
    SetParams,
    Timer,
    TradingState,
    VenueGate,
    VenueInfo,
)
from transports.wire.venue_msgs import (
    FENCE_PROBE_CL,
    Ack,
    Balances,
    CancelReject,
    Done,
    Error,
    Fill,
    Funding,
    OpenOrders,
    OrderStatus,
    Pong,
    Positions,
    Reject,
    Session,
    Trades,
)

_NS = 1_000_000


class LegExecutorCore(Core):
    """Pure order management for one venue account: the ``on_<message>`` handlers, delegating
    to the objects it owns (see the module)."""

    def __init__(
        self, name: str, venue: str, account: str, contracts: dict[str, ContractConfig],
        epoch: int, risk: RiskConfig, report_to: list[str], request_timeout_ms: int, *,
        journal: str | None = None, max_queries: int = 10, max_query_interval_ms: int = 10_000,
        unknown_bound_ms: int = 0, unknown_halt_ms: int = 0, ping_interval_ms: int = 1000,
        oe_timeout_ms: int = 1500, oe_link: bool = False, gate_to: tuple[str, ...] = (),
        position_check_ms: int = 60_000,
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
        #: why every new order is denied now: "" | "disconnected" | "session_down" |
        #: "reconciling"
        self.gate = ""
        self.oe_link = oe_link  #: ping and reconcile from ``on_start`` (the node sets it)
        self.link = OeLink(ping_interval_ms * _NS, oe_timeout_ms * _NS)
        self.reconciler = Reconciler(request_timeout_ms * _NS, at_start=oe_link)
        self.reconciler.check_every_ns = position_check_ms * _NS
        #: ``combo.leg.attempt`` -> the epoch of an order held from an earlier epoch (set by
        #: ``restarted``): a LegOrder for it is a duplicate, not a new order of this epoch
        self.prior: dict[str, int] = {}
        #: who hears of ``venue_gate`` changes (the strategies: no combo opens into a venue
        #: that would deny its leg) and the last state they heard
        self.gate_to = gate_to
        self._gate_sent = ""
        self.throttle = Throttle(self.book, self.reports)
        self.frames = BadFrames(self.book, self.reports, venue, topology.risk, bad_frame_limit,
                                bad_frame_window_ms * _NS)
        self.wal = WalFailure(self.book, self.reports, venue, topology.risk)
        self.entry = OrderEntry(self.book, self.pretrade, self.reports, self.throttle,
                                self.frames, self.wal, venue, contracts)
        self.session = VenueSession(self.book, self.reports, venue, topology.risk, contracts)
        #: futures offsets (``actors.leg.offsets``): two-sided positions of the contracts that
        #: have them; the entry decides each order's offset, the reports apply the fills
        self.offsets = Offsets(contracts)
        if self.offsets.rules:
            self.entry.offsets = self.reports.offsets = self.offsets

    # --- what other code reads (the helpers' state, ``actors.leg.views``) -----------------------

    journal: Via[str] = Via("reports", "journal", "The journal's actor name")
    report_to: Via[list[str]] = Via("reports", "report_to", "Who hears every ``ExecReport``")
    timeout_ns: Via[int] = Via("reports", "timeout_ns",
                               "No ack / cancel answer within this makes an outcome unknown")
    orders: Via[dict[str, LiveOrder]] = Via("book", "orders",
                                            "cl -> order, every order not retired")
    positions: Via[dict[str, int]] = Via("book", "positions", "sym -> signed lots, from fills",
                                         writable=True)
    counters: Via[dict[str, int]] = Via("book", "counters", "The executor's counters")
    risk: Via[RiskConfig] = Via("pretrade", "risk", "The pre-trade limits in force")
    market: Via[MarketView] = Via("pretrade", "market",
                                  "What the pre-trade checks know of the market and of risk")
    denied: Via[dict[str, int]] = Via("pretrade", "denied", "reason -> denials")
    suspect_ns: Via[int] = Via("frames", "suspect_ns", "When the latest bad frame came, 0 "
                               "once the venue proved itself")
    wal_failed: Via[str] = Via("wal", "reason",
                               "The intent WAL's error once an intent failed, '' if never")
    throttled_until_ns: Via[int] = Via("throttle", "until_ns", "When the ``throttled`` "
                                       "back-off ends, 0 if not throttled")
    held_cancels: Via[list[str]] = Via("throttle", "held", "Client ids whose cancel waits "
                                       "for the back-off's end")

    def _gated(self, out: Out, now_ns: int) -> Out:
        """``out``, plus a ``VenueGate`` to ``gate_to`` if ``venue_gate`` changed: the last step
        of every handler that can change it (reports, timers, the link, the reconciliation)."""
        # ``venue_gate`` is "" while nothing below is set: then it is unchanged if it was ""
        # too, and the property (a call on every report) is not asked
        if self.gate_to and (self._gate_sent or self.gate or self.book.unknown
                             or self.frames.suspect_ns or self.throttle.until_ns) \
                and self.venue_gate != self._gate_sent:
            self._gate_sent = g = self.venue_gate
            gate = VenueGate(self.venue, g, now_ns)
            out = [*out, *((s, gate) for s in self.gate_to)]
        return out

    @property
    def venue_gate(self) -> str:
        """"" when new orders may go; else why not (``uncertain`` lets only reducing ones)."""
        return self.gate or ("uncertain" if self.book.unknown or self.frames.suspect_ns
                             else "") or ("throttled" if self.throttle.until_ns else "")

    def cl_for(self, combo_id: int, leg: int, attempt: int) -> str:
        """Return the deterministic client order id."""
        return f"{self.epoch}.{combo_id}.{leg}.{attempt}"

    def retire(self, now_ns: int) -> int:
        """Retire the long-closed orders (``OrderBook.retire``); return how many."""
        return self.book.retire(now_ns)

    # --- orders in -------------------------------------------------------------------------------

    def on_leg_order(self, o: LegOrder, now_ns: int) -> Out:
        return self.entry.new(o, self.epoch, self.prior, self.gate, self.trading_state, now_ns)

    def on_cancel_leg(self, m: CancelLeg, now_ns: int) -> Out:
        return self.entry.cancel_leg(m, now_ns)

    def on_trading_state(self, m: TradingState, now_ns: int) -> Out:
        if m.state == "HALTED" and m.reason == FLATTEN_THROUGH_HALT:
            # an operator's flatten through the halt: what reduces goes, as under REDUCING
            # (the halt already cancelled what worked)
            self.trading_state = "REDUCING"
            return []
        self.trading_state = m.state
        return self.entry.cancel_all(now_ns) if m.state == "HALTED" else []

    # --- what the pre-trade checks learn (``pretrade``) ------------------------------------------

    def on_set_params(self, m: SetParams, now_ns: int) -> Out:
        return self.pretrade.on_set_params(m, self.name, self.journal, now_ns)

    # the market-data handlers are ``pretrade``'s functions, bound as the executor's own: one
    # call per delivery (``RiskView``, ``BookUpdate``, ``FeedHealth``, ``SessionStatus``)
    on_risk_view = take_risk_view
    on_book_update = take_touch
    on_feed_health = take_feed_health
    on_session_status = take_session_status

    # --- timers ----------------------------------------------------------------------------------

    def on_timer(self, t: Timer, now_ns: int) -> Out:
        return self._gated(self._timer(t.key, t.arg, now_ns), now_ns)

    def _timer(self, key: str, cl: str, now_ns: int) -> Out:
        if key == LegTimer.PING:
            if now_ns >= self.book.next_retire_ns:
                self.book.retire(now_ns)  # off the order path: the ping timer, once a minute
            out = self.link.ping(now_ns)
            if self.link.lost(now_ns):
                self.gate = "disconnected"
                out += oe_lost(self.book, self.reports, now_ns - self.link.last_pong_ns, now_ns)
            return out
        if key == LegTimer.RECONCILE:
            return self.reconciler.ask(self, now_ns)
        if key == LegTimer.POSITIONS:
            return self.reconciler.check(self, now_ns)
        if key == LegTimer.THROTTLE:
            return self.entry.throttle_ends(now_ns)
        lo = self.book.orders.get(cl)
        if lo is None:
            return []
        if key == LegTimer.CANCEL_RETRY:
            return self.entry.cancel(lo, now_ns)
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
            if not self.frames.suspect_ns:
                return []
            # an answer to a ping sent after a bad frame: the venue's frames decode again, it is
            # no longer uncertain on that account (orders flagged unknown keep the gate shut)
            self.frames.suspect_ns = 0
            return self._gated([], now_ns)
        self.frames.suspect_ns = 0  # the reconciliation below re-learns everything
        return self._gated([self.reports.alarm("oe_reconnected", now_ns),
                            *self.reconciler.begin(self, now_ns, start=False)], now_ns)

    # --- protocol version 2: the gateway's session, funding, balances, version (``session``) --

    def on_session(self, m: Session, now_ns: int) -> Out:
        return self._gated(self.session.on_session(self, m, now_ns), now_ns)

    def on_error(self, m: Error, now_ns: int) -> Out:
        """An ``error`` from the venue (a query or a list request it could not answer): counted
        (``venue_errors``), nothing decided. A query it answered is asked again on its backoff
        timer; a transport failure is never taken for "not found" (fault catalogue V12)."""
        counters = self.book.counters
        counters["venue_errors"] = counters.get("venue_errors", 0) + 1
        return []

    def on_funding(self, m: Funding, now_ns: int) -> Out:
        return self.session.on_funding(m, now_ns)

    def on_balances(self, m: Balances, now_ns: int) -> Out:
        return self.session.on_balances(m, now_ns)

    def on_venue_info(self, m: VenueInfo, now_ns: int) -> Out:
        return self.session.on_venue_info(self, m, now_ns)

    def on_in_flight(self, m: InFlight, now_ns: int) -> Out:
        return self.reconciler.on_in_flight(self, m, now_ns)

    def on_open_orders(self, m: OpenOrders, now_ns: int) -> Out:
        return self._gated(self.reconciler.on_open_orders(self, m, now_ns), now_ns)

    def on_trades(self, m: Trades, now_ns: int) -> Out:
        return self._gated(self.reconciler.on_trades(self, m, now_ns), now_ns)

    def on_positions(self, m: Positions, now_ns: int) -> Out:
        return self._gated(self.reconciler.on_positions(self, m, now_ns), now_ns)

    # --- faults: the intent WAL failed (``actors.runtime.shells.venue_shell``), undecodable frames

    def on_intent_failed(self, m: IntentFailed, now_ns: int) -> Out:
        """These orders' intents could not be made durable: rejected here (``wal``)."""
        return self._gated(self.wal.on_intent_failed(m, now_ns), now_ns)

    def on_bad_frame(self, b: BadFrame, now_ns: int) -> Out:
        """An order-entry frame that did not decode: the venue uncertain (``frames``)."""
        return self._gated(self.frames.on_bad_frame(b, now_ns), now_ns)

    # --- venue reports (``reports``), then the gate ----------------------------------------------

    def _decoded(self) -> None:
        if self.frames.suspect_ns and not self.oe_link:
            self.frames.suspect_ns = 0  # no pings: a report that decodes is the proof

    # Ack, Fill and Done come for every order that trades: ``_decoded`` inline, and
    # ``_gated`` called only when its own first test says the gate may have changed (else it
    # returns ``out`` as it is)

    def _venue_report(self, on: Callable[[Any, int], Out], m: Any, now_ns: int) -> Out:
        """A report the venue sent about one order (``on``: the ``Reports`` handler of its
        kind), with ``_decoded`` and the venue gate's update around it."""
        frames = self.frames
        if frames.suspect_ns and not self.oe_link:
            frames.suspect_ns = 0  # ``_decoded``
        out = on(m, now_ns)
        if self.gate_to and (self._gate_sent or self.gate or self.book.unknown
                             or frames.suspect_ns or self.throttle.until_ns):
            return self._gated(out, now_ns)
        return out

    def on_ack(self, m: Ack, now_ns: int) -> Out:
        return self._venue_report(self.reports.on_ack, m, now_ns)

    def on_fill(self, m: Fill, now_ns: int) -> Out:
        return self._venue_report(self.reports.on_fill, m, now_ns)

    def on_done(self, m: Done, now_ns: int) -> Out:
        return self._venue_report(self.reports.on_done, m, now_ns)

    def on_reject(self, m: Reject, now_ns: int) -> Out:
        if self.frames.suspect_ns and not self.oe_link:
            self.frames.suspect_ns = 0  # ``_decoded``, inline: one call less per reject
        out = self.reports.on_reject(m, now_ns)  # definitive, throttled or not
        if m.code == "throttled":
            out += self.throttle.start(m.cl, m.retry_ms, now_ns)
        return self._gated(out, now_ns)

    def on_cancel_reject(self, m: CancelReject, now_ns: int) -> Out:
        self._decoded()
        if m.cl == FENCE_PROBE_CL:
            return []  # the answer to the shell's fencing probe: no order of ours (LegShell)
        out = (self.entry.cancel_throttled(m, now_ns) if m.code == "throttled"
               else self.reports.on_cancel_reject(m, now_ns))
        return self._gated(out, now_ns)

    def on_order_status(self, m: OrderStatus, now_ns: int) -> Out:
        # a status that shows an unacked order working acks it through ``on_ack`` (gated there)
        self._decoded()
        if m.state == "unknown" and self.session.down:
            return []  # a gateway cut off from its exchange cannot know: not a "not found"
        return self._gated(on_order_status(self.reports, m, now_ns, self.on_ack), now_ns)

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
        return leg_snapshot(self)


# ``throttle_jitter_ms`` lived here; tests and callers still import it from this module
__all__ = ["THROTTLE_JITTER_SHARE", "LegExecutorCore", "throttle_jitter_ms"]
