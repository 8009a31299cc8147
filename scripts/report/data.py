"""The series ``cmc report`` plots, from the journal (and a replay of the strategy's group).

The journal holds the decisions but not every spread the strategy saw (derived book data is not
journaled), so the spread series comes from replaying the group that hosts the strategies with
an observer that samples each strategy's ``last`` values after every book update it handles.
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

from scripts.audit.extract import JournalIndex
from scripts.replay.core import Verifier, load_run_config
from transports.config.engine import AppConfig
from transports.hdr import LatencyHist
from transports.wire.messages import BookUpdate

MAX_POINTS = 4000


class Series:
    """Everything the report's plots need, as plain lists."""

    def __init__(self) -> None:
        #: pair -> (ts, mid spread, mean, std)
        self.spread: dict[str, list[tuple[int, float, float, float]]] = {}
        self.mids: dict[str, list[tuple[int, float]]] = {}  #: venue:sym -> (ts, mid ticks)
        self.fx: list[tuple[int, float]] = []
        self.verify: dict[str, Any] = {}


def replay_series(journal: str | Path, cfg: AppConfig) -> Series:
    """Replay the strategies' group and sample spreads, book mids and the FX rate."""
    s = Series()
    groups = [
        g.name
        for g in (cfg.placement.groups if cfg.placement else [])
        if any(a.startswith("strategy.") for a in g.actors)
    ]

    def observe(dest: str, msg: Any, core: Any, now: int) -> None:
        if type(msg) is not BookUpdate or not dest.startswith("strategy."):
            return
        if msg.valid and msg.bid_px and msg.ask_px:
            key = f"{msg.venue}:{msg.sym}"
            s.mids.setdefault(key, []).append((now, (msg.bid_px[0] + msg.ask_px[0]) / 2))
        last = getattr(core, "last", None)  # funding and multi-venue cores have no spread
        if last and "mid_spread" in last:
            s.spread.setdefault(core.pair.name, []).append(
                (now, float(last["mid_spread"]), float(last["mean"]), float(last["std"]))
            )
            s.fx.append((now, float(last.get("fx", 1.0))))

    v = Verifier(journal, cfg, observer=observe, groups=groups)
    s.verify = v.run()
    return s


def thin(points: list[Any], n: int = MAX_POINTS) -> list[Any]:
    """Return at most ``n`` evenly spaced points (keeping the last)."""
    if len(points) <= n:
        return points
    step = len(points) / n
    out = [points[int(i * step)] for i in range(n)]
    out[-1] = points[-1]
    return out


def same_cycle_signals(idx: JournalIndex) -> int:
    """How many intents were decided in the dispatch cycle that received their tick.

    A host reads its clock once per dispatch cycle and every core in it is handed that reading,
    so an intent the strategy made in the cycle that received the tick (the strategy in the
    Feed's group, the default placement) carries ``ts_signal_ns == ts_recv_ns``: 0 is the
    cycle's resolution, not a measured hop. Only an intent decided in another cycle (another
    group or node) has a receive→signal the journal can time."""
    return sum(1 for c in idx.combos if c["ts_recv_ns"] and c["ts_signal_ns"] == c["ts_recv_ns"])


def net_at(final: dict[str, Any], fx: float, marked: bool = True) -> float:
    """``final``'s net PnL (``exposure_and_pnl``) with foreign currency at the rate ``fx``;
    ``marked`` False: the fills' cash flows less fees only (open positions left out)."""
    home = final["home"]
    parts = (final["cash_by_ccy"], final["open_by_ccy"]) if marked else (final["cash_by_ccy"],)
    return sum(v * (1.0 if ccy == home else fx) for m in parts for ccy, v in m.items())


def latency_samples(idx: JournalIndex) -> dict[str, list[float]]:
    """Return hop -> samples in µs, from the journal's stamps (receive→signal: only intents
    decided in another dispatch cycle than their tick's, see ``same_cycle_signals``)."""
    hops: dict[str, list[float]] = {
        "venue→receive (md)": [],
        "send→ack": [],
        "send→fill": [],
        "venue ack→receive": [],
        "receive→signal": [],
    }
    for times in idx.md.values():
        hops["venue→receive (md)"] += [(r - v) / 1e3 for r, v in times if v and r >= v]
    first_fill: dict[str, int] = {}
    for f in idx.fills:
        first_fill.setdefault(f["cl"], f["ts_ns"])
    for o in idx.orders:
        if o["ack_ts_ns"]:
            hops["send→ack"].append((o["ack_ts_ns"] - o["ts_ns"]) / 1e3)
            hops["venue ack→receive"].append((o["ack_ts_ns"] - o["venue_ack_ts_ns"]) / 1e3)
        if o["cl"] in first_fill:
            hops["send→fill"].append((first_fill[o["cl"]] - o["ts_ns"]) / 1e3)
    for c in idx.combos:
        if c["ts_recv_ns"] and c["ts_signal_ns"] != c["ts_recv_ns"]:
            hops["receive→signal"].append((c["ts_signal_ns"] - c["ts_recv_ns"]) / 1e3)
    return {k: v for k, v in hops.items() if v}


def latency_percentiles(hops: dict[str, list[float]]) -> dict[str, dict[str, Any]]:
    """Per hop of ``latency_samples`` (µs): ``count``, ``p50``, ``p99`` and ``max`` in µs (and
    ``negative``/``min`` if any), from the same HDR histogram the engine records into."""
    return {hop: LatencyHist.of([round(x * 1e3) for x in xs]).summary_us((50, 99), 1)
            for hop, xs in hops.items() if xs}


