"""Order entry and executions of a simulated venue: a helper object ``venue.SimVenue`` holds.

The half the engine's orders meet -- requests in; acks, rejects, fills and dones out; the fault
switches of order entry -- while ``venue.SimVenue`` keeps the books' market data, the maker's
requote and the session states. Its own state is the order registry, the accounts' trades and
positions (one- and two-sided), the fencing epochs and the throttle back-offs; what it shares
with the market side (the books, the outboxes, the fault switches, the truth, the session
state) is the ``venue_state.SimVenueState`` it is given, and the market side's ``publish`` is
passed in (an order that trades or leaves the book changes the published book).
"""

from __future__ import annotations

from collections.abc import Callable

import msgspec

from transports.venues.fence import FENCED, EpochFence
from transports.venues.sim.matching import MM_ACCOUNT, Execution, Order
from transports.venues.sim.offsets import SimOffsets
from transports.venues.sim.venue_state import SimVenueState
from transports.wire.venue_msgs import (
    Ack,
    CancelReject,
    CancelReq,
    Done,
    Error,
    Fill,
    FillRecord,
    NewOrder,
    OpenOrderRecord,
    OpenOrders,
    OpenOrdersReq,
    OrderStatus,
    Ping,
    Pong,
    PositionRecord,
    Positions,
    PositionsReq,
    QueryReq,
    Reject,
    Trade,
    Trades,
    TradesReq,
    md_topic,
)

#: the reconciliation requests the truth records (``SimTruth.requests``), by their wire tag
_RECONCILE_REQS: dict[type, str] = {OpenOrdersReq: "open_orders", TradesReq: "trades",
                                    PositionsReq: "positions"}


