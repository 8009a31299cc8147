"""Orphan exposure: exposure no live combo owns, and how the RiskSupervisor flattens it.

Exposure beyond tolerance with no live combo arms the ``unhedged`` timer; when it expires the
exposure a strategy holds is that strategy's to close (it is told to ``Flatten``), and the rest
(nobody's: left by a restart, adopted at reconciliation, a fill after its combo was forgotten)
risk flattens itself, contract by contract: the lots nobody holds on each contract are closed
there (an IOC per contract, back to what the strategies hold; both legs of a pair first). Hedging
a leftover GC position with au would leave an au/GC spread nobody owns, and a strategy closing
its spread later would trade one the venue does not hold. Only what remains of the exposure (a
contract without a mark) goes as an IOC on the smallest-lot contract.

``Orphans`` owns what the combos hold (``PairHoldings``), the live combos, when the exposure
became unhedged and how many flatten actions were taken. The book's numbers, the limits and the
flatten order id counter are passed in (the counter stays on the core: a rebuild moves the
core's epoch-derived integers to the new epoch, ``actors.runtime.rebuild.rebuild.re_epoch``).
"""

from __future__ import annotations

import json

from actors.core import Out
from actors.risk.holdings import PairHoldings
from actors.risk.valuation import Book
from actors.topology import Topology
from transports.config.engine import ContractConfig, RiskConfig
from transports.wire.messages import ComboState, Decision, Flatten, LegOrder, SetTimer

#: flatten actions (orders or strategy flattens) before unhedged exposure halts instead
MAX_FLATTEN_ACTIONS = 3
#: the smallest band (ticks) a flatten IOC is priced through the mark with
MIN_FLATTEN_BAND_TICKS = 10
#: the output that cancels the ``unhedged`` timer (messages are frozen: one shared instance)
DISARM = ("@timer", SetTimer("unhedged", 0))


