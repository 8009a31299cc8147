"""One dispatcher: the routing rule and the timers live in ``actors/runtime/dispatch.py`` only.

The live host, replay, rebuilds, the what-if, the bench, the profiler and the test harnesses are
only right while they route alike, so none of them may keep a copy of the rule. The tree is
searched (by syntax, not by text) for a second FIFO routing loop — a ``while`` loop that pops a
queue and calls ``.handle(`` — and a second timer heap — a module that pushes onto a heap and
deals with timers (``SetTimer``, ``"@timer"``, builds ``Timer(...)``). Then the one dispatcher's
rule itself: ``@`` outputs at once, FIFO, journaled items, timers replaced/cancelled, lifecycle
markers.
"""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Any

from actors.core import Core, Out
from actors.runtime.dispatch import Dispatcher, Sink
from transports.wire.messages import (
    BookUpdate,
    Decision,
    Halt,
    SetTimer,
    Start,
    Stop,
    Timer,
)

ROOT = Path(__file__).resolve().parents[2]
SEARCHED = ("actors", "scripts", "tests", "transports")
THE_ONE = ROOT / "actors" / "runtime" / "dispatch.py"


def _calls(node: ast.AST) -> list[ast.Call]:
    return [n for n in ast.walk(node) if isinstance(n, ast.Call)]


def _name(call: ast.Call) -> str:
    f = call.func
    return f.attr if isinstance(f, ast.Attribute) else f.id if isinstance(f, ast.Name) else ""


def _reads_by_cursor(loop: ast.While) -> bool:
    """True if ``loop`` reads a queue at a cursor it advances (``q[i]`` with ``i += ...``): a
    FIFO kept as a list and an index instead of popped."""
    cursors = {n.target.id for n in ast.walk(loop)
               if isinstance(n, ast.AugAssign) and isinstance(n.target, ast.Name)}
    return any(isinstance(n, ast.Subscript)
               and any(isinstance(x, ast.Name) and x.id in cursors for x in ast.walk(n.slice))
               for n in ast.walk(loop))


def routing_loops(tree: ast.AST) -> list[int]:
    """Lines of ``while`` loops that take from a queue (pop it, or read it at an advancing
    cursor) and deliver with ``.handle(``."""
    found = []
    for loop in ast.walk(tree):
        if not isinstance(loop, ast.While):
            continue
        calls = _calls(loop)
        pops = any(_name(c) in ("popleft", "heappop")
                   or (_name(c) == "pop" and [ast.dump(a) for a in c.args]
                       == [ast.dump(ast.Constant(0))]) for c in calls)
        delivers = any(_name(c) == "handle" for c in calls)
        if (pops or _reads_by_cursor(loop)) and delivers:
            found.append(loop.lineno)
    return found


def timer_heap(tree: ast.AST) -> bool:
    """True if the module pushes onto a heap and deals with timers."""
    pushes = any(_name(c) == "heappush" for c in _calls(tree))
    timers = any(
        (isinstance(n, ast.Name) and n.id == "SetTimer")
        or (isinstance(n, ast.Constant) and n.value == "@timer")
        or (isinstance(n, ast.Call) and _name(n) == "Timer")
        for n in ast.walk(tree))
    return pushes and timers


def copies_of_the_rule() -> list[str]:
    out = []
    for top in SEARCHED:
        for path in sorted((ROOT / top).rglob("*.py")):
            if path == THE_ONE:
                continue
            tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
            rel = path.relative_to(ROOT)
            out += [f"{rel}:{line}: a FIFO routing loop" for line in routing_loops(tree)]
            if timer_heap(tree):
                out.append(f"{rel}: a timer heap")
    return out


OLD_HOST_LOOP = '''
def _route_fifo(self, src, out, now):
    fifo = collections.deque((src, d, m) for d, m in out)
    while fifo:
        sender, dest, msg = (fifo.popleft())  # (parenthesised: not a loop of this tree to grep)
        shell = self.shells.get(dest)
        if shell is not None:
            more = shell.handle(msg, now)
            fifo.extend((dest, d, m) for d, m in more)

def _set_timer(self, actor, req: SetTimer):
    heapq.heappush(self._timers, (req.due_ns, 1, actor, req.key))
'''