class SimOrderEntry:
    """The order-entry requests of a venue and the reports of its executions."""

    def __init__(self, state: SimVenueState, *, publish: Callable[[str, int], None]) -> None:
        """``state`` is shared with the venue's market side; ``publish(sym, ts)`` queues the
        market-data delta of ``sym``'s book (``SimVenue.publish``)."""
        self.state = state
        self._publish = publish
        self.orders: dict[tuple[str, str], Order] = {}  # (account, cl) -> latest order
        self.used: set[tuple[str, str]] = set()  #: every (account, cl) ever received
        self.trades: dict[str, list[FillRecord]] = {}  #: account -> its fills
        self.positions: dict[str, dict[str, int]] = {}  #: account -> sym -> net lots
        self.pending: list[Order] = []  # GTC remainders of a partial fault, matched at requote
        self._oid = 0
        self._tid = 0
        #: account -> when the back-off the venue announced in its last ``throttled`` ends
        self.throttled_until: dict[str, int] = {}
        self.accounts: set[str] = set()  #: every account (DEALER identity) heard from
        #: the contracts with ``offsets``: two-sided positions, offsets checked (``offsets``)
        self.offsets = SimOffsets(state.contracts.values(), state.cfg.close_today_fee_per_lot)
        #: the highest fencing epoch per account (protocol v2 ``epoch``; in memory)
        self.fence = EpochFence()

    # --- order entry ----------------------------------------------------------------------------

    def handle(self, account: str, req: msgspec.Struct, ts: int) -> None:
        """Apply one oe request of ``account``; replies go to ``oe_out``."""
        st = self.state
        out = st.oe_out
        self.accounts.add(account)
        if type(req) in _RECONCILE_REQS:  # the truth keeps who reconciled when
            st.truth.record_request(ts=ts, venue=st.name, account=account,
                                    t=_RECONCILE_REQS[type(req)])
        if isinstance(req, NewOrder):
            self._new(account, req, ts)
        elif isinstance(req, CancelReq):
            self._cancel(account, req, ts)
        elif isinstance(req, QueryReq):
            if st.faults.query_error(ts, req.cl):  # the status is not lost: only this answer
                out.append((account, Error(code="unavailable", msg="order status unavailable")))
            else:
                out.append((account, self._status(account, req.cl, ts)))
        elif isinstance(req, OpenOrdersReq):
            recs = [
                OpenOrderRecord(o.cl, o.oid, o.sym, o.side, o.px, o.qty, o.cum, o.tif)
                for (acct, _), o in self.orders.items()
                if acct == account and o.is_open
            ]
            out.append((account, OpenOrders(list=recs)))
        elif isinstance(req, TradesReq):
            recs = [f for f in self.trades.get(account, []) if f.ts >= req.since]
            out.append((account, Trades(list=recs)))
        elif isinstance(req, PositionsReq):
            pos = self.positions.get(account, {})
            two = self.offsets.records(account, ts) if self.offsets.rules else []
            recs = [PositionRecord(s, q) for s, q in pos.items() if s not in self.offsets.rules]
            out.append((account, Positions(list=recs + two)))
        elif isinstance(req, Ping):
            out.append((account, Pong(ts=ts, echo=req.ts)))
        else:
            out.append((account, Error(code="unsupported", msg=type(req).__name__)))

    def _reject(self, account: str, cl: str, code: str, reason: str, ts: int,
                retry_ms: int = 0) -> None:
        self.state.truth.count("rejects")
        rep = Reject(cl=cl, code=code, reason=reason, ts=ts, retry_ms=retry_ms)
        self.state.oe_out.append((account, rep))

    def _check(self, m: NewOrder) -> tuple[str, str] | None:
        st = self.state
        c = st.contracts.get(m.sym)
        if c is None:
            return "unknown_symbol", f"{st.name} has no symbol {m.sym!r}"
        if m.qty <= 0:
            return "bad_qty", f"qty must be > 0, got {m.qty}"
        if m.qty > c.max_lots_per_order:
            return "qty_above_max", f"qty {m.qty} above max {c.max_lots_per_order}"
        if m.px <= 0:
            return "bad_price", f"px must be > 0 ticks, got {m.px}"
        state = st.session.get(m.sym, "open")
        if state != "open":
            return "session_closed", f"{m.sym} session is {state}"
        return None

    def _new(self, account: str, m: NewOrder, ts: int) -> None:
        st = self.state
        st.truth.record_order(
            ts=ts,
            venue=st.name,
            account=account,
            cl=m.cl,
            sym=m.sym,
            side=m.side,
            px=m.px,
            qty=m.qty,
            tif=m.tif,
            **({"offset": m.offset} if m.offset else {}),
            **({"epoch": m.epoch} if m.epoch else {}),
        )
        fenced = self.fence.check(account, m.epoch)
        if fenced:  # received, refused before anything else: never a book, never a cl used
            st.truth.orders[-1]["rejected"] = FENCED
            st.truth.count("fenced")
            self._reject(account, m.cl, FENCED, fenced, ts)
            return
        key = (account, m.cl)
        f = st.faults
        if key in self.used:
            st.truth.count("duplicate_client_ids")
            prev = self.orders.get(key)
            if prev is not None and prev.is_open:
                self._reject(account, m.cl, "duplicate_cl", "client order id is open", ts)
                return
            if not f.cfg.oe_reuse_cl:
                self._reject(account, m.cl, "duplicate_cl", "client order id was used", ts)
                return
            f.count("oe_reuse_cl", ts, cl=m.cl)
        self.used.add(key)
        if f.swallow_order(ts, m.cl):
            st.truth.orders[-1]["fault"] = "oe_swallow_order"
            return
        bad = self._check(m)
        if bad is None and m.sym in self.offsets.rules:
            frozen = self.offsets.frozen(self.orders.values(), account, m.sym, m.side)
            bad = self.offsets.check(account, m.sym, m.side, m.qty, m.offset, frozen, ts)
        if bad is None and st.session_down:
            st.truth.count("orders_while_session_down")
            bad = ("session_down", "the gateway's session with the exchange is down")
        retry_ms = 0
        if bad is None:
            retry_ms = self._throttled(account, m.cl, ts)
            if retry_ms:
                bad = ("throttled", "order rate limit exceeded")
        if bad is None and f.reject_order(ts, m.cl):
            bad = ("sim_fault", "rejected by the simulator's oe_reject switch")
        if bad is not None:
            o = Order("", account, m.cl, m.sym, m.side, m.px, m.qty, m.tif, ts, state="rejected")
            self.orders[key] = o
            self._reject(account, m.cl, bad[0], bad[1], ts, retry_ms)
            return
        self._oid += 1
        o = Order(f"{st.name}-{self._oid}", account, m.cl, m.sym, m.side, m.px, m.qty, m.tif, ts,
                  offset=m.offset)
        self.orders[key] = o
        if not f.swallow_ack(ts, m.cl):
            st.oe_out.append((account, Ack(cl=m.cl, oid=o.oid, ts=ts)))
        o.unknown_until = f.unknown_until(ts, m.cl)
        book = st.books[m.sym]
        cap = None
        if m.tif != "FOK":
            cap = f.partial_cap(m.qty, book.available(m.side, m.px), ts, m.cl)
        self.report(book.submit(o, cap), ts)
        if o.is_open and o.tif != "GTC":
            o.state = "canceled"
            self._done(o, ts)
        elif o.is_open and not book.holds(o):
            self.pending.append(o)  # a capped GTC still crossing: matched again at requote
        if o.tif != "GTC" and o.cum > 0 and f.late_fill(ts, m.cl):
            self._delay_last_fill(o)
        self._publish(m.sym, ts)

    def _throttled(self, account: str, cl: str, ts: int) -> int:
        """The back-off (ms) to announce if this new order is throttled, else 0: inside a
        back-off already announced to ``account`` (the client broke it: counted
        ``throttle_violations``, the rest of that back-off announced again), or by the
        ``oe_throttle`` switch (a fault hit; the order's truth record says so)."""
        st = self.state
        until = self.throttled_until.get(account, 0)
        if ts < until:
            st.truth.count("throttle_violations")
            st.truth.orders[-1]["fault"] = "throttle_violation"
            return max(1, -(-(until - ts) // 1_000_000))
        retry_ms = st.faults.throttle(ts, cl, account)
        if retry_ms:
            self.throttled_until[account] = ts + retry_ms * 1_000_000
            st.truth.orders[-1]["fault"] = "oe_throttle"
        return retry_ms

    def _delay_last_fill(self, o: Order) -> None:
        """Fault ``oe_late_fill`` (IOC/FOK): its last fill report goes out after its done."""
        st = self.state
        for i in range(len(st.oe_out) - 1, -1, -1):
            acct, msg = st.oe_out[i]
            if isinstance(msg, Fill) and acct == o.account and msg.cl == o.cl:
                del st.oe_out[i]
                st.oe_late.append((st.faults.cfg.oe_late_fill_ms * 1_000_000, acct, msg))
                return

    def _cancel(self, account: str, m: CancelReq, ts: int) -> None:
        st = self.state
        fenced = self.fence.check(account, m.epoch)
        if fenced:
            st.truth.count("cancel_rejects")
            st.truth.count("fenced_cancels")
            st.oe_out.append((account, CancelReject(cl=m.cl, code=FENCED, reason=fenced,
                                                    ts=ts)))
            return
        o = self.orders.get((account, m.cl))
        if o is None or not o.oid:
            st.truth.count("cancel_rejects")
            reason = "no such order" if o is None else "order was rejected"
            rep = CancelReject(cl=m.cl, code="unknown_order", reason=reason, ts=ts)
            st.oe_out.append((account, rep))
            return
        if not o.is_open:
            st.truth.count("cancel_rejects")
            rep = CancelReject(cl=m.cl, code="not_open", reason=f"order is {o.state}", ts=ts)
            st.oe_out.append((account, rep))
            return
        if st.faults.swallow_cancel(ts, m.cl):
            return  # lost on its way: the order keeps working, nobody is told
        st.books[o.sym].remove(o)
        late = None
        if o.leaves >= 2 and st.faults.late_fill(ts, m.cl):
            # it traded part of its leaves just before the cancel; that report comes late
            q = int(st.faults.rng.integers(1, o.leaves))
            o.cum += q
            late = self._fill(o, o.px, q, "M", ts, send=False)
        o.state = "canceled"
        st.truth.count("cancels")
        self._done(o, ts)
        if late is not None:
            st.oe_late.append((st.faults.cfg.oe_late_fill_ms * 1_000_000, account, late))
        self._publish(o.sym, ts)

    def _status(self, account: str, cl: str, ts: int) -> OrderStatus:
        o = self.orders.get((account, cl))
        if o is None:
            return OrderStatus(cl=cl, state="unknown")
        if ts < o.unknown_until:
            self.state.faults.count("oe_unknown_query_answers", ts, cl=cl)
            return OrderStatus(cl=cl, state="unknown")
        return OrderStatus(
            cl=cl,
            state=o.state,
            oid=o.oid,
            cum=o.cum,
            leaves=o.leaves,
            fills=list(o.fills),
        )

    def match_pending(self, sym: str, ts: int) -> None:
        """The GTC remainders a partial fault left crossing (``pending``) meet ``sym``'s book
        again (after the maker's requote)."""
        for o in [p for p in self.pending if p.sym == sym]:
            self.pending.remove(o)
            if o.is_open:  # a partial fault's GTC remainder meets the new quotes
                self.report(self.state.books[sym].submit(o), ts)

    def tell_accounts(self, msg: msgspec.Struct) -> None:
        """Send ``msg`` to every account heard from (in sorted order)."""
        self.state.oe_out.extend((account, msg) for account in sorted(self.accounts))

    # --- executions -----------------------------------------------------------------------------

    def _done(self, o: Order, ts: int) -> None:
        done = Done(cl=o.cl, oid=o.oid, state=o.state, cum=o.cum, ts=ts)
        self.state.oe_out.append((o.account, done))

    def report(self, execs: list[Execution], ts: int) -> None:
        """Report the executions of one submit: trade prints (if configured) to ``md_out``,
        fills and dones of the clients' orders (never the maker's) to ``oe_out``."""
        for ex in execs:
            taker, maker = ex.taker, ex.maker
            if self.state.cfg.trade_prints:
                tr = Trade(sym=taker.sym, ts=ts, px=ex.px, qty=ex.qty, side=taker.side)
                self.state.md_out.append((md_topic(taker.sym), tr))
            if taker.account != MM_ACCOUNT:
                self._fill(taker, ex.px, ex.qty, "T", ts)
            if maker.account != MM_ACCOUNT:
                self._fill(maker, ex.px, ex.qty, "M", ts)
                if maker.state == "filled":
                    self._done(maker, ts)
        if execs and execs[0].taker.account != MM_ACCOUNT and execs[0].taker.state == "filled":
            taker = execs[0].taker
            if self.state.faults.overfill(ts, taker.cl):  # a venue's bug: one lot too many
                self._fill(taker, execs[-1].px, 1, "T", ts)
                taker.cum += 1
            self._done(taker, ts)

    def _fill(self, o: Order, px: int, qty: int, liq: str, ts: int, *, send: bool = True) -> Fill:
        st = self.state
        self._tid += 1
        tid = f"{st.name}-t{self._tid}"
        offs = self.offsets
        if o.sym in offs.rules:
            fee = offs.fee(st.contracts[o.sym], o.offset, qty)
            offs.apply(o.account, o.sym, o.side, qty, o.offset, ts)
        else:
            fee = round(st.contracts[o.sym].fee_per_lot * qty, 10)
        rec = FillRecord(o.cl, o.oid, tid, px, qty, ts, liq, fee, o.sym, o.side)
        o.fills.append(rec)
        self.trades.setdefault(o.account, []).append(rec)
        pos = self.positions.setdefault(o.account, {})
        pos[o.sym] = pos.get(o.sym, 0) + (qty if o.side == "B" else -qty)
        st.truth.record_fill(
            ts=ts,
            venue=st.name,
            account=o.account,
            cl=o.cl,
            oid=o.oid,
            tid=tid,
            sym=o.sym,
            side=o.side,
            px=px,
            qty=qty,
            fee=fee,
            liq=liq,
        )
        fill = Fill(cl=o.cl, oid=o.oid, tid=tid, px=px, qty=qty, ts=ts, liq=liq, fee=fee)
        if send:
            st.oe_out.append((o.account, fill))
            if st.faults.duplicate_fill(ts, o.cl, tid):
                st.oe_out.append((o.account, fill))
        return fill
