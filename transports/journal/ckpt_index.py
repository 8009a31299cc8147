"""Finding a group's latest checkpoint in a journal without decoding the journal.

A CHECKPOINT record (``transports.journal.format.T_CHECKPOINT``) holds the cores of one group at
one dispatch-cycle boundary. The writer notes each one's position in the checkpoint index beside
the journal (``journal.ckpt``, JSON lines; ``checkpoint_index_path``). ``locate`` takes the last
entry of a group whose record checks out on disk (length, CRC, type, group, and the ``prev``
hash the index names), reading only that record; without a usable index it scans the journal's
frames (CRCs and chain, as every reader does) and peeks at the group of each CHECKPOINT record
only: no batch is decoded. The position it returns seeds a ``JournalTail`` (``start``), which
checks the chain from there on.
"""

from __future__ import annotations

import json
import zlib
from pathlib import Path
from typing import NamedTuple

from transports.errors import CmcError
from transports.journal.format import REC_HDR, T_CHECKPOINT, peek_group
from transports.journal.reader import JournalTail
from transports.journal.writer import base_path, checkpoint_index_path, segment_path


class CheckpointAt(NamedTuple):
    """Where a CHECKPOINT record is: a ``JournalTail`` start, plus what it is."""

    segment: int
    offset: int
    index: int  #: journal-wide record index
    prev: bytes  #: the hash of the frame before it (the chain check of the seek)
    group: str
    ts_ns: int

    def start(self) -> tuple[int, int, int, bytes]:
        """The ``JournalTail(start=...)`` tuple."""
        return self.segment, self.offset, self.index, self.prev


def read_index(journal: str | Path) -> list[CheckpointAt]:
    """Return the index's entries in the order written (unreadable lines are skipped)."""
    path = checkpoint_index_path(journal)
    out: list[CheckpointAt] = []
    try:
        text = path.read_text(encoding="utf-8")
    except OSError:
        return out
    for line in text.splitlines():
        try:
            d = json.loads(line)
            out.append(CheckpointAt(int(d["segment"]), int(d["offset"]), int(d["index"]),
                                    bytes.fromhex(d["prev"]), str(d["group"]),
                                    int(d["ts_ns"])))
        except (ValueError, KeyError, TypeError):
            continue  # a torn last line, or junk: the scan covers for it
    return out


def probe(journal: str | Path, at: CheckpointAt) -> bool:
    """True when a CHECKPOINT record of ``at.group`` with ``at.prev`` is at ``at``'s position."""
    path = segment_path(base_path(journal), at.segment)
    try:
        with open(path, "rb") as f:
            f.seek(at.offset)
            hdr = f.read(REC_HDR.size)
            if len(hdr) < REC_HDR.size:
                return False
            n, inv, crc, rtype, prev = REC_HDR.unpack(hdr)
            if n ^ 0xFFFFFFFF != inv or rtype != T_CHECKPOINT or prev != at.prev:
                return False
            body = f.read(n)
    except OSError:
        return False
    if len(body) != n or zlib.crc32(body, zlib.crc32(bytes((rtype,)) + prev)) != crc:
        return False
    try:
        return peek_group(body)[1] == at.group
    except Exception:  # noqa: BLE001 - a body that does not decode is no checkpoint
        return False


def scan(journal: str | Path, group: str) -> CheckpointAt | None:
    """Read the journal's frames and return the last CHECKPOINT of ``group`` (or None)."""
    tail = JournalTail(journal)
    found: CheckpointAt | None = None
    for frame in tail.poll():
        if frame.rtype != T_CHECKPOINT:
            continue
        ts, g = peek_group(frame.body)
        if g == group:
            found = CheckpointAt(frame.segment, frame.offset, frame.index, b"", g, ts)
    if found is None:
        return None
    path = segment_path(base_path(journal), found.segment)
    with open(path, "rb") as f:
        f.seek(found.offset)
        prev = REC_HDR.unpack(f.read(REC_HDR.size))[4]
    return found._replace(prev=prev)


def locate(journal: str | Path, group: str, *, use_index: bool = True
           ) -> tuple[CheckpointAt | None, str]:
    """Return the latest checkpoint of ``group`` and how it was found (``index``|``scan``);
    ``(None, "")`` when the journal holds none."""
    if use_index:
        for at in reversed(read_index(journal)):
            if at.group == group and probe(journal, at):
                return at, "index"
    try:
        return scan(journal, group), "scan"
    except (CmcError, OSError):
        return None, ""


__all__ = ["CheckpointAt", "locate", "probe", "read_index", "scan"]
