"""The console's widgets and text: a pair card with its spread sparkline, the confirmation
dialog, and the Rich text of each panel (built from ``model`` rows, no I/O)."""

from __future__ import annotations

import re
from datetime import UTC, datetime

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Label, Sparkline, Static

from scripts.admin.console.model import (
    Alarm,
    ComboRow,
    ConsoleView,
    HaView,
    HealthRow,
    PairRow,
)
from scripts.admin.top import zbar

_STATE_STYLE = {"ACTIVE": "bold green", "REDUCING": "bold yellow", "HALTED": "bold red"}
_SEV_STYLE = {"critical": "bold red", "warning": "yellow", "info": "cyan"}


def wid(prefix: str, name: str) -> str:
    """A widget id from a pair or venue name (ids allow letters, digits, ``-`` and ``_``)."""
    return f"{prefix}-{re.sub(r'[^A-Za-z0-9_-]', '_', name)}"


def _n(x: float | None, fmt: str = "+.3f") -> str:
    return "-" if x is None else format(x, fmt)


def _age(s: float | None) -> str:
    if s is None:
        return "-"
    if s < 120:
        return f"{s:.0f}s"
    return f"{s / 60:.0f}m" if s < 7200 else f"{s / 3600:.1f}h"


def banner_text(v: ConsoleView, endpoint: str) -> Text:
    """The top line: time, launch, trading state and its reasons, replication when present."""
    t = Text(f"cmc top  {v.now} UTC  {endpoint}  launch {v.launch}  trading ")
    t.append(v.trading, _STATE_STYLE.get(v.trading, "bold"))
    if v.reasons:
        t.append(f"  ({', '.join(v.reasons)})", "red")
    return t


def warmup_text(v: ConsoleView) -> Text:
    """Warm-up after a (re)start: which pairs are still filling their statistics window."""
    if not v.warmup:
        return Text("")
    why = "after a restart" if v.restarted else "since the start"
    return Text(f"WARM-UP {why}: {', '.join(v.warmup)} (no signal until the window fills)",
                "bold yellow")


def ha_text(ha: HaView) -> Text:
    """Replication: role, lease holder, epoch, the standby's lag."""
    t = Text("HA  role ")
    t.append(ha.role, "bold green" if ha.role == "primary" else "bold yellow")
    t.append(f"  holder {ha.holder or '-'}  epoch {ha.epoch if ha.epoch is not None else '-'}"
             f"  lag {ha.lag_records if ha.lag_records is not None else '-'} records"
             f" / {_n(ha.lag_ms, '.1f')} ms")
    return t


def pair_text(p: PairRow) -> Text:
    """A pair's spread against its thresholds, position and state (two lines)."""
    unit = f" {p.unit}" if p.unit else ""
    t = Text()
    t.append(f"{p.name:<10}", "bold")
    t.append(f" spread {_n(p.spread)}{unit}  mean {_n(p.mean)}  ")
    if p.entry_band is not None:
        t.append(f"entry at {p.entry_band[0]:+.3f} / {p.entry_band[1]:+.3f} "
                 f"(±{p.z_entry:.2f}σ)  ")
    t.append(f"z {_n(p.z, '+.2f')} ")
    beyond = p.z is not None and p.z_entry > 0 and abs(p.z) >= p.z_entry
    t.append(zbar(p.z, p.z_entry), "bold magenta" if beyond else "")
    a, b = p.pos_lots
    t.append(f"\n{'':<10} entry/exit z {p.z_entry:.2f}/{p.z_exit:.2f}  min edge "
             f"{p.min_edge:.3f}{unit}  pos {_n(a, '+d') if a is not None else '-'}/"
             f"{_n(b, '+d') if b is not None else '-'} lots  pending {p.pending}  ")
    t.append(p.state, "bold red" if "HALTED" in p.state or p.state == "unreachable"
             else "yellow" if p.blocked else "green")
    if p.warming:
        t.append("  warming up", "bold yellow")
    return t


def _health(title: str, rows: tuple[HealthRow, ...], t: Text) -> None:
    t.append(f"{title:<7}", "bold")
    if not rows:
        t.append("-")
    for r in rows:
        t.append(f" {r.name} ")
        t.append(r.state, "green" if r.healthy else "bold red")
        t.append(f" {'for' if r.observed else 'age'} {_age(r.age_s)}"
                 + (f" ({r.detail})" if r.detail else "") + " ")
    t.append("\n")


