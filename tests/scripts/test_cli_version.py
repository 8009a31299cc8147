"""``cmc --version`` prints the installed package's version and exits 0."""

from __future__ import annotations

import subprocess
import sys
from importlib.metadata import version
from pathlib import Path


def test_version_prints_the_package_version_and_exits_0() -> None:
    want = f"cmc {version('cross-market-connect')}"
    res = subprocess.run([sys.executable, "-m", "scripts.cli", "--version"], capture_output=True,
                         text=True, timeout=60, stdin=subprocess.DEVNULL, check=False)
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip() == want


def test_the_installed_entry_point_says_the_same() -> None:
    cmc = Path(sys.executable).with_name("cmc")
    assert cmc.is_file(), "the package's console script is installed beside the interpreter"
    res = subprocess.run([str(cmc), "--version"], capture_output=True, text=True, timeout=60,
                         stdin=subprocess.DEVNULL, check=False)
    assert (res.returncode, res.stdout.strip()) == (0, f"cmc {version('cross-market-connect')}")
