"""The report's per-combo table and slippage points, in price units.

A combo's row: when it was decided and finished, each leg (contract, side, lots wanted and
filled, the price the decision expected and the entry fills' average, in the contract's price
unit), the entry slippage, the fees by currency and its PnL. A combo's PnL is what its own
fills add to the report's marked PnL: each fill's cash flow against the contract's mark at the
end (the last mid), less its fee, in the home currency at the last FX rate; so the combos' PnLs
add up to the report's net PnL (less what fills outside any combo made).

Slippage, as the ComboExecutor counts it (``ComboRecord.entry_slippage``): the fills of a leg's
``entry`` orders against the price the decision expected, signed so that positive is worse
(paid more when buying, got less when selling); chases and unwinds are not slippage.
"""

from __future__ import annotations

from typing import Any

from scripts.audit.extract import JournalIndex
from scripts.audit.trace import utc
from scripts.report.units import cfg_get, contracts_by_key, price_of, price_unit, tick_size


def _intent_legs(idx: JournalIndex, combo_id: int) -> list[dict[str, Any]]:
    for e in idx.events.get(combo_id, []):
        if e["kind"] == "intent":
            return list(e["legs"])
    return []


def _purpose(idx: JournalIndex) -> dict[str, str]:
    return {o["cl"]: o["purpose"] for o in idx.orders}


def entry_slippages(idx: JournalIndex, cfg: Any) -> list[dict[str, Any]]:
    """Every entry fill with its slippage: ``slippage_ticks`` and ``slippage`` in the
    contract's price unit (``unit``), positive = worse than the decision expected."""
    contracts = contracts_by_key(cfg)
    purpose = _purpose(idx)
    expected: dict[tuple[int, int], float] = {}
    for c in idx.combos:
        for k, leg in enumerate(_intent_legs(idx, c["combo_id"])):
            expected[(c["combo_id"], k)] = float(leg["expected_px_ticks"])
    out = []
    for f in idx.fills:
        exp = expected.get((f["combo_id"], f["leg"]))
        con = contracts.get((f["venue"], f["sym"]))
        if exp is None or con is None or purpose.get(f["cl"]) != "entry":
            continue
        sign = 1 if f["side"] == "B" else -1
        ticks = round(sign * (f["px"] - exp), 9) + 0.0  # float noise and -0.0 out
        out.append({**f, "contract": f"{f['venue']}:{f['sym']}", "slippage_ticks": ticks,
                    "slippage": price_of(ticks, con), "unit": price_unit(con)})
    return out


