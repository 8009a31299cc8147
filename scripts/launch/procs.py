"""Child processes of a launch: gateway and node processes, started, watched and stopped.

Children run in their own session (a Ctrl-C on the terminal reaches only the launcher, which then
shuts them down in order) and get SIGTERM if the launcher dies (``PR_SET_PDEATHSIG``), so a killed
launcher never leaves an engine trading unsupervised.
"""

from __future__ import annotations

import collections
import ctypes
import selectors
import signal
import subprocess
import sys
from pathlib import Path

from transports.config.ops import NodePolicy
from transports.errors import CmcError

_PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:  # runs in the child between fork and exec
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
    except OSError:
        pass


class Child:
    """One child process that prints ``READY`` once it serves."""

    def __init__(self, name: str, cmd: list[str], log_path: Path) -> None:
        self.name = name
        self.cmd = cmd
        self.log_path = log_path
        self.proc: subprocess.Popen[bytes] | None = None
        self.restarts = 0
        self.state = "new"
        self._log = None

    @property
    def pid(self) -> int:
        """The current process id (0 before start)."""
        return self.proc.pid if self.proc is not None else 0

    def start(self, extra: list[str] | None = None) -> None:
        """Start the process (``extra`` arguments appended)."""
        self._log = open(self.log_path, "ab")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen([*self.cmd, *(extra or [])], stdout=subprocess.PIPE,
                                     stderr=self._log, stdin=subprocess.DEVNULL,
                                     start_new_session=True, preexec_fn=_die_with_parent)
        self.state = "starting"

    def wait_ready(self, timeout_s: float) -> None:
        """Block until the child prints READY; raise ``CmcError`` naming the log otherwise."""
        assert self.proc is not None and self.proc.stdout is not None
        sel = selectors.DefaultSelector()
        sel.register(self.proc.stdout, selectors.EVENT_READ)
        try:
            if not sel.select(timeout_s):
                raise CmcError(f"{self.name} not ready after {timeout_s:.0f}s; see {self.log_path}")
            line = self.proc.stdout.readline().decode(errors="replace").strip()
        finally:
            sel.close()
        if not line.startswith("READY"):
            raise CmcError(f"{self.name} failed to start (exit {self.proc.poll()}); see "
                           f"{self.log_path}")
        self.state = "running"

    def exited(self) -> int | None:
        """Return the exit code if the process ended, else None."""
        return None if self.proc is None else self.proc.poll()

    def stop(self, timeout_s: float = 10.0) -> int | None:
        """SIGTERM, wait, SIGKILL if needed; return the exit code."""
        code = None
        if self.proc is not None:
            if self.proc.poll() is None:
                self.proc.terminate()
                try:
                    self.proc.wait(timeout_s)
                except subprocess.TimeoutExpired:
                    self.proc.kill()
                    self.proc.wait(timeout_s)
            code = self.proc.returncode
            if self.proc.stdout is not None:
                self.proc.stdout.close()
        if self._log is not None:
            self._log.close()
            self._log = None
        self.state = "stopped"
        return code


def cmc_cmd(*args: str) -> list[str]:
    """The command line of a ``cmc`` subcommand run by this interpreter."""
    return [sys.executable, "-m", "scripts.cli", *args]


class RestartBudget:
    """Restart intensity of one node process: at most ``max_restarts`` within ``period_s``."""

    def __init__(self, policy: NodePolicy) -> None:
        self.policy = policy
        self.times: collections.deque[int] = collections.deque()

    def allow(self, now_ns: int) -> bool:
        """Return True (and count it) if one more restart fits the budget."""
        if not self.policy.restart:
            return False
        while self.times and self.times[0] <= now_ns - int(self.policy.period_s * 1e9):
            self.times.popleft()
        if len(self.times) >= self.policy.max_restarts:
            return False
        self.times.append(now_ns)
        return True


__all__ = ["Child", "RestartBudget", "cmc_cmd"]
