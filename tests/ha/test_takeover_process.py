"""Take-over from a primary that is a real process: SIGKILL, and SIGSTOP past the TTL then SIGCONT
(the frozen primary wakes deposed and becomes a standby). Every wait is bounded."""

from __future__ import annotations

import os
import queue
import signal
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from transports.config.ha import HaConfig
from transports.ha.server import NatsServer
from transports.ha.service import LeaseService


class Proc:
    """The contender process; its stdout lines arrive on a queue (read by a thread)."""

    def __init__(self, url: str, holder: str, role: str) -> None:
        self.p = subprocess.Popen(
            [sys.executable, "-m", "tests.ha.holder_proc", url, holder, role],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
            cwd=os.path.dirname(os.path.dirname(os.path.dirname(__file__))))
        self.lines: queue.Queue[str] = queue.Queue()
        self._t = threading.Thread(target=self._read, daemon=True)
        self._t.start()

    def _read(self) -> None:
        assert self.p.stdout is not None
        for line in self.p.stdout:
            self.lines.put(line.strip())

    def expect(self, prefix: str, timeout_s: float = 15.0) -> str:
        """The next line starting with ``prefix`` (others are skipped), within the timeout."""
        while True:
            line = self.lines.get(timeout=timeout_s)
            if line.startswith(prefix):
                return line

    def close(self) -> None:
        if self.p.poll() is None:
            os.kill(self.p.pid, signal.SIGCONT)
            assert self.p.stdin is not None
            self.p.stdin.close()
            try:
                self.p.wait(10)
            except subprocess.TimeoutExpired:
                self.p.kill()
                self.p.wait(10)
        elif self.p.stdin is not None:
            self.p.stdin.close()
        self._t.join(5)
        if self.p.stdout is not None:
            self.p.stdout.close()


@contextmanager
def primary_process(srv: NatsServer) -> Iterator[tuple[Proc, int]]:
    proc = Proc(srv.url, "proc-a", "primary")
    try:
        proc.expect("ready")
        epoch = int(proc.expect("acquired").split()[1])
        yield proc, epoch
    finally:
        proc.close()


def test_sigkilled_primary_is_replaced(nats_server: NatsServer,
                                       make_cfg: Callable[..., HaConfig]) -> None:
    with primary_process(nats_server) as (proc, epoch_a):
        b = LeaseService(make_cfg(role="standby"), holder="b").start()
        try:
            os.kill(proc.p.pid, signal.SIGKILL)
            assert b.wait_holding(15)
            assert b.epoch > epoch_a
        finally:
            b.stop()


def test_frozen_primary_wakes_deposed_and_stands_by(nats_server: NatsServer,
                                                    make_cfg: Callable[..., HaConfig]) -> None:
    with primary_process(nats_server) as (proc, epoch_a):
        b = LeaseService(make_cfg(role="standby"), holder="b").start()
        try:
            os.kill(proc.p.pid, signal.SIGSTOP)
            assert b.wait_holding(15)
            epoch_b = b.epoch
            assert epoch_b > epoch_a
            os.kill(proc.p.pid, signal.SIGCONT)
            assert proc.expect("deposed") == "deposed expired"  # its own deadline, at once
            assert b.holding  # the woken primary did not take the live lease back
            b.stop(release=True)  # hand over: the old primary, now a standby, takes it
            assert int(proc.expect("acquired").split()[1]) > epoch_b
        finally:
            b.stop()