def combo_rows(
    idx: JournalIndex, cfg: Any, final: dict[str, Any] | None = None
) -> list[dict[str, Any]]:
    """One row per combo (``idx.combos`` order) with its legs, slippage, fees and PnL.

    ``final`` is ``scripts.report.data.exposure_and_pnl``'s: its ``marks`` and ``fx`` value
    the combo's fills; without it a contract is marked at its last fill's price and foreign
    currency is left unconverted (``pnl`` None when the combo paid in a foreign currency)."""
    final = final or {}
    contracts = contracts_by_key(cfg)
    cs = cfg_get(cfg, "contracts") or []
    home = final.get("home") or (cfg_get(cs[0], "ccy", "") if cs else "")
    fx = final.get("fx")
    marks: dict[str, float] = dict(final.get("marks") or {})
    if not marks:
        for f in idx.fills:
            marks[f"{f['venue']}:{f['sym']}"] = float(f["px"])
    purpose = _purpose(idx)
    fills_of: dict[int, list[dict[str, Any]]] = {}
    for f in idx.fills:
        fills_of.setdefault(f["combo_id"], []).append(f)
    t0 = idx.first_ts
    rows = []
    for c in idx.combos:
        cid = c["combo_id"]
        fills = fills_of.get(cid, [])
        legs = []
        for k, spec in enumerate(_intent_legs(idx, cid)):
            con = contracts.get((spec["venue"], spec["sym"]))
            mine = [f for f in fills if f["leg"] == k]
            entry = [f for f in mine if purpose.get(f["cl"]) == "entry"]
            same = [f for f in mine if f["side"] == spec["side"]]
            lots = sum(f["qty"] for f in entry)
            avg = sum(f["px"] * f["qty"] for f in entry) / lots if lots else None
            sign = 1 if spec["side"] == "B" else -1
            slip = (round(sign * (avg - spec["expected_px_ticks"]), 9) + 0.0
                    if avg is not None else None)
            legs.append({
                "leg": k,
                "contract": f"{spec['venue']}:{spec['sym']}",
                "side": spec["side"],
                "want_lots": spec["qty_lots"],
                "entry_lots": lots,
                "filled_lots": sum(f["qty"] for f in same),  # entry and chases, its own side
                "unwound_lots": sum(f["qty"] for f in mine if f["side"] != spec["side"]),
                "unit": price_unit(con) if con is not None else "ticks",
                "expected_price": _px(spec["expected_px_ticks"], con),
                "avg_price": _px(avg, con),
                "slippage_ticks": slip,
                "slippage": _px(slip, con),
            })
        fees: dict[str, float] = {}
        by_ccy: dict[str, float] = {}
        for f in fills:
            con = contracts.get((f["venue"], f["sym"]))
            if con is None:
                continue
            ccy = cfg_get(con, "ccy", "")
            fee_ccy = f.get("fee_ccy") or ccy
            fees[fee_ccy] = fees.get(fee_ccy, 0.0) + float(f["fee"])
            sign = 1 if f["side"] == "B" else -1
            mark = marks.get(f"{f['venue']}:{f['sym']}", float(f["px"]))
            value = sign * f["qty"] * (mark - f["px"]) * float(tick_size(con)) * float(
                cfg_get(con, "multiplier", 1.0))
            by_ccy[ccy] = by_ccy.get(ccy, 0.0) + value
            by_ccy[fee_ccy] = by_ccy.get(fee_ccy, 0.0) - float(f["fee"])
        if fx is None and any(k != home for k in by_ccy):
            pnl = None
        else:
            pnl = sum(v * (1.0 if k == home else float(fx or 1.0)) for k, v in by_ccy.items())
        end = c["end_ts_ns"]
        rows.append({
            "combo_id": cid,
            "pair": c["pair"],
            "action": c["action"],
            "direction": c["direction"],
            "state": c["final_state"] or "unfinished",
            "repair_steps": c["repair_steps"],
            "signal_ns": c["ts_signal_ns"],
            "signal_utc": utc(c["ts_signal_ns"]) if c["ts_signal_ns"] else "",
            "t_s": (c["ts_signal_ns"] - t0) / 1e9 if c["ts_signal_ns"] else None,
            "end_ns": end,
            "took_ms": (end - c["ts_signal_ns"]) / 1e6 if end and c["ts_signal_ns"] else None,
            "spread": c["spread"],
            "z": c["z"],
            "legs": legs,
            "fees": fees,
            "pnl": pnl,
            "pnl_by_ccy": by_ccy,
            "home": home,
        })
    return rows


def _px(ticks: float | None, con: Any) -> float | None:
    if ticks is None:
        return None
    return price_of(float(ticks), con) if con is not None else float(ticks)


def _num(x: float | None, fmt: str = "{:,.4f}") -> str:
    return "" if x is None else fmt.format(x)


def _money(x: float | None, sign: str = "") -> str:
    """An amount of money: cents, or four decimals below 1 (crypto fees of 0.0006 USDT)."""
    if x is None:
        return ""
    return f"{x:{sign},.2f}" if abs(x) >= 1 or x == 0 else f"{x:{sign},.4f}"


def combo_cells(r: dict[str, Any]) -> dict[str, str]:
    """A ``combo_rows`` row as the HTML table's cells (one line per leg in the leg cells)."""
    dir_txt = {1: "buy A / sell B", -1: "sell A / buy B"}.get(r["direction"], str(r["direction"]))
    legs = r["legs"]

    def per_leg(fn: Any) -> str:
        return "\n".join(fn(g) for g in legs)

    return {
        "combo": str(r["combo_id"]),
        "pair": r["pair"],
        "action": f"{r['action']} ({dir_txt})",
        "signal (UTC)": r["signal_utc"],
        "t+ s": _num(r["t_s"], "{:.3f}"),
        "took ms": _num(r["took_ms"], "{:.1f}"),
        "state": r["state"] + (f", {r['repair_steps']} repairs" if r["repair_steps"] else ""),
        "legs": per_leg(lambda g: f"{g['side']} {g['contract']} {g['filled_lots']}/"
                        f"{g['want_lots']} lots"
                        + (f", {g['unwound_lots']} unwound" if g["unwound_lots"] else "")),
        "expected price": per_leg(lambda g: f"{_num(g['expected_price'])} {g['unit']}"),
        "entry fill price": per_leg(
            lambda g: f"{_num(g['avg_price'])} {g['unit']}" if g["avg_price"] is not None
            else "no fill"),
        "slippage (+ = worse)": per_leg(
            lambda g: f"{g['slippage']:+,.4f} {g['unit']} ({g['slippage_ticks']:+.2f} ticks)"
            if g["slippage"] is not None else ""),
        "fees": "\n".join(f"{_money(v)} {k}" for k, v in sorted(r["fees"].items())),
        f"PnL ({r['home']}, marked)": _money(r["pnl"], "+"),
    }


__all__ = ["combo_cells", "combo_rows", "entry_slippages"]
