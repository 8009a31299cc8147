"""RiskSupervisor actor: positions, PnL, exposure, limits and the trading state (the second line).

In: ``ExecReport`` from every LegExecutor (fills, rejects, denials), ``FundingPaid`` (a
perpetual's funding payment, protocol v2), ``ComboState`` from the
ComboExecutor, ``BookUpdate`` of every book (marks; sent only when its validity or touch
prices may have changed, ``Topology.touch_only``), ``FeedHealth``, ``Halt``, ``Reduce``,
``Resume``, ``Flatten`` (operator, supervisor), ``SetParams`` (a live change of the
``LIVE_RISK_FIELDS`` limits) and its own ``Timer``\\s. Out: ``TradingState`` to every executor and
strategy when it changes; ``RiskView`` to the leg executors; ``LegOrder`` (purpose ``flatten``)
for exposure no live combo owns; ``Flatten`` to the strategies; ``Decision`` records of every
breach and parameter change to the journal.

``RiskCore`` owns one object per concern and routes each message between them:

- ``book`` (``actors.risk.valuation.Book``): positions, cash, fees, marks; their value in the
  home currency through the live FX book;
- ``limits`` (``actors.risk.limits.Limits``): the trading state, its reasons and the checks
  (ACTIVE → REDUCING → HALTED, HALTED latched);
- ``orphans`` (``actors.risk.orphans.Orphans``): exposure no live combo owns, flattened after
  ``unhedged_limit_ms``;
- ``views`` (``actors.risk.view.Views``): the ``RiskView`` the executors' pre-trade checks use;
- ``slippage`` (``actors.risk.slippage.Slippage``): realized entry slippage per pair leg.

The limits themselves (``risk``) and the flatten order id counter stay on the core: a
``SetParams`` replaces the first, and a rebuild moves the second to the new epoch.
"""

from __future__ import annotations

import collections
import json
from typing import Any

import msgspec

from actors.core import Core, Out
from actors.risk.holdings import PairHoldings
from actors.risk.limits import Limits
from actors.risk.orphans import Orphans
from actors.risk.slippage import Slippage
from actors.risk.valuation import Book
from actors.risk.view import Views
from actors.topology import DEFAULT, Topology
from transports.config.engine import ContractConfig, RiskConfig, live_update
from transports.errors import ConfigError
from transports.wire.messages import (
    BookUpdate,
    ComboState,
    Decision,
    ExecReport,
    FeedHealth,
    Flatten,
    FundingPaid,
    Halt,
    Position,
    Reduce,
    Resume,
    SetParams,
    Timer,
)

#: combo id space for the RiskSupervisor's own flatten orders (never used by a strategy)
RISK_COMBO_BASE = 999_000_000

#: reasons an actor (not an operator) gives in ``Halt``/``Reduce`` as ``"<reason>:<detail>"``;
#: risk keeps them under their own name (the trading state says why, not "operator")
AUTO_REASONS = frozenset({"bad_frames", "intent_wal_failed", "journal_failed", "overfill",
                          "session_auth_failed"})


def _reason(text: str, default: str) -> str:
    head = text.split(":", 1)[0]
    return head if head in AUTO_REASONS else default


