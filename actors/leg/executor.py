"""LegExecutor actor (one per venue account): pre-trade checks, client order ids, order states.

In: ``LegOrder`` and ``CancelLeg`` from the ComboExecutor (or risk), ``TradingState`` from the
RiskSupervisor, the venue's order-entry reports (``Ack``, ``Reject``, ``Fill``, ``Done``,
``CancelReject``, ``OrderStatus``) and its own ``Timer``\\s. Out: ``NewOrder``/``CancelReq``/
``QueryReq`` to ``@oe``, ``ExecReport`` to every name in ``report_to``, ``SetTimer`` to
``@timer`` and alarm ``Decision``\\s to the journal.

Pre-trade checks live in ``actors.leg.pretrade``, the order records and the venue report handlers in
``actors.leg.reports``. Money rules this core keeps:

- the client order id is ``f"{epoch}.{combo_id}.{leg}.{attempt}"`` and an id is used at most once,
  ever (a repeated ``LegOrder`` is denied ``duplicate_cl``, denied ids stay reserved);
- no ack, fill or done within ``request_timeout_ms`` makes the outcome *unknown* (a flag): the
  order is queried with backoff, never resent; ``unknown`` answers keep the flag, they are not a
  rejection; while any order is unknown only position-reducing orders pass (``venue_uncertain``);
- fills are deduped by trade id (one ExecReport ``fill`` per trade, ever), applied even when late
  or beyond the order quantity (alarmed), and drive the positions;
- an illegal transition is caught, counted and journaled as an alarm; a fill is never dropped;
- orders closed for ``RETIRE_AFTER_NS`` (10 min) are retired: pickled aside, their ids still used,
  revived by any late report (``VenueReportsCore.retire`` / ``_find``), so a day of orders does
  not weigh on the hot group's checkpoints;
- unknown outcomes resolve: "not found" answers past ``unknown_bound_ms`` since the send that
  agree make an inferred reject (``actors.leg.reports``); an outcome still unknown after
  ``unknown_halt_ms`` sends ``Control("halt", "unresolved_unknown:<cl>")`` to risk (both 0 =
  off in the constructor; the node passes ``VenueConfig``'s, 3000 and 15000 by default);
- the leg pings its venue on ``@oe`` every ``ping_interval_ms`` (from ``on_start``); no pong for
  ``oe_timeout_ms`` is a disconnect (open orders flagged unknown, new orders denied
  ``disconnected``); on start and when pongs resume it reconciles: ``OpenOrdersReq``,
  ``TradesReq(since=last fill ts)``, ``PositionsReq``, new orders denied ``reconciling`` until
  the three replies are in. Trades we lacked are applied (deduped by trade id, fill ExecReports
  emitted), unknown open orders cancelled, position differences alarmed (at start the venue's
  positions are adopted: a fresh core has none of its own). Only with ``oe_link=True`` (the node
  sets it); a core built without it (tests driving it directly) does neither.
"""

from __future__ import annotations

from typing import Any

from actors.core import Core, Out
from actors.leg.link import OeLink
from actors.leg.orders import LiveOrder, St
from actors.leg.pretrade import MarketInputs, MarketView, RateBucket, pretrade_reason
from actors.leg.reports import VenueReportsCore
from transports.config.engine import ContractConfig, RiskConfig
from transports.errors import IllegalTransition
from transports.wire.messages import (
    CancelLeg,
    ExecReport,
    LegOrder,
    SetTimer,
    Timer,
    TradingState,
    VenueGate,
)
from transports.wire.venue_msgs import (
    CancelReq,
    NewOrder,
    Reject,
)

_NS = 1_000_000


