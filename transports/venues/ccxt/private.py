"""The account's private websocket (order updates, trades), its catch-up after a reconnect, the
``session`` state, funding payments and the pending-``done`` sweep.

``watch_orders`` and ``watch_my_trades`` feed the ``Tracker``; their reports go to the account.
The private connection's own events (``exchange.py`` hooks) drive the session: a close sends
``session down`` at once; a new connection first catches up -- every order not known closed is
fetched (with its trades when fills are missing) and every symbol's trades since the drop are
read -- and only then sends ``session up``, so the fills made during the gap reach the engine
before it is told the account is back, each once (the Tracker dedupes by trade id). The
catch-up runs once more a second later: the stream's subscription may complete after the
connection, and a fill in between would otherwise wait for a query.

``session`` is the gateway's connection to its exchange as a whole: ``up`` only while the
market-data websocket, the private websocket and the REST API (a refused connection or a 503
takes it down, the next answer brings it back) are all up (``SessionState``).
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable
from typing import Any

import ccxt
from loguru import logger

from transports.config.gateways import CcxtVenueConfig
from transports.venues.ccxt.md import MarketData, backoff_s
from transports.venues.ccxt.orders import OrderEntry
from transports.venues.ccxt.reports import ms_to_ns
from transports.wire.venue_msgs import Funding, Session

SWEEP_S = 0.05  #: how often pending ``done``s are checked
CATCH_UP_AGAIN_S = 1.0
CATCH_UP_MARGIN_MS = 2000  #: trades read from this long before the drop (clock differences)


class SessionState:
    """Up/down of each side (``md``, ``oe``, ``rest``) and the combined state last sent (pure)."""

    def __init__(self, sides: tuple[str, ...]) -> None:
        self.up = dict.fromkeys(sides, False)
        self.sent = ""

    def set(self, side: str, up: bool, reason: str, now_ns: int) -> Session | None:
        """Record a side's state; the ``session`` message to send when the whole changes."""
        if side not in self.up:
            return None
        self.up[side] = up
        state = "up" if all(self.up.values()) else "down"
        if state == self.sent or (state == "down" and not self.sent):
            return None  # unchanged, or never up yet (start-up is not a drop)
        self.sent = state
        return Session(state=state, ts=now_ns, reason=f"{side}: {reason}"[:200])


