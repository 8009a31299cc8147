"""Spot positions: the net of the account's own trades since the gateway's first start.

A spot account has balances, not positions, and its base balance includes what it held before
any trading (and fees paid in the base asset). The engine adopts a venue's positions at start,
so a balance would be adopted as exposure to flatten. The gateway therefore reports, per
symbol, the signed sum in lots of the account's trades (``fetch_my_trades``) since a baseline
time: the first start of a gateway on this state directory, kept in a small JSON file. The
sums are kept between requests and extended by the trades since the last one.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from loguru import logger

from transports.venues.ccxt.units import OffStep

if TYPE_CHECKING:
    from transports.venues.ccxt.orders import OrderEntry


class SpotLedger:
    """Net lots per symbol from the account's trades since ``since_ms``."""

    def __init__(self, path: str | Path, now_ms: int) -> None:
        self.path = Path(path)
        self.since_ms = self._baseline(now_ms)
        self.net: dict[str, int] = {}
        self.seen: set[str] = set()
        self.cursor_ms: dict[str, int] = {}

    def _baseline(self, now_ms: int) -> int:
        try:
            return int(json.loads(self.path.read_text())["since_ms"])
        except FileNotFoundError:
            pass
        except (ValueError, KeyError, TypeError):
            logger.warning("{}: unreadable; positions count from now", self.path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps({"since_ms": now_ms}))
        tmp.replace(self.path)
        return now_ms

    def apply(self, sym: str, trades: list[Any], oe: OrderEntry) -> None:
        """Add ``trades`` (ccxt dicts) of ``sym`` not counted yet."""
        sc = oe.scales[sym]
        for t in trades:
            tid = f"{sym}:{t.get('id')}"
            ts = int(t.get("timestamp") or 0)
            if tid in self.seen or ts < self.since_ms:
                continue
            try:
                lots = sc.amount_to_lots(t["amount"])
            except (OffStep, KeyError, TypeError):
                logger.error("spot ledger: trade {} off the lot grid", t.get("id"))
                continue
            self.seen.add(tid)
            self.net[sym] = self.net.get(sym, 0) + (lots if t.get("side") == "buy" else -lots)
            self.cursor_ms[sym] = max(self.cursor_ms.get(sym, 0), ts)

    async def positions(self, oe: OrderEntry) -> dict[str, int]:
        """Net signed lots per symbol of ``oe``'s markets, brought up to date."""
        for sym, m in oe.markets.items():
            since = self.cursor_ms.get(sym, self.since_ms)
            self.apply(sym, await oe.fetch_trades_since(m["symbol"], since), oe)
        return {s: self.net.get(s, 0) for s in oe.markets}


__all__ = ["SpotLedger"]
