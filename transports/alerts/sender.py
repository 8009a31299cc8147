"""The alert sender: journal batches in, webhooks and e-mail out, never on the hot path.

``AlertService.on_batch`` is the journal writer's hook (``JournalWriter.on_batch``, called in
the journal's thread after each BATCH record): it keeps the items that may be alerts
(``rules.select``: a type test each) and puts them on a bounded queue without waiting; a full
queue drops them and counts the drop. One thread takes them off, runs ``AlertRules`` (dedupe,
rate) on the service's clock and hands each alert to every destination's outlet: an outlet has
its own small bounded queue and thread, so a slow or dead endpoint delays only itself (each
HTTP request and SMTP session has a timeout; what does not fit is dropped and counted; a
failure is logged, without the URL or any secret, and counted).

Secrets (webhook URLs carry their token, the SMTP password) come from the config, an
environment variable or a file only its owner may read (as ``transports.venues.ccxt.
credentials``); a missing one is a ``ConfigError`` naming the field when the service is built.
"""

from __future__ import annotations

import json
import os
import queue
import smtplib
import ssl
import stat
import threading
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from email.message import EmailMessage
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from loguru import logger

from transports.alerts.formats import dingtalk_signed_url, payload
from transports.alerts.rules import Alert, AlertRules, select
from transports.clock import Clock
from transports.config.alerts import AlertsConfig, EmailConfig, WebhookConfig, check_alerts
from transports.errors import CmcError, ConfigError

#: alerts waiting per destination (beyond it they are dropped and counted)
OUTLET_QUEUE = 64
#: how often the rules' thread wakes to close dedupe windows with nothing arriving (s)
TICK_S = 1.0


def read_secret(path: str, value: str, env_name: str, file_name: str,
                env: Mapping[str, str] | None = None) -> str:
    """A secret given as ``value``, by the environment variable ``env_name`` or in the
    owner-only file ``file_name`` (``path`` names the field in errors; the value is never
    quoted). "" when none is given."""
    if value:
        return value
    if env_name:
        got = (os.environ if env is None else env).get(env_name, "")
        if not got:
            raise ConfigError(f"{path}_env: the environment variable {env_name} is not set")
        return got.strip()
    if file_name:
        p = Path(file_name)
        try:
            mode = stat.S_IMODE(p.stat().st_mode)
            if mode & 0o077:
                raise ConfigError(f"{path}_file: {str(p)!r} has mode {mode:04o}: it must be "
                                  "readable by its owner only (chmod 600)")
            got = p.read_text().strip()
        except OSError as exc:
            raise ConfigError(f"{path}_file: {str(p)!r}: {exc.strerror}") from None
        if not got:
            raise ConfigError(f"{path}_file: {str(p)!r} is empty")
        return got
    return ""


class Outlet:
    """One destination: a bounded queue and a thread that sends through ``send(alert)``."""

    def __init__(self, name: str, send: Callable[[Alert], None], secrets: list[str]) -> None:
        self.name = name
        self.send = send
        self.secrets = [s for s in secrets if s]
        self.queue: queue.Queue[Alert | None] = queue.Queue(OUTLET_QUEUE)
        self.counters = {"sent": 0, "failed": 0, "dropped": 0}
        self._thread = threading.Thread(target=self._run, name=f"alerts-{name}", daemon=True)

    def start(self) -> None:
        """Start sending."""
        self._thread.start()

    def offer(self, alert: Alert) -> None:
        """Queue ``alert`` without waiting (dropped and counted when full)."""
        try:
            self.queue.put_nowait(alert)
        except queue.Full:
            self.counters["dropped"] += 1

    def stop(self, timeout_s: float) -> None:
        """Send what is queued (within ``timeout_s``), then stop."""
        try:
            self.queue.put(None, timeout=timeout_s)
        except queue.Full:
            pass
        self._thread.join(timeout_s)

    def _scrub(self, text: str) -> str:
        for s in self.secrets:
            text = text.replace(s, "***")
        return text

    def _run(self) -> None:
        while True:
            alert = self.queue.get()
            if alert is None:
                return
            try:
                self.send(alert)
                self.counters["sent"] += 1
            except Exception as exc:  # noqa: BLE001 - a failed endpoint is logged, never fatal
                self.counters["failed"] += 1
                logger.warning("alert to {} failed ({}): {}", self.name, type(exc).__name__,
                               self._scrub(str(exc))[:300])


def _post_json(url: str, body: dict[str, Any], timeout_s: float) -> None:
    data = json.dumps(body, ensure_ascii=False).encode()
    req = urllib.request.Request(url, data=data, method="POST",
                                 headers={"Content-Type": "application/json; charset=utf-8"})
    with urllib.request.urlopen(req, timeout=timeout_s) as resp:  # http(s): webhook_sender
        raw = resp.read(65536)
    try:
        answer = json.loads(raw) if raw else None
    except ValueError:
        return  # a 2xx without JSON (Slack says "ok")
    # DingTalk and WeCom answer 200 with an errcode; Telegram with "ok": false
    if isinstance(answer, dict) and (answer.get("errcode", 0) != 0 or answer.get("ok") is False):
        raise CmcError(f"refused: {str(answer)[:200]}")


