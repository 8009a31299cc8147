"""The `cmc` command as a user runs it: exit codes, JSON on stdout, errors naming the field."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest


def _cmc(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "scripts.cli", *args], capture_output=True,
                          text=True, timeout=timeout, stdin=subprocess.DEVNULL, check=False)


@pytest.mark.e2e
@pytest.mark.timeout(180)
def test_demo_json_is_one_object_and_exit_zero(tmp_path: Path) -> None:
    r = _cmc("demo", "--duration", "6", "--seed", "3", "--json", "--out", str(tmp_path))
    assert r.returncode == 0, r.stderr[-2000:]
    summary = json.loads(r.stdout)
    assert summary["duration_s"] >= 6
    assert summary["venue"]["duplicate_client_ids"] == 0
    assert Path(summary["journal"]).exists()


def test_bad_duration_is_refused_naming_the_option() -> None:
    r = _cmc("demo", "--duration", "-1")
    assert r.returncode != 0
    assert "--duration" in r.stderr


def test_config_error_names_the_field(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("[run]\nepoch = -3\n")
    r = _cmc("demo", "--conf", str(bad), "--duration", "1")
    assert r.returncode == 2
    assert "$.run.epoch" in r.stderr


def test_unknown_key_is_an_error(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("[risk]\nmax_net_exposure_grams = 1.0\n")
    r = _cmc("demo", "--conf", str(bad), "--duration", "1")
    assert r.returncode == 2
    assert "max_net_exposure_grams" in r.stderr
