"""PNG plots of ``cmc report`` (matplotlib, Agg backend: no display needed)."""

from __future__ import annotations

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


def _save(fig: Any, path: Path) -> str:
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    _plt().close(fig)
    return path.name


def plot_spread(
    path: Path,
    t0: int,
    pair: str,
    pts: list[tuple[int, float, float, float]],
    z_entry: float,
    z_exit: float,
    combos: list[dict[str, Any]],
) -> str:
    """Mid spread, its rolling mean, the entry and exit bands, and each decision."""
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
    ax.set_title(f"{pair}: spread against thresholds")
    ax.set_xlabel("seconds since start")
    ax.set_ylabel("spread (leg A price units)")
    ax.legend(loc="upper right", fontsize=8)
    return _save(fig, path)


def plot_latency(path: Path, hops: dict[str, list[float]]) -> str:
    """One histogram per hop (µs, log-scaled counts)."""
    plt = _plt()
    n = max(1, len(hops))
    fig, axes = plt.subplots(1, n, figsize=(3.6 * n, 3.4), squeeze=False)
    for ax, (hop, xs) in zip(axes[0], hops.items(), strict=False):
        ax.hist(xs, bins=40, color="tab:purple")
        ax.set_title(hop, fontsize=9)
        ax.set_xlabel("µs")
        ax.set_yscale("log")
    if not hops:
        axes[0][0].text(0.5, 0.5, "no latency samples", ha="center")
    return _save(fig, path)


def plot_exposure(
    path: Path, t0: int, t1: int, exposure: dict[str, list[tuple[int, float]]], limit: float
) -> str:
    """Net exposure per underlying (base units) as a step line, with the risk limit."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(11, 3.5))
    for name, pts in exposure.items():
        xs = [0.0] + [_t(p[0], t0) for p in pts] + [_t(t1, t0)]
        ys = [0.0] + [p[1] for p in pts] + [pts[-1][1] if pts else 0.0]
        ax.step(xs, ys, where="post", label=name)
    if limit:
        ax.axhline(limit, color="tab:red", ls="--", lw=0.8, label="limit")
        ax.axhline(-limit, color="tab:red", ls="--", lw=0.8)
    ax.set_title("net exposure per underlying")
    ax.set_xlabel("seconds since start")
    ax.set_ylabel("base units")
    ax.legend(loc="upper right", fontsize=8)
    return _save(fig, path)


def plot_pnl(path: Path, t0: int, pnl: list[tuple[int, float]], ccy: str) -> str:
    """Marked-to-market PnL (fees included)."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(11, 3.5))
    if pnl:
        ax.plot([_t(p[0], t0) for p in pnl], [p[1] for p in pnl], color="tab:green", lw=1.0)
    ax.axhline(0, color="grey", lw=0.6)
    ax.set_title(f"PnL, marked to the book mids ({ccy}, after fees)")
    ax.set_xlabel("seconds since start")
    ax.set_ylabel(ccy)
    return _save(fig, path)


__all__ = ["plot_exposure", "plot_latency", "plot_pnl", "plot_spread"]
