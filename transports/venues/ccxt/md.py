"""Market data of one ccxt venue: order books -> deltas, heartbeats, marks, session state.

One task per symbol awaits ccxt.pro's ``watch_order_book`` (ccxt keeps the exchange's book by
the exchange's own update-id rules: Binance ``lastUpdateId``/``U``/``u``/``pu``, OKX
``seqId``/``prevSeqId``) and publishes what changed in the top levels (``book.PublishedBook``).
When ccxt finds a gap it raises ``InvalidNonce``/``ChecksumError`` and resubscribes on the next
call with a fresh snapshot; the gateway just calls again, and the first book after the resync is
diffed against what was published, so the engine sees one ordinary delta (section 6 of
docs/venue-protocol.md: never a gap, never a book the deltas do not reproduce). A lost
connection (``NetworkError``) is retried with backoff and jitter and reported as the md side of
the session going down; the first book after it brings the side up again. Updates between are
published from inside ccxt's message handling (``on_message``, the exchange hook), saving a
task wake-up per update on the hot path.

``hb`` goes out every ``hb_interval_ms`` with every symbol's last seq, also while the exchange is
silent (a stall: same seqs). Perpetuals get a ``mark`` every ``mark_interval_ms`` from
``fetch_funding_rate`` (mark and index prices at the nearest tick, the funding rate and its next
time). ``status`` is ``open`` while ccxt lists the market active, ``halt`` when not (markets
reloaded every ``STATUS_POLL_S``); sent on each new subscription and on every change.
"""

from __future__ import annotations

import asyncio
import random
from collections import deque
from collections.abc import Callable, Mapping
from typing import Any

import ccxt
from loguru import logger

from transports.config.gateways import CcxtVenueConfig
from transports.venues.ccxt.book import PublishedBook
from transports.venues.ccxt.units import Scale, to_decimal
from transports.wire.venue_msgs import Error, Heartbeat, Mark, MdStatus, Snapshot, md_topic

STATUS_POLL_S = 30.0
TRACE_LEN = 200_000  #: md trace entries kept for a bench

Publish = Callable[[str, Any], None]  #: (topic, message)
SideEvent = Callable[[str, str, str], None]  #: (side, "up"/"down", reason)


def backoff_s(attempt: int, base_ms: int, max_ms: int, rng: random.Random) -> float:
    """Reconnect delay: ``base_ms`` doubling per attempt up to ``max_ms``, jittered to 50-100%
    (so many gateways reconnecting at once do not arrive together)."""
    return min(max_ms, base_ms * (1 << min(attempt, 20))) * rng.uniform(0.5, 1.0) / 1000.0


