"""Demo runs (and other ``cmc`` commands) started in the background at the session's start.

The end-to-end modules each need a ``cmc demo`` run of 8-15 s of simulated market, and a demo is
bound by the wall clock, not the CPU (a 12 s demo uses ~4 s of CPU in all its processes). Run one
after another they cost ~2 minutes of the suite; run a few at a time, in the background while
the unit tests run, they are mostly done before their modules are reached.

A module lists what it needs at module level::

    POOLED_DEMOS = [DemoSpec("md-chaos-14", duration_s=14, faults="md-chaos")]

``pytest_collection_modifyitems`` (tests/conftest.py) calls ``start(specs)`` with every spec of
the collected modules; a fixture calls ``result(spec)``, which waits for that run (or starts it
now, when the module was not collected with the others) and returns ``(summary, failure)``
exactly as ``run_demo`` does. Each run is the user's command, ``python -m scripts.cli demo
--json``, in its own process. ``CliSpec`` is any other wall-clock-bound ``cmc`` command (a
drill) pooled the same way; ``completed(spec)`` returns its exit code, stdout and stderr.

Under pytest-xdist every worker collects every module, so each would start every run. Instead
the collected specs are dealt out among the workers (sorted by key, the k-th to worker k mod n):
a worker runs its own share in the background and writes each one's outcome to the run
directory they share (``_shared_base``, beside the runs); a fixture whose run another worker
owns waits for that file. A worker's stop waits for the runs it owns (another worker may still
need them); the controller removes the shared directory at the end (tests/conftest.py).
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.support.helpers import eventually

ROOT = Path(__file__).resolve().parents[2]
#: demos running at once (each ~0.3-0.5 of a CPU: three leave the unit tests a CPU on 2 cores)
MAX_RUNNING = 3
#: how long a fixture waits for its run (a 15 s demo on a loaded 2-CPU machine takes ~40 s)
WAIT_S = 300.0
#: how often a fixture looks for the outcome of a run another xdist worker owns
POLL_S = 0.05


def _shared_base(controller_pid: int | None = None) -> Path | None:
    """The run directory the xdist workers of one session share (named by the controller's pid,
    the workers' parent); None outside xdist (``controller_pid``: the controller asks)."""
    if controller_pid is None:
        if "PYTEST_XDIST_WORKER" not in os.environ:
            return None
        controller_pid = os.getppid()
    return Path(tempfile.gettempdir()) / f"cmc-demos-{controller_pid}"


def _worker() -> tuple[int, int]:
    """(this xdist worker's index, the number of workers); (0, 1) outside xdist."""
    name = os.environ.get("PYTEST_XDIST_WORKER", "")
    if not name:
        return 0, 1
    return int(name.removeprefix("gw")), int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))


@dataclass(frozen=True)
class DemoSpec:
    """One ``cmc demo`` run: ``key`` names it (equal keys must mean equal runs); ``files`` are
    written into the run's output directory first (a fault preset, by name), and a ``faults``
    value naming one of them is passed as that file's path."""

    key: str
    duration_s: float
    seed: int | None = 7  #: None: the config's own seed
    conf: str | None = None
    faults: str | None = None
    files: tuple[tuple[str, str], ...] = field(default_factory=tuple)

    def args(self, out: Path) -> list[str]:
        """``cmc`` arguments of the run (after ``python -m scripts.cli``)."""
        args = ["demo", "--json", "--out", str(out), "--duration", str(self.duration_s)]
        if self.seed is not None:
            args += ["--seed", str(self.seed)]
        if self.conf:
            args += ["--conf", self.conf]
        if self.faults:
            names = dict(self.files)
            args += ["--faults", str(out / self.faults) if self.faults in names else self.faults]
        return args


@dataclass(frozen=True)
class CliSpec:
    """Any ``cmc`` command: ``args`` after ``python -m scripts.cli``, ``{out}`` standing for the
    run's own directory."""

    key: str
    args: tuple[str, ...]
    files: tuple[tuple[str, str], ...] = field(default_factory=tuple)

    def with_out(self, out: Path) -> list[str]:
        return [a.replace("{out}", str(out)) for a in self.args]


Spec = DemoSpec | CliSpec


class _Run:
    def __init__(self, spec: Spec, base: Path) -> None:
        self.spec = spec
        self.out = base / spec.key
        self.done = threading.Event()
        self.proc: subprocess.Popen[bytes] | None = None
        self.completed: tuple[int, bytes, bytes] | None = None
        self.error = ""

    def command(self) -> list[str]:
        s = self.spec
        self.out.mkdir(parents=True, exist_ok=True)
        for name, text in s.files:
            (self.out / name).write_text(text)
        args = s.args(self.out) if isinstance(s, DemoSpec) else s.with_out(self.out)
        return [sys.executable, "-m", "scripts.cli", *args]


def _demo_result(key: str, rc: int, stdout: bytes, stderr: bytes) -> tuple[dict[str, Any], str]:
    err = stderr.decode("utf-8", "replace")
    try:
        summary = json.loads(stdout)
    except ValueError:
        raise AssertionError(f"cmc demo {key}: exit {rc}, no summary:\n{err[-3000:]}") from None
    failure = ""
    if rc != 0:
        lines = [ln for ln in err.splitlines() if "cmc demo: FAILED: " in ln]
        failure = lines[-1].split("cmc demo: FAILED: ", 1)[1] if lines else f"exit {rc}"
    return summary, failure