class LegExecutorCore(MarketInputs, OeLink, VenueReportsCore):
    """Pure order management for one venue account (venue reports: ``VenueReportsCore``;
    what the pre-trade checks learn from other actors: ``MarketInputs``)."""

    def __init__(
        self,
        name: str,
        venue: str,
        account: str,
        contracts: dict[str, ContractConfig],
        epoch: int,
        risk: RiskConfig,
        report_to: list[str],
        request_timeout_ms: int,
        *,
        journal: str = "journal",
        max_queries: int = 10,
        max_query_interval_ms: int = 10_000,
        unknown_bound_ms: int = 0,
        unknown_halt_ms: int = 0,
        ping_interval_ms: int = 1000,
        oe_timeout_ms: int = 1500,
        oe_link: bool = False,
        gate_to: tuple[str, ...] = (),
    ) -> None:
        super().__init__(
            name,
            venue,
            report_to,
            journal,
            request_timeout_ms * _NS,
            max_queries,
            max_query_interval_ms * _NS,
        )
        self.account = account
        self.contracts = contracts  #: keyed by sym on this venue
        self.epoch = epoch
        self.risk = risk
        self.trading_state = "ACTIVE"
        self.denied: dict[str, int] = {}
        self._bucket = RateBucket(risk.max_orders_per_s)
        self._cancel_bucket = RateBucket(risk.max_cancels_per_s)
        self.market = MarketView(risk, contracts)
        self.unknown_bound_ns = unknown_bound_ms * _NS
        self.unknown_halt_ns = unknown_halt_ms * _NS
        self.ping_ns = ping_interval_ms * _NS
        self.oe_timeout_ns = oe_timeout_ms * _NS
        #: why every new order is denied now: "" | "disconnected" | "reconciling"
        self.gate = ""
        self.link_up = True
        self.last_pong_ns = 0
        self._recon_wait: set[str] = set()
        self._recon_start = False
        self._recon_seen: dict[str, Any] = {}
        self.reconciled: list[dict[str, Any]] = []  #: one record per finished reconciliation
        self.oe_link = oe_link  #: ping and reconcile from ``on_start`` (the node sets it)
        #: who hears of ``venue_gate`` changes (the strategies: no combo opens into a venue
        #: that would deny its leg) and the last state they heard
        self.gate_to = gate_to
        self._gate_sent = ""

    def handle(self, msg: Any, now_ns: int) -> Out:
        """``Core.handle`` with the per-order messages dispatched first, without a name lookup."""
        t = type(msg)
        if t is LegOrder:
            return self.on_leg_order(msg, now_ns)
        out = self.on_reject(msg, now_ns) if t is Reject else Core.handle(self, msg, now_ns)
        if self.gate_to and self.venue_gate != self._gate_sent:
            self._gate_sent = g = self.venue_gate
            gate = VenueGate(self.venue, g, now_ns)
            out = [*out, *((s, gate) for s in self.gate_to)]
        return out

    @property
    def venue_gate(self) -> str:
        """"" when new orders may go; else why not (``uncertain`` lets only reducing ones)."""
        return self.gate or ("uncertain" if self._unknown else "")

    # --- helpers ---------------------------------------------------------------------------------

    def cl_for(self, combo_id: int, leg: int, attempt: int) -> str:
        """Return the deterministic client order id."""
        return f"{self.epoch}.{combo_id}.{leg}.{attempt}"

    def _working(self, sym: str, side: str) -> int:
        """Lots still working on ``side`` of ``sym``."""
        return sum(x.leaves_lots for x in self._open.values() if x.sym == sym and x.side == side)

    # --- orders in -------------------------------------------------------------------------------

    def on_leg_order(self, o: LegOrder, now_ns: int) -> Out:
        cl = f"{self.epoch}.{o.combo_id}.{o.leg}.{o.attempt}"  # ``cl_for``, inline
        if cl in self.orders or cl in self._retired:
            # never send a cl twice; the existing order's record is left untouched
            self.denied["duplicate_cl"] = self.denied.get("duplicate_cl", 0) + 1
            dup = LiveOrder(
                cl,
                o.venue,
                o.sym,
                o.side,
                o.px_ticks,
                o.qty_lots,
                o.tif,
                combo_id=o.combo_id,
                leg=o.leg,
                attempt=o.attempt,
                purpose=o.purpose,
            )
            dup.deny("duplicate_cl")
            return [
                *self._reports(dup, "denied", now_ns, reason="duplicate_cl"),
                self._alarm("duplicate_cl", now_ns, cl=cl),
            ]
        # positional calls: this is the hot path (keyword calls cost more than the work)
        lo = LiveOrder(
            cl,
            o.venue,
            o.sym,
            o.side,
            o.px_ticks,
            o.qty_lots,
            o.tif,
            o.combo_id,
            o.leg,
            o.attempt,
            o.purpose,
            now_ns,
        )
        self.orders[cl] = lo
        reason = self.gate or pretrade_reason(
            o,
            self.venue,
            self.contracts.get(o.sym),
            self.trading_state,
            self.positions.get(o.sym, 0),
            self._working(o.sym, o.side) if self._open else 0,
            bool(self._unknown),
            self._bucket,
            now_ns,
            self.market,
            self.positions,
            self._open.values(),
        )
        if reason:
            lo.deny(reason)
            self.denied[reason] = self.denied.get(reason, 0) + 1
            return self._reports(lo, "denied", now_ns, reason=reason)
        lo.submit(now_ns)
        # ``_sync(lo)`` for a just-submitted order: open, outcome known (a new cl was never in
        # ``_unknown``; the discard keeps that true whatever happened before)
        self._open[cl] = lo
        self._unknown.discard(cl)
        self.counters["sent"] += 1
        new = NewOrder(
            cl=cl, sym=o.sym, side=o.side, px=o.px_ticks, qty=o.qty_lots, tif=o.tif, ts=now_ns
        )
        # the "sent" report goes first so the journal holds the intent before the order leaves
        # (``_reports(lo, "sent", now_ns, reason=o.purpose)``, inline)
        rep = ExecReport(self.venue, cl, lo.combo_id, lo.leg, lo.attempt, lo.sym,
                         lo.side,  # type: ignore[arg-type]
                         "sent", lo.state._value_, lo.px_ticks, lo.qty_lots, lo.cum_lots,
                         max(0, lo.qty_lots - lo.cum_lots),  # ``leaves_lots`` of an open order
                         0.0, "", o.purpose, now_ns, now_ns)
        timer = ("@timer", SetTimer("ack:" + cl, now_ns + self.timeout_ns))
        to = self.report_to
        if len(to) == 2:
            return [(to[0], rep), (to[1], rep), ("@oe", new), timer]
        return [*((d, rep) for d in to), ("@oe", new), timer]

    def _cancel(self, lo: LiveOrder, now_ns: int) -> Out:
        if not lo.is_open or lo.state is St.PENDING_CANCEL:
            return []
        if not self._cancel_bucket.take(now_ns):
            # over the venue's cancel rate: not sent now, retried on a timer (never dropped)
            self.denied["cancel_rate"] = self.denied.get("cancel_rate", 0) + 1
            step = max(1_000_000_000 // max(self.risk.max_cancels_per_s, 1), 1)
            return [("@timer", SetTimer("cxlretry:" + lo.cl, now_ns + step))]
        try:
            lo.request_cancel(now_ns)
        except IllegalTransition as exc:
            return [self._illegal(lo, exc, now_ns)]
        self.counters["cancels"] += 1
        return [
            ("@oe", CancelReq(cl=lo.cl, ts=now_ns)),
            ("@timer", SetTimer(f"cxl:{lo.cl}", now_ns + self.timeout_ns)),
        ]

    def on_cancel_leg(self, m: CancelLeg, now_ns: int) -> Out:
        lo = self._find(m.cl)
        if lo is None or m.venue != self.venue:
            self.counters["unknown_reports"] += 1
            return [self._alarm("cancel_unknown_cl", now_ns, cl=m.cl)]
        return self._cancel(lo, now_ns)

    def on_trading_state(self, m: TradingState, now_ns: int) -> Out:
        self.trading_state = m.state
        out: Out = []
        if m.state == "HALTED":
            for lo in list(self._open.values()):
                out += self._cancel(lo, now_ns)
        return out

    # --- timers and queries ----------------------------------------------------------------------

    def _flag_unknown(self, lo: LiveOrder, why: str, now_ns: int) -> Out:
        out: Out = []
        if lo.mark_unknown(now_ns):
            self.counters["unknown_outcomes"] += 1
            out.append(
                self._alarm("unknown_outcome", now_ns, cl=lo.cl, why=why, state=lo.state.value)
            )
            if self.unknown_halt_ns:
                out.append(("@timer", SetTimer("uhalt:" + lo.cl, now_ns + self.unknown_halt_ns)))
        self._sync(lo)
        return out + self._query(lo, now_ns)

    def on_timer(self, t: Timer, now_ns: int) -> Out:
        kind, _, cl = t.key.partition(":")
        if kind == "ping":
            if now_ns >= self._next_retire_ns:
                self.retire(now_ns)  # off the order path: the ping timer, once a minute
            return self._ping(now_ns)
        if kind == "oe_recon":
            return self._reconcile_ask(now_ns) if self._recon_wait else []
        lo = self.orders.get(cl)
        if lo is None:
            return []
        if kind == "ack":
            if lo.is_open and not (lo.acked_ns or lo.cum_lots or lo.done_ns):
                return self._flag_unknown(lo, "no_ack", now_ns)  # query, never resend
        elif kind == "cxl":
            if lo.state is St.PENDING_CANCEL:
                return self._flag_unknown(lo, "no_cancel_answer", now_ns)
        elif kind == "query" and (
            lo.unknown or lo.missing_fills or lo.state is St.PENDING_CANCEL
        ):
            return self._query(lo, now_ns)
        elif kind == "uhalt":
            return self._unknown_halt(lo, now_ns)
        elif kind == "cxlretry":
            return self._cancel(lo, now_ns)
        return []

    # --- views -----------------------------------------------------------------------------------

    def open_orders(self) -> list[LiveOrder]:
        """Return the orders that may still trade."""
        return list(self._open.values())

    def flatten_orders(
        self, now_ns: int, px_ticks: dict[str, int], combo_id: int
    ) -> list[LegOrder]:
        """Return IOC ``flatten`` orders that would bring each priced position to zero.

        The caller feeds them back through ``handle`` (so every check applies) and must pick a
        ``combo_id`` no combo uses; leg i is the i-th instrument in sorted order.
        """
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
                    self.venue,
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

    def snapshot(self) -> dict[str, Any]:
        """Return orders (cl -> state, cum, unknown), positions and counters."""
        return {
            "venue": self.venue,
            "trading_state": self.trading_state,
            "orders": {
                cl: {"state": lo.state.value, "cum": lo.cum_lots, "unknown": lo.unknown}
                for cl, lo in self.orders.items()
            },
            "positions": dict(self.positions),
            "open": sorted(self._open),
            "counters": {**self.counters, "unresolved": len(self._unknown),
                         "denied": dict(self.denied), "retired": len(self._retired)},
            "gate": self.gate,
        }


__all__ = ["LegExecutorCore"]
