"""One demo run shared by the replay, audit and report test modules (no tests here).

``demo_run`` runs ``cmc demo`` (the simulator in its own process) once per test session, on the
first call, and returns its run directory; modules that change files work on a copy.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

_RUN: dict[str, Path] = {}


def demo_run(factory: pytest.TempPathFactory) -> Path:
    """Return the run directory of the session's 8 s demo (seed 7)."""
    if "dir" not in _RUN:
        from scripts.demo.demo import run_demo

        out = factory.mktemp("demo")
        summary, failure = run_demo(None, 8, 7, str(out), quiet=True)
        assert failure == "", failure
        _RUN["dir"] = Path(summary["run_dir"])
    return _RUN["dir"]


def copy_run(src: Path, dst: Path) -> Path:
    """Copy a run directory (journal, config, truth) to ``dst`` and return it."""
    shutil.copytree(src, dst)
    return dst