class Orphans:
    """Exposure nobody is repairing. ``pairs`` maps a pair to its (leg A key, leg B key);
    ``topo`` names the strategy holding a pair, the executor of a venue and the journal."""

    #: a flatten was asked while combos were live: what is nobody's is flattened when the last
    #: one ends (``RiskCore.on_flatten``); a class default, so an older checkpoint reads False
    flatten_wanted = False
    #: the ``unhedged`` timer expired while combos were live: judged when the last one ends
    #: (``RiskCore.on_combo_state``); a class default, so an older checkpoint reads False
    due = False

    def __init__(self, name: str, contracts: dict[str, ContractConfig],
                 pairs: dict[str, tuple[str, str]], topo: Topology) -> None:
        self.name = name
        self.topo = topo
        self.contracts = contracts
        self.pairs = pairs
        self.holdings = PairHoldings()
        self.live_combos: set[int] = set()  #: combo ids working or repairing
        self.unhedged_since_ns = 0  #: when the exposure became unhedged (0: it is not)
        self.flatten_orders = 0  #: flatten actions taken (orders and strategy flattens)
        tols = [c.base_per_lot for c in contracts.values() if c.underlying and c.base_per_lot]
        #: exposure below half the smallest lot cannot be reduced by trading whole lots
        self.tolerance_base = min(tols) / 2 if tols else 0.0

    def on_combo_state(self, s: ComboState, book: Book, risk: RiskConfig, now_ns: int) -> Out:
        """Follow what the combo holds and whether it is still live (repairing its exposure),
        then re-judge the exposure (``check``)."""
        self.holdings.on_combo_state(s)
        state = s.state
        if state == "working" or state == "repairing":
            self.live_combos.add(s.combo_id)
            return []  # ``check`` with a live combo, inline
        self.live_combos.discard(s.combo_id)
        return self.check(book, risk, now_ns)

    def excess(self, exposure_base: dict[str, float]) -> tuple[str, float] | None:
        """Return the first (underlying, exposure in base units) beyond tolerance, or None."""
        for underlying, v in exposure_base.items():
            if abs(v) > self.tolerance_base:
                return underlying, v
        return None

    def check(self, book: Book, risk: RiskConfig, now_ns: int) -> Out:
        """Arm the ``unhedged`` timer when ``book``'s exposure becomes unhedged; disarm it when
        it is hedged and no spread nobody holds sits on a pair (``stray_pair``). While a combo
        is live nothing is judged: the exposure it adds is its to repair, and a clock already
        running (exposure unhedged before the combo began) keeps running. (Before session 12
        every live combo reset the clock, so with a strategy trading more often than
        ``unhedged_limit_ms`` nobody's exposure was never flattened.) A timer that expires
        while combos are live is judged when the last one ends (``due``), except on contracts
        no live combo trades (``flatten_idle``)."""
        # asked first, the exposure is not valued at all (the common case: every fill of a
        # working combo)
        if self.live_combos:
            return []
        if self.excess(book.exposure_view()) is None and self.stray_pair(book) is None:
            self.unhedged_since_ns = 0
            self.due = False
            return [DISARM]
        if self.unhedged_since_ns:
            return []
        self.unhedged_since_ns = now_ns
        return [("@timer", SetTimer("unhedged", now_ns + risk.unhedged_limit_ms * 1_000_000))]

    def may_flatten(self, risk: RiskConfig) -> bool:
        """Whether an expired unhedged timer flattens (True) or halts (False)."""
        return risk.flatten_orphans and self.flatten_orders < MAX_FLATTEN_ACTIONS

    def rearm(self, risk: RiskConfig, now_ns: int) -> Out:
        """After a flatten: give it ``unhedged_limit_ms`` to work before judging again."""
        self.unhedged_since_ns = now_ns
        return [("@timer", SetTimer("unhedged", now_ns + risk.unhedged_limit_ms * 1_000_000))]

    def held(self) -> dict[str, tuple[float, list[str]]]:
        """Per underlying: the exposure the strategies hold (base units) and which of them."""
        out: dict[str, tuple[float, list[str]]] = {}
        for pair, lots in self.holdings.pos.items():
            keys = self.pairs.get(pair)
            if keys is None or lots == (0, 0):
                continue
            for key, n in zip(keys, lots, strict=True):
                c = self.contracts.get(key)
                if c is None or not c.underlying or not n:
                    continue
                v, who = out.get(c.underlying, (0.0, []))
                # a multi-venue pair's sub-pair "<pair>/<i>-<j>" is held by <pair>'s strategy
                base, sep, _ = pair.rpartition("/")
                st = self.topo.strategy(base if sep and base in self.pairs else pair)
                if st not in who:
                    who = [*who, st]
                out[c.underlying] = (v + n * c.base_per_lot, who)
        return out

    def strays(self, book: Book) -> dict[str, int]:
        """Per contract key: the signed lots nobody holds (the book's position less what the
        strategies hold there through their pairs)."""
        owned: dict[str, int] = {}
        for pair, lots in self.holdings.pos.items():
            keys = self.pairs.get(pair)
            if keys is None:
                continue
            for key, n in zip(keys, lots, strict=True):
                owned[key] = owned.get(key, 0) + n
        return {k: n - owned.get(k, 0) for k, n in book.positions.items()
                if n - owned.get(k, 0)}

    def stray_pair(self, book: Book) -> str | None:
        """The first pair (by name) both of whose legs hold lots nobody holds, and which risk
        can close (one underlying, both legs marked): a spread no strategy owns. Hedged, the
        exposure never shows it, no strategy ever closes it, and a strategy trading the pair
        holds it beside its own clip (session 10's and 12's fail-over drills: au -28 / GC +9 at
        the venue, owned by nobody). It counts as unhedged exposure (``check``)."""
        strays = self.strays(book)
        if len(strays) < 2:
            return None
        for pair, (ka, kb) in sorted(self.pairs.items()):
            if strays.get(ka) and strays.get(kb) and ka in book.marks and kb in book.marks:
                ca, cb = self.contracts.get(ka), self.contracts.get(kb)
                if ca is not None and cb is not None and ca.underlying \
                        and ca.underlying == cb.underlying:
                    return pair
        return None

    def flatten_idle(self, book: Book, risk: RiskConfig, last_order_id: int,
                     now_ns: int) -> tuple[Out, int]:
        """The ``unhedged`` timer expired while combos are live: close now, each on its own
        contract, the lots nobody holds on contracts no live combo trades, where they are
        beyond tolerance per underlying or sit on both legs of a pair; the live combos'
        contracts wait for the last one to end (``due``). Without this, pairs that keep some
        combo live at every moment would keep nobody's exposure from ever being judged.
        Returns no output when a live combo's pair is not known (its contracts are unknown)."""
        live, found = self.holdings.live_pairs(self.live_combos)
        if found < len(self.live_combos) or any(p not in self.pairs for p in live):
            return [], last_order_id  # a live combo whose contracts are unknown: act on nothing
        busy = {k for p in live for k in self.pairs[p]}
        idle = {k: n for k, n in self.strays(book).items()
                if k not in busy and k in book.marks and (c := self.contracts.get(k)) is not None
                and c.underlying and c.base_per_lot}
        paired = {k for ka, kb in self.pairs.values() if ka in idle and kb in idle
                  for k in (ka, kb)}
        base: dict[str, float] = {}
        for k, n in idle.items():
            c = self.contracts[k]
            base[c.underlying] = base.get(c.underlying, 0.0) + n * c.base_per_lot
        out: Out = []
        for key, lots in sorted(idle.items()):
            underlying = self.contracts[key].underlying
            if key in paired or abs(base[underlying]) > self.tolerance_base:
                last_order_id += 1
                out += self._ioc(book, risk, key, -lots, last_order_id, now_ns, underlying)
        if out:
            self.flatten_orders += 1  # one action
        return out, last_order_id

    def _close_pair_legs(self, book: Book, risk: RiskConfig, underlying: str,
                         strays: dict[str, int], out: Out,
                         now_ns: int) -> tuple[list[tuple[str, int]], Out]:
        """The (key, signed lots now held) of every leg to close on its own: both legs of a
        pair of ``underlying`` hold lots nobody owns, and each has a mark to price it by. A
        leg is closed once even if two pairs share it (``strays`` is consumed here)."""
        closed: list[tuple[str, int]] = []
        for pair, (ka, kb) in sorted(self.pairs.items()):
            ca, cb = self.contracts.get(ka), self.contracts.get(kb)
            if ca is None or cb is None or ca.underlying != underlying \
                    or cb.underlying != underlying:
                continue
            la, lb = strays.get(ka, 0), strays.get(kb, 0)
            if not la or not lb or ka not in book.marks or kb not in book.marks:
                continue
            closed += [(ka, la), (kb, lb)]
            strays.pop(ka)
            strays.pop(kb)
            out = [*out, (self.topo.journal, Decision(self.name, "flatten_pair", json.dumps(
                {"underlying": underlying, "pair": pair, "legs": {ka: la, kb: lb}}), now_ns))]
        return closed, out

    def _ioc(self, book: Book, risk: RiskConfig, key: str, signed_lots: int, order_id: int,
             now_ns: int, underlying: str, exposure: float | None = None) -> Out:
        """One flatten IOC trading ``signed_lots`` (+ buy) of ``key``, priced through the mark
        by the price band (at least ``MIN_FLATTEN_BAND_TICKS``), and its journaled decision."""
        c = self.contracts[key]
        side = "B" if signed_lots > 0 else "S"
        lots = abs(signed_lots)
        band = max(risk.price_band_ticks, MIN_FLATTEN_BAND_TICKS)
        mark_ticks = round(book.marks[key] / book.ticks[key])
        px = mark_ticks - band if side == "S" else mark_ticks + band
        venue = c.venue
        if exposure is None:
            exposure = -signed_lots * c.base_per_lot  # what this order takes off
        return [(self.topo.leg(venue), LegOrder(order_id, 0, 0, venue, c.sym, side, lots, px,
                                                "IOC", "flatten", 0, now_ns)),
                (self.topo.journal, Decision(self.name, "flatten", json.dumps(
                    {"underlying": underlying, "exposure": exposure, "key": key, "side": side,
                     "lots": lots, "px": px}), now_ns))]

    def flatten(self, book: Book, risk: RiskConfig, last_order_id: int,
                now_ns: int) -> tuple[Out, int]:
        """Bring each underlying within tolerance; return the output and the last flatten order
        id used (orders take ``last_order_id + 1`` on). Exposure a strategy holds is the
        strategy's to close: it is told to flatten (``Flatten``: it closes through combos and
        opens nothing until resumed) -- risk's own orders behind its back would leave it closing
        what is no longer there. The rest risk flattens with IOCs priced through the mark by
        the price band (at least 10 ticks): the lots nobody holds (``strays``) each on their
        own contract (both legs of a pair first, journaled ``flatten_pair``), and only what
        remains (lots on a contract without a mark) on the smallest-lot contract."""
        out: Out = []
        held = self.held()
        strays = self.strays(book)
        spread = self.stray_pair(book) is not None
        for underlying, total in book.exposure().items():
            beyond = abs(total) > self.tolerance_base
            v = total
            if beyond:
                mine, who = held.get(underlying, (0.0, []))
                if abs(mine) > self.tolerance_base:
                    self.flatten_orders += 1  # one action: it counts toward the halt as an order
                    out += [(st, Flatten(f"risk: unhedged {underlying} {mine:+.2f}"))
                            for st in who]
                    out.append((self.topo.journal, Decision(self.name, "flatten", json.dumps(
                        {"underlying": underlying, "exposure": total, "held_by": who,
                         "held": mine}), now_ns)))
                v = total - mine
            # nobody's positions on both legs of a pair: each leg back to zero on its own, even
            # when they hedge each other (a spread nobody holds, ``stray_pair``)
            if (beyond and abs(v) > self.tolerance_base) or spread:
                closed, out = self._close_pair_legs(book, risk, underlying, strays, out, now_ns)
                for key, lots in closed:
                    last_order_id += 1
                    out += self._ioc(book, risk, key, -lots, last_order_id, now_ns, underlying)
                    v -= lots * self.contracts[key].base_per_lot
                if closed:
                    self.flatten_orders += 1  # one action for the pair's legs together
            if not beyond or abs(v) <= self.tolerance_base:
                continue
            # nobody's lots on one contract: back to zero on that contract, so the venue holds
            # again what the strategies hold. Cut on another contract instead (the smallest lot,
            # below), the exposure is gone but both contracts now differ from what a strategy
            # holds: its next close trades a spread the venue does not have (the partition
            # drill: a lost close filled its GC leg only; risk sold 28 au against the 9 GC
            # nobody held, and the strategy's shutdown close left au -28 / GC +9 at the venue)
            singles = [(k, n) for k, n in sorted(strays.items())
                       if k in book.marks and (c := self.contracts.get(k)) is not None
                       and c.underlying == underlying and c.base_per_lot]
            for key, lots in singles:
                last_order_id += 1
                out += self._ioc(book, risk, key, -lots, last_order_id, now_ns, underlying)
                v -= lots * self.contracts[key].base_per_lot
                strays.pop(key)
            if singles:
                self.flatten_orders += 1  # one action for them together
            if abs(v) <= self.tolerance_base:
                continue
            cands = [(c.base_per_lot, k) for k, c in self.contracts.items()
                     if c.underlying == underlying and c.base_per_lot and k in book.marks]
            if not cands:
                continue
            base, key = min(cands)
            lots = round(abs(v) / base)
            if lots <= 0:
                continue
            last_order_id += 1
            self.flatten_orders += 1
            out += self._ioc(book, risk, key, -lots if v > 0 else lots, last_order_id, now_ns,
                             underlying, exposure=v)
        return out, last_order_id


__all__ = ["MAX_FLATTEN_ACTIONS", "MIN_FLATTEN_BAND_TICKS", "Orphans"]
