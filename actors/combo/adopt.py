"""Adopting the fills of a combo the executor never heard of (lost with the journal's tail).

A previous incarnation of the ComboExecutor sent the orders; the journal lost the decision (a
crash, a hot standby's take-over after a partition); the restarted executor queried them by
client id and their fills come back for a combo id it has no record of. ``adopt_fill`` (called
by ``ComboExecutorCore._adopt``) counts them per leg in the ledger's ``adopted`` and, once both
legs hold a spread, tells the strategy and risk (``ComboState`` ``repaired``).
"""

from __future__ import annotations

from actors.combo.ledger import ComboLedger
from actors.core import Out
from transports.config.engine import PairConfig
from transports.wire.messages import ComboState, ExecReport


def pair_of(pairs: dict[str, PairConfig], combo_id: int) -> PairConfig | None:
    """The configured pair a combo id names (``epoch * 1e9 + pair_index * 1e6 + seq``,
    ``actors.strategy.guard.PairPosition``); None for a multi-venue pair (which of its
    sub-pairs is not in the id) or an index the config does not have."""
    index = combo_id % 1_000_000_000 // 1_000_000
    top = [p for p in pairs.values() if "/" not in p.name]
    if index >= len(top) or top[index].multi is not None:
        return None
    return top[index]


def adopt_fill(ledger: ComboLedger, pairs: dict[str, PairConfig], r: ExecReport,
               now_ns: int) -> Out:
    """A fill of a combo this executor never heard of: an order a previous incarnation sent
    whose decision the journal lost (its intent was durable, its cycle's journal batch was
    not: a crash, a hot standby's take-over after a partition) and that the restarted
    executor queried by client id. Its fills change what the pair holds at the venue, so
    the strategy and risk must count them, or the strategy trades on a position that is
    not there (it closes a spread already closed, then opens on top: twice the spread
    limit at the venue). The combo is adopted as a finished ``open`` holding its fills'
    net lots per leg (``ComboState`` ``repaired``; each fill updates it), which the
    strategy's and risk's per-combo holdings add up (``ComboExecutorCore._adopt``)."""
    pair = pair_of(pairs, r.combo_id)
    if pair is None or r.leg not in (0, 1) \
            or f"{r.venue}:{r.sym}" != (pair.leg_a if r.leg == 0 else pair.leg_b):
        return []
    if r.combo_id <= ledger.newest.get(pair.name, 0):
        return []  # a late fill of a combo this executor ran and forgot: risk flattens it
    adopted = ledger.adopted
    held = adopted.get(r.combo_id)
    if held is None:
        held = adopted[r.combo_id] = [0, 0, set()]
    tid = (r.venue, r.trade_id)
    if tid in held[2]:
        ledger.counters["duplicate_fills"] += 1
        return []
    held[2].add(tid)
    held[r.leg] += r.qty_lots if r.side == "B" else -r.qty_lots
    a, b = held[0], held[1]
    # only a spread is adopted: a leg without its hedge (the other leg's order unsent,
    # unfilled, or its fill not in yet) stays exposure no combo owns, which risk flattens
    # after ``unhedged_limit_ms`` as before; adopted, nobody would ever hedge it (the cut
    # drill showed it: one leg filled, adopted, the exposure never came back). Both legs
    # filled is the strategy's spread even when a partial fill left it off balance (au 26 /
    # GC 9 of a 28 / 9 clip): left to nobody, it was a spread no strategy closed and risk
    # never flattened (within the exposure it judges while the strategy trades), and the
    # strategy opened its next clip on top of it (the partition drill, session 12: 54 au).
    # Adopted, the strategy closes what it holds, and risk judges the imbalance as the
    # strategy's exposure. Both legs' fills come back together from the in-flight queries.
    if a == 0 or b == 0:
        return [ledger.decision("combo_not_adopted", now_ns, combo_id=r.combo_id,
                                pair=pair.name, cl=r.cl, lots_a=a, lots_b=b,
                                why="unhedged")]
    direction = 1 if a > 0 or (a == 0 and b < 0) else -1
    fa, fb = direction * a, -direction * b
    out: Out = [ledger.decision("combo_adopted", now_ns, combo_id=r.combo_id,
                                pair=pair.name, cl=r.cl, lots_a=a, lots_b=b)]
    if fa < 0 or fb < 0:
        # both legs on one side: no spread direction holds it; risk books the exposure and
        # flattens it as nobody's
        return [*out, ledger.alarm("unadoptable_fills", now_ns, combo_id=r.combo_id,
                                   lots_a=a, lots_b=b)]
    msg = ComboState(r.combo_id, pair.name, "open", "repaired", direction, fa, fb, 0.0,
                     now_ns)
    return [*out, *[(d, msg) for d in ledger.notify]]


__all__ = ["adopt_fill", "pair_of"]
