"""``cmc report``'s latency histograms (p50/p99 marked) and its slippage plot."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from scripts.report.plots import _plt, _save, _t, draw_markers


def plot_latency(
    path: Path, hops: dict[str, list[float]], pct: dict[str, dict[str, Any]]
) -> dict[str, Any]:
    """One histogram per hop (µs, log-scaled counts), its p50 and p99 (``pct``: the report's
    HDR percentiles, ``scripts.report.data.latency_percentiles``) as labelled vertical lines."""
    plt = _plt()
    n = max(1, len(hops))
    fig, axes = plt.subplots(1, n, figsize=(3.8 * n, 3.6), squeeze=False)
    for ax, (hop, xs) in zip(axes[0], hops.items(), strict=False):
        ax.hist(xs, bins=40, color="tab:purple", alpha=0.8)
        p = pct.get(hop, {})
        for key, color, ls, y in (("p50", "black", "-", 0.97), ("p99", "tab:red", "--", 0.80)):
            v = p.get(key)
            if v is None:
                continue
            ax.axvline(v, color=color, ls=ls, lw=1.0)
            lo, hi = ax.get_xlim()
            right = hi > lo and (v - lo) / (hi - lo) > 0.6  # keep the label inside the axes
            ax.text(v, y, f"{key} {v:,.1f} µs " if right else f" {key} {v:,.1f} µs",
                    transform=ax.get_xaxis_transform(), color=color, fontsize=7, va="top",
                    ha="right" if right else "left",
                    bbox={"facecolor": "white", "alpha": 0.7, "lw": 0, "pad": 1})
        ax.set_title(f"{hop} (n={len(xs)})", fontsize=9)
        ax.set_xlabel("latency (µs)")
        ax.set_ylabel("samples (log scale)")
        ax.set_yscale("log")
    if not hops:
        axes[0][0].text(0.5, 0.5, "no latency samples", ha="center")
    return _save(fig, path)


def plot_slippage(
    path: Path,
    t0: int,
    t1: int,
    slips: list[dict[str, Any]],
    markers: Sequence[dict[str, Any]] = (),
) -> dict[str, Any]:
    """Each entry fill's slippage against the decision's expected price, one panel per
    contract in its price unit (positive = worse), over time, with operator actions and alarms
    (``slips``: ``scripts.report.combos.entry_slippages``)."""
    plt = _plt()
    by: dict[str, list[dict[str, Any]]] = {}
    for s in slips:
        by.setdefault(s["contract"], []).append(s)
    n = max(1, len(by))
    fig, axes = plt.subplots(n, 1, figsize=(11, 2.8 * n + 0.6), squeeze=False, sharex=True)
    for ax, (contract, rows) in zip(axes[:, 0], sorted(by.items()), strict=False):
        unit = rows[0]["unit"]
        for side, mk, color in (("B", "^", "tab:green"), ("S", "v", "tab:orange")):
            pts = [r for r in rows if r["side"] == side]
            if pts:
                ax.scatter([_t(r["ts_ns"], t0) for r in pts], [r["slippage"] for r in pts],
                           marker=mk, color=color, s=[12 + 2 * min(r["qty"], 30) for r in pts],
                           label="buy fills" if side == "B" else "sell fills", zorder=3)
        lots = sum(r["qty"] for r in rows)
        avg = sum(r["slippage"] * r["qty"] for r in rows) / lots if lots else 0.0
        ax.axhline(0, color="grey", lw=0.6)
        ax.axhline(avg, color="black", ls=":", lw=0.9,
                   label=f"lot-weighted mean {avg:+.4f} {unit}")
        draw_markers(ax, t0, t1, markers)
        ax.set_title(f"{contract}: entry slippage ({unit})", fontsize=9)
        ax.set_ylabel(f"slippage ({unit}, + = worse)")
        ax.legend(loc="upper left", bbox_to_anchor=(1.005, 1.0), fontsize=7)
    ax_last = axes[-1][0]
    ax_last.set_xlim(0, max(_t(t1, t0), 1e-3))
    ax_last.set_xlabel("seconds since start")
    if not by:
        ax_last.text(0.5, 0.5, "no entry fills", ha="center", transform=ax_last.transAxes)
    return _save(fig, path)


__all__ = ["plot_latency", "plot_slippage"]
