"""Order intents are durable before the order leaves; an fsync failure stops new orders."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from actors.leg.executor import LegExecutorCore
from actors.risk.risk import RiskCore
from actors.runtime.dispatch import Dispatcher, Sink
from actors.runtime.shells.venue_shell import LegShell, OrdersBlocked, attach_intent_wal
from tests.support.contracts import au
from transports.clock import TestClock
from transports.config.engine import RiskConfig
from transports.journal.intent_wal import IntentWal, read_intents
from transports.journal.writer import JournalCorrupt
from transports.latency import LatencyRecorder
from transports.wire.messages import Decision, ExecReport, IntentFailed, LegOrder, Reduce
from transports.wire.venue_msgs import CancelReq, NewOrder


class FakeSocket:
    """Records frames, and how many intents the WAL held when each frame went out."""

    def __init__(self, wal: IntentWal | None) -> None:
        self.wal = wal
        self.sent: list[tuple[bytes, int]] = []

    def send(self, frame: bytes, *args: Any) -> None:
        self.sent.append((frame, self.wal.appends if self.wal else -1))


def _order(i: int) -> NewOrder:
    return NewOrder(cl=f"1.5.0.{i}", sym="au2606", side="B", px=100, qty=1, tif="IOC", ts=i)


def _shell(tmp_path: Path) -> tuple[LegShell, IntentWal, FakeSocket]:
    c = au(underlying="", base_per_lot=0.0)
    core = LegExecutorCore(
        "leg.shfe", "shfe", "acct", {"au2606": c}, 1, RiskConfig(), ["combo"], 1000
    )
    shell = LegShell(core, "ipc:///nowhere", "acct", TestClock(), LatencyRecorder(64))
    wal = IntentWal(tmp_path / "intents-engine.cmcw", run_id="r", node="engine")
    assert attach_intent_wal([shell], wal) == 1
    sock = FakeSocket(wal)
    shell.sockets["oe"] = sock  # type: ignore[assignment]
    return shell, wal, sock


def test_intent_is_durable_before_the_order_is_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    shell, wal, sock = _shell(tmp_path)
    events: list[str] = []
    real = os.fdatasync
    monkeypatch.setattr(os, "fdatasync", lambda fd: (events.append("sync"), real(fd))[1])
    orig_send = sock.send
    sock.send = lambda frame, *a: (events.append("send"), orig_send(frame, *a))[1]  # type: ignore[method-assign]
    # the two legs of one dispatch cycle: queued, then one group commit, then both sent
    shell.send("oe", _order(0))
    shell.send("oe", _order(1))
    assert sock.sent == [] and shell.pending
    shell.flush_sends()
    assert events == ["sync", "send", "send"]
    assert [n for _, n in sock.sent] == [2, 2]  # both intents were in the WAL when they left
    intents = list(read_intents(wal.path))
    assert [o["cl"] for _, _, o in intents] == ["1.5.0.0", "1.5.0.1"]
    assert shell.latency.samples("intent_fsync").size == 1
    assert wal.syncs == 1 and not shell.pending
    wal.close()
    # reopening continues the chain after the zero-filled preallocated space
    wal2 = IntentWal(wal.path)
    wal2.append(5, "acct", _order(2))
    wal2.close()
    assert [o["cl"] for _, _, o in read_intents(wal.path)][-1] == "1.5.0.2"


def test_fsync_failure_stops_new_orders_but_not_cancels(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    shell, wal, sock = _shell(tmp_path)
    shell.send("oe", _order(0))
    assert shell.flush_sends() == []

    def broken(fd: int) -> None:
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(os, "fdatasync", broken)
    shell.send("oe", _order(1))
    # not raised any more: the failure comes back as an input for the executor
    (failed,) = shell.flush_sends()
    assert isinstance(failed, IntentFailed) and failed.cls == ("1.5.0.1",)
    assert failed.venue == "shfe" and "Input/output error" in failed.reason
    monkeypatch.undo()  # even once the disk "recovers", no retry: the WAL stays failed
    shell.send("oe", _order(2))  # the executor has not heard yet: refused as well
    assert shell.pending
    (again,) = shell.flush_sends()
    assert again.cls == ("1.5.0.2",)
    assert len(sock.sent) == 1
    shell.send("oe", CancelReq(cl="1.5.0.0", ts=9))
    assert len(sock.sent) == 2
    assert shell.intent_failures == 1 and shell.refused_orders == 2
    assert shell.wal_failed and not shell.blocked
    # the failed intent may sit in the page cache (not known durable); its order never left
    assert next(o["cl"] for _, _, o in read_intents(wal.path)) == "1.5.0.0"


def test_an_abandoned_hosts_shell_refuses_every_order(tmp_path: Path) -> None:
    shell, _wal, sock = _shell(tmp_path)
    shell.blocked = "its host was abandoned"
    with pytest.raises(OrdersBlocked, match="not sent"):
        shell.send("oe", _order(0))
    assert sock.sent == [] and not shell.pending


class _Host(Sink):
    """The host's part for one LegShell: frames to the shell, then its group commit, whose
    failures are routed back from ``@wal`` (``Host._release_sends``)."""

    def __init__(self, shell: LegShell) -> None:
        self.shell = shell
        self.d = Dispatcher({shell.name: shell}, self, journal="journal")
        self.journal: list[tuple[str, str, Any]] = []

    def send(self, actor: str, key: str, msg: Any) -> None:
        self.shell.send(key, msg)

    def forward(self, dest: str, msg: Any) -> None:
        self.journal.append((self.shell.name, dest, msg))  # to combo, risk, the journal

    def route(self, out: list[tuple[str, Any]], now: int, src: str = "@test") -> None:
        self.d.route(src, out, now)
        if self.shell.pending:
            failed = self.shell.flush_sends()
            if failed:
                self.route([(self.shell.name, m) for m in failed], now, "@wal")
        assert self.d.journaled is not None
        self.journal += self.d.journaled
        self.d.journaled.clear()


def _leg_order(combo: int, side: str, qty: int, purpose: str = "entry") -> LegOrder:
    return LegOrder(combo, 0, 0, "shfe", "au2606", side, qty, 30500, "IOC", purpose, 0, 0)


def test_an_intent_failure_rejects_locally_reduces_risk_and_lets_only_reducing_orders_go(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    shell, wal, sock = _shell(tmp_path)
    core = shell.core
    assert isinstance(core, LegExecutorCore)
    core.report_to.append("risk")
    host = _Host(shell)
    core.positions["au2606"] = 3  # a leg filled earlier: 3 lots held
    monkeypatch.setattr(os, "fdatasync", lambda fd: (_ for _ in ()).throw(OSError(28, "ENOSPC")))
    host.route([(shell.name, _leg_order(7, "B", 2))], 1000)
    assert sock.sent == []  # the intent failed: the order never left
    j = host.journal
    fails = [(s, d, m) for s, d, m in j if isinstance(m, IntentFailed)]
    assert fails == [("@wal", "leg.shfe", fails[0][2])]  # journaled as an input
    cl = fails[0][2].cls[0]
    assert core.orders[cl].state.value == "REJECTED"
    rej = [m for _, d, m in j if d == "combo" and isinstance(m, ExecReport)
           and m.kind == "rejected"]
    assert [r.cl for r in rej] == [cl] and rej[0].reason == "intent_wal_failed"
    assert core.book.counters["intent_failed"] == 1
    risk = [m for s, d, m in j if d == "risk" and isinstance(m, Reduce)]
    assert [m.reason.split(":", 1)[0] for m in risk] == ["intent_wal_failed"]
    assert any(isinstance(m, Decision) and '"intent_wal_failed"' in m.detail for _, _, m in j)
    # risk, told so, is REDUCING under that reason
    rc = RiskCore("risk", {}, RiskConfig(), ["leg.shfe"])
    rc.handle(risk[0], 1000)
    assert rc.state == "REDUCING" and "intent_wal_failed" in rc.reasons
    # an order that adds exposure is denied; one that reduces goes, without a durable intent
    host.journal.clear()
    host.route([(shell.name, _leg_order(8, "B", 1))], 2000)
    assert [(m.kind, m.reason) for _, d, m in host.journal
            if d == "combo" and isinstance(m, ExecReport)] == [("denied", "intent_wal_failed")]
    assert sock.sent == []
    appends = wal.appends
    host.route([(shell.name, _leg_order(9, "S", 3, "unwind"))], 3000)
    assert len(sock.sent) == 1 and wal.appends == appends  # sent, and not via the WAL
    assert shell.non_durable == 1 and core.book.counters["non_durable"] == 1
    nd = [m for _, _, m in host.journal if isinstance(m, Decision) and m.what == "non_durable"]
    assert len(nd) == 1 and '"purpose": "unwind"' in nd[0].detail
    # only one Reduce, however many failures follow
    assert not [m for _, d, m in host.journal if isinstance(m, Reduce)]


def test_a_damaged_intent_wal_refuses_to_open(tmp_path: Path) -> None:
    wal = IntentWal(tmp_path / "w.cmcw")
    for i in range(3):
        wal.append(i, "acct", _order(i))
    end = wal.end
    wal.close()
    data = bytearray(Path(wal.path).read_bytes())
    data[end - 200] ^= 0x55
    Path(wal.path).write_bytes(bytes(data))
    with pytest.raises(JournalCorrupt, match="record"):
        IntentWal(wal.path)


def test_intents_not_durable_by_choice_are_written_but_not_synced(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    shell, wal, sock = _shell(tmp_path)
    wal.durable = False  # run.durable_intents = false
    calls: list[int] = []
    monkeypatch.setattr(os, "fdatasync", lambda fd: calls.append(fd))
    shell.send("oe", _order(0))
    shell.flush_sends()
    assert calls == [] and len(sock.sent) == 1
    assert [o["cl"] for _, _, o in read_intents(wal.path)] == ["1.5.0.0"]
