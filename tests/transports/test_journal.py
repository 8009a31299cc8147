"""Journal format v1: framing, hash chain, rotation, group commit and recovery on open."""

from __future__ import annotations

import io
import os
import struct
import zlib
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner
from loguru import logger

from actors.runtime.shells.journal_shell import JournalShell
from scripts.audit.verify import verify_journal
from scripts.cli import main as cli
from transports.journal.format import REC_HDR, decode_header
from transports.journal.reader import JournalReader, read_journal
from transports.journal.writer import (
    JournalCorrupt,
    JournalOptions,
    JournalSyncError,
    JournalWriter,
    find_segments,
)
from transports.wire.messages import Decision, Halt, JournalBatch, SetTimer, Timer
from transports.wire.venue_msgs import NewOrder

DAY = 86_400 * 1_000_000_000
T0 = 1_700_000_000 * 1_000_000_000


@pytest.fixture
def logs() -> Iterator[list[str]]:
    lines: list[str] = []
    sink = logger.add(lambda m: lines.append(str(m)), level="INFO")
    yield lines
    logger.remove(sink)


def _write(path: Path, n: int, **opts: int) -> JournalWriter:
    w = JournalWriter.open(path, run_id="r1", cfg_hash="c1", options=JournalOptions(**opts))
    for i in range(n):
        w.append_batch(T0 + i, "hot", [("@group", "a", Halt(str(i)))])
    return w


def _offsets(path: Path) -> list[int]:
    """Offsets of every record of one segment."""
    data = path.read_bytes()
    _, off = decode_header(data)
    out = []
    while off < len(data):
        out.append(off)
        off += REC_HDR.size + struct.unpack_from("<I", data, off)[0]
    return out


def test_batches_read_back_in_order_and_typed(tmp_path: Path) -> None:
    path = tmp_path / "journal.cmcj"
    with open(path, "ab") as f:  # what a node hands the journal actor
        j = JournalShell.build("journal", f)
        order = NewOrder(cl="1.2.0.0", sym="au", side="B", px=1, qty=2, tif="IOC", ts=3)
        j.handle(
            JournalBatch(
                "hot", 10, [("leg.x", "leg.x@oe", order), ("@group", "combo", Halt("halt"))]
            ),
            11,
        )
        j.handle(Decision("combo", "repair", "{}", 12), 12)
        j.close(13)
    recs = list(read_journal(path))
    assert [(ts, g, d) for ts, g, d, _ in recs] == [
        (10, "hot", "leg.x@oe"),
        (10, "hot", "combo"),
        (12, "", "journal"),
    ]
    assert recs[0][3]["t"] == "new" and recs[0][3]["cl"] == "1.2.0.0"
    assert recs[1][3] == ["Halt", "halt"]
    assert j.core.records == 3 and j.snapshot()["items"] == 3
    meta = JournalReader(path).header()
    assert meta.run_id == tmp_path.name and meta.segment == 0
    r = verify_journal(path)
    assert r["ok"] and r["items"] == 3 and r["closed_cleanly"]


def test_stream_sink_writes_a_readable_segment(tmp_path: Path) -> None:
    buf = io.BytesIO()
    j = JournalShell.build("journal", buf)
    j.handle(JournalBatch("hot", 1, [("@md", "feed.x", Halt("x"))]), 1)
    (tmp_path / "journal.cmcj").write_bytes(buf.getvalue())
    assert [d for _, _, d, _ in read_journal(tmp_path)] == ["feed.x"]


def test_torn_tail_is_read_up_to_it_and_cut_on_open_with_a_log_line(
    tmp_path: Path, logs: list[str]
) -> None:
    path = tmp_path / "journal.cmcj"
    _write(path, 3).close()
    data = path.read_bytes()
    path.write_bytes(data[:-3])  # a crash in the middle of the last write (the seal)
    assert [m[1] for *_, m in read_journal(path)] == ["0", "1", "2"]
    r = verify_journal(path)
    assert r["ok"] and r["torn_tail"]["bytes"] == len(data) - 3 - _offsets(path)[-1]
    w = JournalWriter.open(path)
    assert w.cut_bytes == r["torn_tail"]["bytes"]
    assert any(f"cut a torn tail of {w.cut_bytes} bytes" in line for line in logs)
    w.append_batch(T0 + 9, "hot", [("@group", "a", Halt("9"))])
    w.close()
    assert [m[1] for *_, m in read_journal(path)] == ["0", "1", "2", "9"]
    assert verify_journal(path)["ok"]