class RiskCore(Core):
    """Pure risk state and limit logic. ``topo`` names the journal, the strategies a pair's
    holding belongs to and the executors its flatten orders go to; ``pairs`` maps a pair to its
    (leg A key, leg B key); ``fx_books`` a currency to the (book key, invert) converting it into
    ``risk.home_ccy``."""

    def __init__(self, name: str, contracts: dict[str, ContractConfig], risk: RiskConfig,
                 executors: list[str], strategies: list[str] | None = None,
                 fx_books: dict[str, tuple[str, bool]] | None = None, epoch: int = 1,
                 pairs: dict[str, tuple[str, str]] | None = None, *,
                 topo: Topology = DEFAULT) -> None:
        super().__init__(name)
        self.topo = topo
        self.journal = topo.journal
        self.contracts = contracts
        self.risk = risk  #: the limits; replaced whole by a ``SetParams``
        self.executors = executors
        self.strategies = strategies or []
        self.book = Book(contracts, risk.home_ccy, fx_books or {})
        self.limits = Limits(name, self.journal, (*self.executors, *self.strategies),
                             risk.reject_window)
        self.orphans = Orphans(name, contracts, pairs or {}, topo)
        self.views = Views(executors)
        self.entry_slippage = Slippage()
        # an int attribute of the core itself, so that a rebuild's re_epoch moves it to the new
        # epoch (ids never repeat across restarts)
        self.flatten_seq = epoch * 1_000_000_000 + RISK_COMBO_BASE
        self.fills = 0
        self.fundings = 0  #: funding payments booked
        self.denials: collections.Counter[str] = collections.Counter()  #: reason -> denials
        self.feeds: dict[str, dict[str, Any]] = {}  #: venue -> its last FeedHealth
        self.combos: dict[str, int] = {}  #: combo state -> ComboStates seen

    # --- what other code reads (delegating to the owners) ----------------------------------------

    @property
    def positions(self) -> dict[str, int]:
        """Signed lots per ``"venue:sym"`` (``book``)."""
        return self.book.positions

    @property
    def state(self) -> str:
        """The trading state: ACTIVE, REDUCING or HALTED (``limits``)."""
        return self.limits.state

    @property
    def reasons(self) -> dict[str, str]:
        """Active reason -> the state it demands (``limits``)."""
        return self.limits.reasons

    @property
    def state_changes(self) -> list[tuple[int, str, str]]:
        """(ns, state, reason) of every change of the trading state (``limits``)."""
        return self.limits.state_changes

    @property
    def outcomes(self) -> collections.deque[bool]:
        """The reject-rate window: recent outcomes, True = rejected (``limits``)."""
        return self.limits.outcomes

    @property
    def live_combos(self) -> set[int]:
        """Ids of the combos working or repairing (``orphans``)."""
        return self.orphans.live_combos

    @property
    def holdings(self) -> PairHoldings:
        """What each strategy holds per pair (``orphans``)."""
        return self.orphans.holdings

    @property
    def slips(self) -> dict[int, tuple[str, float, int, float, int]]:
        """The recent combos' slippage records (``entry_slippage``)."""
        return self.entry_slippage.slips

    def pnl(self) -> dict[str, float]:
        """Return realized+MTM gross, fees and net PnL in the home currency."""
        return self.book.pnl()

    def exposure(self) -> dict[str, float]:
        """Return net exposure per underlying in base units (signed)."""
        return self.book.exposure()

    def margin_usage_pct(self) -> float:
        """Return initial margin in use as a percentage of ``margin_capital`` (0 if unset)."""
        return self.book.margin_usage_pct(self.risk.margin_capital)

    def slippage(self) -> dict[str, dict[str, dict[str, float]]]:
        """Realized entry slippage per pair and leg: average ticks (positive = worse) and lots."""
        return self.entry_slippage.report()

    # --- market, fills and combos ----------------------------------------------------------------

    def on_start(self, now_ns: int) -> Out:
        """Send the executors a first view: until one comes their budget checks pass nothing
        that grows a budget (they do not know how many venues share it)."""
        return self.views.send(self.book, now_ns, force=True)

    def on_book_update(self, u: BookUpdate, now_ns: int) -> Out:
        """A new mark; a new view when an FX rate moved, or a held lot's value moved > 10 bp.

        Reads only the validity and the best bid and ask prices (never the quantities, depth or
        timestamps): the Book leaves out the updates that change none of them
        (``Topology.touch_only``; ``tests/actors/book/test_book_touch.py`` holds risk to that)."""
        if u.valid and u.bid_px and u.ask_px:
            book = self.book
            # the contract's own key (``f"{u.venue}:{u.sym}"`` without building it: later
            # lookups with the dicts' own key object are cheaper)
            syms = book.keys.get(u.venue)
            key = syms.get(u.sym) if syms is not None else None
            if key is None:
                return []  # not a known contract
            mark = book.mark(key, u.bid_px[0], u.ask_px[0])
            if mark is None:
                return []  # (not reached: every key of ``keys`` is a contract)
            if key in book.fx_keys:
                views = self.views
                # only this book's rates can have moved (``Views.rate_moved``); until the first
                # view, every rate is asked (``send``)
                if views.sent_fx and not views.rate_moved(book, key):
                    return []
                return views.send(book, now_ns)
            if book.positions.get(key) or (key in book.sides.rules and
                                           book.sides.gross_lots(key, 0)):
                c = book.contracts[key]  # every marked book is a contract (``Book.ticks``)
                # ``Book.lot_notional`` of the mark just set: its product, in its order
                if self.views.lot_moved(key, mark * c.multiplier * book.fx(c.ccy)):
                    return self.views.send(book, now_ns, force=True)
        return []

    def on_exec_report(self, r: ExecReport, now_ns: int) -> Out:
        """Count denials and the reject rate; book fills, then a new view and every check."""
        kind = r.kind
        if kind == "sent":  # the most frequent: nothing to count (asked first, an equality)
            return []
        if kind == "rejected" or kind == "accepted":
            return self.limits.on_outcome(kind == "rejected", self.risk, now_ns)
        if kind == "denied":
            self.denials[r.reason] += 1
            return []
        if kind != "fill":
            return []
        sign = 1 if r.side == "B" else -1
        # the offset (futures with offsets) and the executor's clock at the fill keep both sides
        self.book.fill(f"{r.venue}:{r.sym}", sign * r.qty_lots, r.px_ticks, r.fee, r.fee_ccy,
                       r.offset, r.ts_recv_ns)
        self.fills += 1
        return self.views.send(self.book, now_ns, force=True) + self._check_all(now_ns)

    def on_funding_paid(self, m: FundingPaid, now_ns: int) -> Out:
        """A funding payment on a perpetual: PnL in its currency, then the PnL limits."""
        self.book.fund(m.ccy, m.paid)
        self.fundings += 1
        return self.limits.check_pnl(self.book.pnl()["net"], self.risk, now_ns)

    def on_position(self, p: Position, now_ns: int) -> Out:
        """An executor's position after reconciling with its venue (absolute lots). A difference
        from what the fills said is adopted at the current mark (its cost is unknown: PnL counts
        from here) and journaled; exposure no combo owns is then flattened as usual."""
        key = f"{p.venue}:{p.sym}"
        diff = self.book.adopt(key, p.qty_lots, p.ts_ns)
        if not diff:
            return []
        out: Out = [(self.journal, Decision(self.name, "adopt_position", json.dumps(
            {"key": key, "lots": p.qty_lots, "diff": diff}), now_ns))]
        return out + self.views.send(self.book, now_ns, force=True) + self._check_all(now_ns)

    def on_combo_state(self, s: ComboState, now_ns: int) -> Out:
        """Follow what the combos hold (and their slippage); re-judge unhedged exposure."""
        combos = self.combos
        combos[s.state] = combos.get(s.state, 0) + 1
        if s.entry_a_lots or s.entry_b_lots:
            self.entry_slippage.add(s)
        orphans = self.orphans
        out = orphans.on_combo_state(s, self.book, self.risk, now_ns)
        if orphans.live_combos:
            return out
        if orphans.flatten_wanted:
            # the flatten asked while combos were live (``on_flatten``): what is still nobody's
            # now that the last one ended
            orphans.flatten_wanted = orphans.due = False
            return out + self._flatten(now_ns)
        if orphans.due:  # the unhedged timer expired while combos were live
            return out + self._unhedged(now_ns)
        return out

    def on_feed_health(self, h: FeedHealth, now_ns: int) -> Out:
        """Keep each venue's feed health for the snapshot."""
        self.feeds[h.venue] = {"state": h.state, "gaps": h.gaps, "resyncs": h.resyncs}
        return []

    def on_timer(self, t: Timer, now_ns: int) -> Out:
        """``unhedged``: exposure stayed unhedged ``unhedged_limit_ms``: flatten it (up to
        ``MAX_FLATTEN_ACTIONS`` times), then HALT."""
        if t.key != "unhedged":
            return []
        orphans = self.orphans
        if orphans.live_combos:
            # their exposure is theirs: judged when the last ends; what nobody holds on the
            # contracts they do not trade is closed now (``Orphans.flatten_idle``)
            orphans.due = bool(orphans.unhedged_since_ns)
            if not orphans.due or not orphans.may_flatten(self.risk):
                return []
            out, self.flatten_seq = orphans.flatten_idle(self.book, self.risk,
                                                         self.flatten_seq, now_ns)
            if not out:
                return []
            orphans.due = False  # judged again after ``unhedged_limit_ms``, as after a flatten
            return out + orphans.rearm(self.risk, now_ns)
        return self._unhedged(now_ns)

    def _unhedged(self, now_ns: int) -> Out:
        """The exposure stayed unhedged ``unhedged_limit_ms`` (no combo live now): flatten it
        (up to ``MAX_FLATTEN_ACTIONS`` times), then HALT."""
        orphans = self.orphans
        orphans.due = False
        excess = orphans.excess(self.book.exposure_view())
        spread = orphans.stray_pair(self.book) if excess is None else None
        if not orphans.unhedged_since_ns or (excess is None and spread is None):
            return []
        if orphans.may_flatten(self.risk):
            return self._flatten(now_ns) + orphans.rearm(self.risk, now_ns)
        if excess is None:
            # a hedged spread nobody holds, and no flatten allowed: said once, not halted for
            # (the exposure is within its limits; the desk decides)
            return [(self.journal, Decision(self.name, "alarm", json.dumps(
                {"alarm": "orphan_spread", "pair": spread,
                 "lots": orphans.strays(self.book)}), now_ns))]
        return self.limits.raise_("unhedged_exposure", "HALTED", now_ns, str(excess))

    # --- operator: halt, reduce, resume, flatten, live limits ------------------------------------
    # Every one arrives as a typed message through the dispatcher (admin, supervisor, launcher,
    # an executor's unresolved order), so it is journaled and a replay or a rebuild sees it.

    def on_halt(self, m: Halt, now_ns: int) -> Out:
        """Operator (or supervisor, or an executor's unresolved order): HALTED, latched. A reason
        of ``AUTO_REASONS`` (``"<reason>:<detail>"``) is kept under its own name."""
        return self.limits.raise_(_reason(m.reason, "operator_halt"), "HALTED", now_ns, m.reason)

    def on_reduce(self, m: Reduce, now_ns: int) -> Out:
        """Operator, or an executor (``bad_frames``): REDUCING until resumed."""
        return self.limits.raise_(_reason(m.reason, "operator_reduce"), "REDUCING", now_ns,
                                  m.reason)

    def on_resume(self, m: Resume, now_ns: int) -> Out:
        """Clear every reason, the latched ones too; the loss so far is accepted."""
        return self.limits.resume(self.book.pnl()["net"], now_ns)

    def on_flatten(self, m: Flatten, now_ns: int) -> Out:
        """Every strategy closes what it holds; risk flattens what nobody holds, at once, or,
        while a combo is live (working or repairing), when the last live combo ends: a live
        combo's fills are not yet in what its strategy holds, so they would look like nobody's
        and be closed twice, once by risk and once by the strategy closing the spread the
        combo completes (the fail-over drill's naked leg after a shutdown flatten)."""
        # while HALTED, the executors first hear that what reduces may go, then the strategies
        # to close (a close decided on the Flatten reaches its executors before any later
        # message: told after, its legs were denied ``halted``)
        out: Out = self.limits.flatten_through(now_ns)
        out += [(s, Flatten(m.reason)) for s in self.strategies]
        orphans = self.orphans
        if orphans.live_combos:
            orphans.flatten_wanted = True
            return [*out, (self.journal, Decision(self.name, "flatten_deferred", json.dumps(
                {"live_combos": sorted(orphans.live_combos)}), now_ns))]
        return out + self._flatten(now_ns)

    def on_set_params(self, m: SetParams, now_ns: int) -> Out:
        """A live change of the limits: validated as the config file is, applied whole or not at
        all, journaled either way (``set`` / ``set_rejected``); then the limits are checked at
        once (a tightened one may be breached now)."""
        detail = msgspec.json.encode(m.values).decode()
        try:
            if m.section != "risk":
                raise ConfigError(f"{m.section}: risk holds only the risk section")
            new = live_update(self.risk, m.values)
        except ConfigError as exc:
            return [(self.journal, Decision(self.name, "set_rejected", f"{detail}: {exc}",
                                            now_ns))]
        self.risk = new
        self.limits.set_reject_window(new.reject_window)
        out: Out = [(self.journal, Decision(self.name, "set", detail, now_ns))]
        return out + self._check_all(now_ns) + self.limits.check_rejects(self.risk, now_ns)

    # --- shared steps ----------------------------------------------------------------------------

    def _check_all(self, now_ns: int) -> Out:
        """Every check that a changed position or changed limits may trip, in a fixed order."""
        out = self.limits.check_exposure(self.book.exposure_view(), self.risk, now_ns)
        out += self.orphans.check(self.book, self.risk, now_ns)
        out += self.limits.check_pnl(self.book.pnl()["net"], self.risk, now_ns)
        out += self.limits.check_margin(self.margin_usage_pct(), self.risk, now_ns)
        return out

    def _flatten(self, now_ns: int) -> Out:
        """Flatten orphan exposure (``Orphans.flatten``), numbering orders from ``flatten_seq``."""
        out, self.flatten_seq = self.orphans.flatten(self.book, self.risk, self.flatten_seq,
                                                     now_ns)
        return out

    def positions_sides(self) -> dict[str, dict[str, int]]:
        """Long/short lots (today's part too) of every held contract with offsets."""
        return self.book.sides.snapshot()

    def snapshot(self) -> dict[str, Any]:
        """Return positions (net, and both sides of the contracts with offsets), exposure, PnL,
        state, reasons and counters."""
        book, limits = self.book, self.limits
        gross, margin = book.gross_and_margin()
        return {"state": limits.state, "reasons": dict(limits.reasons),
                "reason": next(iter(limits.reasons), ""), "positions": dict(book.positions),
                "exposure": book.exposure(), "pnl": book.pnl(), "peak_pnl": limits.peak_pnl,
                "fees": dict(book.fees), "cash": dict(book.cash), "fills": self.fills,
                "funding": dict(book.funding), "fundings": self.fundings,
                "margin_usage_pct": self.margin_usage_pct(),
                "gross_notional": gross, "margin_used": margin,
                "positions_sides": book.sides.snapshot(), "denials": dict(self.denials),
                "state_changes": list(limits.state_changes), "feeds": dict(self.feeds),
                "combos": dict(self.combos), "flatten_orders": self.orphans.flatten_orders,
                "slippage": self.slippage()}


__all__ = ["RISK_COMBO_BASE", "RiskCore"]
