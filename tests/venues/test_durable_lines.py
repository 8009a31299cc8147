"""The gateways' durable order maps on disk (``transports.venues.durable_lines``): a torn last
line is cut at open so what is appended next survives the next start; a write that fails
part-way is cut back at once; an unreadable line elsewhere is skipped and counted. Real files;
the failing write is injected (a disk that fills up mid-line)."""

from __future__ import annotations

import errno
import os
from pathlib import Path
from typing import Any

import pytest

from transports.venues import durable_lines
from transports.venues.durable_lines import DurableLines


def test_a_torn_last_line_is_cut_and_the_next_record_survives_a_restart(
        tmp_path: Path) -> None:
    p = tmp_path / "state" / "map.jsonl"
    log = DurableLines(p)
    log.append({"cl": "1.1.0.0", "xid": "a"})
    log.close()
    with p.open("ab") as f:
        f.write(b'{"cl":"1.2.0.0","xi')  # a crash mid-write: never acknowledged
    log = DurableLines(p)
    assert list(log.records()) == [{"cl": "1.1.0.0", "xid": "a"}]
    assert log.cut_bytes == len(b'{"cl":"1.2.0.0","xi')
    assert p.read_bytes().endswith(b"\n")  # cut on disk, not only in memory
    log.append({"cl": "1.3.0.0", "xid": "c"})
    log.close()
    again = DurableLines(p)
    assert list(again.records()) == [{"cl": "1.1.0.0", "xid": "a"}, {"cl": "1.3.0.0", "xid": "c"}]
    assert again.bad_lines == 0 and again.cut_bytes == 0
    assert os.stat(p).st_mode & 0o077 == 0  # the account's order ids: owner only


def test_a_write_that_fails_part_way_is_cut_back_and_raised(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    p = tmp_path / "map.jsonl"
    log = DurableLines(p)
    log.append({"cl": "1.1.0.0"})
    real = os.write

    def half_then_full(fd: int, data: Any) -> int:
        real(fd, bytes(data[: len(data) // 2]))
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(durable_lines.os, "write", half_then_full)
    with pytest.raises(OSError, match="No space"):
        log.append({"cl": "1.2.0.0", "xid": "b" * 40})  # the caller must not send it
    monkeypatch.setattr(durable_lines.os, "write", real)
    assert p.read_bytes() == b'{"cl":"1.1.0.0"}\n'
    log.append({"cl": "1.3.0.0"})  # the disk has room again
    log.close()
    assert list(DurableLines(p).records()) == [{"cl": "1.1.0.0"}, {"cl": "1.3.0.0"}]


def test_an_unreadable_line_inside_is_skipped_and_counted(tmp_path: Path) -> None:
    p = tmp_path / "map.jsonl"
    p.write_bytes(b'{"cl":"a"}\nnot json\n[1, 2]\n{"cl":"b"}\n')
    log = DurableLines(p)
    assert list(log.records()) == [{"cl": "a"}, {"cl": "b"}]
    assert log.bad_lines == 2 and log.cut_bytes == 0