class _Pool:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.runs: dict[str, _Run] = {}
        #: runs another xdist worker owns (``deal``): their outcome comes as a file
        self.remote: dict[str, Spec] = {}
        self.base: Path | None = None
        index, n = _worker()
        self.index, self.workers = index, n
        # the machine's demo budget shared out among the workers
        self.slots = threading.Semaphore(max(1, round(MAX_RUNNING / n)))

    def _base(self) -> Path:
        if self.base is None:
            shared = _shared_base()
            if shared is not None:
                shared.mkdir(exist_ok=True)
                self.base = shared
            else:
                self.base = Path(tempfile.mkdtemp(prefix="cmc-demos-"))
        return self.base

    def deal(self, specs: list[Spec]) -> None:
        """Start this worker's share of ``specs``; note the others' as remote."""
        unique = {s.key: s for s in specs}
        mine = []
        for k, key in enumerate(sorted(unique)):
            if k % self.workers == self.index:
                mine.append(unique[key])
            else:
                self.remote.setdefault(key, unique[key])
        self.submit(mine)

    def submit(self, specs: list[Spec]) -> None:
        with self.lock:
            for spec in specs:
                old = self.runs.get(spec.key)
                if old is not None:
                    assert old.spec == spec, f"two different demos named {spec.key}"
                    continue
                run = _Run(spec, self._base())
                self.runs[spec.key] = run
                threading.Thread(target=self._run, args=(run,), name=f"demo-{spec.key}",
                                 daemon=True).start()

    def _run(self, run: _Run) -> None:
        env = {**os.environ, "NUMBA_CACHE_DIR": os.environ.get(
            "NUMBA_CACHE_DIR", str(ROOT / ".numba_cache"))}
        with self.slots:
            try:
                run.proc = subprocess.Popen(run.command(), cwd=ROOT, env=env,
                                            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                            stdin=subprocess.DEVNULL)
                out, err = run.proc.communicate(timeout=WAIT_S)
                run.completed = (run.proc.returncode, out, err)
            except Exception as exc:  # noqa: BLE001 - reported to the fixture that waits
                run.error = f"cmc {run.spec.key}: {exc!r}"
                if run.proc is not None:
                    run.proc.kill()
            finally:
                if _shared_base() is not None:
                    self._publish(run)
                run.done.set()

    def _outcome_path(self, key: str) -> Path:
        return self._base() / f"{key}.outcome.json"

    def _publish(self, run: _Run) -> None:
        """Write ``run``'s outcome for the other workers (whole or not at all: a rename)."""
        rc, out, err = run.completed or (-1, b"", b"")
        doc = {"rc": rc, "out": base64.b64encode(out).decode(), "error": run.error,
               "err": base64.b64encode(err).decode()}
        path = self._outcome_path(run.spec.key)
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps(doc))
        os.replace(tmp, path)

    def _remote(self, spec: Spec) -> tuple[int, bytes, bytes]:
        """Wait (up to ``WAIT_S``) for the outcome of a run another worker owns."""
        path = self._outcome_path(spec.key)
        eventually(path.exists, WAIT_S, POLL_S)  # fails naming the wait at the deadline
        doc = json.loads(path.read_text())
        assert not doc["error"], doc["error"]
        return doc["rc"], base64.b64decode(doc["out"]), base64.b64decode(doc["err"])

    def completed(self, spec: Spec) -> tuple[int, bytes, bytes]:
        remote = self.remote.get(spec.key)
        if remote is not None and spec.key not in self.runs:
            assert remote == spec, f"two different demos named {spec.key}"
            return self._remote(spec)
        self.submit([spec])
        run = self.runs[spec.key]
        assert run.done.wait(WAIT_S), f"cmc {spec.key} did not end in {WAIT_S} s"
        assert run.completed is not None, run.error
        return run.completed

    def close(self) -> None:
        if _shared_base() is not None:
            # another worker may still wait for a run this one owns: let each end (the
            # controller removes the shared directory when every worker is done)
            for run in self.runs.values():
                run.done.wait(WAIT_S)
            return
        for run in self.runs.values():
            if run.proc is not None and run.proc.poll() is None:
                run.proc.kill()
        if self.base is not None:
            shutil.rmtree(self.base, ignore_errors=True)


def remove_shared(controller_pid: int) -> None:
    """The controller's end of an xdist session: remove the workers' shared run directory."""
    base = _shared_base(controller_pid)
    if base is not None:
        shutil.rmtree(base, ignore_errors=True)


POOL = _Pool()


def start(specs: list[Spec]) -> None:
    """Start every run of ``specs`` not started yet (at most ``MAX_RUNNING`` at a time); under
    xdist, this worker's share of them (the module docstring)."""
    POOL.deal(specs)


def result(spec: DemoSpec) -> tuple[dict[str, Any], str]:
    """Wait for ``spec``'s run (starting it if needed); return ``(summary, failure)``."""
    return _demo_result(spec.key, *POOL.completed(spec))


def completed(spec: CliSpec) -> tuple[int, str, str]:
    """Wait for ``spec``'s command (starting it if needed); return (exit code, stdout,
    stderr)."""
    rc, out, err = POOL.completed(spec)
    return rc, out.decode("utf-8", "replace"), err.decode("utf-8", "replace")


def run_dir(spec: DemoSpec) -> Path:
    """Wait for ``spec``'s run; assert it was clean; return its run directory."""
    summary, failure = result(spec)
    assert failure == "", failure
    return Path(summary["run_dir"])
