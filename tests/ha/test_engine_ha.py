"""The engine's side of the hot standby, at the leg shell and the journal shell, over real
ZeroMQ sockets: the lease's epoch on every order and cancel that leaves, nothing leaving
without the lease, intents replicated before their orders leave, a failed replication handled
as an intent that could not be made durable; and the journal records replicated byte for byte.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import zmq

from actors.runtime.shells.journal_shell import JournalShell
from actors.runtime.shells.venue_shell import LegShell
from scripts.launch.ha.runtime import standby_argv
from transports.clock import TestClock
from transports.errors import CmcError
from transports.journal.format import T_BATCH, decode_batch_raw
from transports.journal.intent_wal import IntentNotDurable, IntentWal
from transports.journal.reader import read_journal
from transports.journal.writer import JournalWriter
from transports.latency import LatencyRecorder
from transports.wire.codec import Codec
from transports.wire.messages import JournalBatch
from transports.wire.venue_msgs import (
    FENCE_PROBE_CL,
    CancelReq,
    NewOrder,
    OeRequest,
    OpenOrdersReq,
    PositionsReq,
    TradesReq,
)

_req: Codec[Any] = Codec(OeRequest)


class _Core:
    name = "leg.shfe"
    venue = "shfe"
    wal_failed = ""

    def handle(self, msg: Any, now_ns: int) -> list[Any]:
        return []


@pytest.fixture
def shell(tmp_path: Path) -> Any:
    ctx: zmq.Context[Any] = zmq.Context()
    peer = ctx.socket(zmq.PAIR)
    peer.bind(f"ipc://{tmp_path}/oe")
    out = ctx.socket(zmq.PAIR)
    out.connect(f"ipc://{tmp_path}/oe")
    wal = IntentWal(tmp_path / "intents.cmcw")
    sh = LegShell(_Core(), f"ipc://{tmp_path}/oe", "acct", TestClock(1_000), LatencyRecorder(),
                  intent_wal=wal)
    sh.sockets = {"oe": out}
    yield sh, peer
    wal.close()
    ctx.destroy(linger=0)


def _order(cl: str) -> NewOrder:
    return NewOrder(cl, "au2606", "B", 100, 1, "IOC", 1)


def _recv(peer: Any) -> Any:
    assert peer.poll(2000), "nothing reached the venue's socket"
    return _req.decode(peer.recv())


def test_orders_and_cancels_carry_the_lease_epoch(shell: Any) -> None:
    sh, peer = shell
    sh.fence = lambda: 42
    sh.send("oe", _order("1.1.0.0"))
    probe = _recv(peer)  # the epoch's first frame: the fencing probe (next test)
    assert type(probe) is CancelReq and (probe.cl, probe.epoch) == (FENCE_PROBE_CL, 42)
    assert not peer.poll(0)  # the order is held for the cycle's group commit
    assert sh.flush_sends() == []
    got = _recv(peer)
    assert (got.cl, got.epoch) == ("1.1.0.0", 42)
    sh.send("oe", CancelReq("1.1.0.0", 2))
    got = _recv(peer)
    assert type(got) is CancelReq and got.epoch == 42


def test_each_lease_epoch_is_announced_before_anything_else_is_sent(shell: Any) -> None:
    """A take-over's reconciliation queries carry no epoch: the venue would answer them while
    still taking an older sender's frames (a frozen primary's, queued before its freeze). So
    the first frame of each epoch is a ``cancel`` of ``FENCE_PROBE_CL`` with it; then the
    query; not again until the epoch changes; nothing while the lease is not ours."""
    sh, peer = shell
    epoch = [0]

    def fence() -> int:
        if not epoch[0]:
            raise CmcError("not the lease holder (standby)")
        return epoch[0]

    sh.fence = fence
    sh.send("oe", OpenOrdersReq())  # a standby's (or a deposed primary's) query: no probe
    assert type(_recv(peer)) is OpenOrdersReq and not peer.poll(50)
    epoch[0] = 9  # took over
    sh.send("oe", OpenOrdersReq())
    sh.send("oe", TradesReq(since=5))
    got = [_recv(peer) for _ in range(3)]
    assert [type(m) for m in got] == [CancelReq, OpenOrdersReq, TradesReq]
    assert (got[0].cl, got[0].epoch) == (FENCE_PROBE_CL, 9) and not peer.poll(50)
    epoch[0] = 10  # a later lease (a new epoch): announced again
    sh.send("oe", PositionsReq())
    got = [_recv(peer) for _ in range(2)]
    assert [type(m) for m in got] == [CancelReq, PositionsReq] and got[0].epoch == 10


def test_without_the_lease_nothing_leaves(shell: Any) -> None:
    sh, peer = shell

    def lost() -> int:
        raise CmcError("not the lease holder (expired)")

    sh.fence = lost
    sh.send("oe", _order("1.2.0.0"))
    sh.flush_sends()
    sh.send("oe", CancelReq("1.2.0.0", 2))
    assert not peer.poll(100)
    assert sh.fenced_local == 2


def test_intents_are_replicated_before_their_orders_leave(shell: Any) -> None:
    sh, peer = shell
    seen: list[tuple[int, bool]] = []

    def replicate(records: list[bytes]) -> None:
        seen.append((len(records), bool(peer.poll(0))))

    sh.fence = lambda: 7
    sh.replicate = replicate
    sh.send("oe", PositionsReq())  # the epoch's fencing probe and a query leave first
    assert [type(_recv(peer)) for _ in range(2)] == [CancelReq, PositionsReq]
    sh.send("oe", _order("1.3.0.0"))
    sh.send("oe", _order("1.3.1.0"))
    assert sh.flush_sends() == []
    assert seen == [(2, False)]  # one publish for the cycle, before any order frame left
    assert {_recv(peer).cl, _recv(peer).cl} == {"1.3.0.0", "1.3.1.0"}


def test_a_failed_replication_refuses_the_cycles_orders(shell: Any) -> None:
    sh, peer = shell

    def replicate(records: list[bytes]) -> None:
        raise IntentNotDurable("intent not replicated to the standby: no ack")

    sh.replicate = replicate
    sh.send("oe", _order("1.4.0.0"))
    failed = sh.flush_sends()
    assert not peer.poll(100)
    assert len(failed) == 1 and failed[0].cls == ("1.4.0.0",)
    assert "replicated" in failed[0].reason


def test_journal_records_replicate_as_written(tmp_path: Path) -> None:
    """The standby appends what the primary's journal shell publishes: the same records."""
    (tmp_path / "p").mkdir()
    w = JournalWriter.open(tmp_path / "p" / "journal.cmcj", run_id="p")
    sh = JournalShell.build("journal", w)
    sent: list[tuple[int, bytes, int]] = []
    sh.replicate = lambda rtype, body, ts: sent.append((rtype, body, ts))
    items = [("@feed", "book.shfe:au2606", b"\x90"), ("@timer", "combo", b"\xc0")]
    for ts in (6, 7, 8):
        sh.handle(JournalBatch("hot", ts, items), ts)
    w.close(11)
    assert [t for _r, _b, t in sent] == [6, 7, 8]
    (tmp_path / "s").mkdir()
    standby = JournalWriter.open(tmp_path / "s" / "journal.cmcj", run_id="s")
    for rtype, body, ts in sent:
        assert rtype == T_BATCH and decode_batch_raw(body)[0] == ts
        standby.append(rtype, body, ts)
    standby.close(12)
    primary_records = [r for r in read_journal(tmp_path / "p")]
    standby_records = [r for r in read_journal(tmp_path / "s")]
    assert primary_records == standby_records and len(primary_records) == 6