OLD_TEST_LOOP = '''
def send(self, dest, msg):
    fifo = [(dest, msg)]
    while fifo:
        dest, msg = fifo.pop(0)
        for d, m in self.cores[dest].handle(msg, self.now):
            if d == "@timer":
                heapq.heappush(self._timers, (m.due_ns, 0, dest, m.key))
'''


CURSOR_LOOP = '''
def route(self, src, out, now):
    batches, i = [src, out], 0
    while i < len(batches):
        sender, items = batches[i], batches[i + 1]
        i += 2
        for dest, msg in items:
            more = self.cores[dest].handle(msg, now)
            if more:
                batches += (dest, more)
            if dest == "@timer":
                heapq.heappush(self._timers, (msg.due_ns, 0, dest, msg.key))
'''


def test_the_search_finds_the_copies_that_were_removed() -> None:
    # the detector must see the kinds of copies the tree used to hold (and the one dispatcher's
    # own form: a FIFO of output lists read at a cursor), or the next test is empty
    for src in (OLD_HOST_LOOP, OLD_TEST_LOOP, CURSOR_LOOP):
        tree = ast.parse(src)
        assert routing_loops(tree) and timer_heap(tree)
    assert routing_loops(ast.parse(THE_ONE.read_text())) and timer_heap(
        ast.parse(THE_ONE.read_text()))


def test_no_second_copy_of_the_routing_rule_or_the_timers_anywhere() -> None:
    assert copies_of_the_rule() == []


# --- the rule ------------------------------------------------------------------------------------


class Echo(Core):
    """Replies as told by ``Halt(reason)``: ``dest:reason;...`` sends ``Halt(reason)`` to dest,
    ``@timer:key/arg=due`` arms a timer, ``book`` sends a ``BookUpdate`` to ``b``."""

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.seen: list[tuple[str, Any]] = []

    def on_halt(self, m: Halt, now_ns: int) -> Out:
        self.seen.append(("halt", m.reason))
        if m.reason == "boom":
            raise RuntimeError("handler bug")
        out: Out = []
        for part in m.reason.split(";"):
            dest, colon, what = part.partition(":")
            if dest == "book":
                out.append(("b", BookUpdate("v", "s", True, 0, 0, 0, [], [], [], [])))
            elif not colon:
                continue
            elif dest == "@timer":
                key, _, due = what.partition("=")
                k, _, arg = key.partition("/")
                out.append(("@timer", SetTimer(k, int(due), arg)))
            else:
                out.append((dest, Halt(what)))
        return out

    def on_book_update(self, m: BookUpdate, now_ns: int) -> Out:
        self.seen.append(("book", m.sym))
        return []

    def on_timer(self, t: Timer, now_ns: int) -> Out:
        self.seen.append(("timer", f"{t.key}/{t.arg}@{t.ts_ns}"))
        return []

    def on_start(self, now_ns: int) -> Out:
        return [("@oe", Halt("hello"))]


class Record(Sink):
    def __init__(self, log: list[Any]) -> None:
        self.log = log

    def send(self, actor: str, key: str, msg: Any) -> None:
        self.log.append(("send", actor, key, msg.reason))

    def forward(self, dest: str, msg: Any) -> None:
        self.log.append(("forward", dest, getattr(msg, "reason", msg)))

    def failed(self, actor: str, exc: BaseException, now_ns: int) -> None:
        self.log.append(("failed", actor, repr(exc)))


def _world() -> tuple[Dispatcher, dict[str, Echo], list[Any]]:
    log: list[Any] = []
    cores = {n: Echo(n) for n in ("a", "b", "c")}
    for core in cores.values():
        core.seen = log  # one log for deliveries and effects: their order is visible
    return Dispatcher(dict(cores), Record(log)), cores, log