def health_text(v: ConsoleView) -> Text:
    """Feeds, order-entry legs and nodes: state, how long in it, counters."""
    t = Text()
    _health("feeds", v.feeds, t)
    _health("legs", v.legs, t)
    _health("nodes", v.nodes, t)
    return t


def book_text(v: ConsoleView) -> Text:
    """Positions (lots), exposure (base units), PnL (home currency)."""
    t = Text()
    t.append("positions ", "bold")
    t.append("  ".join(f"{k} {n:+d} {u}" for k, n, u in v.positions) or "flat")
    t.append("\nexposure  ", "bold")
    t.append("  ".join(f"{k} {x:+.1f} {u}" for k, x, u in v.exposure) or "0")
    t.append("\npnl       ", "bold")
    for k, x, ccy in v.pnl:
        t.append(f"{k} ")
        if isinstance(x, str):
            t.append(f"{x} {ccy}  ")
        else:
            t.append(f"{x:,.2f} {ccy}", "red" if x < 0 and k in ("net", "gross") else "")
            t.append("  ")
    return t


def combos_text(rows: tuple[ComboRow, ...], counters: dict[str, object]) -> Text:
    """The last combos, newest first, and the executor's main counters."""
    t = Text("combos  ", "bold")
    t.append("  ".join(f"{k} {counters[k]}" for k in ("combos", "complete", "repaired",
                                                      "failed", "unwound") if k in counters))
    for c in rows:
        t.append(f"\n  {c.cid:<12} {c.pair:<10} {c.action:<6} ")
        t.append(c.state, "green" if c.state == "complete" else
                 "bold red" if c.state in ("failed", "unwound") else "yellow")
        t.append(f"  held {c.held or '-'}  residual {_n(c.residual_base, '+.3f')}")
    return t


def alarms_text(alarms: tuple[Alarm, ...], limit: int = 8) -> Text:
    """The newest alarms first."""
    t = Text("alarms", "bold")
    if not alarms:
        t.append("  none")
    for a in alarms[:limit]:
        ts = datetime.fromtimestamp(a.ts_ns / 1e9, UTC).strftime("%H:%M:%S")
        t.append(f"\n  {ts} ")
        t.append(f"{a.severity:<8}", _SEV_STYLE.get(a.severity, ""))
        t.append(f" {a.text}")
    return t


class PairCard(Vertical):
    """One pair: its text and a sparkline of the spread over the last minutes."""

    DEFAULT_CSS = """
    PairCard { height: auto; border-bottom: solid $primary-darken-2; }
    PairCard Sparkline { height: 2; margin: 0 0 0 11; }
    """

    def __init__(self, name: str) -> None:
        super().__init__(id=wid("pair", name))
        self.pair = name

    def compose(self) -> ComposeResult:
        yield Static(id=wid("pairtext", self.pair))
        yield Sparkline([], id=wid("spark", self.pair))

    def show(self, row: PairRow) -> None:
        """Draw ``row``."""
        self.query_one(Static).update(pair_text(row))
        self.query_one(Sparkline).data = list(row.spark)


class ConfirmScreen(ModalScreen[bool]):
    """Ask before a command that cannot be taken back lightly (halt, flatten): ``y`` or the
    Yes button confirms; ``n``, Escape or the No button (focused first) cancels."""

    DEFAULT_CSS = """
    ConfirmScreen { align: center middle; }
    ConfirmScreen > Vertical { width: 64; height: auto; border: thick $error;
                               background: $surface; padding: 1 2; }
    ConfirmScreen #question { width: 100%; }
    ConfirmScreen Horizontal { height: auto; margin-top: 1; }
    ConfirmScreen Button { margin-right: 2; }
    """
    BINDINGS = [Binding("y", "answer(True)", "Yes"), Binding("n", "answer(False)", "No"),
                Binding("escape", "answer(False)", "Cancel")]

    def __init__(self, question: str) -> None:
        super().__init__()
        self.question = question

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label(self.question, id="question")
            with Horizontal():
                yield Button("Yes (y)", variant="error", id="yes")
                yield Button("No (n)", variant="primary", id="no")

    def on_mount(self) -> None:
        self.query_one("#no", Button).focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id == "yes")

    def action_answer(self, yes: bool) -> None:
        self.dismiss(yes)


__all__ = ["ConfirmScreen", "PairCard", "alarms_text", "banner_text", "book_text",
           "combos_text", "ha_text", "health_text", "pair_text", "warmup_text", "wid"]
