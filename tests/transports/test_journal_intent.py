"""Order intents are durable before the order leaves; an fsync failure stops new orders."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from actors.leg.executor import LegExecutorCore
from actors.runtime.venue_shell import LegShell, OrdersBlocked, attach_intent_wal
from tests.support.contracts import au
from transports.clock import TestClock
from transports.config.engine import RiskConfig
from transports.journal.intent_wal import IntentNotDurable, IntentWal, read_intents
from transports.journal.writer import JournalCorrupt
from transports.latency import LatencyRecorder
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
    shell.flush_sends()

    def broken(fd: int) -> None:
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(os, "fdatasync", broken)
    shell.send("oe", _order(1))
    with pytest.raises(IntentNotDurable, match="not sent"):
        shell.flush_sends()
    monkeypatch.undo()  # even once the disk "recovers", no retry: the WAL stays failed
    with pytest.raises(OrdersBlocked, match="not sent"):
        shell.send("oe", _order(2))
    assert len(sock.sent) == 1
    shell.send("oe", CancelReq(cl="1.5.0.0", ts=9))
    assert len(sock.sent) == 2
    assert shell.intent_failures == 1 and shell.refused_orders == 2
    assert shell.blocked
    # the failed intent may sit in the page cache (not known durable); its order never left
    assert next(o["cl"] for _, _, o in read_intents(wal.path)) == "1.5.0.0"


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
