"""End to end: ``cmc launch`` with ``[alerts]`` against the simulator; the admin's halt and a
child node killed reach a local webhook as alerts (the journal's tap, the sender's thread, real
HTTP), each once."""

from __future__ import annotations

import json
import os
import selectors
import signal
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import pytest

from scripts.admin.client import request
from tests.alerts.servers import Hook, http_server
from tests.scripts.launch.test_launch_helpers import ONE_NODE, TWO_NODES, write_conf
from tests.support.helpers import eventually

ROOT = Path(__file__).resolve().parents[2]


def _launch(conf: Path, log: Path) -> tuple[subprocess.Popen[bytes], Path]:
    proc = subprocess.Popen([sys.executable, "-m", "scripts.cli", "launch", str(conf), "--quiet"],
                            cwd=ROOT, stdout=subprocess.PIPE, stderr=log.open("wb"),
                            stdin=subprocess.DEVNULL,
                            env={**os.environ, "CMC_TEST_ALERT_HOOK": os.environ["_HOOK"]})
    assert proc.stdout is not None
    sel = selectors.DefaultSelector()
    sel.register(proc.stdout, selectors.EVENT_READ)
    assert sel.select(60), f"launcher not ready; see {log}"
    line = proc.stdout.readline().decode().strip()
    sel.close()
    assert line.startswith("READY "), f"launcher said {line!r}; see {log}: {log.read_text()}"
    return proc, Path(line.split(" ", 1)[1])


def _stop(proc: subprocess.Popen[bytes]) -> int:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
    try:
        return proc.wait(40)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(5)
        if proc.stdout is not None:
            proc.stdout.close()


def _alerts(hook: Hook, key: str) -> list[dict[str, Any]]:
    with hook.lock:
        return [p["json"] for p in hook.posts if p["json"]["key"] == key]


ALERTS = """
[alerts]
enabled = true
label = "e2e"
[[alerts.webhooks]]
name = "local"
url_env = "CMC_TEST_ALERT_HOOK"
timeout_s = 2.0
"""


@pytest.mark.e2e
def test_an_admin_halt_reaches_the_webhook(tmp_path: Path,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    sock = tempfile.mkdtemp(prefix="cmca-")
    conf = write_conf(tmp_path, sock, ONE_NODE, gateways=True, admin=True, extra=ALERTS)
    with http_server() as (base, hook):
        monkeypatch.setenv("_HOOK", f"{base}/alerts")
        proc, status = _launch(conf, tmp_path / "launch.log")
        try:
            ep = json.loads(status.read_text())["admin"]
            reply = request(ep, str(tmp_path / "keys"), "halt", {"reason": "e2e test"},
                            timeout_s=5)
            assert reply["ok"], reply
            [halted] = eventually(lambda: _alerts(hook, "state:HALTED"), 20)
        finally:
            assert _stop(proc) == 0
        assert halted["severity"] == "critical" and halted["label"] == "e2e"
        assert halted["title"] == "trading HALTED"
        assert halted["text"].startswith("reason: operator_halt (admin client:")
        assert "e2e test" in halted["text"]
        # the shutdown's own halt changes nothing (already HALTED): still one alert
        assert len(_alerts(hook, "state:HALTED")) == 1


@pytest.mark.e2e
def test_a_killed_child_node_is_alerted_from_the_launchers_journal(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    sock = tempfile.mkdtemp(prefix="cmca-")
    conf = write_conf(tmp_path, sock, TWO_NODES, gateways=True, admin=False, extra=ALERTS)
    with http_server() as (base, hook):
        monkeypatch.setenv("_HOOK", f"{base}/alerts")
        proc, status = _launch(conf, tmp_path / "launch.log")
        try:
            victim = json.loads(status.read_text())["nodes"]["trade"]["pid"]
            os.kill(victim, signal.SIGKILL)
            [died] = eventually(lambda: _alerts(hook, "restart:node_exit:trade"), 30)
            [back] = eventually(lambda: _alerts(hook, "restart:node_restart:trade"), 30)
        finally:
            assert _stop(proc) == 0
        assert died["severity"] == "critical" and back["severity"] == "warning"
        assert '"code": -9' in died["text"]