def test_a_deposed_primary_restarts_as_a_standby_of_the_same_launch() -> None:
    assert standby_argv(["cmc", "launch", "x.toml", "--role", "primary", "--quiet"]) == [
        "cmc", "launch", "x.toml", "--quiet", "--role", "standby"]
    assert standby_argv(["cmc", "launch", "x.toml", "--role=auto"]) == [
        "cmc", "launch", "x.toml", "--role", "standby"]


def test_a_standbys_admin_socket_answers_status_and_refuses_commands(tmp_path: Path) -> None:
    """``cmc admin status`` against a standby shows its role and lag; a halt is refused with
    where to send it (a standby trades nothing)."""
    import msgspec

    from scripts.admin.client import keygen, request
    from scripts.launch.ha.standby_admin import start_standby_admin
    from transports.config.engine import load_config
    from transports.config.ops import AdminConfig

    keygen(str(tmp_path / "keys"), ["client"])
    admin = AdminConfig(enabled=True, server_secret=str(tmp_path / "keys/server.key_secret"),
                        allowlist=str(tmp_path / "keys/allowlist"))
    cfg = msgspec.structs.replace(load_config(None), admin=admin)
    ha = {"role": "standby", "holder": "host:1:run", "lag_records": 3, "lag_ms": 1.5}
    server = start_standby_admin(cfg, f"ipc://{tmp_path}/admin",
                                 lambda: {"state": "standby", "ha": ha})
    try:
        keys = str(tmp_path / "keys")
        st = request(f"ipc://{tmp_path}/admin", keys, "status", timeout_s=5.0)
        assert st["ok"] and st["result"]["ha"] == ha
        halt = request(f"ipc://{tmp_path}/admin", keys, "halt", {"reason": "x"}, timeout_s=5.0)
        assert not halt["ok"] and "standby" in halt["error"] and "host:1:run" in halt["error"]
    finally:
        server.stop()
