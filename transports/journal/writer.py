"""Journal files: the group-committed writer (rotation; recovery on open: ``recovery``).

Segments: the journal's base path (``run_dir/journal.cmcj``) is segment 0; rotation opens
``journal-1.cmcj``, ``journal-2.cmcj``, ... in the same directory (their names, the trading day
and finding them: ``transports.journal.segments``, re-exported here). Readers
(``transports.journal.reader``) take the base path, any segment path, or the run directory, and
read every segment in order, checking the chain across them. Format:
``transports.journal.format`` and docs/journal-format.md.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any, BinaryIO

import msgspec
from loguru import logger

from transports.errors import CmcError
from transports.journal.format import (
    KIND_JOURNAL,
    T_BATCH,
    T_CHECKPOINT,
    T_SEAL,
    VERSION,
    ZERO_HASH,
    FileMeta,
    config_hash,
    encode_batch,
    encode_checkpoint,
    encode_header,
    encode_record,
    frame_hash,
    seal_body,
)
from transports.journal.recovery import JournalCorrupt, last_segment, recover_segment
from transports.journal.segments import (
    CORES_FILE,
    base_path,
    checkpoint_index_path,
    find_segments,
    fsync_dir,
    segment_path,
    trading_day,
)


class JournalOptions(msgspec.Struct, frozen=True, kw_only=True):
    """Rotation and group-commit knobs (defaults are what a node uses)."""

    rotate_bytes: int = 256 << 20  #: start a new segment once this one would exceed it
    rotate_daily: bool = True  #: start a new segment when the trading day changes
    day_roll_utc_s: int = 0  #: a trading day starts this many seconds after UTC midnight
    fsync_ms: int = 50  #: fdatasync at most this long after the oldest unsynced record...
    fsync_records: int = 512  #: ...or once this many records are unsynced


class JournalSyncError(CmcError):
    """fdatasync or a write failed: the data may not be on disk; the writer refuses further
    records."""


class JournalWriter:
    """Appends records to a journal: one write per record, fdatasync per group commit.

    ``JournalWriter.open(path)`` recovers an existing journal first: a torn tail of the last
    segment is cut (and logged with its size); a damaged or edited record raises
    ``JournalCorrupt`` unless ``repair`` (then the segment is cut there, and what was lost is
    logged). ``JournalWriter.on_stream(f)`` writes one unrotated segment to any binary stream.
    """

    def __init__(
        self,
        base: Path | None,
        stream: BinaryIO | None,
        run_id: str,
        cfg_hash: str,
        node: str,
        options: JournalOptions,
    ) -> None:
        self.base = base
        self.stream = stream
        self.run_id = run_id
        self.config_hash = cfg_hash
        self.node = node
        self.opts = options
        self.fd = -1
        self.segment = 0
        self.seg_size = 0
        self.seg_records = 0
        self.seg_day = ""
        self.prev = ZERO_HASH
        self.index = 0  #: journal-wide index of the next record
        self.items = 0
        self.bytes = 0
        self.unsynced = 0
        self.last_sync_ns = 0
        self.first_unsynced_ns = 0
        self.syncs = 0
        self.cut_bytes = 0  #: bytes cut from a torn tail (or by repair) when opening
        self.failed: BaseException | None = None
        self.checkpoints = 0  #: CHECKPOINT records written
        self._ckpt_at: tuple[int, int, int, bytes] = (0, 0, 0, ZERO_HASH)
        #: called with ``(ts_ns, group, items)`` after each BATCH record is written (the
        #: alerts' tap, ``transports.alerts.sender``); it runs in the writer's thread, so it
        #: must only enqueue, and never raise
        self.on_batch: Callable[[int, str, list[tuple[str, str, Any]]], None] | None = None

    # --- construction ----------------------------------------------------------------------------

    @classmethod
    def open(
        cls,
        path: str | Path,
        *,
        run_id: str | None = None,
        cfg_hash: str | None = None,
        node: str = "",
        options: JournalOptions | None = None,
        repair: bool = False,
    ) -> JournalWriter:
        """Open (recovering) or create the journal whose segment 0 is ``path``."""
        base = base_path(path)
        if run_id is None:
            run_id = base.parent.name
        if cfg_hash is None:
            cj = base.parent / "config.json"
            cfg_hash = config_hash(cj.read_bytes()) if cj.exists() else ""
        w = cls(base, None, run_id, cfg_hash, node, options or JournalOptions())
        last = last_segment(base)
        if last is None:
            w._create(0, ZERO_HASH, 0, "")
        else:
            w._recover(last, repair)
        return w

    @classmethod
    def on_stream(
        cls, stream: BinaryIO, *, run_id: str = "", cfg_hash: str = "", node: str = ""
    ) -> JournalWriter:
        """Write a single segment (no rotation, no fsync) to ``stream`` (a BytesIO, a pipe)."""
        w = cls(
            None,
            stream,
            run_id,
            cfg_hash,
            node,
            JournalOptions(rotate_bytes=1 << 62, rotate_daily=False),
        )
        header = encode_header(w._meta(0, ZERO_HASH, 0, ""))
        stream.write(header)
        w.prev = frame_hash(header)
        w.seg_size = len(header)
        return w

    def _meta(self, segment: int, prev: bytes, first_index: int, day: str) -> FileMeta:
        return FileMeta(
            kind=KIND_JOURNAL,
            run_id=self.run_id,
            config_hash=self.config_hash,
            segment=segment,
            prev_hash=prev,
            first_index=first_index,
            day=day,
            node=self.node,
        )

    def _create(self, segment: int, prev: bytes, first_index: int, day: str) -> None:
        assert self.base is not None
        path = segment_path(self.base, segment)
        header = encode_header(self._meta(segment, prev, first_index, day))
        fd = os.open(
            path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_APPEND | os.O_CLOEXEC, 0o644
        )
        self._write_all(fd, header)
        os.fdatasync(fd)
        fsync_dir(path.parent)
        self.fd, self.segment, self.seg_size = fd, segment, len(header)
        self.seg_records, self.seg_day = 0, day
        self.prev, self.index = frame_hash(header), first_index

    def _recover(self, path: Path, repair: bool) -> None:
        got = recover_segment(path, repair)
        self.cut_bytes = got.cut_bytes
        self.fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CLOEXEC)
        self.segment, self.seg_size, self.seg_records = got.meta.segment, got.end, got.records
        self.seg_day, self.prev, self.index = got.meta.day, got.last_hash, got.index
        if self.config_hash and got.meta.config_hash and got.meta.config_hash != self.config_hash:
            self._rotate("config", 0)
        elif got.version < VERSION:
            # a segment of an older format: new record types go into a new segment, so code
            # that reads only the older format still reads every segment it can
            self._rotate("version", 0)

    # --- writing ---------------------------------------------------------------------------------

    @staticmethod
    def _write_all(fd: int, data: bytes) -> None:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]

    def _write_failed(self, exc: OSError) -> None:
        """A record's write failed part-way (a full disk: ENOSPC; EIO): cut the segment back to
        the last whole record and refuse every later record. Writing on after the partial frame
        would leave a damaged record *inside* the journal, which no reader passes and which
        ``open`` refuses without ``repair``; cut back, the journal stays readable to its last
        whole record."""
        self.failed = exc
        if self.stream is None and self.fd >= 0:
            try:
                os.ftruncate(self.fd, self.seg_size)
            except OSError as cut:
                logger.error("journal: could not cut a partial record back ({}): the next open "
                             "cuts it as a torn tail", cut)
        raise JournalSyncError(f"journal write failed: {exc}") from exc

    def _emit(self, frame: bytes) -> None:
        if self.stream is not None:
            self.stream.write(frame)
        else:
            self._write_all(self.fd, frame)

    def append_batch(self, ts_ns: int, group: str, items: list[tuple[str, str, Any]]) -> bytes:
        """Append one BATCH record (one host dispatch cycle); return its body (a hot standby
        replicates exactly these bytes)."""
        body = encode_batch(ts_ns, group, items)
        self.append(T_BATCH, body, ts_ns)
        self.items += len(items)
        if self.on_batch is not None:
            self.on_batch(ts_ns, group, items)
        return body

    def append_checkpoint(self, ts_ns: int, group: str, meta: dict[str, Any],
                          blob: bytes) -> dict[str, Any]:
        """Append one CHECKPOINT record (a group's cores at a dispatch-cycle boundary) and note
        its position in the checkpoint index; return the position."""
        self.append(T_CHECKPOINT, encode_checkpoint(ts_ns, group, meta, blob), ts_ns)
        self.checkpoints += 1
        seg, off, index, prev = self._ckpt_at
        pos = {"group": group, "segment": seg, "offset": off, "index": index,
               "prev": prev.hex(), "ts_ns": ts_ns}
        if self.base is not None:
            line = (json.dumps(pos, sort_keys=True) + "\n").encode()
            try:
                with open(checkpoint_index_path(self.base), "a+b") as f:
                    end = f.seek(0, os.SEEK_END)
                    if end:
                        f.seek(end - 1)
                        if f.read(1) != b"\n":
                            # a line a crash tore: end it, or this entry glued onto it is
                            # unreadable too and a restart starts from an older checkpoint
                            line = b"\n" + line
                    f.write(line)
            except OSError as exc:  # only a hint: readers scan the journal without it
                logger.warning("journal: could not note a checkpoint in its index: {}", exc)
        return pos

    def append(self, rtype: int, body: bytes, ts_ns: int) -> None:
        """Append one record (rotating first when the size or the trading day says so)."""
        if self.failed is not None:
            raise JournalSyncError(
                f"journal refuses records after a failed fdatasync: {self.failed}"
            )
        if self.stream is None and self.seg_records:
            if self.seg_size + len(body) > self.opts.rotate_bytes:
                self._rotate("size", ts_ns)
            elif (
                self.opts.rotate_daily
                and ts_ns
                and self.seg_day
                and trading_day(ts_ns, self.opts.day_roll_utc_s) != self.seg_day
            ):
                self._rotate("day", ts_ns)
        if not self.seg_day and ts_ns:
            self.seg_day = trading_day(ts_ns, self.opts.day_roll_utc_s)
        if not self.unsynced:
            self.first_unsynced_ns = ts_ns
        if rtype == T_CHECKPOINT:
            self._ckpt_at = (self.segment, self.seg_size, self.index, self.prev)
        self._frame(rtype, body)

    def _frame(self, rtype: int, body: bytes) -> None:
        frame = encode_record(rtype, self.prev, body)
        try:
            self._emit(frame)
        except OSError as exc:
            self._write_failed(exc)
        self.prev = frame_hash(frame)
        self.index += 1
        self.seg_records += 1
        self.seg_size += len(frame)
        self.bytes += len(frame)
        self.unsynced += 1

    def due(self, now_ns: int) -> bool:
        """True when the group commit should fdatasync now."""
        return bool(self.unsynced) and (
            self.unsynced >= self.opts.fsync_records
            or now_ns - self.first_unsynced_ns >= self.opts.fsync_ms * 1_000_000
        )

    def sync(self, now_ns: int) -> None:
        """fdatasync what was written; a failure is final (``JournalSyncError``, no retry)."""
        if self.stream is not None:
            self.stream.flush()
            self.unsynced = 0
            return
        if not self.unsynced or self.fd < 0:
            return
        try:
            os.fdatasync(self.fd)
        except OSError as exc:
            # a retried fsync can "succeed" after the kernel dropped the dirty pages (fsyncgate)
            self.failed = exc
            raise JournalSyncError(f"journal fdatasync failed: {exc}") from exc
        self.unsynced = 0
        self.last_sync_ns = now_ns
        self.syncs += 1

    def _rotate(self, reason: str, ts_ns: int) -> None:
        assert self.base is not None
        self._frame(T_SEAL, seal_body(reason, self.seg_records, ts_ns))
        self.sync(ts_ns)
        os.close(self.fd)
        day = trading_day(ts_ns, self.opts.day_roll_utc_s) if ts_ns else ""
        logger.info(
            "journal: segment {} sealed ({}); opening segment {}",
            self.segment,
            reason,
            self.segment + 1,
        )
        self._create(self.segment + 1, self.prev, self.index, day)

    def rotate(self, reason: str = "admin", ts_ns: int = 0) -> Path:
        """Seal this segment and open the next one now (an operator's ``rotate-journal``).

        Returns the new segment's path; the chain continues across the two files."""
        if self.base is None or self.fd < 0:
            raise CmcError("this journal cannot rotate: it is written to a stream or closed")
        if self.failed is not None:
            raise JournalSyncError(f"journal refuses to rotate after a failed fdatasync: "
                                   f"{self.failed}")
        self._rotate(reason, ts_ns)
        return segment_path(self.base, self.segment)

    def close(self, ts_ns: int = 0) -> None:
        """Seal the segment (a clean end), sync and close. Idempotent."""
        if self.fd < 0 and self.stream is None:
            return
        if self.failed is None:
            self._frame(T_SEAL, seal_body("close", self.seg_records, ts_ns))
            self.sync(ts_ns)
        if self.stream is not None:
            self.stream = None
            self.fd = -1
            return
        os.close(self.fd)
        self.fd = -1

    def stats(self) -> dict[str, Any]:
        """Return counters for snapshots."""
        return {
            "records": self.index,
            "items": self.items,
            "bytes": self.bytes,
            "segment": self.segment,
            "syncs": self.syncs,
            "unsynced": self.unsynced,
            "cut_bytes": self.cut_bytes,
            "checkpoints": self.checkpoints,
            "failed": repr(self.failed) if self.failed else "",
        }


__all__ = [
    "CORES_FILE",
    "JournalCorrupt",
    "JournalOptions",
    "JournalSyncError",
    "JournalWriter",
    "base_path",
    "checkpoint_index_path",
    "find_segments",
    "segment_path",
    "trading_day",
]
