"""Demo runs started together in the background at the start of the session (no tests here).

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
--json``, in its own process.
"""

from __future__ import annotations

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

ROOT = Path(__file__).resolve().parents[2]
#: demos running at once (each ~0.3-0.5 of a CPU: three leave the unit tests a CPU on 2 cores)
MAX_RUNNING = 3
#: how long a fixture waits for its run (a 15 s demo on a loaded 2-CPU machine takes ~40 s)
WAIT_S = 300.0


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


class _Run:
    def __init__(self, spec: DemoSpec, base: Path) -> None:
        self.spec = spec
        self.out = base / spec.key
        self.done = threading.Event()
        self.proc: subprocess.Popen[bytes] | None = None
        self.result: tuple[dict[str, Any], str] | None = None
        self.error = ""

    def command(self) -> list[str]:
        s = self.spec
        self.out.mkdir(parents=True, exist_ok=True)
        names = {}
        for name, text in s.files:
            (self.out / name).write_text(text)
            names[name] = str(self.out / name)
        cmd = [sys.executable, "-m", "scripts.cli", "demo", "--json", "--out", str(self.out),
               "--duration", str(s.duration_s)]
        if s.seed is not None:
            cmd += ["--seed", str(s.seed)]
        if s.conf:
            cmd += ["--conf", s.conf]
        if s.faults:
            cmd += ["--faults", names.get(s.faults, s.faults)]
        return cmd

    def finish(self, rc: int, stdout: bytes, stderr: bytes) -> None:
        err = stderr.decode("utf-8", "replace")
        try:
            summary = json.loads(stdout)
        except ValueError:
            self.error = f"cmc demo {self.spec.key}: exit {rc}, no summary:\n{err[-3000:]}"
            return
        failure = ""
        if rc != 0:
            lines = [ln for ln in err.splitlines() if "cmc demo: FAILED: " in ln]
            failure = lines[-1].split("cmc demo: FAILED: ", 1)[1] if lines else f"exit {rc}"
        self.result = (summary, failure)


class _Pool:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.runs: dict[str, _Run] = {}
        self.queue: list[_Run] = []
        self.base: Path | None = None
        self.slots = threading.Semaphore(MAX_RUNNING)

    def _base(self) -> Path:
        if self.base is None:
            self.base = Path(tempfile.mkdtemp(prefix="cmc-demos-"))
        return self.base

    def submit(self, specs: list[DemoSpec]) -> None:
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
                run.finish(run.proc.returncode, out, err)
            except Exception as exc:  # noqa: BLE001 - reported to the fixture that waits
                run.error = f"cmc demo {run.spec.key}: {exc!r}"
                if run.proc is not None:
                    run.proc.kill()
            finally:
                run.done.set()

    def result(self, spec: DemoSpec) -> tuple[dict[str, Any], str]:
        self.submit([spec])
        run = self.runs[spec.key]
        assert run.done.wait(WAIT_S), f"cmc demo {spec.key} did not end in {WAIT_S} s"
        assert run.result is not None, run.error
        return run.result

    def close(self) -> None:
        for run in self.runs.values():
            if run.proc is not None and run.proc.poll() is None:
                run.proc.kill()
        if self.base is not None:
            shutil.rmtree(self.base, ignore_errors=True)


POOL = _Pool()


def start(specs: list[DemoSpec]) -> None:
    """Start every run of ``specs`` not started yet (at most ``MAX_RUNNING`` at a time)."""
    POOL.submit(specs)


def result(spec: DemoSpec) -> tuple[dict[str, Any], str]:
    """Wait for ``spec``'s run (starting it if needed); return ``(summary, failure)``."""
    return POOL.result(spec)


def run_dir(spec: DemoSpec) -> Path:
    """Wait for ``spec``'s run; assert it was clean; return its run directory."""
    summary, failure = result(spec)
    assert failure == "", failure
    return Path(summary["run_dir"])
