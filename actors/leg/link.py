"""The LegExecutor's order-entry link (a mixin of ``LegExecutorCore``, split off for size):
pings on ``@oe`` every ``ping_interval_ms``; no pong for ``oe_timeout_ms`` is a disconnect (open
orders flagged unknown, new orders denied ``disconnected``); on start and when pongs resume it
reconciles before trading (``OpenOrdersReq``, ``TradesReq`` since the last fill,
``PositionsReq``: trades it lacked applied, unknown open orders cancelled, position differences
alarmed, the venue's positions sent to risk). The state and helpers it uses are the
executor's (see ``actors.leg.executor``).
"""

from __future__ import annotations

import json
from typing import Any

from actors.core import Out
from actors.leg.orders import St
from transports.wire.messages import Decision, Position, SetTimer
from transports.wire.venue_msgs import (
    Ack,
    CancelReq,
    OpenOrders,
    OpenOrdersReq,
    Ping,
    Pong,
    Positions,
    PositionsReq,
    Trades,
    TradesReq,
)

_NS = 1_000_000


class OeLink:
    """Pings, disconnects and reconciliation with the venue."""

    orders: dict[str, Any]
    positions: dict[str, int]
    counters: dict[str, int]

    def on_start(self, now_ns: int) -> Out:
        """Start pinging and reconcile with the venue before the first order (``oe_link``)."""
        if not self.oe_link:
            return []
        self.last_pong_ns = now_ns
        return [
            ("@oe", Ping(ts=now_ns)),
            ("@timer", SetTimer("ping", now_ns + self.ping_ns)),
            *self._reconcile_begin(now_ns, start=True),
        ]

    def _ping(self, now_ns: int) -> Out:
        out: Out = [("@oe", Ping(ts=now_ns)), ("@timer", SetTimer("ping", now_ns + self.ping_ns))]
        if self.link_up and now_ns - self.last_pong_ns >= self.oe_timeout_ns:
            self.link_up = False
            self.gate = "disconnected"
            self.counters["oe_disconnects"] += 1
            out.append(self._alarm("oe_disconnected", now_ns, open=len(self._open),
                                   since_pong_ms=(now_ns - self.last_pong_ns) // _NS))
            for lo in list(self._open.values()):
                out += self._flag_unknown(lo, "oe_disconnect", now_ns)
        return out

    def on_pong(self, m: Pong, now_ns: int) -> Out:
        self.last_pong_ns = now_ns
        if self.link_up:
            return []
        self.link_up = True
        return [self._alarm("oe_reconnected", now_ns),
                *self._reconcile_begin(now_ns, start=False)]

    def _reconcile_begin(self, now_ns: int, start: bool) -> Out:
        self._recon_start = start
        self._recon_wait = {"open_orders", "trades", "positions"}
        self._recon_seen = {"cancelled": [], "recovered": [], "mismatch": {}}
        self.gate = "reconciling"
        self.counters["reconciles"] += 1
        return self._reconcile_ask(now_ns)

    def _reconcile_ask(self, now_ns: int) -> Out:
        """Ask for what is still missing (again every ``request_timeout``: requests may be lost)."""
        out: Out = []
        if "open_orders" in self._recon_wait:
            out.append(("@oe", OpenOrdersReq()))
        if "trades" in self._recon_wait:
            out.append(("@oe", TradesReq(since=self.last_fill_ts)))
        if "positions" in self._recon_wait:
            out.append(("@oe", PositionsReq()))
        out.append(("@timer", SetTimer("oe_recon", now_ns + self.timeout_ns)))
        return out

    def on_open_orders(self, m: OpenOrders, now_ns: int) -> Out:
        if "open_orders" not in self._recon_wait:
            return []
        out: Out = []
        for r in m.list:
            lo = self._find(r.cl)
            if lo is None or lo.state is St.DENIED:
                # not ours (a previous incarnation, or lost state): cancel it; cancels are safe
                self.counters["orphans_canceled"] += 1
                self.counters["cancels"] += 1
                self._recon_seen["cancelled"].append(r.cl)
                out.append(("@oe", CancelReq(cl=r.cl, ts=now_ns)))
            elif lo.state is St.SUBMITTED or lo.inferred:
                # it is working at the venue: that is the ack we did not get
                out += self.on_ack(Ack(cl=r.cl, oid=r.oid, ts=now_ns), now_ns)
        self._recon_wait.discard("open_orders")
        return out + self._reconcile_done(now_ns)

    def on_trades(self, m: Trades, now_ns: int) -> Out:
        if "trades" not in self._recon_wait:
            return []
        out: Out = []
        for f in m.list:
            lo = self._find(f.cl)
            if lo is None or lo.state is St.DENIED:
                if not self._recon_start:  # at start: a previous incarnation's (positions adopt)
                    self.counters["unknown_reports"] += 1
                    out.append(self._alarm("unknown_fill", now_ns, cl=f.cl, tid=f.tid, px=f.px,
                                           qty=f.qty))
                elif f.ts > self.last_fill_ts:
                    self.last_fill_ts = f.ts
                continue
            if f.tid in lo.trade_ids:
                continue
            self.counters["recovered_fills"] += 1
            self._recon_seen["recovered"].append(f.tid)
            if lo.inferred:
                out += self._revive(lo, "trades", now_ns)
            out += self._fill(lo, f.tid, f.px, f.qty, f.fee, f.ts, now_ns)
        self._recon_wait.discard("trades")
        return out + self._reconcile_done(now_ns)

    def on_positions(self, m: Positions, now_ns: int) -> Out:
        if "positions" not in self._recon_wait:
            return []
        out: Out = []
        venue = {r.sym: r.qty for r in m.list if r.sym in self.contracts and r.qty}
        if self._recon_start and not any(self.positions.values()):
            self.positions = dict(venue)  # a fresh core adopts the account's positions
        else:
            mine = {s: q for s, q in self.positions.items() if q}
            if mine != venue:
                self.counters["position_mismatches"] += 1
                self._recon_seen["mismatch"] = {"engine": mine, "venue": venue}
                out.append(self._alarm("position_mismatch", now_ns, engine=mine, venue=venue))
        self._recon_wait.discard("positions")
        return out + self._reconcile_done(now_ns)

    def _reconcile_done(self, now_ns: int) -> Out:
        if self._recon_wait:
            return []
        self.gate = "" if self.link_up else "disconnected"
        rec = {"start": self._recon_start, "at_ns": now_ns, **self._recon_seen,
               "positions": dict(self.positions)}
        self.reconciled.append(rec)
        # the venue's positions, now this executor's, go to risk as facts: a position a previous
        # run (or a restart) left behind is exposure that no combo owns
        pos = [(self.risk_name, Position(self.venue, sym, self.positions.get(sym, 0), now_ns))
               for sym in sorted(self.contracts)]
        return [("@timer", SetTimer("oe_recon", 0)),
                (self.journal, Decision(self.name, "reconciled",
                                        json.dumps(rec, sort_keys=True), now_ns)), *pos]

