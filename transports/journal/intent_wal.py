"""The order-intent WAL: each order is durable (fdatasync) before it leaves the process.

One small file per node in the run directory (``intents-<node>.cmcw``), journal format v1 with
kind ``KIND_INTENTS``: one INTENT record per ``NewOrder`` (body ``[ts_ns, account, NewOrder]``),
hash-chained like the journal. The file is preallocated in chunks (``posix_fallocate``) and
written with ``pwrite`` at the end of the data, so an fdatasync flushes the record without
growing the file each time. Trailing zero bytes are unused space, not damage.

An fdatasync failure is final: the WAL marks itself failed and every later append raises
``IntentNotDurable`` at once (a retried fsync can report success after the kernel dropped the
dirty pages), so the caller stops sending orders.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import msgspec
from loguru import logger

from transports.errors import CmcError
from transports.journal.format import (
    KIND_INTENTS,
    T_INTENT,
    ZERO_HASH,
    FileMeta,
    FrameScanner,
    decode_header,
    encode_header,
    encode_record,
    frame_hash,
)
from transports.journal.writer import JournalCorrupt
from transports.wire.codec import encode

CHUNK_BYTES = 4 << 20


class IntentNotDurable(CmcError):
    """An order intent could not be made durable; the order must not be sent."""


class IntentWal:
    """Appends order intents and makes each durable before returning."""

    def __init__(
        self,
        path: str | Path,
        *,
        run_id: str = "",
        node: str = "",
        chunk_bytes: int = CHUNK_BYTES,
        repair: bool = False,
    ) -> None:
        self.path = Path(path)
        self.chunk = chunk_bytes
        self.failed: BaseException | None = None
        self.appends = 0
        self.syncs = 0
        self.dirty = False
        self.durable = True  #: False: intents are written, not synced (run.durable_intents)
        self.fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        size = os.fstat(self.fd).st_size
        if size == 0:
            header = encode_header(
                FileMeta(kind=KIND_INTENTS, run_id=run_id, node=node, prev_hash=ZERO_HASH)
            )
            os.pwrite(self.fd, header, 0)
            self.end, self.prev, self.index = len(header), frame_hash(header), 0
            self.allocated = 0
        else:
            self._recover(repair)
        self._reserve(self.end + 1)
        os.fsync(self.fd)

    def _recover(self, repair: bool) -> None:
        data = os.pread(self.fd, os.fstat(self.fd).st_size, 0)
        _meta, hlen = decode_header(data)
        sc = FrameScanner(data, hlen, frame_hash(data[:hlen]), 0)
        for _ in sc:
            pass
        bad = sc.bad
        if bad is not None and not bad.zeros:
            if not (bad.torn or repair):
                raise JournalCorrupt(self.path, bad)
            logger.warning(
                "intent WAL {}: cut {} bytes at offset {} (record {}: {})",
                self.path,
                len(data) - sc.end,
                sc.end,
                bad.index,
                bad.reason,
            )
            os.pwrite(self.fd, bytes(len(data) - sc.end), sc.end)
        self.end, self.prev, self.index = sc.end, sc.last_hash, sc.index
        self.allocated = len(data)

    def _reserve(self, need: int) -> None:
        if need <= self.allocated:
            return
        new = ((need // self.chunk) + 1) * self.chunk
        try:
            os.posix_fallocate(self.fd, 0, new)
        except OSError:  # a filesystem without fallocate: plain appends still work
            return
        self.allocated = new

    def append(self, ts_ns: int, account: str, order: Any) -> None:
        """Write one intent and fdatasync it; raise ``IntentNotDurable`` if that fails."""
        self.write(ts_ns, account, order)
        self.sync()

    def write(self, ts_ns: int, account: str, order: Any) -> None:
        """Write one intent without syncing it (group commit: ``sync`` before any send)."""
        if self.failed is not None:
            raise IntentNotDurable(f"intent WAL {self.path} failed earlier: {self.failed}")
        frame = encode_record(T_INTENT, self.prev, encode((ts_ns, account, order)))
        try:
            self._reserve(self.end + len(frame))
            os.pwrite(self.fd, frame, self.end)
        except OSError as exc:
            self.failed = exc
            raise IntentNotDurable(f"intent WAL {self.path}: {exc}") from exc
        self.end += len(frame)
        self.prev = frame_hash(frame)
        self.index += 1
        self.appends += 1
        self.dirty = True

    def sync(self) -> None:
        """Make every written intent durable (one fdatasync for all of them)."""
        if self.failed is not None:
            raise IntentNotDurable(f"intent WAL {self.path} failed earlier: {self.failed}")
        if not self.dirty or not self.durable:
            return
        try:
            os.fdatasync(self.fd)
        except OSError as exc:
            self.failed = exc
            raise IntentNotDurable(f"intent WAL {self.path}: {exc}") from exc
        self.dirty = False
        self.syncs += 1

    def close(self) -> None:
        """Close the file (idempotent)."""
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1


def read_intents(path: str | Path) -> Iterator[tuple[int, str, dict[str, Any]]]:
    """Yield ``(ts_ns, account, order map)`` for every intent; raise ``JournalCorrupt`` if a
    record is damaged (a torn last record or the zero-filled unused space ends the file)."""
    data = Path(path).read_bytes()
    meta, hlen = decode_header(data)
    sc = FrameScanner(data, hlen, frame_hash(data[:hlen]), 0)
    for _off, _t, body, _h in sc:
        ts, account, order = msgspec.msgpack.decode(body)
        yield ts, account, order
    if sc.bad is not None and not sc.bad.torn:
        raise JournalCorrupt(path, sc.bad)
    del meta


def cl_epoch(cl: str) -> int:
    """Return the highest epoch a client order id ``epoch.combo.leg.attempt`` carries: its own
    prefix, or the one inside its combo id (``epoch * 1e9 + ...``); 0 if it is not one of ours."""
    parts = cl.split(".")
    if len(parts) != 4 or not (parts[0].isdigit() and parts[1].isdigit()):
        return 0
    return max(int(parts[0]), int(parts[1]) // 1_000_000_000)


def highest_epoch(run_dir: str | Path) -> int:
    """Return the highest epoch used by any order in the run directory's intent WALs (0: none).

    A damaged WAL counts up to its damage (logged): a relaunch must not stop on it here."""
    best = 0
    for path in sorted(Path(run_dir).glob("intents-*.cmcw")):
        try:
            for _ts, _account, order in read_intents(path):
                cl = order.get("cl", "") if isinstance(order, dict) else ""
                best = max(best, cl_epoch(cl if isinstance(cl, str) else ""))
        except (CmcError, OSError, ValueError) as exc:
            logger.warning("intent WAL {}: read up to a problem: {}", path, exc)
    return best


def starting_epoch(configured: int, run_dir: str | Path) -> int:
    """The epoch a launch into ``run_dir`` starts at: the configured one, or above every epoch
    its intent WALs already used, so a relaunch never reuses a client order id."""
    used = highest_epoch(run_dir)
    return max(configured, used + 1) if used else configured


__all__ = ["IntentNotDurable", "IntentWal", "cl_epoch", "highest_epoch", "read_intents",
           "starting_epoch"]
