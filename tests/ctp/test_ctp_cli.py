"""``cmc gateway ctp`` as a process: --help, the missing-locale exit (never a C++ abort), config
errors, and the real CTP API started against a front that does not answer."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.ctp.ctp_world import CONF
from transports.config.engine import load_config_bytes
from transports.errors import ConfigError
from transports.venues.ctp.gateway import credentials

ROOT = Path(__file__).resolve().parents[2]


def cmc(*args: str, env: dict[str, str] | None = None, timeout: float = 60) -> (
        subprocess.CompletedProcess[str]):
    return subprocess.run([sys.executable, "-m", "scripts.cli", "gateway", "ctp", *args],
                          cwd=ROOT, env={**os.environ, **(env or {})}, capture_output=True,
                          text=True, timeout=timeout, check=False)


def write_conf(tmp: Path, extra: str = "") -> Path:
    p = tmp / "ctp.toml"
    p.write_text(CONF.replace("STATE", str(tmp / "state")).replace(
        "query_interval_ms = 50", f"query_interval_ms = 50\n{extra}"))
    return p


def test_help() -> None:
    r = cmc("--help")
    assert r.returncode == 0 and "--conf" in r.stdout and "zh_CN.GB18030" in r.stdout


def test_missing_locale_is_a_clean_exit_2(tmp_path: Path) -> None:
    empty = tmp_path / "no-locales"
    empty.mkdir()
    env = {"LOCPATH": str(empty), "LC_ALL": "C"}
    # the fact this guards against: the vendor import aborts without the locale
    raw = subprocess.run([sys.executable, "-c", "import openctp_ctp.thosttraderapi"],
                         env={**os.environ, **env}, capture_output=True, text=True, timeout=60,
                         check=False)
    assert raw.returncode != 0 and "locale" in raw.stderr
    r = cmc("--conf", str(write_conf(tmp_path)), env=env)
    assert r.returncode == 2, (r.returncode, r.stderr)
    assert "localedef -i zh_CN -f GB18030 zh_CN.GB18030" in r.stderr
    assert "terminate called" not in r.stderr


def test_config_errors_exit_2(tmp_path: Path) -> None:
    r = cmc("--conf", str(tmp_path / "missing.toml"))
    assert r.returncode == 2 and "not found" in r.stderr
    r = cmc("--conf", str(write_conf(tmp_path)), "--venue", "nope")
    assert r.returncode == 2 and "'nope'" in r.stderr


def test_one_gateway_per_venue() -> None:
    both = CONF.replace("[venues.ctp]", '[venues.paper]\nmd_from = "shfe"\n[venues.ctp]')
    with pytest.raises(ConfigError, match="one gateway"):
        load_config_bytes(both.replace("STATE", "/tmp/x").encode())
    cfg = load_config_bytes(CONF.replace("STATE", "/tmp/x").encode())
    assert cfg.venues[0].gateway == "ctp"


def test_credentials_from_env_and_never_in_messages() -> None:
    cfg = load_config_bytes(CONF.replace("STATE", "/tmp/x").encode())
    cc = cfg.venues[0].ctp
    c = credentials(cc, {"CTP_PASSWORD": "pw-1", "CTP_AUTH_CODE": "ac-1"})
    assert (c["broker"], c["user"], c["password"], c["auth"]) == ("9999", "u1", "pw-1", "ac-1")
    with pytest.raises(ConfigError, match="CTP_PASSWORD is not set"):
        credentials(cc, {})


def test_real_api_against_a_silent_front_exits_1(tmp_path: Path) -> None:
    conf = write_conf(tmp_path, f'login_timeout_s = 2.0\nflow_dir = "{tmp_path / "flow"}"')
    r = cmc("--conf", str(conf), "--sock", str(tmp_path / "sock"),
            env={"CTP_PASSWORD": "pw-secret-9", "CTP_AUTH_CODE": "ac-secret-9"})
    assert r.returncode == 1, (r.returncode, r.stderr[-500:])
    assert "no login" in r.stderr
    assert "pw-secret-9" not in r.stderr + r.stdout and "ac-secret-9" not in r.stderr + r.stdout
    assert (tmp_path / "flow" / "shfe" / "td").is_dir()
