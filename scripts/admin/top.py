"""``cmc top``'s frame: one screen of text from the admin socket's ``pairs`` reply (pure)."""

from __future__ import annotations

from typing import Any

_STATE_COLOR = {"ACTIVE": "32", "REDUCING": "33", "HALTED": "31"}


def _c(text: str, code: str, color: bool) -> str:
    return f"\x1b[{code}m{text}\x1b[0m" if color and code else text


def _num(x: Any, fmt: str = "+.3f") -> str:
    return format(x, fmt) if isinstance(x, int | float) else "-"


def zbar(z: Any, entry: float, width: int = 21) -> str:
    """``|`` marks -entry and +entry, ``+`` zero, ``*`` the z-score (at an end when beyond)."""
    if not isinstance(z, int | float) or entry <= 0:
        return " " * width
    half = width // 2
    pos = max(-half, min(half, round(z / entry * (half - 1))))
    cells = ["-"] * width
    cells[1] = cells[-2] = "|"
    cells[half] = "+"
    cells[half + pos] = "*"
    return "".join(cells)


def pair_state(p: dict[str, Any], risk_state: str) -> str:
    """A pair's state as the desk must read it: risk's state when it blocks the pair's orders
    (``HALTED``: nothing opens; ``REDUCING``: only reducing orders), else the strategy's own."""
    if not p.get("reachable"):
        return "unreachable"
    own = ("flattening" if p.get("flattening") else "halted" if p.get("halted") else "trading")
    if risk_state == "HALTED":
        return f"HALTED (risk){', flattening' if own == 'flattening' else ''}"
    if risk_state == "REDUCING" and own == "trading":
        return "trading, reduce only (risk REDUCING)"
    return own


def render(view: dict[str, Any], now: str = "", color: bool = False) -> str:
    """Return the frame for a ``pairs`` reply."""
    risk = view.get("risk") or {}
    status = view.get("status") or {}
    state = str(risk.get("state") or "?")
    # a node silent past its heartbeat timeout is ``hung`` (red: it trades on nothing it sees)
    bad = ("hung", "failed")
    nodes = " ".join(
        f"{n}({_c(str(v.get('state')), '31' if v.get('state') in bad else '', color)}"
        f", pid {v.get('pid')}, restarts {v.get('restarts')})"
        for n, v in (status.get("nodes") or {}).items())
    lines = [f"cmc top  {now}  trading {_c(state, _STATE_COLOR.get(state, ''), color)}  "
             f"{', '.join(risk.get('reasons') or {}) or ''}",
             f"nodes  {nodes or '-'}"]
    ha = status.get("ha")
    if isinstance(ha, dict) and ha:  # replication, only when the launch has it
        lines.append(f"ha     role {ha.get('role')}  holder {ha.get('holder') or '-'}  epoch "
                     f"{ha.get('epoch')}  lag {ha.get('lag_records')} records / "
                     f"{_num(ha.get('lag_ms'), '.1f')} ms")
    lines.append("")
    lines.append(f"{'PAIR':<10}{'SPREAD':>9}{'MEAN':>9}{'Z':>7}  {'-entry    z    +entry':<21}"
                 f"{'ENTRY/EXIT':>12}{'POS A/B':>11}{'PENDING':>14}  STATE")
    for name, p in (view.get("pairs") or {}).items():
        last = p.get("last") or {}
        st = pair_state(p, state)
        pos = p.get("pos_lots") or [None, None]
        lines.append(
            f"{name:<10}{_num(last.get('mid_spread')):>9}{_num(last.get('mean')):>9}"
            f"{_num(last.get('z'), '+.2f'):>7}  {zbar(last.get('z'), p.get('z_entry', 0.0))}"
            f"{p.get('z_entry', 0):>7.2f}/{p.get('z_exit', 0):<4.2f}"
            f"{_num(pos[0], '+d'):>6}/{_num(pos[1], '+d'):<4}"
            f"{p.get('pending') or '-':>14}  "
            f"{_c(st, _STATE_COLOR['HALTED'] if 'HALTED' in st else '', color)}")
    lines.append("")
    feeds = risk.get("feeds") or {}
    legs = "  ".join(
        f"{v}:{_c(str(f.get('state')), '32' if f.get('state') == 'SYNCED' else '31', color)}"
        f" gaps {f.get('gaps', 0)}" for v, f in feeds.items())
    lines.append(f"legs      {legs or '-'}")
    oe = view.get("legs") or {}
    if oe:  # order entry per venue: frames it could not decode are never silent
        lines.append("oe        " + "  ".join(
            f"{v}: {o.get('gate') or 'open'} bad frames "
            f"{_c(str(o.get('bad_frames', 0)), '31' if o.get('bad_frames') else '', color)}"
            for v, o in oe.items()))
    sides = [f"{v}:{sym} long {b.get('long', 0)} ({b.get('long_today', 0)} today) "
             f"short {b.get('short', 0)} ({b.get('short_today', 0)} today)"
             for v, o in oe.items() for sym, b in (o.get("sides") or {}).items()]
    if sides:  # futures offsets: the two sides a net position hides
        lines.append("sides     " + "  ".join(sides))
    pos = risk.get("positions") or {}
    lines.append("positions " + ("  ".join(f"{k} {v:+d}" for k, v in pos.items()) or "flat"))
    two = risk.get("positions_sides") or {}
    if two:  # risk's two sides of the contracts with offsets (both hold margin)
        lines.append("risk long/short " + "  ".join(
            f"{k} {b.get('long', 0)}/{b.get('short', 0)}" for k, b in two.items()))
    expo = risk.get("exposure") or {}
    lines.append("exposure  " + ("  ".join(f"{k} {v:+.1f}" for k, v in expo.items()) or "0"))
    pnl = risk.get("pnl") or {}
    if pnl:
        shown = [f"{k} {v if isinstance(v, str) else _num(v, '.2f')}" for k, v in pnl.items()
                 if not isinstance(v, dict)]
        lines.append("pnl       " + "  ".join(shown))
    for node, hops in (view.get("latency") or {}).items():
        if not isinstance(hops, dict) or "error" in hops:
            lines.append(f"latency   {node}: unavailable")
            continue
        parts = [f"{h} p50 {q.get('p50')} p99 {q.get('p99')}" for h, q in hops.items()
                 if isinstance(q, dict) and h in ("tick_to_order", "send_to_ack", "send_to_fill")]
        lines.append(f"latency   {node} (µs): {'  '.join(parts) or '-'}")
    return "\n".join(lines) + "\n"


__all__ = ["pair_state", "render", "zbar"]
