"""FakeCore: the simulator behind a local fake of a real exchange API, on the wall clock.

One ``FakeCore`` per fake process. It runs a ``SimCore`` over the WHOLE config (so two fakes
started with the same ``start_ns`` and seed quote the same correlated prices) and serves only the
simulator venues its ``[[fakes]]`` entry maps to markets (``spot`` / ``swap``). The exchange
layers (packages ``binance``, ``okx``) translate HTTP/websocket to the calls below and back; they
never touch the ``SimCore`` themselves. The API key a client signs with is the simulator
account name. Everything runs on one asyncio loop; callbacks are plain functions called from
that loop (they must not block: queue and return).

API (stable; the exchange layers depend on it):

- ``FakeCore(cfg, fake, start_ns, clock)``; ``await core.run()`` advances the simulator on the
  wall clock until cancelled (sleeps until the next due event, woken early by requests).
- Markets: ``venue_for(market) -> venue``; ``market_of(venue)``; ``contract(venue, sym)``;
  ``contracts(venue)``; ``tick(venue, sym)`` / ``step(venue, sym)`` (``Decimal``: the
  exchange's price step and amount step ARE the contract's tick and multiplier);
  ``to_ticks(venue, sym, price)`` / ``to_lots(venue, sym, amount)`` (decimal string or
  ``Decimal`` -> int; raise ``FilterError`` with ``what`` "price" / "qty" when not on the step,
  not positive or above the contract's max lots); ``from_ticks`` / ``from_lots`` -> ``Decimal``.
- Keys: ``secret(key)``: the API secret of an API key (``[[fakes]] secrets``, default
  ``<key>-secret``); the key is the simulator account.
- Time: ``now_ns()`` (the simulator's clock), ``server_ns()`` (what the exchange reports and
  checks request timestamps against: now + the ``clock_offset`` fault).
- Orders: ``await request(venue, account, req, timeout_s) -> list[Struct]``: ``req`` is a
  protocol request (``NewOrder``, ``CancelReq``, ``QueryReq``, ``OpenOrdersReq``,
  ``TradesReq``, ``PositionsReq``); the answer is what the venue replied to THIS request:
  ``new`` -> ``[Ack, Fill.., Done]`` or ``[Reject]``; ``cancel`` -> ``[Done]`` or
  ``[CancelReject]`` (matched by client id, ``replies.py``); ``query`` -> ``[OrderStatus]``;
  list requests -> ``[OpenOrders]`` etc. (reads: answered one by one, ``reads.py``; any
  number of requests of one account may be in flight at once). ``[]`` = no answer in time
  (a simulator fault or the ``lose_reply`` switch lost it: the outcome is unknown).
  A ``NewOrder`` may raise ``Throttled`` (rate limit ``[[fakes]] rate_limit_per_s`` per account,
  or the ``throttle_orders`` fault); the ``reject_orders`` fault answers ``[Reject]`` with code
  ``fake_reject``. ``check_funds(venue, account, sym, side, px_ticks, lots, reduce_only)`` raises
  ``FakeError("insufficient_balance")`` or (swap, reduce-only growing or flipping the position)
  ``FakeError("reduce_only")``.
- State reads (no latency, nothing recorded): ``order(venue, account, cl)``,
  ``order_by_oid(venue, account, oid)`` (oid int or str), ``orders(venue, account)``,
  ``fills(venue, account)``, ``position_lots(venue, account, sym)``, ``snapshot(venue, sym)``
  (``Snapshot`` or None while the venue is stopped), ``mark(venue, sym)`` (``Mark`` in ticks),
  ``balances(venue, account) -> {asset: (total, free)}``, ``ledger`` (perp entry prices,
  ``ledger.funding`` history records: ts, venue, account, sym, rate, mark, lots, paid, ccy).
- Streams: ``subscribe_md(venue, cb) -> token``: ``cb(msg)`` for each ``Delta`` (``seq`` =
  the book's update id, one per change; deltas only when the book changed), ``Trade``,
  ``MdStatus`` and, on swap venues, ``Mark`` every second. ``subscribe_private(venue, account,
  cb, on_drop=None) -> token``: ``cb(msg)`` for ``Ack``, ``Reject``, ``Fill``, ``Done``,
  ``CancelReject`` and ``Funding``; ``on_drop()`` is called when the ``disconnect_private``
  fault closes the stream. ``unsubscribe(token)``.
- Faults: ``faults`` (``FakeFaults``, see ``faults.py``); ``set_fault(spec)`` applies one
  switch from the control endpoint. ``truth(now) -> dict``: the simulator's truth restricted to
  the served venues, plus ``funding`` and ``fake_faults``.

Helpers: ``oid_int("binance-12") == 12``, ``tid_int("binance-t5") == 5``. The markets, units
and errors live in ``markets.py`` (``FakeCore`` is a ``Markets``; the errors are re-exported
here), balances and funding in ``ledger.py``, the order/reply matching in ``replies.py``, the
reads in ``reads.py``, the streams' subscribers and md faults in ``streams.py``.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import msgspec

from transports.clock import Clock
from transports.config.engine import AppConfig
from transports.config.gateways import FakeConfig
from transports.venues.fake.faults import FakeFaults
from transports.venues.fake.ledger import Ledger, balances, check_funds, settle_funding
from transports.venues.fake.markets import (
    FakeError,
    FilterError,
    Markets,
    Throttled,
    oid_int,
    tid_int,
)
from transports.venues.fake.reads import READS, Reads
from transports.venues.fake.replies import Replies
from transports.venues.fake.streams import Streams
from transports.venues.sim.core import SimCore
from transports.venues.sim.matching import Order
from transports.wire.venue_msgs import (
    Ack,
    CancelReject,
    CancelReq,
    Done,
    Fill,
    FillRecord,
    Mark,
    NewOrder,
    Reject,
    Snapshot,
    SnapshotReq,
)

MAX_WAIT_S = 0.05  #: longest sleep of the run loop (so faults and funding are noticed promptly)
MARK_INTERVAL_NS = 1_000_000_000
_PRIVATE = (Ack, Reject, Fill, Done, CancelReject)


class FakeCore(Markets):
    """The simulator venues behind one fake exchange (see the module docstring)."""

    def __init__(self, cfg: AppConfig, fake: FakeConfig, start_ns: int, clock: Clock) -> None:
        # the exchange layers want the simulator's string ids (they convert them themselves)
        cfg = msgspec.structs.replace(cfg, sim=msgspec.structs.replace(cfg.sim, ids="str"))
        self.cfg, self.fake, self.clock = cfg, fake, clock
        self.sim = SimCore(cfg, start_ns)
        self.start_ns = start_ns
        Markets.__init__(self, cfg, fake)
        self.ledger = Ledger(fake.balances, self._market)
        self.faults = FakeFaults()
        self.funding_rate = Decimal(fake.funding_rate)
        self.funding_ns = round(fake.funding_interval_s * 1e9)
        self.next_funding_ns = start_ns + self.funding_ns
        self._next_mark = start_ns
        self.streams = Streams(self.faults)
        self.replies = Replies()
        self.reads = Reads(self.sim, self._wake)
        #: (venue, sym, exchange update id, ns stamp of the book change) per published diff,
        #: kept by the exchange layer for ``cmc bench gateway`` (``GET /__fake__/trace``)
        self.md_trace: deque[tuple[str, str, int, int]] = deque(maxlen=100_000)
        self._rate: dict[str, deque[int]] = {}  # account -> times of its recent orders
        self._fills_seen = 0
        self._kick: asyncio.Event | None = None
        self._pending: tuple[list[Any], list[Any]] = self.sim.advance(start_ns)

    def secret(self, key: str) -> str:
        """The API secret of ``key`` (``[[fakes]] secrets``, else ``<key>-secret``)."""
        return self.fake.secrets.get(key, f"{key}-secret")

    # --- time -----------------------------------------------------------------------------------

    def now_ns(self) -> int:
        """The simulator's (wall) clock."""
        return self.clock.now_ns()

    def server_ns(self) -> int:
        """The exchange's clock as it reports it (shifted by the ``clock_offset`` fault)."""
        return self.clock.now_ns() + self.faults.clock_offset_ms * 1_000_000

    # --- the loop -------------------------------------------------------------------------------

    async def run(self) -> None:
        """Advance the simulator on the wall clock until cancelled."""
        self._kick = asyncio.Event()
        md, oe = self._pending
        self._dispatch(self.start_ns, md, oe)
        while True:
            now = self.clock.now_ns()
            md, oe = self.sim.advance(now)
            self._dispatch(now, md, oe)
            self.reads.serve(now)
            self._timers(now)
            due = min(self.sim.next_due(), self.next_funding_ns, self._next_mark,
                      self.reads.next_due())
            for until in self.streams.stalls(now):
                due = min(due, until)
            wait_s = min(MAX_WAIT_S, max(0.0, (due - self.clock.now_ns()) / 1e9))
            self._kick.clear()
            if wait_s > 0:
                try:
                    async with asyncio.timeout(wait_s):
                        await self._kick.wait()
                except TimeoutError:
                    pass

    def _timers(self, now: int) -> None:
        if now >= self._next_mark:
            self._next_mark = now + MARK_INTERVAL_NS
            for c in self._contracts.values():
                if self._market[c.venue] == "swap":
                    m = self.mark(c.venue, c.sym)
                    if m is not None:
                        self.streams.md(c.venue, m, now)
        if now >= self.next_funding_ns:
            ts = self.next_funding_ns
            self.next_funding_ns += self.funding_ns * max(1, (now - ts) // self.funding_ns + 1)
            self._settle(ts)
        self.streams.release_all(now)

    def _dispatch(self, now: int, md: list[Any], oe: list[Any]) -> None:
        for venue, _topic, msg in md:
            if venue in self._market:
                self.streams.md(venue, msg, now)
        fills = self.sim.truth.fills
        for rec in fills[self._fills_seen:]:
            c = self._contracts.get((rec["venue"], rec["sym"]))
            if c is not None:
                px = rec["px"] * Decimal(c.tick)
                self.ledger.apply_fill(c, rec["account"], rec["side"], px, rec["qty"], rec["fee"])
        self._fills_seen = len(fills)
        for venue, account, msg in oe:
            if venue not in self._market:
                continue
            if not isinstance(msg, msgspec.Struct):  # a garbled reply (oe_garble): lost
                continue
            if isinstance(msg, _PRIVATE):
                self.streams.private(venue, account, msg)
            self.replies.offer(venue, account, msg)
        self.replies.settle()  # a request is answered by everything of one batch

    def _settle(self, ts: int) -> None:
        for venue, account, msg in settle_funding(self, ts):
            self.streams.private(venue, account, msg)

    # --- requests -------------------------------------------------------------------------------

    async def request(self, venue: str, account: str, req: msgspec.Struct,
                      timeout_s: float = 5.0) -> list[msgspec.Struct]:
        """Send one protocol request as ``account``; the venue's answer to it (see the module
        docstring), ``[]`` if none came within ``timeout_s``."""
        now = self.clock.now_ns()
        if isinstance(req, NewOrder):
            self._check_rate(account, now)
            if self.faults.take_reject(account, now, req.cl):
                self.sim.truth.record_order(ts=now, venue=venue, account=account, cl=req.cl,
                                            sym=req.sym, side=req.side, px=req.px, qty=req.qty,
                                            tif=req.tif, fault="fake_reject")
                self.sim.truth.count("rejects")
                return [Reject(cl=req.cl, code="fake_reject", reason="rejected by the fake's "
                               "reject_orders switch", ts=now)]
        lost = self.faults.take_lose(account, now, type(req).__name__)
        if isinstance(req, READS):
            return await self.reads.ask(now, venue, account, req, lost, timeout_s)
        if not isinstance(req, NewOrder | CancelReq):
            raise FakeError("unsupported", f"the fake does not send {type(req).__name__}")
        key, w = self.replies.expect(venue, account, req, now + self.sim.latency_ns(venue), lost)
        self.sim.request(now, venue, account, req)
        self._wake()
        try:
            async with asyncio.timeout(timeout_s):
                return await w.fut
        except TimeoutError:
            return []
        finally:  # answered, timed out or abandoned (the client went away): never left behind
            self.replies.forget(key, w)

    def _wake(self) -> None:
        if self._kick is not None:
            self._kick.set()

    def _check_rate(self, account: str, now: int) -> None:
        retry = self.fake.retry_after_s
        if self.faults.take_throttle(account, now):
            raise Throttled(retry)
        q = self._rate.setdefault(account, deque())
        while q and q[0] <= now - 1_000_000_000:
            q.popleft()
        if len(q) >= self.fake.rate_limit_per_s:
            self.faults.record("rate_limit", now, account=account)
            raise Throttled(retry)
        q.append(now)

    def check_funds(self, venue: str, account: str, sym: str, side: str, px_ticks: int,
                    lots: int, reduce_only: bool = False) -> None:
        """``FakeError("insufficient_balance")`` when the account cannot pay for the order;
        ``FakeError("reduce_only")`` when a reduce-only order would not shrink the position."""
        check_funds(self, venue, account, sym, side, px_ticks, lots, reduce_only)

    # --- state reads ----------------------------------------------------------------------------

    def order(self, venue: str, account: str, cl: str) -> Order | None:
        """The latest order of ``account`` with client id ``cl``."""
        return self.sim.venues[venue].orders.get((account, cl))

    def order_by_oid(self, venue: str, account: str, oid: str | int) -> Order | None:
        """The order of ``account`` with exchange id ``oid`` (``"binance-12"`` or 12)."""
        n = oid_int(oid)
        for (a, _), o in self.sim.venues[venue].orders.items():
            if a == account and o.oid and oid_int(o.oid) == n:
                return o
        return None

    def orders(self, venue: str, account: str) -> list[Order]:
        """Every accepted order of ``account`` (latest per client id), oldest first."""
        return [o for (a, _), o in self.sim.venues[venue].orders.items() if a == account]

    def fills(self, venue: str, account: str) -> list[FillRecord]:
        """Every fill of ``account``, oldest first."""
        return list(self.sim.venues[venue].trades.get(account, []))

    def position_lots(self, venue: str, account: str, sym: str) -> int:
        """Net position in lots."""
        return self.sim.venues[venue].positions.get(account, {}).get(sym, 0)

    def snapshot(self, venue: str, sym: str) -> Snapshot | None:
        """The published book (``seq`` = its last update id); None while the venue is stopped."""
        self.contract(venue, sym)
        snap = self.sim.ref(self.clock.now_ns(), venue, SnapshotReq(sym=sym))
        return snap if isinstance(snap, Snapshot) else None

    def mark(self, venue: str, sym: str) -> Mark | None:
        """Mark (the book's mid, ticks), index (= mark), funding rate and next funding time."""
        mid = self.sim.venues[venue].books[sym].mid()
        if mid is None:
            return None
        px = int(mid)
        return Mark(sym=sym, ts=self.clock.now_ns(), mark_px=px, index_px=px,
                    funding_rate=str(self.funding_rate), next_funding_ts=self.next_funding_ns)

    def balances(self, venue: str, account: str) -> dict[str, tuple[Decimal, Decimal]]:
        """Asset -> (total, free): spot locks what open orders may spend; perps lock initial
        margin (``margin_rate``) on positions and open orders and add unrealised PnL."""
        return balances(self, venue, account)

    # --- streams --------------------------------------------------------------------------------

    def subscribe_md(self, venue: str, cb: Callable[[Any], None]) -> int:
        """Call ``cb(msg)`` for the venue's market data; returns a token."""
        return self.streams.subscribe_md(venue, cb)

    def subscribe_private(self, venue: str, account: str, cb: Callable[[Any], None],
                          on_drop: Callable[[], None] | None = None) -> int:
        """Call ``cb(msg)`` for ``account``'s order events and funding on ``venue``; during a
        ``disconnect_private`` outage the stream is refused (``on_drop`` at once)."""
        return self.streams.subscribe_private(venue, account, cb, on_drop, self.clock.now_ns())

    def unsubscribe(self, token: int) -> None:
        """Stop a subscription (unknown tokens are ignored)."""
        self.streams.unsubscribe(token)

    # --- faults and the record ------------------------------------------------------------------

    def set_fault(self, spec: dict[str, Any]) -> None:
        """Apply one run-time fault switch (``faults.py``); ``FaultSpecError`` if malformed."""
        now = self.clock.now_ns()
        self.faults.set(spec, now)
        if spec.get("kind") == "disconnect_private":
            self.streams.disconnect(str(spec.get("venue", "")), str(spec.get("account", "")), now)
        elif spec.get("kind") == "stall_md":
            self.streams.hold(self.venues if not spec.get("venue") else [str(spec["venue"])])
        self._wake()

    def truth(self, now: int) -> dict[str, Any]:
        """The simulator's truth restricted to the served venues, plus ``funding`` (every
        settlement) and ``fake_faults`` (the run-time switches' record)."""
        t = self.sim.truth_dict(now)
        t["meta"]["end_ns"] = now
        served = set(self._market)
        for k in ("orders", "fills", "requests"):
            t[k] = [r for r in t[k] if r.get("venue") in served]
        pos: dict[str, dict[str, int]] = {}
        for f in t["fills"]:
            p = pos.setdefault(f["account"], {})
            p[f["sym"]] = p.get(f["sym"], 0) + (f["qty"] if f["side"] == "B" else -f["qty"])
        t["positions"] = pos
        t["faults"]["by_venue"] = {v: c for v, c in t["faults"]["by_venue"].items() if v in served}
        t["faults"]["events"] = [e for e in t["faults"]["events"] if e.get("venue") in served]
        t["meta"]["venues"] = sorted(served)
        t["funding"] = [dict(r) for r in self.ledger.funding]
        t["fake_faults"] = self.faults.to_dict()
        return t


__all__ = ["FakeCore", "FakeError", "FilterError", "Throttled", "oid_int", "tid_int"]
