"""``[alerts]``: where a launch sends alerts (webhooks, e-mail) and how often.

Webhooks post JSON in the shape their service expects (``format``): ``generic`` (the alert's own
fields), ``slack`` (incoming webhook ``{"text"}``), ``telegram`` (Bot API ``sendMessage``
``{"chat_id", "text"}``; the URL is ``https://api.telegram.org/bot<token>/sendMessage``),
``dingtalk`` (钉钉 custom robot ``{"msgtype": "text", "text": {"content"}}``, signed when a
``secret_*`` is given) and ``wecom`` (企业微信 group robot, the same text shape). A webhook URL
carries its token, so it is a secret: give it by ``url_env`` (an environment variable) or
``url_file`` (a file only its owner may read) rather than ``url``; none is ever logged. E-mail
goes over SMTP (``tls``: ``starttls``, ``ssl`` or ``none``; credentials optional, the password
from ``password_env`` or ``password_file``).

Which events alert (``events``), the dedupe window (the same alert within it is sent once,
then once more with its count when the window ends), the global cap per minute and the queue
between the journal and the sender are in ``AlertsConfig``; what each event means is in
``transports.alerts.rules``. Cross-field checks (a destination per enabled section, one URL
source per webhook, a chat id for Telegram) are ``check_alerts``; errors name the field path.
"""

from __future__ import annotations

from typing import Literal
from urllib.parse import urlsplit

import msgspec

from transports.config.base import NonNegFloat, Port, PosFloat, PosInt, Section
from transports.errors import ConfigError

EventKind = Literal["halted", "risk_state", "naked_exposure", "bad_frame", "feed_down",
                    "session_down", "restart", "failover"]
#: every event kind (the default of ``AlertsConfig.events``)
EVENT_KINDS: tuple[str, ...] = ("halted", "risk_state", "naked_exposure", "bad_frame",
                                "feed_down", "session_down", "restart", "failover")


class WebhookConfig(Section):
    """One webhook: a JSON POST in the shape of ``format``."""

    name: str = ""  #: for logs and counters ("" = the format and its index)
    format: Literal["generic", "slack", "telegram", "dingtalk", "wecom"] = "generic"
    url: str = ""  #: the URL itself (a secret: prefer ``url_env`` or ``url_file``)
    url_env: str = ""  #: the environment variable holding the URL
    url_file: str = ""  #: a file holding the URL, readable by its owner only
    chat_id: str = ""  #: Telegram: the chat to send to
    #: DingTalk 加签: the robot's signing secret (env variable or owner-only file)
    secret_env: str = ""
    secret_file: str = ""
    timeout_s: PosFloat = 5.0  #: the whole HTTP request


class EmailConfig(Section):
    """E-mail over SMTP."""

    host: str
    sender: str  #: the From address
    to: list[str]
    port: Port = 587
    tls: Literal["starttls", "ssl", "none"] = "starttls"
    username: str = ""  #: "" = no login
    password_env: str = ""  #: the environment variable holding the password
    password_file: str = ""  #: a file holding the password, readable by its owner only
    subject_prefix: str = "[cmc]"
    timeout_s: PosFloat = 10.0  #: each SMTP connection and command


class AlertsConfig(Section):
    """Alerts of a launch: events from the journal's stream, sent off the hot path."""

    enabled: bool = False
    events: list[EventKind] = msgspec.field(default_factory=lambda: list(EVENT_KINDS))
    #: the same alert (kind and subject) again within this window is counted, not sent; its
    #: count goes out once when the window ends
    dedupe_window_s: PosFloat = 300.0
    max_per_minute: PosInt = 20  #: every destination together; beyond it alerts are dropped
    queue_size: PosInt = 1000  #: events waiting for the sender; beyond it they are dropped
    #: net exposure of an underlying (base units) beyond which ``naked_exposure`` alerts;
    #: 0 = only risk's own verdicts (unhedged past ``unhedged_limit_ms``, the exposure limit)
    naked_exposure_base: NonNegFloat = 0.0
    label: str = ""  #: names the engine in every alert ("" = the run directory's name)
    webhooks: list[WebhookConfig] = []
    email: EmailConfig | None = None


def _one_source(path: str, fields: dict[str, str], required: bool) -> None:
    given = [k for k, v in fields.items() if v]
    if len(given) > 1:
        raise ConfigError(f"{path}.{given[1]}: give one of {', '.join(fields)}, not "
                          f"{' and '.join(given)}")
    if required and not given:
        raise ConfigError(f"{path}.{next(iter(fields))}: missing (give one of "
                          f"{', '.join(fields)})")


def check_alerts(a: AlertsConfig, path: str = "$.alerts") -> None:
    """Raise ``ConfigError`` naming the field when ``a`` cannot work as written (no value of
    a secret field is quoted)."""
    if a.enabled and not a.webhooks and a.email is None:
        raise ConfigError(f"{path}.webhooks: alerts are enabled but there is no webhook and no "
                          "[alerts.email]")
    names: set[str] = set()
    for i, w in enumerate(a.webhooks):
        p = f"{path}.webhooks[{i}]"
        _one_source(p, {"url": w.url, "url_env": w.url_env, "url_file": w.url_file}, True)
        if w.url:
            parts = urlsplit(w.url)
            if parts.scheme not in ("http", "https") or not parts.netloc:
                raise ConfigError(f"{p}.url: not an http(s) URL")
        _one_source(p, {"secret_env": w.secret_env, "secret_file": w.secret_file}, False)
        if (w.secret_env or w.secret_file) and w.format != "dingtalk":
            raise ConfigError(f"{p}.secret_env: a signing secret is for format 'dingtalk' only")
        if w.format == "telegram" and not w.chat_id:
            raise ConfigError(f"{p}.chat_id: Telegram's sendMessage needs a chat id")
        name = w.name or f"{w.format}-{i}"
        if name in names:
            raise ConfigError(f"{p}.name: {name!r} names two webhooks")
        names.add(name)
    if a.email is not None:
        p = f"{path}.email"
        if not a.email.to:
            raise ConfigError(f"{p}.to: no recipient")
        for j, addr in enumerate([a.email.sender, *a.email.to]):
            if "@" not in addr:
                where = "sender" if j == 0 else f"to[{j - 1}]"
                raise ConfigError(f"{p}.{where}: not an e-mail address: {addr!r}")
        _one_source(p, {"password_env": a.email.password_env,
                        "password_file": a.email.password_file}, False)
        if (a.email.password_env or a.email.password_file) and not a.email.username:
            raise ConfigError(f"{p}.username: a password is given but no username")


__all__ = ["EVENT_KINDS", "AlertsConfig", "EmailConfig", "EventKind", "WebhookConfig",
           "check_alerts"]