@pytest.mark.parametrize("damage", ["zeros_after", "zeroed_last", "flipped_last"])
def test_a_damaged_end_is_cut_as_a_torn_tail(tmp_path: Path, damage: str) -> None:
    """What a crash or a power loss leaves at the end of the last segment: zeros after the
    last record (a file extended, its data never written), the last record zeroed, or the last
    record's bytes wrong (written, not synced). Each is the tail of an unsynced write: cut at
    open (the records before it kept, the next one chained after them), never refused."""
    path = tmp_path / "journal.cmcj"
    _write(path, 3).close()
    offs = _offsets(path)
    data = bytearray(path.read_bytes())
    cut_at = offs[-1]
    if damage == "zeros_after":
        cut_at = len(data)
        data += b"\0" * 4096
        kept = len(offs)
    elif damage == "zeroed_last":
        data[offs[-1]:] = b"\0" * (len(data) - offs[-1])
        kept = len(offs) - 1
    else:
        data[offs[-1] + REC_HDR.size + 1] ^= 0xFF
        kept = len(offs) - 1
    path.write_bytes(bytes(data))
    r = verify_journal(path)
    assert r["ok"] and r["torn_tail"]["offset"] == cut_at
    w = JournalWriter.open(path)
    assert w.index == kept
    w.append_batch(T0 + 9, "hot", [("@group", "a", Halt("9"))])
    w.close()
    assert [m[1] for *_, m in read_journal(path)][-1] == "9" and verify_journal(path)["ok"]


def test_flipped_byte_in_the_middle_refuses_to_open_unless_repair(
    tmp_path: Path, logs: list[str]
) -> None:
    path = tmp_path / "journal.cmcj"
    _write(path, 5).close()
    offs = _offsets(path)
    data = bytearray(path.read_bytes())
    data[offs[2] + REC_HDR.size + 3] ^= 0xFF  # record 2's body
    path.write_bytes(bytes(data))
    with pytest.raises(JournalCorrupt) as exc:
        JournalWriter.open(path)
    msg = str(exc.value)
    assert str(path) in msg and f"offset {offs[2]}" in msg and "record 2" in msg
    assert "CRC" in msg
    r = verify_journal(path)
    assert not r["ok"] and r["first_bad"]["record"] == 2 and r["first_bad"]["offset"] == offs[2]
    res = CliRunner().invoke(cli, ["audit", "verify", str(path)])
    assert res.exit_code == 1 and "record 2" in res.output
    w = JournalWriter.open(path, repair=True)
    assert w.index == 2 and w.cut_bytes == len(data) - offs[2]
    assert any("repair" in line and "lost" in line for line in logs)
    w.close()
    assert [m[1] for *_, m in read_journal(path)] == ["0", "1"]


def test_edited_record_with_a_recomputed_crc_breaks_the_chain(tmp_path: Path) -> None:
    path = tmp_path / "journal.cmcj"
    _write(path, 5).close()
    offs = _offsets(path)
    data = bytearray(path.read_bytes())
    o = offs[1]
    n, _inv, _crc, rtype, prev = REC_HDR.unpack_from(data, o)
    body = bytes(data[o + REC_HDR.size : o + REC_HDR.size + n]).replace(b"\xa11", b"\xa17")
    assert len(body) == n
    crc = zlib.crc32(body, zlib.crc32(bytes((rtype,)) + prev))
    data[o : o + REC_HDR.size + n] = REC_HDR.pack(n, n ^ 0xFFFFFFFF, crc, rtype, prev) + body
    path.write_bytes(bytes(data))
    r = verify_journal(path)
    assert not r["ok"]
    assert r["first_bad"]["record"] == 2 and "hash chain" in r["first_bad"]["reason"]
    with pytest.raises(JournalCorrupt, match="hash chain"):
        JournalWriter.open(path)
    res = CliRunner().invoke(cli, ["audit", "verify", str(path), "--repair"])
    assert res.exit_code == 0, res.output
    assert len(list(read_journal(path))) == 2