class MarketData:
    """The md side of one gateway: books, heartbeats, marks and status for its symbols."""

    def __init__(self, ex: Any, cfg: CcxtVenueConfig, markets: Mapping[str, Mapping[str, Any]],
                 scales: Mapping[str, Scale], depths: Mapping[str, int], publish: Publish,
                 on_side: SideEvent, now_ns: Callable[[], int], *, trace: bool = False) -> None:
        self.ex, self.cfg, self.markets, self.scales = ex, cfg, markets, scales
        self.publish, self.on_side, self.now_ns = publish, on_side, now_ns
        self.books = {s: PublishedBook(s, scales[s], depths[s]) for s in markets}
        self.state = {s: "open" if markets[s].get("active", True) is not False else "halt"
                      for s in markets}
        self.funding_rate: dict[str, str] = {}
        self.counters = {"resyncs": 0, "disconnects": 0, "marks": 0, "hbs": 0, "errors": 0}
        #: (sym, seq, exchange nonce, exchange ts ms, ws receive ns, frame sent ns)
        self.trace: deque[tuple[str, int, int, int, int, int]] | None = (
            deque(maxlen=TRACE_LEN) if trace else None)
        self._unis = {s: str(m["symbol"]) for s, m in markets.items()}
        self._topics = {s: md_topic(s) for s in markets}
        self._live = dict.fromkeys(markets, False)  #: ccxt holds a synced book of the symbol
        self._nonce: dict[str, Any] = dict.fromkeys(markets)  #: update id last diffed
        self._rng = random.Random()
        self.stopping = False

    # --- replies ----------------------------------------------------------------------------

    def snapshot(self, sym: str) -> Snapshot | Error:
        """The ``snapshot`` reply for ``sym``."""
        book = self.books.get(sym)
        if book is None:
            return Error(code="unknown_symbol", msg=f"no symbol {sym!r} here")
        return book.snapshot(self.now_ns())

    def status_for(self, prefix: str) -> list[tuple[str, MdStatus]]:
        """The current ``status`` of every symbol whose topic starts with ``prefix``."""
        now = self.now_ns()
        return [(md_topic(s), MdStatus(sym=s, ts=now, state=st))  # type: ignore[arg-type]
                for s, st in self.state.items() if md_topic(s).startswith(prefix)]

    # --- tasks ------------------------------------------------------------------------------

    async def run_book(self, sym: str) -> None:
        """Watch one symbol's book until stopped; publish its deltas."""
        uni, ex = self._unis[sym], self.ex
        limit = self._limit(self.books[sym].depth)
        attempt, down = 0, True  # the first book brings the md side up

        while not self.stopping:
            try:
                ob = await ex.watch_order_book(uni, limit)
            except (ccxt.ChecksumError, ccxt.InvalidNonce) as exc:
                # ccxt dropped its book; the next call resubscribes from a fresh snapshot
                self._live[sym] = False
                self.counters["resyncs"] += 1
                logger.info("{} {}: book resync ({})", self.cfg.exchange, sym, exc)
                continue
            except ccxt.NetworkError as exc:
                self._live[sym] = False
                self.counters["disconnects"] += 1
                if not down:
                    down = True
                    self.on_side("md", "down", f"{sym}: {type(exc).__name__}")
                await asyncio.sleep(backoff_s(attempt, self.cfg.reconnect_backoff_ms,
                                              self.cfg.reconnect_backoff_max_ms, self._rng))
                attempt += 1
                continue
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - a bad message must not end the feed
                self._live[sym] = False
                self.counters["errors"] += 1
                logger.warning("{} {}: watch_order_book: {!r}", self.cfg.exchange, sym, exc)
                await asyncio.sleep(backoff_s(attempt, self.cfg.reconnect_backoff_ms,
                                              self.cfg.reconnect_backoff_max_ms, self._rng))
                attempt += 1
                continue
            attempt = 0
            if down:
                down = False
                self.on_side("md", "up", f"{sym}: book live")
            if self._live[sym] and ob.get("nonce") == self._nonce[sym]:
                continue  # ``on_message`` published this update already
            self._live[sym] = True
            self._publish_book(sym, ob)

    def _publish_book(self, sym: str, ob: Any) -> None:
        book, trace = self.books[sym], self.trace
        self._nonce[sym] = ob.get("nonce")
        ts_ms = ob.get("timestamp")
        delta = book.update(ob["bids"], ob["asks"], ts_ms * 1_000_000 if ts_ms else self.now_ns())
        if delta is not None:
            self.publish(self._topics[sym], delta)
            if trace is not None:
                trace.append((sym, delta.seq, int(ob.get("nonce") or 0), int(ts_ms or 0),
                              self.ex.cmc_rx_ns, self.now_ns()))

    def on_message(self) -> None:
        """After ccxt handled a websocket message (called by the exchange hook, in the same
        call): publish every live book whose update id moved. This saves the wake-up of the
        ``run_book`` task per update; that task still owns the subscription, the resyncs and
        the first book after each (re)subscription (a book is not live before it)."""
        obs = self.ex.orderbooks
        for sym, uni in self._unis.items():
            if not self._live[sym]:
                continue
            ob = obs.get(uni)
            if ob is None:
                continue
            nonce = ob.get("nonce")
            if nonce is not None and nonce != self._nonce[sym]:
                self._publish_book(sym, ob)

    def _limit(self, depth: int) -> int | None:
        # OKX's channel follows the limit (5 -> books5 snapshots, 400 -> books); others take
        # the limit as the REST snapshot size. The full book keeps every level correct.
        return None if self.cfg.exchange == "okx" else 100 if depth <= 100 else 1000

    async def run_hb(self) -> None:
        """A heartbeat with every symbol's last seq, every ``hb_interval_ms``."""
        period = self.cfg.hb_interval_ms / 1000.0
        while not self.stopping:
            self.publish("hb", Heartbeat(ts=self.now_ns(),
                                         seqs={s: b.seq for s, b in self.books.items()}))
            self.counters["hbs"] += 1
            await asyncio.sleep(period)

    async def run_marks(self) -> None:
        """Perpetuals: ``mark`` from the funding-rate endpoint every ``mark_interval_ms``."""
        period = self.cfg.mark_interval_ms / 1000.0
        while not self.stopping:
            for sym, m in self.markets.items():
                try:
                    fr = await self.ex.fetch_funding_rate(m["symbol"])
                except asyncio.CancelledError:
                    raise
                except Exception as exc:  # noqa: BLE001 - retried next period
                    self.counters["errors"] += 1
                    logger.debug("{} {}: fetch_funding_rate: {!r}", self.cfg.exchange, sym, exc)
                    continue
                mark = self.mark_of(sym, fr)
                if mark is not None:
                    self.publish(md_topic(sym), mark)
            await asyncio.sleep(period)

    def mark_of(self, sym: str, fr: Mapping[str, Any]) -> Mark | None:
        """A ccxt funding-rate dict as a ``mark`` (``None`` without a mark price)."""
        sc = self.scales[sym]
        mark_px = fr.get("markPrice")
        if not mark_px:
            return None
        rate = fr.get("fundingRate")
        rate_s = format(to_decimal(rate).normalize(), "f") if rate is not None else "0"
        self.funding_rate[sym] = rate_s
        nxt = fr.get("fundingTimestamp") or fr.get("nextFundingTimestamp") or 0
        self.counters["marks"] += 1
        return Mark(sym=sym, ts=int(fr.get("timestamp") or 0) * 1_000_000 or self.now_ns(),
                    mark_px=sc.nearest_ticks(mark_px),
                    index_px=sc.nearest_ticks(fr["indexPrice"]) if fr.get("indexPrice") else 0,
                    funding_rate=rate_s, next_funding_ts=int(nxt) * 1_000_000)

    async def run_status(self) -> None:
        """Reload the markets every ``STATUS_POLL_S``; publish a symbol's change of state."""
        while not self.stopping:
            await asyncio.sleep(STATUS_POLL_S)
            try:
                markets = await self.ex.load_markets(True)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - retried next period
                logger.debug("{}: load_markets: {!r}", self.cfg.exchange, exc)
                continue
            for sym, m in self.markets.items():
                fresh = markets.get(m["symbol"]) or m
                self.set_state(sym, "open" if fresh.get("active", True) is not False else "halt")

    def set_state(self, sym: str, state: str) -> None:
        """Publish ``status`` for ``sym`` when its state changes."""
        if self.state.get(sym) != state:
            self.state[sym] = state
            logger.info("{} {}: status {}", self.cfg.exchange, sym, state)
            self.publish(md_topic(sym), MdStatus(sym=sym, ts=self.now_ns(),
                                               state=state))  # type: ignore[arg-type]


__all__ = ["MarketData", "backoff_s"]
