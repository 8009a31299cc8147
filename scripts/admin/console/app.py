"""``cmc top``'s live console: a Textual app over a launch's admin socket.

It polls every ``interval_s`` in a worker thread (each request bounded by the source's
timeout), so a slow or absent launch never freezes the screen. Until a launch answers, it says
``waiting for a launch at <endpoint>…`` and keeps trying; a launch that goes away becomes an
alarm and the wait begins again. Keys: ``h`` halt and ``f`` flatten (each asks first),
``r`` resume, ``d`` reduce, ``q`` quit; each command goes out through the authenticated
admin socket and its outcome is shown with the alarms.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from rich.text import Text
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.css.query import NoMatches
from textual.message import Message
from textual.widgets import Footer, Static

from scripts.admin.client import AdminUnreachable
from scripts.admin.console.model import ConsoleView, History, Snapshot, Units, build_view
from scripts.admin.console.source import COMMANDS, AdminSource
from scripts.admin.console.widgets import (
    ConfirmScreen,
    PairCard,
    alarms_text,
    banner_text,
    book_text,
    combos_text,
    ha_text,
    health_text,
    warmup_text,
    wid,
)
from transports.clock import LiveClock
from transports.errors import CmcError

_QUESTIONS = {
    "halt": "HALT trading? No new orders; every executor cancels what is working.",
    "flatten": "FLATTEN every pair? Strategies close their positions; risk flattens orphans.",
}


class Polled(Message):
    """A poll answered (posted from the poll's thread: ``post_message`` never blocks it)."""

    def __init__(self, snap: Snapshot, units: Units | None) -> None:
        super().__init__()
        self.snap = snap
        self.units = units


class PollFailed(Message):
    """A poll got no answer (``unreachable``: no launch up) or an error reply."""

    def __init__(self, why: str, unreachable: bool) -> None:
        super().__init__()
        self.why = why
        self.unreachable = unreachable


class Sent(Message):
    """A command's reply (or the error that stood for one)."""

    def __init__(self, cmd: str, reply: dict[str, Any]) -> None:
        super().__init__()
        self.cmd = cmd
        self.reply = reply


class TopApp(App[None]):
    """The console. ``source`` is the admin side; ``clock`` returns epoch ns (injected)."""

    TITLE = "cmc top"
    ENABLE_COMMAND_PALETTE = False  # every action has its key; nothing hides behind ^p
    CSS = """
    #banner { height: 1; background: $boost; }
    #pairs { height: auto; }
    #warmup { height: auto; }
    #ha { height: 1; }
    #health, #book, #combos, #alarms { height: auto; margin-top: 1; }
    .hidden { display: none; }
    """
    BINDINGS = [
        Binding("h", "command('halt')", "Halt"),
        Binding("r", "command('resume')", "Resume"),
        Binding("d", "command('reduce')", "Reduce"),
        Binding("f", "command('flatten')", "Flatten"),
        Binding("q", "quit", "Quit"),
    ]

    def __init__(self, source: AdminSource, interval_s: float = 1.0,
                 clock: Callable[[], int] | None = None) -> None:
        super().__init__()
        self.source = source
        self.interval_s = interval_s
        self.clock = clock or LiveClock().now_ns
        self.history = History()
        self.view: ConsoleView | None = None  #: the last frame drawn (None: no launch yet)
        self.waiting = True  #: no launch answers (yet, or any more)
        self.polls = 0  #: polls finished, answered or not
        self.sent: list[tuple[str, dict[str, Any]]] = []  #: (command, reply or error) sent
        self._busy = False

    def compose(self) -> ComposeResult:
        yield Static(self._waiting_text(), id="banner")
        yield Static(id="warmup", classes="hidden")
        yield Static(id="ha", classes="hidden")
        with VerticalScroll(id="main"):
            yield Vertical(id="pairs")
            yield Static(id="health")
            yield Static(id="book")
            yield Static(id="combos")
            yield Static(alarms_text(()), id="alarms")
        yield Footer()

    def on_mount(self) -> None:
        self.poll_now()
        self.set_interval(self.interval_s, self.poll_now)

    def on_unmount(self) -> None:
        self.source.close()

    # --- polling ---------------------------------------------------------------------------------

    def _waiting_text(self) -> Text:
        return Text(f"waiting for a launch at {self.source.endpoint}… (retrying every "
                    f"{self.interval_s:g}s, {self.source.timeout_s:g}s per request; q quits)",
                    "bold yellow")

    def poll_now(self) -> None:
        """Start a poll in a worker thread unless one is running."""
        if self._busy:
            return
        self._busy = True
        self.run_worker(self._poll, thread=True, group="poll", exit_on_error=False)

    def _poll(self) -> None:
        # results go back as messages: unlike call_from_thread, posting never waits on an app
        # that is closing, so a poll in flight cannot hang the exit
        try:
            snap = self.source.poll()
            units = self.source.units(snap)
        except AdminUnreachable as exc:
            self.post_message(PollFailed(str(exc), unreachable=True))
        except CmcError as exc:
            self.post_message(PollFailed(str(exc), unreachable=False))
        else:
            self.post_message(Polled(snap, units))
        finally:
            self._busy = False

    def on_polled(self, msg: Polled) -> None:
        try:
            self._apply(msg.snap, msg.units)
        except NoMatches:
            pass  # a poll answered while the app closes: its widgets are gone already

    def on_poll_failed(self, msg: PollFailed) -> None:
        try:
            if msg.unreachable:
                self._unreachable(msg.why)
            else:
                self._failed(msg.why)
        except NoMatches:
            pass  # as in ``on_polled``

    def _unreachable(self, why: str) -> None:
        self.polls += 1
        if not self.waiting:
            self.history.note(self.clock(), "critical", "launch_lost",
                              f"lost the launch at {self.source.endpoint}: {why}")
            self._draw_alarms()
        self.waiting = True
        self.query_one("#banner", Static).update(self._waiting_text())

    def _failed(self, why: str) -> None:
        self.polls += 1
        self.history.note(self.clock(), "warning", "admin_error", why)
        self._draw_alarms()
        if self.view is None:
            self.query_one("#banner", Static).update(
                Text(f"cannot read the launch at {self.source.endpoint}: {why} (retrying)",
                     "bold red"))

    def _apply(self, snap: Snapshot, units: Units | None) -> None:
        self.polls += 1
        now = self.clock()
        if self.waiting and self.view is not None:
            self.history.note(now, "info", "launch_back", f"launch at {self.source.endpoint} "
                                                          "answers again")
        self.waiting = False
        self.history.observe(snap, now)
        self.view = v = build_view(snap, self.history, units, now)
        self.query_one("#banner", Static).update(banner_text(v, self.source.endpoint))
        warm = self.query_one("#warmup", Static)
        warm.update(warmup_text(v))
        warm.set_class(not v.warmup, "hidden")
        ha = self.query_one("#ha", Static)
        ha.set_class(v.ha is None, "hidden")
        if v.ha is not None:
            ha.update(ha_text(v.ha))
        box = self.query_one("#pairs", Vertical)
        for row in v.pairs:
            found = box.query(f"#{wid('pair', row.name)}")
            card = found.first(PairCard) if found else None
            if card is None:
                card = PairCard(row.name)
                box.mount(card)
                card.call_after_refresh(card.show, row)
            else:
                card.show(row)
        self.query_one("#health", Static).update(health_text(v))
        self.query_one("#book", Static).update(book_text(v))
        self.query_one("#combos", Static).update(combos_text(v.combos, v.combo_counters))
        self._draw_alarms()

    def _draw_alarms(self) -> None:
        self.query_one("#alarms", Static).update(
            alarms_text(tuple(reversed(self.history.alarms))))

    # --- commands --------------------------------------------------------------------------------

    def action_command(self, name: str) -> None:
        """Send ``name`` (halt, resume, reduce, flatten); halt and flatten ask first."""
        cmd, confirm = COMMANDS[name]
        if self.waiting:
            self.history.note(self.clock(), "warning", "command",
                              f"{cmd} not sent: no launch answers at {self.source.endpoint}")
            self._draw_alarms()
            return
        if confirm:
            self.push_screen(ConfirmScreen(_QUESTIONS[cmd]),
                             lambda yes: self._send(cmd) if yes else self._cancelled(cmd))
        else:
            self._send(cmd)

    def _cancelled(self, cmd: str) -> None:
        self.history.note(self.clock(), "info", "command", f"{cmd} cancelled (not sent)")
        self._draw_alarms()

    def _send(self, cmd: str) -> None:
        def work() -> None:
            try:
                reply: dict[str, Any] = self.source.send(cmd, "cmc top")
            except CmcError as exc:
                reply = {"ok": False, "error": str(exc)}
            self.post_message(Sent(cmd, reply))

        self.run_worker(work, thread=True, group="command", exit_on_error=False)

    def on_sent(self, msg: Sent) -> None:
        self._sent(msg.cmd, msg.reply)

    def _sent(self, cmd: str, reply: dict[str, Any]) -> None:
        self.sent.append((cmd, reply))
        if reply.get("ok"):
            self.history.note(self.clock(), "warning" if cmd in ("halt", "flatten") else "info",
                              "command", f"{cmd} sent: {reply.get('result')}")
        else:
            self.history.note(self.clock(), "critical", "command",
                              f"{cmd} FAILED: {reply.get('error')}")
        self._draw_alarms()
        self.poll_now()  # show its effect now, not at the next tick


__all__ = ["PollFailed", "Polled", "Sent", "TopApp"]