def test_rotation_by_size_and_by_day_keeps_one_chain(tmp_path: Path) -> None:
    path = tmp_path / "journal.cmcj"
    w = _write(path, 40, rotate_bytes=600)
    w.append_batch(T0 + DAY, "hot", [("@group", "a", Halt("next day"))])
    w.close()
    segs = find_segments(tmp_path)
    assert len(segs) > 3 and segs[1].name == "journal-1.cmcj"
    reader = JournalReader(path)
    msgs = [m[1] for *_, m in read_journal(path)]
    assert msgs == [str(i) for i in range(40)] + ["next day"]
    list(reader)
    assert [s["reason"] for s in reader.seals][-2:] == ["day", "close"]
    assert verify_journal(segs[2])["ok"]  # any segment's path names the whole journal
    # a missing segment is found, not skipped
    segs[2].rename(tmp_path / "elsewhere")
    r = verify_journal(path)
    assert not r["ok"] and "does not continue the chain" in r["first_bad"]["reason"]


def test_reopen_appends_to_the_last_segment_and_continues_the_chain(tmp_path: Path) -> None:
    path = tmp_path / "journal.cmcj"
    _write(path, 10, rotate_bytes=500).close()
    w = JournalWriter.open(path, options=JournalOptions(rotate_bytes=500))
    w.append_batch(T0 + 50, "hot", [("@group", "a", Halt("more"))])
    w.close()
    assert verify_journal(path)["ok"]
    assert [m[1] for *_, m in read_journal(path)][-2:] == ["9", "more"]


def test_group_commit_syncs_by_count_and_by_timer(tmp_path: Path) -> None:
    w = JournalWriter.open(
        tmp_path / "journal.cmcj", options=JournalOptions(fsync_records=3, fsync_ms=50)
    )
    j = JournalShell.build("journal", w)
    out = j.handle(JournalBatch("hot", T0, [("@md", "feed.x", Halt("a"))]), T0)
    assert out == [("@timer", SetTimer("fsync", T0 + 50_000_000))]
    assert w.unsynced == 1
    j.handle(JournalBatch("hot", T0 + 1, [("@md", "feed.x", Halt("b"))]), T0 + 1)
    j.handle(JournalBatch("hot", T0 + 2, [("@md", "feed.x", Halt("c"))]), T0 + 2)
    assert w.unsynced == 0 and w.syncs == 1
    j.handle(JournalBatch("hot", T0 + 3, [("@md", "feed.x", Halt("d"))]), T0 + 3)
    j.handle(Timer("fsync", T0 + 50_000_000), T0 + 50_000_000)
    assert w.unsynced == 0 and w.syncs == 2
    j.close(T0 + 60_000_000)


