"""Each webhook service's JSON body for an ``Alert`` (pure), and DingTalk's URL signature.

- ``generic``: the alert's fields plus ``message`` (its text form).
- ``slack``: an incoming webhook's ``{"text": ...}``.
- ``telegram``: the Bot API ``sendMessage`` body ``{"chat_id": ..., "text": ...}``.
- ``dingtalk``: a 钉钉 custom robot's ``{"msgtype": "text", "text": {"content": ...}}``; with a
  signing secret (加签) the URL gets ``&timestamp=<ms>&sign=<base64 HMAC-SHA256 of
  "<ms>\\n<secret>">`` (``dingtalk_signed_url``).
- ``wecom``: a 企业微信 group robot's ``{"msgtype": "text", "text": {"content": ...}}``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from typing import Any
from urllib.parse import quote_plus

from transports.alerts.rules import Alert


def payload(fmt: str, alert: Alert, chat_id: str = "") -> dict[str, Any]:
    """The JSON body ``fmt`` expects for ``alert``."""
    text = alert.message()
    if fmt == "slack":
        return {"text": text}
    if fmt == "telegram":
        return {"chat_id": chat_id, "text": text}
    if fmt in ("dingtalk", "wecom"):
        return {"msgtype": "text", "text": {"content": text}}
    return {"kind": alert.kind, "key": alert.key, "severity": alert.severity,
            "title": alert.title, "text": alert.text, "count": alert.count,
            "suppressed": alert.suppressed, "ts_ns": alert.ts_ns, "label": alert.label,
            "message": text}


def dingtalk_signed_url(url: str, secret: str, now_ms: int) -> str:
    """``url`` with DingTalk's ``timestamp`` and ``sign`` for ``secret`` at ``now_ms``."""
    to_sign = f"{now_ms}\n{secret}".encode()
    digest = hmac.new(secret.encode(), to_sign, hashlib.sha256).digest()
    sign = quote_plus(base64.b64encode(digest).decode())
    sep = "&" if "?" in url else "?"
    return f"{url}{sep}timestamp={now_ms}&sign={sign}"


__all__ = ["dingtalk_signed_url", "payload"]