def webhook_sender(w: WebhookConfig, path: str, clock: Clock,
                   env: Mapping[str, str] | None = None) -> tuple[Callable[[Alert], None],
                                                                    list[str]]:
    """The send function of webhook ``w`` and its secrets (for scrubbing)."""
    url = read_secret(f"{path}.url", w.url, w.url_env, w.url_file, env)
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        src = "url" if w.url else ("url_env" if w.url_env else "url_file")
        raise ConfigError(f"{path}.{src}: not an http(s) URL")  # its value is the secret
    secret = read_secret(f"{path}.secret", "", w.secret_env, w.secret_file, env)

    def send(alert: Alert) -> None:
        target = url
        if secret:
            target = dingtalk_signed_url(url, secret, clock.now_ns() // 1_000_000)
        _post_json(target, payload(w.format, alert, w.chat_id), w.timeout_s)

    return send, [url, secret]


def email_sender(e: EmailConfig, path: str,
                 env: Mapping[str, str] | None = None) -> tuple[Callable[[Alert], None],
                                                                 list[str]]:
    """The send function of ``[alerts.email]`` and its secrets."""
    password = read_secret(f"{path}.password", "", e.password_env, e.password_file, env)

    def send(alert: Alert) -> None:
        msg = EmailMessage()
        label = f"{alert.label}: " if alert.label else ""
        msg["Subject"] = f"{e.subject_prefix} {alert.severity.upper()} {label}{alert.title}"
        msg["From"] = e.sender
        msg["To"] = ", ".join(e.to)
        msg.set_content(alert.message())
        ctx = ssl.create_default_context()
        smtp: smtplib.SMTP
        if e.tls == "ssl":
            smtp = smtplib.SMTP_SSL(e.host, e.port, timeout=e.timeout_s, context=ctx)
        else:
            smtp = smtplib.SMTP(e.host, e.port, timeout=e.timeout_s)
        with smtp:
            if e.tls == "starttls":
                smtp.starttls(context=ctx)
            if e.username:
                smtp.login(e.username, password)
            smtp.send_message(msg)

    return send, [password]


class AlertService:
    """Rules and outlets of ``[alerts]``; ``on_batch`` is the journal writer's hook."""

    def __init__(self, cfg: AlertsConfig, clock: Clock, label: str = "",
                 env: Mapping[str, str] | None = None) -> None:
        check_alerts(cfg)
        self.cfg = cfg
        self.clock = clock
        self.rules = AlertRules(cfg, label)
        self.exposure = cfg.naked_exposure_base > 0
        self.outlets: list[Outlet] = []
        for i, w in enumerate(cfg.webhooks):
            send, secrets = webhook_sender(w, f"$.alerts.webhooks[{i}]", clock, env)
            self.outlets.append(Outlet(w.name or f"{w.format}-{i}", send, secrets))
        if cfg.email is not None:
            send, secrets = email_sender(cfg.email, "$.alerts.email", env)
            self.outlets.append(Outlet("email", send, secrets))
        self.queue: queue.Queue[list[Any] | None] = queue.Queue(cfg.queue_size)
        self.counters = {"batches": 0, "dropped": 0, "errors": 0}
        self._thread = threading.Thread(target=self._run, name="alerts", daemon=True)

    # --- the journal's side ----------------------------------------------------------------------

    def on_batch(self, ts_ns: int, group: str, items: list[tuple[str, str, Any]]) -> None:
        """Keep what may be an alert; never waits, never raises (the journal's thread)."""
        try:
            got = select(items, self.exposure)
            if got:
                self.queue.put_nowait(got)
                self.counters["batches"] += 1
        except queue.Full:
            self.counters["dropped"] += 1
        except Exception:  # noqa: BLE001 - alerts must never break the journal
            self.counters["errors"] += 1

    # --- the sender's side -----------------------------------------------------------------------

    def start(self) -> None:
        """Start the rules' thread and every outlet."""
        for o in self.outlets:
            o.start()
        self._thread.start()
        logger.info("alerts to {}", [o.name for o in self.outlets])

    def stop(self, timeout_s: float = 3.0) -> None:
        """Handle what is queued, send what the outlets hold (each within ``timeout_s``), stop."""
        try:
            self.queue.put(None, timeout=timeout_s)
        except queue.Full:
            pass
        self._thread.join(timeout_s)
        for o in self.outlets:
            o.stop(timeout_s)

    def _run(self) -> None:
        rules = self.rules
        while True:
            try:
                items = self.queue.get(timeout=TICK_S)
            except queue.Empty:
                items = []
            try:
                now = self.clock.mono_ns()
                alerts = rules.on_items(items, now) if items else []
                # stopping: the counts of every open window go out now
                alerts += rules.tick(now if items is not None else now + rules.window_ns)
                for a in alerts:
                    logger.warning("alert {}: {}", a.key, a.title)
                    for o in self.outlets:
                        o.offer(a)
            except Exception:  # noqa: BLE001 - a bad event must not end the alerts
                self.counters["errors"] += 1
                logger.exception("alerts: an event could not be handled")
            if items is None:
                return

    def stats(self) -> dict[str, Any]:
        """The counters: queue, rules and each outlet's."""
        return {**self.counters, **self.rules.counters,
                "outlets": {o.name: dict(o.counters) for o in self.outlets}}


__all__ = ["AlertService", "Outlet", "email_sender", "read_secret", "webhook_sender"]
