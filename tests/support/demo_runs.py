"""One demo run shared by the replay, audit and report test modules (no tests here).

``demo_run`` returns the run directory of one ``cmc demo`` run per test session (``DEMO_8``,
run by ``tests.support.demo_pool`` from the session's start when a collected module imports
``demo_run``); modules that change files work on a copy.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.support.demo_pool import DemoSpec, run_dir

#: the session's shared demo: 8 s, seed 7, the built-in config
DEMO_8 = DemoSpec("demo-8", 8.0)


def demo_run(factory: pytest.TempPathFactory) -> Path:
    """Return the run directory of the session's 8 s demo (seed 7); ``factory`` is unused (kept
    for the callers' signature)."""
    return run_dir(DEMO_8)


def copy_run(src: Path, dst: Path) -> Path:
    """Copy a run directory (journal, config, truth) to ``dst`` and return it."""
    shutil.copytree(src, dst)
    return dst
