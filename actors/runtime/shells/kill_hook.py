"""A test and drill hook: SIGKILL the engine's process at an exact point of an executor
shell's group commit (``actors.runtime.shells.venue_shell.LegShell.flush_sends``), to prove a
restart forgets nothing (``cmc drill crash``, the launch tests). Never set in production."""

from __future__ import annotations

import os
import signal
from collections.abc import Iterable

from loguru import logger

from transports.wire.venue_msgs import NewOrder

#: ``CMC_TEST_KILL_AT`` values (see ``KillHook``)
AFTER_FSYNC = "after_fsync"
AFTER_FIRST_SEND = "after_first_send"


class KillHook:
    """A test and drill hook: SIGKILL this process at an exact point of ``flush_sends``.

    Read once from the environment when a ``LegShell`` is built: ``CMC_TEST_KILL_AT`` is
    ``after_fsync`` (the cycle's intents are durable, no order frame has left) or
    ``after_first_send`` (the cycle's first order frame has left, the others have not);
    ``CMC_TEST_KILL_SKIP=N`` lets the first N first-leg orders (``epoch.combo.0.0``) pass and
    fires at the next; ``CMC_TEST_KILL_WHEN=holding`` counts only orders for a contract the
    executor holds (a close); ``CMC_TEST_KILL_ONCE=PATH`` fires only if PATH does not exist and
    creates it first, so a node the launcher restarts (same environment) runs on. Never set
    in production: it exists to prove a restart forgets nothing."""

    def __init__(self, point: str, skip: int, once: str, holding: bool = False) -> None:
        if point not in (AFTER_FSYNC, AFTER_FIRST_SEND):
            raise ValueError(f"CMC_TEST_KILL_AT: unknown point {point!r}")
        self.point = point
        self.holding = holding
        self.skip = skip
        self.once = once

    @classmethod
    def from_env(cls) -> KillHook | None:
        """The hook the environment asks for, or None."""
        point = os.environ.get("CMC_TEST_KILL_AT", "")
        if not point:
            return None
        return cls(point, int(os.environ.get("CMC_TEST_KILL_SKIP", "0")),
                   os.environ.get("CMC_TEST_KILL_ONCE", ""),
                   os.environ.get("CMC_TEST_KILL_WHEN", "") == "holding")

    def due(self, orders: Iterable[NewOrder], positions: dict[str, int]) -> bool:
        """True if this cycle's orders reach the point (a first leg's first attempt; with
        ``holding``, for a contract held in ``positions``)."""
        for m in orders:
            parts = m.cl.split(".")
            if self.holding and not positions.get(m.sym):
                continue
            if len(parts) == 4 and parts[2] == "0" and parts[3] == "0":
                if self.skip > 0:
                    self.skip -= 1
                    continue
                return not (self.once and os.path.exists(self.once))
        return False

    def fire(self) -> None:
        """SIGKILL this process (after creating the once-only file)."""
        if self.once:
            try:
                os.close(os.open(self.once, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
            except FileExistsError:
                return
        logger.critical("CMC_TEST_KILL_AT={}: killing process {}", self.point, os.getpid())
        os.kill(os.getpid(), signal.SIGKILL)


__all__ = ["AFTER_FIRST_SEND", "AFTER_FSYNC", "KillHook"]
