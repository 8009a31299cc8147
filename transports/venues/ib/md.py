"""Market data from TWS: ``reqMktDepth`` per contract, diffed into protocol deltas; L1
(``reqMktData`` bid/ask) where IB refuses depth for the account (no depth subscription)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from loguru import logger

from transports.config.gateways import IbVenueConfig
from transports.venues.ib.book import DepthBook
from transports.venues.ib.contracts import Scale
from transports.wire.venue_msgs import Heartbeat, MdStatus, Snapshot, md_topic

#: IB's answers meaning "no market depth for you": 10092 deep book not allowed, 10090 part of
#: the data not subscribed, 354 not subscribed, 2152 needs additional subscription
NO_DEPTH = frozenset({10092, 10090, 354, 2152, 309})


class IbMarketData:
    """Books, subscriptions and md messages of the gateway's contracts."""

    def __init__(self, ib: Any, cfg: IbVenueConfig, scales: dict[str, Scale],
                 contracts: dict[str, Any], depths: dict[str, int],
                 publish: Callable[[str, Any], None], now_ns: Callable[[], int]) -> None:
        self.ib, self.cfg, self.contracts = ib, cfg, contracts
        self.publish, self.now_ns = publish, now_ns
        self.books = {s: DepthBook(sc, depths.get(s, 20)) for s, sc in scales.items()}
        self.by_con = {sc.con_id: s for s, sc in scales.items()}
        self.l1: set[str] = set()  # symbols fed from L1 (depth refused)
        self.tickers: dict[str, Any] = {}
        self.state = "open"

    def wire(self) -> None:
        """Subscribe to the IB object's ticker events."""
        self.ib.pendingTickersEvent += self.on_tickers

    def subscribe(self) -> None:
        """Ask TWS for depth (or L1) of every contract; again after a reconnect."""
        for sym, k in self.contracts.items():
            if sym in self.l1:
                self.tickers[sym] = self.ib.reqMktData(k, "", False, False)
            else:
                self.tickers[sym] = self.ib.reqMktDepth(k, self.cfg.depth_rows,
                                                        self.cfg.smart_depth)

    def on_tickers(self, tickers: Any) -> None:
        """``pendingTickersEvent``: publish the delta of every changed book."""
        now = self.now_ns()
        for t in tickers:
            sym = self.by_con.get(t.contract.conId)
            if sym is None or self.tickers.get(sym) is not t:
                continue
            book = self.books[sym]
            d = book.from_l1(t, now) if sym in self.l1 else book.from_dom(t, now)
            if d is not None:
                self.publish(md_topic(sym), d)

    def on_error(self, code: int, contract: Any) -> None:
        """Depth refused for a contract: fall back to L1 for it."""
        sym = self.by_con.get(getattr(contract, "conId", 0)) if contract is not None else None
        if code in NO_DEPTH and sym is not None and sym not in self.l1:
            logger.warning("ib: no market depth for {} (error {}): L1 instead", sym, code)
            self.l1.add(sym)
            try:
                self.ib.cancelMktDepth(self.contracts[sym], self.cfg.smart_depth)
            except (ConnectionError, KeyError):
                pass
            self.tickers[sym] = self.ib.reqMktData(self.contracts[sym], "", False, False)

    def set_state(self, state: str) -> None:
        """Every symbol's session state (``halt`` while TWS is cut off); on ``halt`` every
        book is emptied, so nothing trades on prices that stopped moving."""
        if state == self.state:
            return
        self.state = state
        now = self.now_ns()
        for sym, book in self.books.items():
            if state != "open":
                d = book.clear(now)
                if d is not None:
                    self.publish(md_topic(sym), d)
            self.publish(md_topic(sym), MdStatus(sym=sym, ts=now, state=state))  # type: ignore[arg-type]

    def status_for(self, prefix: str) -> list[tuple[str, MdStatus]]:
        """The current ``status`` of every symbol a new subscription ``prefix`` covers."""
        now = self.now_ns()
        return [(md_topic(s), MdStatus(sym=s, ts=now, state=self.state))  # type: ignore[arg-type]
                for s in self.books if md_topic(s).startswith(prefix)]

    def heartbeat(self) -> Heartbeat:
        """``hb`` with every symbol's last seq."""
        return Heartbeat(ts=self.now_ns(), seqs={s: b.seq for s, b in self.books.items()})

    def snapshot(self, sym: str) -> Snapshot | None:
        """The published book of ``sym`` (``None``: not ours)."""
        b = self.books.get(sym)
        return b.snapshot(self.now_ns()) if b is not None else None


__all__ = ["NO_DEPTH", "IbMarketData"]