class PrivateStreams:
    """Private streams, catch-up, funding and the sweep of one account."""

    def __init__(self, ex: Any, cfg: CcxtVenueConfig, oe: OrderEntry, md: MarketData,
                 set_side: Callable[[str, bool, str], None], now_ns: Callable[[], int],
                 start_ms: int) -> None:
        self.ex, self.cfg, self.oe, self.md = ex, cfg, oe, md
        self.tracker = oe.tracker
        self.set_side, self.now_ns = set_side, now_ns
        self.down_since_ms = start_ms
        self.connected = False
        self.funding_since_ms = start_ms
        self.funding_seen: set[str] = set()
        self.counters = {"drops": 0, "catch_ups": 0, "recovered_fills": 0, "fundings": 0}
        self._rng = random.Random()
        self._tasks: set[asyncio.Task[Any]] = set()
        self.stopping = False

    # --- connection events (from the exchange hooks) ----------------------------------------

    def on_ws(self, event: str, reason: str) -> None:
        """The private websocket connected (``up``) or closed (``down``)."""
        if event == "down":
            if self.connected:
                self.connected = False
                self.counters["drops"] += 1
                self.down_since_ms = self.now_ns() // 1_000_000
                logger.warning("{}: private stream down: {}", self.cfg.exchange, reason)
            self.set_side("oe", False, reason)
        elif not self.connected:
            self.connected = True
            t = asyncio.get_running_loop().create_task(self._catch_up_then_up(reason))
            self._tasks.add(t)
            t.add_done_callback(self._tasks.discard)

    async def _catch_up_then_up(self, reason: str) -> None:
        since = self.down_since_ms - CATCH_UP_MARGIN_MS
        await self.catch_up(since)
        if self.connected:
            self.set_side("oe", True, reason)
        await asyncio.sleep(CATCH_UP_AGAIN_S)
        if self.connected:
            await self.catch_up(since)

    async def catch_up(self, since_ms: int) -> None:
        """Report what happened while the stream was away: orders not known closed, and every
        symbol's trades since ``since_ms``."""
        self.counters["catch_ups"] += 1
        before = self.tracker.counters["fills"]
        for cl in self.tracker.open_cls():
            try:
                await self.oe.find_order(cl)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - the next catch-up or a query retries
                logger.info("catch-up {}: {!r}", cl, exc)
        now = self.now_ns()
        for m in self.oe.markets.values():
            try:
                trades = await self.oe.fetch_trades_since(m["symbol"], max(0, since_ms))
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001
                logger.info("catch-up trades {}: {!r}", m["id"], exc)
                continue
            for t in trades:
                self.oe.report(self.tracker.on_trade(t, now))
        self.oe.report(self.tracker.sweep(self.now_ns()))
        self.counters["recovered_fills"] += self.tracker.counters["fills"] - before

    # --- streams -----------------------------------------------------------------------------

    async def _watch(self, name: str, call: Callable[[], Any],
                     feed: Callable[[Any, int], list[Any]]) -> None:
        attempt = 0
        while not self.stopping:
            try:
                items = await call()
            except asyncio.CancelledError:
                raise
            except ccxt.AuthenticationError as exc:
                logger.error("{}: {}: authentication failed: {}", self.cfg.exchange, name,
                             type(exc).__name__)
                self.oe.report([Session(state="auth_failed", ts=self.now_ns(),
                                        reason=f"{name}: {type(exc).__name__}")])
                await asyncio.sleep(self.cfg.reconnect_backoff_max_ms / 1000.0)
                continue
            except Exception as exc:  # noqa: BLE001 - dropped streams are retried
                if not isinstance(exc, ccxt.NetworkError):
                    logger.warning("{}: {}: {!r}", self.cfg.exchange, name, exc)
                self.on_ws("down", f"{name}: {type(exc).__name__}")
                await asyncio.sleep(backoff_s(attempt, self.cfg.reconnect_backoff_ms,
                                              self.cfg.reconnect_backoff_max_ms, self._rng))
                attempt += 1
                continue
            attempt = 0
            now = self.now_ns()
            out: list[Any] = []
            for it in items:
                out += feed(it, now)
            self.oe.report(out)

    async def run_orders(self) -> None:
        """``watch_orders`` -> ack/done/reject."""
        await self._watch("orders", self.ex.watch_orders, self.tracker.on_order)

    async def run_trades(self) -> None:
        """``watch_my_trades`` -> fill."""
        await self._watch("trades", self.ex.watch_my_trades, self.tracker.on_trade)

    async def run_sweep(self) -> None:
        """Send ``done``s that waited long enough for their fills."""
        while not self.stopping:
            await asyncio.sleep(SWEEP_S)
            self.oe.report(self.tracker.sweep(self.now_ns()))

    async def run_funding(self) -> None:
        """Perpetuals: funding payments from the exchange's history -> ``funding``."""
        period = self.cfg.funding_poll_ms / 1000.0
        while not self.stopping:
            await asyncio.sleep(period)
            for sym, m in self.oe.markets.items():
                try:
                    rows = await self.oe.read(self.ex.fetch_funding_history, m["symbol"],
                                             self.funding_since_ms)
                except asyncio.CancelledError:
                    raise
                except Exception as exc:  # noqa: BLE001 - retried next period
                    logger.debug("{}: fetch_funding_history: {!r}", self.cfg.exchange, exc)
                    continue
                self.oe.report(self.fundings(sym, rows))

    def fundings(self, sym: str, rows: list[Any]) -> list[Funding]:
        """New funding payments among ``rows`` (ccxt funding-history dicts), oldest first."""
        out = []
        now = self.now_ns()
        for r in sorted(rows, key=lambda r: int(r.get("timestamp") or 0)):
            key = str(r.get("id") or f"{r.get('timestamp')}:{r.get('amount')}")
            if key in self.funding_seen:
                continue
            self.funding_seen.add(key)
            self.counters["fundings"] += 1
            out.append(Funding(sym=sym, ts=ms_to_ns(r.get("timestamp"), now),
                               rate=self.md.funding_rate.get(sym, "0"),
                               paid=float(r.get("amount") or 0.0), ccy=str(r.get("code") or "")))
        return out


__all__ = ["PrivateStreams", "SessionState"]