def test_journal_fsync_failure_is_final(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    w = JournalWriter.open(tmp_path / "journal.cmcj", options=JournalOptions(fsync_records=1))

    def broken(fd: int) -> None:
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(os, "fdatasync", broken)
    with pytest.raises(JournalSyncError):
        w.append_batch(T0, "hot", [])
        w.sync(T0)
    monkeypatch.undo()
    with pytest.raises(JournalSyncError, match="refuses"):
        w.append_batch(T0 + 1, "hot", [])


def test_a_write_that_fails_part_way_is_cut_back_and_the_journal_stays_whole(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # a full disk: the record's bytes go out in part, then ENOSPC. Before, the writer went on
    # after the partial frame, a damaged record inside the journal that no reader passes and
    # that the next open refuses without ``repair``
    path = tmp_path / "journal.cmcj"
    w = JournalWriter.open(path, options=JournalOptions(rotate_daily=False))
    for i in range(3):
        w.append_batch(T0 + i, "hot", [("@md", "feed.x", Halt(f"h{i}"))])
    real_write = os.write

    def disk_full(fd: int, data: bytes | memoryview) -> int:
        if len(data) > 8:  # the first part of the record lands, then the disk is full
            return real_write(fd, bytes(data)[:8])
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "write", disk_full)
    with pytest.raises(JournalSyncError, match="No space left"):
        w.append_batch(T0 + 3, "hot", [("@md", "feed.x", Halt("lost"))])
    monkeypatch.undo()
    with pytest.raises(JournalSyncError, match="refuses"):
        w.append_batch(T0 + 4, "hot", [("@md", "feed.x", Halt("after"))])
    w.close(T0 + 5)
    # the file ends with the last whole record: read whole, and opened without a cut
    assert [f.index for f in JournalReader(path)] == [0, 1, 2]  # the 3 whole batches
    again = JournalWriter.open(path)
    assert again.cut_bytes == 0 and again.index == 3
    again.close(T0 + 6)


def test_a_failed_journal_halts_trading_once_and_drops_the_rest(tmp_path: Path,
                                                               monkeypatch: pytest.MonkeyPatch
                                                               ) -> None:
    shell = JournalShell.build("journal", JournalWriter.open(
        tmp_path / "journal.cmcj", options=JournalOptions(fsync_records=1)), risk="risk")

    def broken(fd: int) -> None:
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(os, "fdatasync", broken)
    first = shell.handle(JournalBatch("hot", T0, [("@md", "feed.x", Halt("a"))]), T0)
    assert first == [("risk", Halt("journal_failed: journal fdatasync failed: [Errno 5] "
                                   "Input/output error"))]
    later = [shell.handle(JournalBatch("hot", T0 + i, [("@md", "feed.x", Halt("b"))]), T0 + i)
             for i in range(1, 4)]
    assert all(not any(d == "risk" for d, _m in out) for out in later)  # halted once
    assert shell.snapshot()["dropped_records"] == 4


def test_the_journal_core_decides_and_does_no_io() -> None:
    """The pure core: what to append, when to fdatasync (by count, by age, by timer)."""
    from actors.journal import APPEND, FSYNC, AppendCheckpoint, Fsync, JournalCore
    from transports.journal.format import CHECKPOINT_SRC

    j = JournalCore("journal", fsync_ms=50, fsync_records=2)
    b1 = JournalBatch("hot", T0, [("@md", "feed.x", Halt("a"))])
    assert j.handle(b1, T0) == [(APPEND, b1), ("@timer", SetTimer("fsync", T0 + 50_000_000))]
    b2 = JournalBatch("hot", T0 + 1, [("@md", "feed.x", Halt("b"))])
    assert j.handle(b2, T0 + 1) == [(APPEND, b2), (FSYNC, Fsync(T0 + 1))]  # 2 unsynced
    assert j.handle(Timer("fsync", T0 + 50_000_000), T0 + 50_000_000) == []  # nothing left
    # a record older than fsync_ms when it arrives is synced at once
    b3 = JournalBatch("risk", T0, [("@group", "risk", Halt("c"))])
    assert j.handle(b3, T0 + 60_000_000)[-1] == (FSYNC, Fsync(T0 + 60_000_000))
    ckpt = JournalBatch("hot", T0 + 2, [(CHECKPOINT_SRC, "hot", [{"v": 1}, b"blob"])])
    assert j.handle(ckpt, T0 + 60_000_001)[0] == (
        APPEND, AppendCheckpoint(T0 + 2, "hot", {"v": 1}, b"blob"))
    d = Decision("combo", "repair", "{}", 5)
    assert j.handle(d, T0 + 70_000_000)[0] == (
        APPEND, JournalBatch("", T0 + 70_000_000, [("", "journal", d)]))
    assert j.snapshot()["records"] == 4 and j.snapshot()["checkpoints"] == 1


def test_the_shell_writes_and_hands_back_only_the_timer(tmp_path: Path) -> None:
    """The shell's own commands never reach the host (a write is not journaled), and a fresh
    core (a restarted journal actor) continues the same chain through the shell's writer."""
    from actors.journal import JournalCore

    w = JournalWriter.open(tmp_path / "journal.cmcj", options=JournalOptions(fsync_ms=50))
    sh = JournalShell.build("journal", w)
    out = sh.handle(JournalBatch("hot", T0, [("@md", "feed.x", Halt("a"))]), T0)
    assert out == [("@timer", SetTimer("fsync", T0 + 50_000_000))]
    assert w.unsynced == 1
    assert sh.handle(Timer("fsync", T0 + 50_000_000), T0 + 50_000_000) == []
    assert w.unsynced == 0 and w.syncs == 1
    sh.core = JournalCore("journal", 50, 512)
    sh.handle(JournalBatch("hot", T0 + 1, [("@md", "feed.x", Halt("b"))]), T0 + 1)
    sh.close(T0 + 2)
    assert [m[1] for *_, m in read_journal(tmp_path)] == ["a", "b"]
    assert verify_journal(tmp_path / "journal.cmcj")["ok"]