def test_outputs_for_sockets_leave_at_once_the_rest_is_fifo_run_to_completion() -> None:
    d, _cores, log = _world()
    d.route("@md", [("a", Halt("b:x;@oe:order;c:y;far:z"))], 5)
    assert log == [
        ("halt", "b:x;@oe:order;c:y;far:z"),
        ("send", "a", "oe", "order"),  # the order left before b or c ran
        ("halt", "x"),
        ("halt", "y"),
        ("forward", "far", "z"),
    ]
    assert d.journaled == [
        ("@md", "a", Halt("b:x;@oe:order;c:y;far:z")),
        ("a", "a@oe", Halt("order")),
        ("a", "b", Halt("x")),
        ("a", "c", Halt("y")),
    ]


def test_derived_book_data_is_journaled_only_when_it_came_from_outside() -> None:
    d, _cores, _log = _world()
    d.route("@md", [("a", Halt("book"))], 1)
    update = BookUpdate("v", "s", True, 0, 0, 0, [], [], [], [])
    d.route("@group", [("b", update)], 2)
    kinds = [(s, dst, type(m).__name__) for s, dst, m in d.journaled or []]
    assert kinds == [("@md", "a", "Halt"), ("@group", "b", "BookUpdate")]


def test_a_handler_that_raises_is_journaled_and_reported_and_the_cycle_goes_on() -> None:
    d, _cores, log = _world()
    d.route("@md", [("a", Halt("boom")), ("b", Halt("after"))], 7)
    assert ("failed", "a", "RuntimeError('handler bug')") in log
    assert ("halt", "after") in log
    assert ("a", "journal", Decision("a", "error", "RuntimeError('handler bug')", 7)) in (
        d.journaled or [])


def test_timers_are_identified_by_key_and_arg_replaced_ones_never_fire() -> None:
    d, _cores, log = _world()
    d.route("@md", [("a", Halt("@timer:t/1=100;@timer:t/2=150;@timer:u=120"))], 0)
    d.route("@md", [("a", Halt("@timer:t/1=300;@timer:u=0"))], 10)  # replace t/1, cancel u
    assert d.next_due() == 150
    assert d.pending("a") == [("t", "2", 150), ("t", "1", 300)]
    log.clear()
    assert d.fire_due(200) == 1
    assert log == [("timer", "t/2@200")]
    assert d.fire_due(299) == 0 and d.fire_due(300) == 1
    assert log[-1] == ("timer", "t/1@300") and d.next_due() is None
    # a timer that fired is journaled as a delivery from @timer; the requests are not
    assert [(s, dst) for s, dst, m in d.journaled or [] if type(m) is not Halt] == [
        ("@timer", "a"), ("@timer", "a")]


def test_start_and_stop_journal_typed_markers() -> None:
    d, cores, log = _world()
    d.start("a", cores["a"], 1, epoch=3)
    d.stop("a", cores["a"], 2)
    assert (d.journaled or [])[0] == ("@start", "a", Start(3))
    assert (d.journaled or [])[1] == ("a", "a@oe", Halt("hello"))  # on_start's frame, at once
    assert (d.journaled or [])[-1] == ("@stop", "a", Stop())
    assert ("send", "a", "oe", "hello") in log


def test_deliveries_to_the_journal_are_never_journaled_whoever_sends_what() -> None:
    log: list[Any] = []
    cores = {n: Echo(n) for n in ("a", "journal")}
    for core in cores.values():
        core.seen = log
    d = Dispatcher(dict(cores), Record(log))
    update = BookUpdate("v", "s", True, 0, 0, 0, [], [], [], [])
    d.route("@md", [("journal", Halt("x")), ("journal", update)], 1)  # from outside
    d.route("@md", [("a", Halt("journal:y"))], 2)  # from a core of the group
    assert ("halt", "x") in log and ("book", "s") in log and ("halt", "y") in log
    assert d.journaled == [("@md", "a", Halt("journal:y"))]
