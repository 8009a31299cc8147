"""Two-sided positions of the futures with offsets (CTP), as the RiskSupervisor keeps them.

A contract with ``offsets`` (``ContractConfig.offsets``) holds long and short lots at once: a
sell that *opens* adds short lots beside the long ones instead of reducing them. Each
``ExecReport`` ``fill`` carries the offset its order went with (``ExecReport.offset``, set by the
LegExecutor), and risk applies it to the same ``actors.leg.offsets.Sides`` buckets the executor
keeps (long/short, today/yesterday), rolling today's lots into yesterday's at the contract's
trading-day boundary (``trading_day_roll_utc`` / ``trading_day_roll_s``) as of the report's
``ts_recv_ns`` -- the executor's clock at the fill, so both roll on the same day. The buckets
change only on inputs (fills, adopted positions): a replay rebuilds them exactly.

Both sides hold margin on CTP venues, so gross notional and margin count ``long + short`` lots of
these contracts (``gross_lots``); net exposure stays the net. Other contracts are not kept here.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from actors.leg.offsets import Sides, trading_day
from transports.config.engine import ContractConfig


class TwoSided:
    """Per ``"venue:sym"`` with offsets: its ``Sides`` and the trading day they are of."""

    def __init__(self, contracts: Mapping[str, ContractConfig]) -> None:
        #: key -> its contract, for the contracts that trade with offsets only
        self.rules = {k: c for k, c in contracts.items() if c.offsets}
        self.sides: dict[str, Sides] = {k: Sides() for k in self.rules}
        self.day: dict[str, int] = {}  #: key -> the trading day its buckets are of

    def _roll(self, key: str, now_ns: int) -> None:
        c = self.rules[key]
        d = trading_day(now_ns, c.trading_day_roll_s, c.trading_day_roll_utc)
        last = self.day.get(key)
        if last is not None and d > last:
            self.sides[key].roll()
        if last is None or d > last:
            self.day[key] = d

    def fill(self, key: str, side: str, offset: str, qty: int, now_ns: int) -> None:
        """Apply a fill of ``qty`` lots on ``side`` (``"B"``/``"S"``) with ``offset`` (``""``:
        unknown, closes yesterday's lots first, then today's, the rest opens)."""
        if key not in self.rules or qty <= 0:
            return
        self._roll(key, now_ns)
        self.sides[key].apply(side, offset, qty)

    def adopt(self, key: str, diff: int, now_ns: int) -> None:
        """A reconciled net position differing by ``diff`` lots from the fills': the difference
        is applied as a fill of unknown offset (it closes the opposite side first), so the
        buckets' net always equals the book's position."""
        if key in self.rules and diff:
            self.fill(key, "B" if diff > 0 else "S", "", abs(diff), now_ns)

    def gross_lots(self, key: str, net: int) -> int:
        """Lots that hold margin: ``long + short`` for a contract with offsets, ``|net|``
        otherwise."""
        s = self.sides.get(key)
        if s is None:
            return abs(net)
        return s.long_today + s.long_yd + s.short_today + s.short_yd

    def snapshot(self) -> dict[str, Any]:
        """``key -> {long, short, long_today, short_today}`` of every key that holds lots."""
        return {k: s.as_dict() for k, s in self.sides.items()
                if s.long_today or s.long_yd or s.short_today or s.short_yd}


__all__ = ["TwoSided"]
