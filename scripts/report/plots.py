"""PNG plots of ``cmc report`` (matplotlib, Agg backend: no display needed)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from transports.errors import CmcError


def _plt() -> Any:
    try:
        import matplotlib
    except ImportError:
        raise CmcError(
            "cmc report needs matplotlib: pip install 'cross-market-connect[report]' "
            "(or pip install matplotlib)"
        ) from None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _t(ts: int, t0: int) -> float:
    return (ts - t0) / 1e9


#: how each kind of timeline marker is drawn (``scripts.report.markers``)
MARKER_STYLE = {
    "operator": {"color": "tab:blue", "ls": "--", "legend": "operator action"},
    "alarm": {"color": "tab:red", "ls": "-", "legend": "alarm"},
    "recovered": {"color": "tab:green", "ls": "-", "legend": "risk ACTIVE again"},
}
#: markers closer than this fraction of the time axis share one label
_LABEL_GAP = 0.015


def axes_info(fig: Any) -> list[dict[str, Any]]:
    """What each axes of ``fig`` says: title, axis labels, its texts (marker and percentile
    labels) and legend entries; the report returns it so tests and callers can check units."""
    out = []
    for ax in fig.axes:
        leg = ax.get_legend()
        out.append({
            "title": ax.get_title(),
            "xlabel": ax.get_xlabel(),
            "ylabel": ax.get_ylabel(),
            "texts": [t.get_text() for t in ax.texts],
            "legend": [t.get_text() for t in leg.get_texts()] if leg is not None else [],
        })
    return out


def _save(fig: Any, path: Path) -> dict[str, Any]:
    fig.tight_layout()
    info = {"name": path.name, "axes": axes_info(fig)}
    fig.savefig(path, dpi=90)
    _plt().close(fig)
    return info


def draw_markers(ax: Any, t0: int, t1: int, markers: Sequence[dict[str, Any]]) -> None:
    """Operator actions and alarms as vertical lines with their short labels (rotated, at the
    top, cut to the axes' height); markers closer than ``_LABEL_GAP`` of the axis share one
    label (the report's table has each in full)."""
    if not markers:
        return
    span = max((t1 - t0) / 1e9, 1e-9)
    groups: list[list[dict[str, Any]]] = []
    for m in sorted(markers, key=lambda m: m["ts_ns"]):
        x = _t(m["ts_ns"], t0)
        st = MARKER_STYLE.get(m["kind"], MARKER_STYLE["alarm"])
        ax.axvline(x, color=st["color"], ls=st["ls"], lw=0.9, alpha=0.8, zorder=1)
        if groups and x - _t(groups[-1][0]["ts_ns"], t0) <= _LABEL_GAP * span:
            groups[-1].append(m)
        else:
            groups.append([m])
    fs = 7
    axes_pt = ax.get_position().height * ax.figure.get_figheight() * 72
    room = max(12, int(axes_pt * 0.92 / (fs * 0.62)))  # characters the axes' height holds
    for g in groups:
        parts = [m["short"] + (f" ×{m['count']}" if m["count"] > 1 else "") for m in g]
        text = "; ".join(dict.fromkeys(parts))
        if len(text) > room:
            text = text[: room - 1] + "…"
        kind = "alarm" if any(m["kind"] == "alarm" for m in g) else g[0]["kind"]
        ax.text(_t(g[0]["ts_ns"], t0), 0.98, text, transform=ax.get_xaxis_transform(),
                rotation=90, va="top", ha="right", fontsize=fs,
                color=MARKER_STYLE.get(kind, MARKER_STYLE["alarm"])["color"],
                bbox={"facecolor": "white", "alpha": 0.6, "lw": 0, "pad": 1})
    for kind in sorted({m["kind"] for m in markers}):
        st = MARKER_STYLE.get(kind, MARKER_STYLE["alarm"])
        ax.plot([], [], color=st["color"], ls=st["ls"], lw=0.9, label=st["legend"])


def plot_spread(
    path: Path,
    t0: int,
    t1: int,
    pair: str,
    pts: list[tuple[int, float, float, float]],
    z_entry: float,
    z_exit: float,
    combos: list[dict[str, Any]],
    unit: str,
    markers: Sequence[dict[str, Any]] = (),
) -> dict[str, Any]:
    """Mid spread (in ``unit``, leg A's price unit), its rolling mean, the entry and exit
    bands, each decision, and the operator actions and alarms."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(11, 4.5))
    if pts:
        xs = [_t(p[0], t0) for p in pts]
        ax.plot(xs, [p[1] for p in pts], lw=0.7, color="tab:blue", label="mid spread")
        ax.plot(xs, [p[2] for p in pts], lw=1.0, color="black", label="mean")
        for z, style, lab in (
            (z_entry, "--", f"±{z_entry} σ entry"),
            (z_exit, ":", f"±{z_exit} σ exit"),
        ):
            ax.plot(xs, [p[2] + z * p[3] for p in pts], style, color="tab:red", lw=0.8, label=lab)
            ax.plot(xs, [p[2] - z * p[3] for p in pts], style, color="tab:red", lw=0.8)
    for c in combos:
        if c["pair"] != pair:
            continue
        entry = c["action"] == "open"
        ax.scatter(
            [_t(c["ts_signal_ns"], t0)],
            [c["spread"]],
            marker="^" if entry else "v",
            color="tab:green" if entry else "tab:orange",
            s=60,
            zorder=5,
        )
    ax.scatter([], [], marker="^", color="tab:green", label="entry")
    ax.scatter([], [], marker="v", color="tab:orange", label="exit")
    draw_markers(ax, t0, t1, markers)
    ax.set_xlim(0, max(_t(t1, t0), 1e-3))
    ax.set_title(f"{pair}: spread against thresholds ({unit})")
    ax.set_xlabel("seconds since start")
    ax.set_ylabel(f"spread, A − parity of B ({unit})")
    ax.legend(loc="upper left", bbox_to_anchor=(1.005, 1.0), fontsize=8)
    return _save(fig, path)


def plot_exposure(
    path: Path,
    t0: int,
    t1: int,
    exposure: dict[str, list[tuple[int, float]]],
    limit: float,
    units: dict[str, str],
    markers: Sequence[dict[str, Any]] = (),
) -> dict[str, Any]:
    """Net exposure per underlying in its base unit (``units``: underlying -> unit) as a step
    line, with the risk limit (per underlying, in its base unit), operator actions and alarms."""
    from scripts.report.units import unit_name

    plt = _plt()
    fig, ax = plt.subplots(figsize=(11, 3.8))
    for name, pts in exposure.items():
        xs = [0.0] + [_t(p[0], t0) for p in pts] + [_t(t1, t0)]
        ys = [0.0] + [p[1] for p in pts] + [pts[-1][1] if pts else 0.0]
        ax.step(xs, ys, where="post", label=f"{name} ({units.get(name, '?')})")
    names = sorted({units.get(n, "?") for n in exposure} or set(units.values()))
    if limit:  # one limit per underlying, each in its own base unit
        each = names[0] if len(names) == 1 else "each in its base unit"
        ax.axhline(limit, color="tab:red", ls="--", lw=0.8, label=f"limit ±{limit:,.0f} {each}")
        ax.axhline(-limit, color="tab:red", ls="--", lw=0.8)
    draw_markers(ax, t0, t1, markers)
    ax.set_xlim(0, max(_t(t1, t0), 1e-3))
    shown = ", ".join(unit_name(u) for u in names)
    ax.set_title("net exposure per underlying")
    ax.set_xlabel("seconds since start")
    ax.set_ylabel(f"net exposure ({shown})" if shown else "net exposure")
    ax.legend(loc="upper left", bbox_to_anchor=(1.005, 1.0), fontsize=8)
    return _save(fig, path)


def plot_pnl(
    path: Path,
    t0: int,
    t1: int,
    pnl: list[tuple[int, float]],
    ccy: str,
    markers: Sequence[dict[str, Any]] = (),
) -> dict[str, Any]:
    """Marked-to-market PnL (fees included) in the home currency, with operator actions and
    alarms."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(11, 3.8))
    if pnl:
        ax.plot([_t(p[0], t0) for p in pnl], [p[1] for p in pnl], color="tab:green", lw=1.0,
                label=f"PnL ({ccy})")
    ax.axhline(0, color="grey", lw=0.6)
    draw_markers(ax, t0, t1, markers)
    ax.set_xlim(0, max(_t(t1, t0), 1e-3))
    ax.set_title(f"PnL, marked to the book mids ({ccy}, after fees)")
    ax.set_xlabel("seconds since start")
    ax.set_ylabel(f"PnL ({ccy})")
    if ax.get_legend_handles_labels()[0]:
        ax.legend(loc="upper left", bbox_to_anchor=(1.005, 1.0), fontsize=8)
    return _save(fig, path)


__all__ = ["MARKER_STYLE", "axes_info", "draw_markers", "plot_exposure", "plot_pnl",
           "plot_spread"]