def exposure_and_pnl(
    idx: JournalIndex, cfg: AppConfig, s: Series, final: dict[str, Any] | None = None
) -> tuple[dict[str, list[tuple[int, float]]], list[tuple[int, float]]]:
    """Return the exposure timeline per underlying and the marked-to-market PnL curve (home
    currency = leg A's), from the fills (one row per venue trade: ``scripts.audit.extract``)
    and the sampled book mids.

    ``final``, when given, receives the curve's last point taken apart, in the home currency:
    ``gross`` (the fills' cash flows), ``fees``, ``open_value`` (the positions still open,
    marked at the last mid), ``net`` (their sum: the curve's last value), ``fx`` (the last rate
    the strategy saw, applied to every foreign-currency amount), ``exposure`` (per underlying,
    in base units), ``open_lots``, ``cash_by_ccy`` (fees deducted) and ``open_by_ccy``
    (``net_at`` converts them at another rate), ``marks`` ("venue:sym" -> the mark in ticks)
    and ``fees_by_ccy``. With the positions flat at the end, ``net``
    is the demo summary's ``pnl.net`` (the same fills and rate)."""
    contracts = {(c.venue, c.sym): c for c in cfg.contracts}
    home = cfg.contracts[0].ccy if cfg.contracts else ""
    pos: dict[tuple[str, str], int] = {}
    cash: dict[str, float] = {}
    fees: dict[str, float] = {}
    exposure: dict[str, list[tuple[int, float]]] = {}
    level: dict[str, float] = {}
    events: list[tuple[int, int, Any]] = [(f["ts_ns"], 0, f) for f in idx.fills]
    for key, pts in s.mids.items():
        venue, sym = key.split(":", 1)
        events += [(ts, 1, (venue, sym, mid)) for ts, mid in thin(pts, MAX_POINTS // 2)]
    events.sort(key=lambda e: (e[0], e[1]))
    mids: dict[tuple[str, str], float] = {}
    fx_pts = s.fx
    fx_i, fx = 0, (fx_pts[0][1] if fx_pts else 1.0)
    pnl: list[tuple[int, float]] = []
    for ts, kind, e in events:
        while fx_i < len(fx_pts) and fx_pts[fx_i][0] <= ts:
            fx = fx_pts[fx_i][1]
            fx_i += 1
        if kind == 0:
            c = contracts.get((e["venue"], e["sym"]))
            if c is None:
                continue
            sign = 1 if e["side"] == "B" else -1
            k = (e["venue"], e["sym"])
            pos[k] = pos.get(k, 0) + sign * e["qty"]
            tick = float(Decimal(c.tick))
            fee_ccy = e.get("fee_ccy") or c.ccy  # the venue's fee currency when it named one
            cash[c.ccy] = cash.get(c.ccy, 0.0) - sign * e["qty"] * e["px"] * tick * c.multiplier
            cash[fee_ccy] = cash.get(fee_ccy, 0.0) - float(e["fee"])
            fees[fee_ccy] = fees.get(fee_ccy, 0.0) + float(e["fee"])
            if c.underlying:
                level[c.underlying] = (
                    level.get(c.underlying, 0.0) + sign * e["qty"] * c.base_per_lot
                )
                exposure.setdefault(c.underlying, []).append((ts, level[c.underlying]))
            mids.setdefault(k, float(e["px"]))
        else:
            mids[(e[0], e[1])] = e[2]
        value = 0.0
        for k, q in pos.items():
            c = contracts[k]
            value += (
                q
                * mids.get(k, 0.0)
                * float(Decimal(c.tick))
                * c.multiplier
                * (1.0 if c.ccy == home else fx)
            )
        total = value + sum(v * (1.0 if ccy == home else fx) for ccy, v in cash.items())
        if pos or cash:
            pnl.append((ts, total))
    if final is not None:

        def home_of(m: dict[str, float]) -> float:
            return sum(v * (1.0 if ccy == home else fx) for ccy, v in m.items())

        while fx_i < len(fx_pts):  # the last rate seen, as the summary converts
            fx = fx_pts[fx_i][1]
            fx_i += 1
        opened = {
            k: q * mids.get(k, 0.0) * float(Decimal(contracts[k].tick)) * contracts[k].multiplier
            for k, q in pos.items()
        }
        open_value = sum(v * (1.0 if contracts[k].ccy == home else fx) for k, v in opened.items())
        fee_total = home_of(fees)
        gross = home_of(cash) + fee_total
        final.update(
            home=home,
            fx=fx,
            gross=gross,
            fees=fee_total,
            open_value=open_value,
            net=gross - fee_total + open_value,
            exposure={u: pts[-1][1] for u, pts in exposure.items()},
            # by currency, so the same figures can be converted at another rate
            cash_by_ccy=dict(cash),
            open_by_ccy={
                ccy: sum(v for k, v in opened.items() if contracts[k].ccy == ccy)
                for ccy in {contracts[k].ccy for k in opened}
            },
            open_lots={f"{v}:{sym}": q for (v, sym), q in pos.items() if q},
            # what each contract is marked at (ticks: its last mid, or its first fill's price
            # before any mid), and the fees per currency they were charged in
            marks={f"{v}:{sym}": m for (v, sym), m in mids.items()},
            fees_by_ccy=dict(fees),
        )
    return exposure, pnl


__all__ = [
    "Series",
    "exposure_and_pnl",
    "latency_percentiles",
    "latency_samples",
    "load_run_config",
    "net_at",
    "replay_series",
    "same_cycle_signals",
    "thin",
]
