"""Recovering a journal on open: which segment to continue and where its good records end.

A crash can leave two things behind: a segment file created by a rotation that died before its
header (empty: removed, ``last_segment``), and a torn last record (an unfinished write: cut,
``recover_segment``). Any other bad record is damage or an edit: ``JournalCorrupt`` unless the
operator asked for ``repair`` (then everything from that record on is cut, and logged). The
writer (``transports.journal.writer``, which re-exports ``JournalCorrupt``) continues the chain
from what ``recover_segment`` returns.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import NamedTuple

from loguru import logger

from transports.errors import CmcError
from transports.journal.format import (
    BadRecord,
    FileMeta,
    FrameScanner,
    decode_header,
    frame_hash,
    header_version,
)
from transports.journal.segments import find_segments


class JournalCorrupt(CmcError):
    """A record in the journal is damaged or was edited; the message names file, offset, index."""

    def __init__(self, path: Path | str, bad: BadRecord) -> None:
        super().__init__(
            f"{path}: record {bad.index} at offset {bad.offset} is bad: {bad.reason}"
            f" (refusing to continue; `cmc audit verify {path} --repair` truncates the journal"
            " there, losing that record and every later one)"
        )
        self.path = str(path)
        self.bad = bad


class Recovered(NamedTuple):
    """The last segment as it stands after recovery."""

    meta: FileMeta  #: its header
    end: int  #: its size: the offset after its last good record
    records: int  #: good records in it
    last_hash: bytes  #: the hash of its last good frame (the chain continues from it)
    index: int  #: journal-wide index of the next record
    cut_bytes: int  #: bytes cut from its end (a torn tail, or by repair)
    version: int  #: the format version of its header


def last_segment(base: Path) -> Path | None:
    """The segment to continue: the last one with a header, after removing empty files a
    crashed rotation left after it; None for a new journal (no segment, or an empty segment 0)."""
    segs = find_segments(base)
    while segs and segs[-1].stat().st_size == 0 and len(segs) > 1:
        segs[-1].unlink()  # created by a rotation that crashed before its header
        segs.pop()
    if not segs or segs[-1].stat().st_size == 0:
        return None
    return segs[-1]


def recover_segment(path: Path, repair: bool) -> Recovered:
    """Check every record of ``path``; cut a torn tail (logged with its size) or, with
    ``repair``, everything from a bad record on (logged); raise ``JournalCorrupt`` for a bad
    record otherwise."""
    data = path.read_bytes()
    meta, hlen = decode_header(data)
    sc = FrameScanner(data, hlen, frame_hash(data[:hlen]), meta.first_index)
    records = sum(1 for _ in sc)
    cut = 0
    if sc.bad is not None:
        lost = len(data) - sc.end
        if sc.bad.torn:
            logger.warning(
                "journal {}: cut a torn tail of {} bytes at offset {} (record {}: {})",
                path,
                lost,
                sc.end,
                sc.bad.index,
                sc.bad.reason,
            )
        elif repair:
            logger.warning(
                "journal {}: repair: cut {} bytes at offset {} from record {} on "
                "({}); every record from there on is lost",
                path,
                lost,
                sc.end,
                sc.bad.index,
                sc.bad.reason,
            )
        else:
            raise JournalCorrupt(path, sc.bad)
        os.truncate(path, sc.end)
        cut = lost
    return Recovered(meta, sc.end, records, sc.last_hash, sc.index, cut, header_version(data))


__all__ = ["JournalCorrupt", "Recovered", "last_segment", "recover_segment"]
