"""One simulated venue: its books, order registry, accounts and the replies of the protocol.

Pure logic: requests come in as decoded ``venue_msgs`` structs with the account (the DEALER's
identity) and a venue time ``ts``; replies pile up in ``oe_out`` as ``(account, struct)`` and
market data in ``md_out`` as ``(topic, struct)``, and reports that go out late (fault
``oe_late_fill``) in ``oe_late`` as ``(extra_ns, account, struct)``. The order fault switches act
here (see ``faults``); the caller (``core.SimCore``) adds latency, applies the md fault switches
and moves the bytes.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal

import msgspec
import numpy as np

from transports.config.engine import ContractConfig
from transports.config.sim import SimVenueConfig
from transports.venues.fence import FENCED, EpochFence
from transports.venues.sim.faults import FaultInjector
from transports.venues.sim.matching import MM_ACCOUNT, Book, Execution, Order, maker_quotes
from transports.venues.sim.offsets import SimOffsets
from transports.venues.sim.truth import SimTruth
from transports.wire.venue_msgs import (
    Ack,
    CancelReject,
    CancelReq,
    Done,
    Error,
    Fill,
    FillRecord,
    Heartbeat,
    Instrument,
    Instruments,
    MdStatus,
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
    Session,
    Snapshot,
    Trade,
    Trades,
    TradesReq,
)


def _dec(x: float) -> str:
    """A float multiplier as a plain decimal string (1000.0 -> "1000")."""
    d = Decimal(repr(x)).normalize()
    return format(d, "f")


#: the reconciliation requests the truth records (``SimTruth.requests``), by their wire tag
_RECONCILE_REQS: dict[type, str] = {OpenOrdersReq: "open_orders", TradesReq: "trades",
                                    PositionsReq: "positions"}


class SimVenue:
    """A venue: matching, market maker, order registry, positions."""

    def __init__(
        self,
        name: str,
        contracts: list[ContractConfig],
        scfg: SimVenueConfig,
        *,
        faults: FaultInjector,
        truth: SimTruth,
        rng: np.random.Generator,
    ) -> None:
        self.name = name
        self.cfg = scfg
        self.contracts = {c.sym: c for c in contracts}
        self.ticks = {c.sym: float(Decimal(c.tick)) for c in contracts}
        self.books = {c.sym: Book(c.sym) for c in contracts}
        self.faults, self.truth, self.rng = faults, truth, rng
        self.orders: dict[tuple[str, str], Order] = {}  # (account, cl) -> latest order
        self.used: set[tuple[str, str]] = set()
        self.trades: dict[str, list[FillRecord]] = {}
        self.positions: dict[str, dict[str, int]] = {}
        self.oe_out: list[tuple[str, msgspec.Struct]] = []
        self.oe_late: list[tuple[int, str, msgspec.Struct]] = []  # (extra delay ns, account, msg)
        self.pending: list[Order] = []  # GTC remainders of a partial fault, matched at requote
        self.md_out: list[tuple[str, msgspec.Struct]] = []
        self.session: dict[str, str] = {}  # sym -> open, break, auction, closed, halt
        self._oid = 0
        self._tid = 0
        #: account -> when the back-off the venue announced in its last ``throttled`` ends
        self.throttled_until: dict[str, int] = {}
        self.accounts: set[str] = set()  #: every account (DEALER identity) heard from
        self.session_down = False  #: the gateway's own session is down (fault ``session_down``)
        #: the contracts with ``offsets``: two-sided positions, offsets checked (``offsets``)
        self.offsets = SimOffsets(contracts, scfg.close_today_fee_per_lot)
        #: the highest fencing epoch per account (protocol v2 ``epoch``; in memory)
        self.fence = EpochFence()

    # --- reference data and market data ---------------------------------------------------------

    def instruments(self) -> Instruments:
        """The instrument list of this venue."""
        return Instruments(
            list=[
                Instrument(
                    sym=c.sym,
                    tick=c.tick,
                    lot=_dec(c.multiplier),
                    ccy=c.ccy,
                    unit=c.unit,
                    min_qty=1,
                    max_qty=c.max_lots_per_order,
                    **({"kind": "future", "offsets": True, "close_today": c.close_today}
                       if c.offsets else {}),
                )
                for c in self.contracts.values()
            ]
        )

    def snapshot(self, sym: str, ts: int) -> Snapshot | Error:
        """The published book of ``sym``."""
        book = self.books.get(sym)
        if book is None:
            return Error(code="unknown_symbol", msg=f"{self.name} has no symbol {sym!r}")
        return book.snapshot(ts)

    def heartbeat(self, ts: int) -> Heartbeat:
        """The heartbeat: last seq per symbol."""
        return Heartbeat(ts=ts, seqs={s: b.seq for s, b in self.books.items()})

    def open_session(self, ts: int) -> None:
        """Publish ``status open`` for every symbol."""
        self.session = dict.fromkeys(self.books, "open")
        self.md_out.extend(self.session_status(ts))

    def session_status(self, ts: int, prefix: str = "") -> list[tuple[str, MdStatus]]:
        """The session state of every symbol whose md topic starts with ``prefix``."""
        return [
            (f"md.{sym}", MdStatus(sym=sym, ts=ts, state=state))
            for sym, state in self.session.items()
            if f"md.{sym}".startswith(prefix)
        ]

    def publish(self, sym: str, ts: int) -> None:
        """Queue the delta of ``sym``'s changes since the last one (if any; none while the md is
        stalled or stopped: the changes go into the next delta)."""
        if self.faults.md_frozen(ts):
            return
        d = self.books[sym].take_delta(ts)
        if d is not None:
            self.md_out.append((f"md.{sym}", d))
            self.truth.count("md_deltas")

    def requote(self, ts: int, fairs: Mapping[str, float]) -> None:
        """The market maker replaces its ladder around each fair price (may fill resting GTCs)."""
        c = self.cfg
        for sym, fair in fairs.items():
            book = self.books[sym]
            # the usual case: only the maker's ladder rests, so the new one crosses nothing
            # and simply replaces it (the same book as removing it and submitting each order)
            alone = book.only(MM_ACCOUNT)
            if not alone:
                book.remove_account(MM_ACCOUNT)
            bids, asks = maker_quotes(
                fair,
                self.ticks[sym],
                spread_ticks=c.spread_ticks,
                levels=c.levels,
                level_qty=c.level_qty_lots,
                rng=self.rng,
            )
            if alone and (not bids or not asks or bids[0][0] < asks[0][0]):
                book.replace_ladder(
                    [Order("mm", MM_ACCOUNT, "", sym, "B", px, qty, "GTC", ts) for px, qty in bids],
                    [Order("mm", MM_ACCOUNT, "", sym, "S", px, qty, "GTC", ts) for px, qty in asks],
                )
            else:
                if alone:  # a ladder that crosses itself (spread 0) matches as before
                    book.remove_account(MM_ACCOUNT)
                for side, ladder in (("B", bids), ("S", asks)):
                    for px, qty in ladder:
                        o = Order("mm", MM_ACCOUNT, "", sym, side, px, qty, "GTC", ts)
                        self._report(book.submit(o), ts)
            for o in [p for p in self.pending if p.sym == sym]:
                self.pending.remove(o)
                if o.is_open:  # a partial fault's GTC remainder meets the new quotes
                    self._report(book.submit(o), ts)
            self.publish(sym, ts)

    def reset_seqs(self, ts: int) -> None:
        """Fault ``md_reset``: every book's seq restarts (as after a gateway restart); the
        session state is published again."""
        for book in self.books.values():
            book.reset_seq()
        self.md_out.extend(self.session_status(ts))

    # --- order entry ----------------------------------------------------------------------------

    def handle(self, account: str, req: msgspec.Struct, ts: int) -> None:
        """Apply one oe request of ``account``; replies go to ``oe_out``."""
        out = self.oe_out
        self.accounts.add(account)
        if type(req) in _RECONCILE_REQS:  # the truth keeps who reconciled when
            self.truth.record_request(ts=ts, venue=self.name, account=account,
                                      t=_RECONCILE_REQS[type(req)])
        if isinstance(req, NewOrder):
            self._new(account, req, ts)
        elif isinstance(req, CancelReq):
            self._cancel(account, req, ts)
        elif isinstance(req, QueryReq):
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
        self.truth.count("rejects")
        rep = Reject(cl=cl, code=code, reason=reason, ts=ts, retry_ms=retry_ms)
        self.oe_out.append((account, rep))

    def _check(self, m: NewOrder) -> tuple[str, str] | None:
        c = self.contracts.get(m.sym)
        if c is None:
            return "unknown_symbol", f"{self.name} has no symbol {m.sym!r}"
        if m.qty <= 0:
            return "bad_qty", f"qty must be > 0, got {m.qty}"
        if m.qty > c.max_lots_per_order:
            return "qty_above_max", f"qty {m.qty} above max {c.max_lots_per_order}"
        if m.px <= 0:
            return "bad_price", f"px must be > 0 ticks, got {m.px}"
        state = self.session.get(m.sym, "open")
        if state != "open":
            return "session_closed", f"{m.sym} session is {state}"
        return None

    def set_session(self, state: str, ts: int) -> None:
        """Every symbol's session becomes ``state`` (fault ``session_break``); a change is
        published as ``status``."""
        if all(v == state for v in self.session.values()):
            return
        self.session = dict.fromkeys(self.books, state)
        self.md_out.extend(self.session_status(ts))

    def set_session_down(self, down: bool, ts: int) -> None:
        """The gateway's session with its exchange goes down or comes back (fault
        ``session_down``): every account heard from is told (protocol v2 ``session``)."""
        if down == self.session_down:
            return
        self.session_down = down
        msg = Session(state="down" if down else "up", ts=ts,
                      reason="sim fault session_down" if down else "")
        self.oe_out.extend((account, msg) for account in sorted(self.accounts))

    def _new(self, account: str, m: NewOrder, ts: int) -> None:
        self.truth.record_order(
            ts=ts,
            venue=self.name,
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
            self.truth.orders[-1]["rejected"] = FENCED
            self.truth.count("fenced")
            self._reject(account, m.cl, FENCED, fenced, ts)
            return
        key = (account, m.cl)
        f = self.faults
        if key in self.used:
            self.truth.count("duplicate_client_ids")
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
            self.truth.orders[-1]["fault"] = "oe_swallow_order"
            return
        bad = self._check(m)
        if bad is None and m.sym in self.offsets.rules:
            frozen = self.offsets.frozen(self.orders.values(), account, m.sym, m.side)
            bad = self.offsets.check(account, m.sym, m.side, m.qty, m.offset, frozen, ts)
        if bad is None and self.session_down:
            self.truth.count("orders_while_session_down")
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
        o = Order(f"{self.name}-{self._oid}", account, m.cl, m.sym, m.side, m.px, m.qty, m.tif, ts,
                  offset=m.offset)
        self.orders[key] = o
        if not f.swallow_ack(ts, m.cl):
            self.oe_out.append((account, Ack(cl=m.cl, oid=o.oid, ts=ts)))
        o.unknown_until = f.unknown_until(ts, m.cl)
        book = self.books[m.sym]
        cap = None
        if m.tif != "FOK":
            cap = f.partial_cap(m.qty, book.available(m.side, m.px), ts, m.cl)
        self._report(book.submit(o, cap), ts)
        if o.is_open and o.tif != "GTC":
            o.state = "canceled"
            self._done(o, ts)
        elif o.is_open and not book.holds(o):
            self.pending.append(o)  # a capped GTC still crossing: matched again at requote
        if o.tif != "GTC" and o.cum > 0 and f.late_fill(ts, m.cl):
            self._delay_last_fill(o)
        self.publish(m.sym, ts)

    def _throttled(self, account: str, cl: str, ts: int) -> int:
        """The back-off (ms) to announce if this new order is throttled, else 0: inside a
        back-off already announced to ``account`` (the client broke it: counted
        ``throttle_violations``, the rest of that back-off announced again), or by the
        ``oe_throttle`` switch (a fault hit; the order's truth record says so)."""
        until = self.throttled_until.get(account, 0)
        if ts < until:
            self.truth.count("throttle_violations")
            self.truth.orders[-1]["fault"] = "throttle_violation"
            return max(1, -(-(until - ts) // 1_000_000))
        retry_ms = self.faults.throttle(ts, cl, account)
        if retry_ms:
            self.throttled_until[account] = ts + retry_ms * 1_000_000
            self.truth.orders[-1]["fault"] = "oe_throttle"
        return retry_ms

    def _delay_last_fill(self, o: Order) -> None:
        """Fault ``oe_late_fill`` (IOC/FOK): its last fill report goes out after its done."""
        for i in range(len(self.oe_out) - 1, -1, -1):
            acct, msg = self.oe_out[i]
            if isinstance(msg, Fill) and acct == o.account and msg.cl == o.cl:
                del self.oe_out[i]
                self.oe_late.append((self.faults.cfg.oe_late_fill_ms * 1_000_000, acct, msg))
                return

    def _cancel(self, account: str, m: CancelReq, ts: int) -> None:
        fenced = self.fence.check(account, m.epoch)
        if fenced:
            self.truth.count("cancel_rejects")
            self.truth.count("fenced_cancels")
            self.oe_out.append((account, CancelReject(cl=m.cl, code=FENCED, reason=fenced,
                                                      ts=ts)))
            return
        o = self.orders.get((account, m.cl))
        if o is None or not o.oid:
            self.truth.count("cancel_rejects")
            reason = "no such order" if o is None else "order was rejected"
            rep = CancelReject(cl=m.cl, code="unknown_order", reason=reason, ts=ts)
            self.oe_out.append((account, rep))
            return
        if not o.is_open:
            self.truth.count("cancel_rejects")
            rep = CancelReject(cl=m.cl, code="not_open", reason=f"order is {o.state}", ts=ts)
            self.oe_out.append((account, rep))
            return
        self.books[o.sym].remove(o)
        late = None
        if o.leaves >= 2 and self.faults.late_fill(ts, m.cl):
            # it traded part of its leaves just before the cancel; that report comes late
            q = int(self.faults.rng.integers(1, o.leaves))
            o.cum += q
            late = self._fill(o, o.px, q, "M", ts, send=False)
        o.state = "canceled"
        self.truth.count("cancels")
        self._done(o, ts)
        if late is not None:
            self.oe_late.append((self.faults.cfg.oe_late_fill_ms * 1_000_000, account, late))
        self.publish(o.sym, ts)

    def _status(self, account: str, cl: str, ts: int) -> OrderStatus:
        o = self.orders.get((account, cl))
        if o is None:
            return OrderStatus(cl=cl, state="unknown")
        if ts < o.unknown_until:
            self.faults.count("oe_unknown_query_answers", ts, cl=cl)
            return OrderStatus(cl=cl, state="unknown")
        return OrderStatus(
            cl=cl,
            state=o.state,
            oid=o.oid,
            cum=o.cum,
            leaves=o.leaves,
            fills=list(o.fills),
        )

    # --- executions -----------------------------------------------------------------------------

    def _done(self, o: Order, ts: int) -> None:
        done = Done(cl=o.cl, oid=o.oid, state=o.state, cum=o.cum, ts=ts)
        self.oe_out.append((o.account, done))

    def _report(self, execs: list[Execution], ts: int) -> None:
        for ex in execs:
            taker, maker = ex.taker, ex.maker
            if self.cfg.trade_prints:
                tr = Trade(sym=taker.sym, ts=ts, px=ex.px, qty=ex.qty, side=taker.side)
                self.md_out.append((f"md.{taker.sym}", tr))
            if taker.account != MM_ACCOUNT:
                self._fill(taker, ex.px, ex.qty, "T", ts)
            if maker.account != MM_ACCOUNT:
                self._fill(maker, ex.px, ex.qty, "M", ts)
                if maker.state == "filled":
                    self._done(maker, ts)
        if execs and execs[0].taker.account != MM_ACCOUNT and execs[0].taker.state == "filled":
            self._done(execs[0].taker, ts)

    def _fill(self, o: Order, px: int, qty: int, liq: str, ts: int, *, send: bool = True) -> Fill:
        self._tid += 1
        tid = f"{self.name}-t{self._tid}"
        offs = self.offsets
        if o.sym in offs.rules:
            fee = offs.fee(self.contracts[o.sym], o.offset, qty)
            offs.apply(o.account, o.sym, o.side, qty, o.offset, ts)
        else:
            fee = round(self.contracts[o.sym].fee_per_lot * qty, 10)
        rec = FillRecord(o.cl, o.oid, tid, px, qty, ts, liq, fee, o.sym, o.side)
        o.fills.append(rec)
        self.trades.setdefault(o.account, []).append(rec)
        pos = self.positions.setdefault(o.account, {})
        pos[o.sym] = pos.get(o.sym, 0) + (qty if o.side == "B" else -qty)
        self.truth.record_fill(
            ts=ts,
            venue=self.name,
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
            self.oe_out.append((o.account, fill))
            if self.faults.duplicate_fill(ts, o.cl, tid):
                self.oe_out.append((o.account, fill))
        return fill
