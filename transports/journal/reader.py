"""Reading journals back: every segment in order, headers, CRCs and the chain checked; repair.

See ``transports.journal.writer`` for the writer and docs/journal-format.md for the format.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NamedTuple

import msgspec
from loguru import logger

from transports.journal.format import (
    SCAN_CHUNK,
    T_BATCH,
    T_SEAL,
    ZERO_HASH,
    BadRecord,
    FileMeta,
    FormatError,
    FrameScanner,
    decode_batch_plain,
    decode_header,
    frame_hash,
)
from transports.journal.writer import JournalCorrupt, base_path, find_segments, segment_path


class Frame(NamedTuple):
    """One record as read back."""

    index: int
    segment: int
    offset: int
    rtype: int
    body: memoryview


_new_frame = tuple.__new__
#: a record as ``JournalReader.chunks`` gives it: ``(offset, rtype, body, hash)``
Record = tuple[int, int, memoryview, bytes]


class JournalReader:
    """Reads every segment in order, checking headers, CRCs and the chain across files.

    Iterating yields ``Frame``\\s; a bad record raises ``JournalCorrupt`` -- except a torn tail
    of the last segment (a journal still being written, or a crash), which ends the iteration
    and is kept in ``torn_tail``.
    """

    def __init__(self, path: str | Path) -> None:
        self.paths = find_segments(path)
        if not self.paths:
            raise FormatError(f"no journal at {path}")
        self.metas: list[FileMeta] = []
        self.torn_tail: tuple[str, BadRecord, int] | None = None
        self.head_hash = ZERO_HASH
        self.records = 0
        self.seals: list[dict[str, Any]] = []
        self.bytes = 0

    def __iter__(self) -> Iterator[Frame]:
        for n, first, chunk in self.chunks():
            for k, (off, rtype, body, _h) in enumerate(chunk):
                # ``Frame(...)`` without its Python-level ``__new__``: one a record, and a
                # replay reads hundreds of thousands of them
                yield _new_frame(Frame, (first + k, n, off, rtype, body))

    def chunks(self, size: int = SCAN_CHUNK) -> Iterator[tuple[int, int, list[Record]]]:
        """Yield the records as ``__iter__`` does, up to ``size`` at a time: ``(segment,
        journal-wide index of the first, [(offset, rtype, body, hash), ...])``, each chunk
        checked whole before it is yielded (the replay's loop, with less work a record)."""
        prev, index = ZERO_HASH, 0
        last = len(self.paths) - 1
        for n, path in enumerate(self.paths):
            data = path.read_bytes()
            self.bytes += len(data)
            try:
                meta, hlen = decode_header(data)
            except FormatError as exc:
                raise FormatError(f"{path}: {exc}") from None
            self.metas.append(meta)
            if meta.segment != n or meta.prev_hash != prev or meta.first_index != index:
                raise JournalCorrupt(
                    path,
                    BadRecord(
                        0,
                        index,
                        f"segment header does not continue the chain (segment "
                        f"{meta.segment}, want {n}; first index {meta.first_index}, want "
                        f"{index}; prev hash {'ok' if meta.prev_hash == prev else 'wrong'})",
                        torn=False,
                    ),
                )
            sc = FrameScanner(data, hlen, frame_hash(data[:hlen]), index)
            while True:
                first = sc.index
                chunk = sc.scan(size)
                for _off, rtype, body, _h in chunk:
                    if rtype == T_SEAL:
                        self.seals.append({"segment": n, **msgspec.msgpack.decode(body)})
                if chunk:
                    yield n, first, chunk
                if len(chunk) < size:
                    break
            prev, index = sc.last_hash, sc.index
            if sc.bad is not None:
                if sc.bad.torn and n == last:
                    self.torn_tail = (str(path), sc.bad, len(data) - sc.end)
                else:
                    raise JournalCorrupt(path, sc.bad)
        self.head_hash, self.records = prev, index

    @property
    def meta(self) -> FileMeta:
        """The first segment's header (read it after iterating, or call ``header()``)."""
        return self.metas[0] if self.metas else self.header()

    def header(self) -> FileMeta:
        """Read and return segment 0's header."""
        with open(self.paths[0], "rb") as f:
            head = f.read(1 << 17)
        return decode_header(head)[0]


class JournalTail:
    """Reads a journal that may still be written, each ``poll`` from where the last one stopped.

    ``poll`` returns the records complete on disk now (every segment in order, CRCs and the
    chain checked as ``JournalReader`` does); an unfinished record or segment header at the end
    is left for the next call. A damaged record raises ``JournalCorrupt``. The writer issues
    one ``write`` per record and keeps no buffer of its own, so what it wrote is readable here
    (page cache) whether or not it was synced.
    """

    def __init__(self, path: str | Path, start: tuple[int, int, int, bytes] | None = None
                 ) -> None:
        self.base = base_path(path)
        if not self.base.exists():
            raise FormatError(f"no journal at {path}")
        self.segment = 0
        self.offset = 0  #: 0: the segment's header is not read yet
        self.prev = ZERO_HASH
        self.index = 0  #: journal-wide index of the next record
        self.bytes = 0
        if start is not None:
            # ``(segment, offset, index, prev)`` of a record (a checkpoint's position): read
            # from there; the record's ``prev`` must match, so a wrong position is caught
            self.segment, self.offset, self.index, self.prev = start

    def poll(self) -> list[Frame]:
        """Return the records written since the last call (possibly none)."""
        out: list[Frame] = []
        while True:
            path = segment_path(self.base, self.segment)
            # a later segment exists only after this one was sealed and synced: read this one
            # to its end after seeing the next, so nothing written before the seal is missed
            last = not segment_path(self.base, self.segment + 1).exists()
            try:
                with open(path, "rb") as f:
                    f.seek(self.offset)
                    data = f.read()
            except FileNotFoundError:
                return out
            start = 0
            if self.offset == 0:
                try:
                    meta, start = decode_header(data)
                except FormatError:
                    if last:
                        return out  # a segment being created: its header is not complete yet
                    raise
                if meta.segment != self.segment or meta.prev_hash != self.prev or (
                        meta.first_index != self.index):
                    raise JournalCorrupt(path, BadRecord(0, self.index, "segment header does "
                                                         "not continue the chain", torn=False))
                self.prev = frame_hash(data[:start])
            sc = FrameScanner(data, start, self.prev, self.index)
            for k, (off, rtype, body, _h) in enumerate(sc.scan(len(data))):
                out.append(Frame(self.index + k, self.segment, self.offset + off, rtype, body))
            self.bytes += sc.end
            self.offset += sc.end
            self.prev, self.index = sc.last_hash, sc.index
            if sc.bad is not None and not (sc.bad.torn and last):
                raise JournalCorrupt(path, sc.bad)
            if last:
                return out
            self.segment += 1
            self.offset = 0


def repair_journal(path: str | Path) -> dict[str, Any]:
    """Truncate the journal at its first bad record; later segments are renamed ``*.lost``.

    Returns what was done: the bad record, the bytes cut and the segments set aside.
    """
    reader = JournalReader(path)
    try:
        for _ in reader:
            pass
    except JournalCorrupt as exc:
        seg = Path(exc.path)
        size = seg.stat().st_size
        later = reader.paths[reader.paths.index(seg) + 1 :]
        if exc.bad.offset == 0:  # the header itself does not continue the chain: set it aside
            later = [seg, *later]
        else:
            os.truncate(seg, exc.bad.offset)
        for p in later:
            p.rename(p.with_name(p.name + ".lost"))
        logger.warning(
            "journal {}: repair: cut {} bytes at offset {} (record {}: {}); set aside "
            "{} later segment(s)",
            seg,
            size - exc.bad.offset,
            exc.bad.offset,
            exc.bad.index,
            exc.bad.reason,
            len(later),
        )
        return {
            "repaired": True,
            "file": str(seg),
            "offset": exc.bad.offset,
            "record": exc.bad.index,
            "reason": exc.bad.reason,
            "bytes_cut": size - exc.bad.offset,
            "segments_set_aside": [str(p) for p in later],
        }
    return {"repaired": False}


def read_journal(path: str | Path) -> Iterator[tuple[int, str, str, Any]]:
    """Yield ``(ts_ns, group, dest, message)`` per journaled message; messages are plain
    lists/maps (internal ones tagged arrays ``[TypeName, field, ...]``, venue frames maps with
    key ``t``). Reads every segment; a torn tail ends the iteration quietly; a damaged or edited
    record raises ``JournalCorrupt``."""
    for frame in JournalReader(path):
        if frame.rtype != T_BATCH:
            continue
        ts, group, items = decode_batch_plain(frame.body)
        for _src, dest, msg in items:
            yield ts, group, dest, msg


__all__ = ["Frame", "JournalReader", "JournalTail", "read_journal", "repair_journal"]
