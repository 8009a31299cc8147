"""E-mail against a local SMTP server (aiosmtpd): the alert arrives with its subject and text,
to every recipient; a login with the password from an owner-only file; a refused login is a
counted failure."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import msgspec

from tests.alerts.servers import smtp_server
from tests.support.helpers import eventually
from transports.alerts.sender import AlertService
from transports.clock import LiveClock
from transports.config.alerts import AlertsConfig
from transports.wire.messages import FeedHealth

T0 = 1_700_000_000_000_000_000
STALE = [("feed.comex", "risk", FeedHealth("comex", "STALE", 2, 1, 0, 0, T0, T0))]


def service(email: dict[str, Any]) -> AlertService:
    cfg = msgspec.convert({"enabled": True, "label": "desk", "email": email}, AlertsConfig)
    return AlertService(cfg, LiveClock(), env={})


def test_an_alert_arrives_by_smtp_to_every_recipient() -> None:
    with smtp_server() as (port, inbox):
        svc = service({"host": "127.0.0.1", "port": port, "tls": "none",
                       "sender": "cmc@desk.test", "to": ["a@desk.test", "b@desk.test"]})
        svc.start()
        try:
            svc.on_batch(T0, "risk", STALE)
            eventually(lambda: inbox.messages, 10)
        finally:
            svc.stop()
        [msg] = inbox.messages
        assert msg["Subject"] == "[cmc] CRITICAL desk: feed comex down (STALE)"
        assert msg["From"] == "cmc@desk.test"
        assert sorted(inbox.rcpts[0]) == ["a@desk.test", "b@desk.test"]
        assert "no heartbeat from comex" in msg.get_payload()


def test_login_with_the_password_from_an_owner_only_file(tmp_path: Path) -> None:
    pw = tmp_path / "smtp.pw"
    pw.write_text("s3cret\n")
    pw.chmod(0o600)
    with smtp_server(login=("alerts", "s3cret")) as (port, inbox):
        svc = service({"host": "127.0.0.1", "port": port, "tls": "none", "username": "alerts",
                       "password_file": str(pw), "sender": "cmc@desk.test",
                       "to": ["a@desk.test"]})
        svc.start()
        try:
            svc.on_batch(T0, "risk", STALE)
            eventually(lambda: inbox.messages, 10)
        finally:
            svc.stop()
        assert svc.stats()["outlets"]["email"]["sent"] == 1
        assert inbox.logins == ["alerts"]


def test_a_refused_login_is_a_counted_failure(tmp_path: Path) -> None:
    pw = tmp_path / "smtp.pw"
    pw.write_text("wrong")
    pw.chmod(0o600)
    with smtp_server(login=("alerts", "s3cret")) as (port, inbox):
        svc = service({"host": "127.0.0.1", "port": port, "tls": "none", "username": "alerts",
                       "password_file": str(pw), "sender": "cmc@desk.test",
                       "to": ["a@desk.test"]})
        svc.start()
        try:
            svc.on_batch(T0, "risk", STALE)
            eventually(lambda: svc.stats()["outlets"]["email"]["failed"] == 1, 10)
        finally:
            svc.stop()
        assert inbox.messages == []
