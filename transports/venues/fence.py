"""Fencing (protocol version 2): the highest ``epoch`` seen per account, shared by every gateway.

A ``new`` or ``cancel`` may carry ``epoch``, the sender's fencing token (the revision of the
hot standby's lease; 0 or absent: none). ``EpochFence.check`` remembers the highest epoch seen
per account and refuses anything older: the gateway answers ``reject`` / ``cancel_reject`` with
code ``fenced`` and the request goes no further (never to the exchange). So a primary that lost
its lease cannot trade once its standby, with the newer epoch, has sent anything.

Where the gateway keeps a durable file (the ccxt, CTP and IB order maps), the fence keeps its
own beside it (``EpochFence.beside``): ``{"account": epoch, ...}``, replaced atomically
(temporary file, fsync, rename, fsync of the directory) BEFORE the request with the higher
epoch is acted on, so a restarted gateway still fences the deposed primary. Should that write
fail, the error is logged and the fence goes on in memory (fencing holds until the next
restart); an unreadable file is logged and ignored. The simulator and the paper venue keep the
fence in memory only (their whole state is).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from loguru import logger

#: the reject / cancel_reject code of a fenced request
FENCED = "fenced"


class EpochFence:
    """The highest fencing epoch per account; optionally durable in ``path`` (JSON)."""

    def __init__(self, path: str | Path | None = None) -> None:
        self.path = Path(path) if path is not None else None
        self.highest: dict[str, int] = {}  #: account -> highest epoch seen
        self.fenced = 0  #: requests refused so far
        if self.path is not None:
            self._load(self.path)

    @classmethod
    def beside(cls, durable: str | Path) -> EpochFence:
        """A durable fence whose file sits beside the gateway's file ``durable`` (its order
        map): ``<dir>/<stem>.epochs.json``."""
        p = Path(durable)
        return cls(p.with_name(f"{p.stem}.epochs.json"))

    def _load(self, path: Path) -> None:
        if not path.exists():
            return
        try:
            got = json.loads(path.read_bytes())
            self.highest = {str(k): int(v) for k, v in got.items()}
        except (OSError, ValueError, TypeError, AttributeError) as exc:
            logger.error("epoch fence {}: unreadable ({!r}), starting without it", path, exc)
            self.highest = {}

    def check(self, account: str, epoch: int) -> str:
        """``""`` when a request of ``account`` with ``epoch`` may go on (a higher epoch is
        remembered, durably first where the fence has a file); else the reason to refuse it
        (code ``fenced``), naming both epochs. Epoch 0 (absent) is never fenced."""
        if not epoch:
            return ""
        high = self.highest.get(account, 0)
        if epoch < high:
            self.fenced += 1
            return f"epoch {epoch} is older than {high}, the highest seen for {account!r}"
        if epoch > high:
            if self.path is not None:
                self._persist({**self.highest, account: epoch})
            self.highest[account] = epoch
        return ""

    def _persist(self, epochs: dict[str, int]) -> None:
        path = self.path
        assert path is not None
        tmp = path.with_name(path.name + ".tmp")
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            try:
                os.write(fd, json.dumps(epochs, sort_keys=True).encode())
                os.fsync(fd)
            finally:
                os.close(fd)
            os.replace(tmp, path)
            dfd = os.open(path.parent, os.O_RDONLY)
            try:
                os.fsync(dfd)
            finally:
                os.close(dfd)
        except OSError as exc:
            logger.error("epoch fence {}: not written ({!r}); fencing in memory only", path, exc)


__all__ = ["FENCED", "EpochFence"]
