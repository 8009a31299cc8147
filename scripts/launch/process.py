"""Process-level plumbing shared by the launcher commands: logging, run and socket directories,
the simulator subprocess, and venue-side requests over the ref socket."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import msgspec
import zmq
from loguru import logger

from transports.clock import Clock
from transports.errors import ConfigError, DemoFailed


def configure_logging(run_dir: Path | None, level: str = "INFO", quiet: bool = False) -> None:
    """Configure loguru once: readable lines on stderr, JSON lines to ``run_dir/log.jsonl``."""
    logger.remove()
    logger.add(sys.stderr, level="WARNING" if quiet else level,
               format="<green>{time:HH:mm:ss.SSS}</green> <level>{level: <7}</level> "
                      "{message}", diagnose=False, backtrace=False)
    if run_dir is not None:
        logger.add(run_dir / "log.jsonl", level="DEBUG", serialize=True, enqueue=True,
                   diagnose=False)


def new_run_dir(out_dir: str, clock: Clock) -> Path:
    """Create ``out_dir/<UTC timestamp>-<pid>`` and return it."""
    stamp = datetime.fromtimestamp(clock.now_ns() / 1e9, UTC).strftime("%Y%m%dT%H%M%S")
    path = Path(out_dir) / f"{stamp}-{os.getpid()}"
    path.mkdir(parents=True, exist_ok=True)
    return path.resolve()


def new_sock_dir() -> str:
    """Return a short private directory for ipc sockets (ipc paths are limited to ~100 bytes);
    ``mkdtemp`` creates it 0700: only this user can reach the sockets in it."""
    path = tempfile.mkdtemp(prefix="cmc-")
    os.chmod(path, 0o700)  # mkdtemp's promise, made explicit
    return path


def private_sock_dir(path: str, field: str = "$.launch.sock_dir") -> str:
    """Make ``path`` a socket directory only its owner can open, and return it.

    Created 0700 if missing. An existing one must be a directory owned by this user (a
    ``ConfigError`` naming ``field`` otherwise: another user's directory cannot be made
    private); one that others may open is tightened to 0700, with a warning, because anyone who
    can open it can connect to the node and gateway sockets in it.
    """
    p = Path(path)
    if p.exists() and not p.is_dir():
        raise ConfigError(f"{field}: {path!r} is not a directory")
    try:
        p.mkdir(parents=True, exist_ok=True, mode=0o700)
        st = p.stat()
    except OSError as exc:
        raise ConfigError(f"{field}: cannot create {path!r}: {exc.strerror}") from None
    if not stat.S_ISDIR(st.st_mode):
        raise ConfigError(f"{field}: {path!r} is not a directory")
    if st.st_uid != os.getuid():
        raise ConfigError(f"{field}: {path!r} is owned by uid {st.st_uid}, not by this user; "
                          "its sockets cannot be kept private")
    mode = stat.S_IMODE(st.st_mode)
    if mode & 0o077:
        os.chmod(p, 0o700)
        logger.warning("{}: {} was mode {:04o} (others could open its sockets); now 0700",
                       field, path, mode)
    return path


class GatewayProcess:
    """A venue-side process (a gateway, a fake exchange) run as a user would run it: a ``cmc``
    subprocess that prints ``READY <detail>`` on stdout once it serves, and stops on SIGTERM."""

    def __init__(self, name: str, args: list[str], log_path: Path,
                 env: dict[str, str] | None = None) -> None:
        self.name = name
        cmd = [sys.executable, "-m", "scripts.cli", *args]
        self._log = open(log_path, "wb")  # noqa: SIM115 - closed in stop()
        full_env = None if env is None else {**os.environ, **env}
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=self._log,
                                     stdin=subprocess.DEVNULL, env=full_env)
        self.ready_detail = ""

    def wait_ready(self, timeout_s: float = 30.0) -> str:
        """Block until the process prints READY; return what follows it on that line."""
        assert self.proc.stdout is not None
        import selectors

        sel = selectors.DefaultSelector()
        sel.register(self.proc.stdout, selectors.EVENT_READ)
        if not sel.select(timeout_s):
            raise DemoFailed(f"{self.name} not ready after {timeout_s:.0f}s; see {self._log.name}")
        line = self.proc.stdout.readline().decode(errors="replace").strip()
        if not line.startswith("READY"):
            raise DemoFailed(f"{self.name} failed to start (said {line!r}, "
                             f"exit {self.proc.poll()}); see {self._log.name}")
        self.ready_detail = line[len("READY"):].strip()
        return self.ready_detail

    def stop(self, timeout_s: float = 10.0) -> int:
        """Ask it to stop (SIGTERM), wait, and return its exit code."""
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout_s)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout_s)
        self._log.close()
        return self.proc.returncode


class SimProcess(GatewayProcess):
    """The simulator gateway in its own process."""

    def __init__(self, conf: str | None, sock_dir: str, truth_out: Path, log_path: Path,
                 seed: int | None = None, faults: str | None = None) -> None:
        args = ["gateway", "sim", "--sock", sock_dir, "--truth-out", str(truth_out)]
        if seed is not None:
            args += ["--seed", str(seed)]
        if faults:
            args += ["--faults", faults]
        if conf:
            args += ["--conf", conf]
        super().__init__("simulator", args, log_path)
        self.truth_out = truth_out


def ref_request(ctx: zmq.Context[Any], address: str, req: dict[str, Any],
                timeout_ms: int = 5000) -> dict[str, Any]:
    """Send one request on a gateway's ref socket and return the decoded reply map."""
    sock = ctx.socket(zmq.DEALER)
    sock.setsockopt(zmq.LINGER, 0)
    try:
        sock.connect(address)
        sock.send(msgspec.msgpack.encode(req))
        if not sock.poll(timeout_ms):
            raise DemoFailed(f"no reply to {req.get('t')!r} from {address} in {timeout_ms} ms")
        reply: dict[str, Any] = msgspec.msgpack.decode(sock.recv_multipart()[-1])
        return reply
    finally:
        sock.close(linger=0)
