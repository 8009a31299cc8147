"""``[alerts]`` errors name the field and never quote a secret: the section's checks, the TOML
path (an unknown key, a wrong format), the secrets (a variable not set, a file others may
read), and ``cmc launch`` refusing to start (exit 2) on each."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import msgspec
import pytest
from click.testing import CliRunner

from scripts.cli import main as cli
from tests.scripts.launch.test_launch_helpers import ONE_NODE, write_conf
from transports.alerts.sender import AlertService
from transports.clock import LiveClock
from transports.config.alerts import AlertsConfig, check_alerts
from transports.config.engine import load_config_bytes
from transports.errors import ConfigError

HOOK = {"url": "https://hooks.example/T0/B0/xyz"}


def section(**kw: Any) -> AlertsConfig:
    return msgspec.convert({"enabled": True, **kw}, AlertsConfig)


@pytest.mark.parametrize(("kw", "field"), [
    ({}, "$.alerts.webhooks"),
    ({"webhooks": [{}]}, "$.alerts.webhooks[0].url"),
    ({"webhooks": [{"url": "https://a.example/x", "url_env": "X"}]},
     "$.alerts.webhooks[0].url_env"),
    ({"webhooks": [{"url": "ftp://a.example/x"}]}, "$.alerts.webhooks[0].url"),
    ({"webhooks": [{**HOOK, "format": "telegram"}]}, "$.alerts.webhooks[0].chat_id"),
    ({"webhooks": [{**HOOK, "format": "slack", "secret_env": "S"}]},
     "$.alerts.webhooks[0].secret_env"),
    ({"webhooks": [{**HOOK, "name": "desk"}, {**HOOK, "name": "desk"}]},
     "$.alerts.webhooks[1].name"),
    ({"email": {"host": "h", "sender": "a@b", "to": []}}, "$.alerts.email.to"),
    ({"email": {"host": "h", "sender": "nobody", "to": ["a@b"]}}, "$.alerts.email.sender"),
    ({"email": {"host": "h", "sender": "a@b", "to": ["a@b", "x"]}}, "$.alerts.email.to[1]"),
    ({"email": {"host": "h", "sender": "a@b", "to": ["a@b"], "password_env": "P"}},
     "$.alerts.email.username"),
])
def test_a_section_that_cannot_work_names_the_field(kw: dict[str, Any], field: str) -> None:
    with pytest.raises(ConfigError) as err:
        check_alerts(section(**kw))
    assert str(err.value).startswith(f"{field}:"), err.value


@pytest.mark.parametrize(("toml", "field"), [
    ("[alerts]\nenable = true\n", "$.alerts.enable: unknown key; did you mean 'enabled'?"),
    ("[alerts]\n[[alerts.webhooks]]\nformat = 'teams'\nurl = 'https://x.example/'\n",
     "$.alerts.webhooks[0].format"),
    ("[alerts]\nevents = ['halted', 'lunch']\n", "$.alerts.events[1]"),
    ("[alerts]\nmax_per_minute = 0\n", "$.alerts.max_per_minute"),
    ("[alerts.email]\nhost = 'h'\nto = ['a@b']\n", "$.alerts.email"),
])
def test_the_toml_path_names_the_field(toml: str, field: str) -> None:
    with pytest.raises(ConfigError) as err:
        load_config_bytes(toml.encode())
    assert field in str(err.value)


def test_secrets_from_the_environment_and_owner_only_files_are_never_quoted(
        tmp_path: Path) -> None:
    env_cfg = section(webhooks=[{"url_env": "CMC_ALERT_URL"}])
    with pytest.raises(ConfigError, match=r"^\$\.alerts\.webhooks\[0\]\.url_env: the "
                                          "environment variable CMC_ALERT_URL is not set"):
        AlertService(env_cfg, LiveClock(), env={})
    with pytest.raises(ConfigError, match=r"^\$\.alerts\.webhooks\[0\]\.url_env: not an") as e:
        AlertService(env_cfg, LiveClock(), env={"CMC_ALERT_URL": "file:///etc/TOKEN123"})
    assert "TOKEN123" not in str(e.value)
    url = tmp_path / "url"
    url.write_text("https://oapi.dingtalk.com/robot/send?access_token=TOKEN123")
    url.chmod(0o644)
    with pytest.raises(ConfigError, match=r"url_file: .* has mode 0644") as e:
        AlertService(section(webhooks=[{"url_file": str(url)}]), LiveClock(), env={})
    assert "TOKEN123" not in str(e.value)
    url.chmod(0o600)
    AlertService(section(webhooks=[{"url_file": str(url)}]), LiveClock(), env={})
    with pytest.raises(ConfigError, match=r"^\$\.alerts\.email\.password_file: .*missing"):
        AlertService(section(email={"host": "h", "sender": "a@b", "to": ["a@b"],
                                    "username": "u", "password_file": str(tmp_path / "missing")}),
                     LiveClock(), env={})


@pytest.mark.parametrize(("extra", "field"), [
    ("[alerts]\nenabled = true\n", "$.alerts.webhooks"),
    ("[alerts]\nenabled = true\n[[alerts.webhooks]]\nurl_env = 'CMC_TEST_UNSET_HOOK'\n",
     "$.alerts.webhooks[0].url_env"),
])
def test_cmc_launch_refuses_to_start_naming_the_field(tmp_path: Path, extra: str,
                                                      field: str,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CMC_TEST_UNSET_HOOK", raising=False)
    conf = write_conf(tmp_path, tempfile.mkdtemp(prefix="cmca-"), ONE_NODE, gateways=False,
                      admin=False, extra=extra)
    r = CliRunner().invoke(cli, ["launch", str(conf)])
    assert r.exit_code == 2, r.output
    assert field in r.output
