"""The money side of a fake exchange: balances per (venue, account), perp positions with their
entry price, and funding settlements. Pure (amounts in ``Decimal``; callers pass times).

Balances start at ``[[fakes]] balances`` for every account on every served venue (spot and
futures wallets are separate, as on the exchanges). A spot fill moves base and quote (the fee is
paid in the quote currency); a perp fill moves only the quote wallet: the fee and the PnL
realised when the position shrinks (average entry price). A funding settlement pays
``-position_base * mark * rate`` (a long pays a positive rate).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from loguru import logger

from transports.config.engine import ContractConfig
from transports.wire.venue_msgs import Funding

if TYPE_CHECKING:
    from transports.venues.fake.core import FakeCore


@dataclass(slots=True)
class PerpPosition:
    """A perp position: signed lots and the average entry price."""

    lots: int = 0
    entry_px: Decimal = Decimal(0)
    realized: Decimal = Decimal(0)


def _dec(x: float) -> Decimal:
    return Decimal(repr(x))


class Ledger:
    """Balances, perp positions and funding of the accounts of one fake."""

    def __init__(self, start: dict[str, float], markets: dict[str, str]) -> None:
        self._start = {k: _dec(v) for k, v in start.items()}
        self._market = markets  # venue -> spot | swap
        self.balances: dict[tuple[str, str], dict[str, Decimal]] = {}
        self.perps: dict[tuple[str, str, str], PerpPosition] = {}
        self.funding: list[dict[str, Any]] = []

    def wallet(self, venue: str, account: str) -> dict[str, Decimal]:
        """The balances of ``account`` on ``venue`` (created at the starting balances)."""
        key = (venue, account)
        if key not in self.balances:
            self.balances[key] = dict(self._start)
        return self.balances[key]

    def perp(self, venue: str, account: str, sym: str) -> PerpPosition:
        """The perp position of ``account`` in ``sym`` (flat if it never traded)."""
        return self.perps.setdefault((venue, account, sym), PerpPosition())

    def apply_fill(self, c: ContractConfig, account: str, side: str, px: Decimal, lots: int,
                   fee: float) -> None:
        """One fill of ``account`` at price ``px`` (decimal) for ``lots``."""
        w = self.wallet(c.venue, account)
        step = _dec(c.multiplier)
        sign = 1 if side == "B" else -1
        fee_d = _dec(fee)
        w[c.ccy] = w.get(c.ccy, Decimal(0)) - fee_d
        if self._market.get(c.venue) != "swap":
            w[c.unit] = w.get(c.unit, Decimal(0)) + sign * lots * step
            w[c.ccy] -= sign * lots * step * px
            return
        p = self.perp(c.venue, account, c.sym)
        if p.lots == 0 or (p.lots > 0) == (sign > 0):
            n = abs(p.lots)
            p.entry_px = (p.entry_px * n + px * lots) / (n + lots)
            p.lots += sign * lots
            return
        closing = min(lots, abs(p.lots))
        pnl = closing * step * (px - p.entry_px) * (1 if p.lots > 0 else -1)
        p.realized += pnl
        w[c.ccy] += pnl
        p.lots += sign * lots
        if p.lots == 0:
            p.entry_px = Decimal(0)
        elif (p.lots > 0) == (sign > 0):  # flipped: the rest opened at px
            p.entry_px = px

    def settle_funding(self, c: ContractConfig, ts: int, mark: Decimal, rate: Decimal,
                       positions: dict[str, int]) -> list[dict[str, Any]]:
        """Pay funding on every non-flat position (account -> lots) of ``c``; the records."""
        out = []
        step = _dec(c.multiplier)
        for account, lots in sorted(positions.items()):
            if lots == 0:
                continue
            paid = -lots * step * mark * rate
            w = self.wallet(c.venue, account)
            w[c.ccy] = w.get(c.ccy, Decimal(0)) + paid
            rec = {"ts": ts, "venue": c.venue, "account": account, "sym": c.sym,
                   "rate": str(rate), "mark": str(mark), "lots": lots, "paid": float(paid),
                   "ccy": c.ccy}
            self.funding.append(rec)
            out.append(rec)
        return out

    def unrealized(self, c: ContractConfig, account: str, mark: Decimal) -> Decimal:
        """Unrealised PnL of the perp position at ``mark``."""
        p = self.perp(c.venue, account, c.sym)
        return p.lots * _dec(c.multiplier) * (mark - p.entry_px) if p.lots else Decimal(0)


def balances(core: FakeCore, venue: str, account: str) -> dict[str, tuple[Decimal, Decimal]]:
    """``FakeCore.balances``: asset -> (total, free)."""
    w = core.ledger.wallet(venue, account)
    locked: dict[str, Decimal] = {}
    swap = core.market_of(venue) == "swap"

    def lock(asset: str, amount: Decimal) -> None:
        locked[asset] = locked.get(asset, Decimal(0)) + amount

    for o in core.orders(venue, account):
        if not o.is_open:
            continue
        c = core.contract(venue, o.sym)
        px, qty = core.from_ticks(venue, o.sym, o.px), core.from_lots(venue, o.sym, o.leaves)
        if swap:
            lock(c.ccy, px * qty * _dec(c.margin_rate))
        elif o.side == "B":
            lock(c.ccy, px * qty)
        else:
            lock(c.unit, qty)
    total = dict(w)
    if swap:
        for c in core.contracts(venue):
            m = core.mark(venue, c.sym)
            lots = core.ledger.perp(venue, account, c.sym).lots
            if m is None or lots == 0:
                continue
            mark = core.from_ticks(venue, c.sym, m.mark_px)
            total[c.ccy] = total.get(c.ccy, Decimal(0)) + core.ledger.unrealized(c, account, mark)
            lock(c.ccy, abs(core.from_lots(venue, c.sym, lots)) * mark * _dec(c.margin_rate))
    return {a: (t, t - locked.get(a, Decimal(0))) for a, t in total.items()}


def settle_funding(core: FakeCore, ts: int) -> list[tuple[str, str, Funding]]:
    """Funding settlement at ``ts`` on every served perp (at its mark; none while its book is
    empty): the ledger pays it; the ``Funding`` messages for the accounts' private streams as
    (venue, account, msg)."""
    out = []
    perps = [c for v in core.venues if core.market_of(v) == "swap" for c in core.contracts(v)]
    for c in perps:
        m = core.mark(c.venue, c.sym)
        if m is None:
            continue
        mark = core.from_ticks(c.venue, c.sym, m.mark_px)
        pos = {a: p.get(c.sym, 0) for a, p in core.sim.venues[c.venue].positions.items()}
        for rec in core.ledger.settle_funding(c, ts, mark, core.funding_rate, pos):
            logger.debug("fake {}: funding {} {} paid {}", c.venue, rec["account"], c.sym,
                         rec["paid"])
            msg = Funding(sym=c.sym, ts=ts, rate=rec["rate"], paid=rec["paid"], ccy=c.ccy)
            out.append((c.venue, rec["account"], msg))
    return out


def check_funds(core: FakeCore, venue: str, account: str, sym: str, side: str, px_ticks: int,
                lots: int, reduce_only: bool) -> None:
    """``FakeCore.check_funds``."""
    from transports.venues.fake.core import FakeError

    c = core.contract(venue, sym)
    px, qty = core.from_ticks(venue, sym, px_ticks), core.from_lots(venue, sym, lots)
    if core.market_of(venue) == "swap":
        if reduce_only:  # it may only shrink the position (the simulator does not know)
            pos = core.position_lots(venue, account, sym)
            if pos == 0 or (pos > 0) == (side == "B") or lots > abs(pos):
                raise FakeError("reduce_only", "ReduceOnly Order is rejected.")
            return
        need, asset = px * qty * _dec(c.margin_rate), c.ccy
    elif side == "B":
        need, asset = px * qty, c.ccy
    else:
        need, asset = qty, c.unit
    if balances(core, venue, account).get(asset, (Decimal(0), Decimal(0)))[1] < need:
        raise FakeError("insufficient_balance",
                        "Account has insufficient balance for requested action.")


__all__ = ["Ledger", "PerpPosition", "balances", "check_funds", "settle_funding"]
