"""The gateways' durable order maps on disk: an append-only file of JSON lines, each one on disk
(``fdatasync``) before ``append`` returns, read back whole at start.

The ccxt, CTP and IB gateways write an order's ids here *before* the order reaches the exchange,
so a restarted gateway still answers ``query`` and ``cancel`` for it and maps its fills. A crash
in the middle of a write leaves a torn last line. That record was never acknowledged (its
order was never sent), so it is cut off when the file is opened: the three gateways used to
skip it and append after it, which glued the next record onto the torn line, and the next
start lost that record as unreadable too -- an order the exchange had, that the gateway no
longer knew. A write that fails part-way (a full disk) is cut back the same way at once.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from loguru import logger


class DurableLines:
    """One append-only JSONL file (``records`` reads it, ``append`` adds to it)."""

    def __init__(self, path: str | Path, what: str = "durable lines") -> None:
        self.path = Path(path)
        self.what = what  #: how the log lines name the file
        self.bad_lines = 0  #: lines that did not read as a JSON object (logged, skipped)
        self.cut_bytes = 0  #: the torn last line cut at open (0: none)
        self._fd: int | None = None
        self._data = self._open_data()

    def _open_data(self) -> bytes:
        if not self.path.exists():
            return b""
        data = self.path.read_bytes()
        if data and not data.endswith(b"\n"):
            keep = data.rfind(b"\n") + 1
            self.cut_bytes = len(data) - keep
            fd = os.open(self.path, os.O_WRONLY)
            try:
                os.ftruncate(fd, keep)
                os.fsync(fd)
            finally:
                os.close(fd)
            logger.warning("{} {}: cut a torn last line ({} bytes; a crash mid-write: that "
                           "record was never acknowledged)", self.what, self.path,
                           self.cut_bytes)
            data = data[:keep]
        return data

    def records(self) -> Iterator[dict[str, Any]]:
        """Every record read at open, in order (an unreadable line is logged and skipped)."""
        data, self._data = self._data, b""
        for n, line in enumerate(data.splitlines(), 1):
            try:
                rec = json.loads(line)
            except ValueError:
                rec = None
            if not isinstance(rec, dict):
                self.bad_lines += 1
                logger.warning("{} {}: line {} unreadable, skipped", self.what, self.path, n)
                continue
            yield rec

    def append(self, rec: dict[str, Any], sync: bool = True) -> None:
        """Append ``rec`` as one line; with ``sync``, on disk before this returns. Raises
        ``OSError`` if it could not be written (the file is cut back to before it)."""
        if self._fd is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC,
                               0o600)
        fd = self._fd
        line = memoryview((json.dumps(rec, separators=(",", ":")) + "\n").encode())
        start = os.fstat(fd).st_size
        try:
            while line:
                line = line[os.write(fd, line):]
            if sync:
                os.fdatasync(fd)
        except OSError:
            try:
                os.ftruncate(fd, start)  # no torn line for the next append to glue onto
            except OSError as exc:
                logger.error("{} {}: could not cut a failed write back: {!r}", self.what,
                             self.path, exc)
            raise

    def close(self) -> None:
        """Close the file (what was appended with ``sync`` is already on disk; idempotent)."""
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


__all__ = ["DurableLines"]
