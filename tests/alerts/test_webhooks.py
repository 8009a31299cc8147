"""Webhooks against a local HTTP server (real sockets): each service's payload, DingTalk's
signature, a refused or failing endpoint (logged and counted, the next alert still sent) and a
stuck one that never blocks the journal's side (bounded queues, drops counted)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import threading
from typing import Any
from urllib.parse import parse_qs

import msgspec
import pytest

from tests.alerts.servers import http_server
from tests.support.helpers import eventually
from transports.alerts.sender import OUTLET_QUEUE, AlertService
from transports.clock import LiveClock
from transports.config.alerts import AlertsConfig
from transports.wire.messages import BadFrame, TradingState

T0 = 1_700_000_000_000_000_000
HALT = [("risk", "leg.shfe", TradingState("HALTED", "daily_loss", T0))]


def service(hooks: list[dict[str, Any]], env: dict[str, str] | None = None,
            **kw: Any) -> AlertService:
    cfg = msgspec.convert({"enabled": True, "label": "desk", "webhooks": hooks, **kw},
                          AlertsConfig)
    return AlertService(cfg, LiveClock(), env=env or {})


@pytest.mark.parametrize(("fmt", "extra", "expect"), [
    ("slack", {}, lambda t: {"text": t}),
    ("telegram", {"chat_id": "-100123"}, lambda t: {"chat_id": "-100123", "text": t}),
    ("dingtalk", {}, lambda t: {"msgtype": "text", "text": {"content": t}}),
    ("wecom", {}, lambda t: {"msgtype": "text", "text": {"content": t}}),
])
def test_each_format_posts_the_body_its_service_expects(fmt: str, extra: dict[str, str],
                                                        expect: Any) -> None:
    with http_server() as (base, hook):
        svc = service([{"format": fmt, "url": f"{base}/hook/{fmt}?key=k", **extra}])
        svc.start()
        try:
            svc.on_batch(T0, "hot", HALT)
            eventually(lambda: hook.posts, 10)
        finally:
            svc.stop()
        [post] = hook.posts
        text = "[CRITICAL] desk: trading HALTED\nreason: daily_loss (was ACTIVE)"
        assert post["json"] == expect(text)
        assert post["path"] == f"/hook/{fmt}" and post["query"] == "key=k"
        assert post["headers"]["Content-Type"] == "application/json; charset=utf-8"
        assert svc.stats()["outlets"][f"{fmt}-0"] == {"sent": 1, "failed": 0, "dropped": 0}


def test_generic_posts_the_alert_fields_and_the_url_comes_from_the_environment() -> None:
    with http_server() as (base, hook):
        svc = service([{"name": "ops", "url_env": "CMC_TEST_HOOK"}],
                      env={"CMC_TEST_HOOK": f"{base}/generic"})
        svc.start()
        try:
            svc.on_batch(T0, "hot", HALT)
            eventually(lambda: hook.posts, 10)
        finally:
            svc.stop()
        body = hook.posts[0]["json"]
        assert {k: body[k] for k in ("kind", "key", "severity", "title", "count", "label")} == {
            "kind": "halted", "key": "state:HALTED", "severity": "critical",
            "title": "trading HALTED", "count": 1, "label": "desk"}
        assert body["ts_ns"] == T0


def test_dingtalk_with_a_secret_signs_the_url(tmp_path: Any) -> None:
    secret_file = tmp_path / "ding.secret"
    secret_file.write_text("SECabc123\n")
    secret_file.chmod(0o600)
    with http_server() as (base, hook):
        svc = service([{"format": "dingtalk", "url": f"{base}/robot/send?access_token=tok",
                        "secret_file": str(secret_file)}])
        svc.start()
        try:
            svc.on_batch(T0, "hot", HALT)
            eventually(lambda: hook.posts, 10)
        finally:
            svc.stop()
        q = parse_qs(hook.posts[0]["query"])
        ts = q["timestamp"][0]
        want = base64.b64encode(hmac.new(b"SECabc123", f"{ts}\nSECabc123".encode(),
                                         hashlib.sha256).digest()).decode()
        assert q["access_token"] == ["tok"] and q["sign"] == [want]


def test_a_refused_or_failing_endpoint_is_counted_and_the_next_alert_still_goes() -> None:
    with http_server() as (base, hook):
        svc = service([{"format": "wecom", "url": f"{base}/w"}], dedupe_window_s=3600.0)
        hook.answer = b'{"errcode": 93000, "errmsg": "invalid webhook url"}'
        svc.start()
        try:
            svc.on_batch(T0, "hot", [("@oe", "leg.shfe", BadFrame("oe", "one"))])
            eventually(lambda: svc.stats()["outlets"]["wecom-0"]["failed"] == 1, 10)
            hook.status, hook.answer = 500, b"boom"
            svc.on_batch(T0, "hot", [("@oe", "leg.shfe", BadFrame("md", "two"))])
            eventually(lambda: svc.stats()["outlets"]["wecom-0"]["failed"] == 2, 10)
            hook.status, hook.answer = 200, b'{"errcode": 0, "errmsg": "ok"}'
            svc.on_batch(T0, "hot", HALT)
            eventually(lambda: svc.stats()["outlets"]["wecom-0"]["sent"] == 1, 10)
        finally:
            svc.stop()
        assert len(hook.posts) == 3


def test_a_dead_port_is_a_counted_failure() -> None:
    with http_server() as (base, _hook):
        pass  # closed again: nothing listens on its port now
    svc = service([{"url": f"{base}/gone", "timeout_s": 2.0}])
    svc.start()
    try:
        svc.on_batch(T0, "hot", HALT)
        eventually(lambda: svc.stats()["outlets"]["generic-0"]["failed"] == 1, 10)
    finally:
        svc.stop()


def test_a_stuck_endpoint_never_blocks_the_journal_side_and_drops_are_counted() -> None:
    n = OUTLET_QUEUE + 40
    with http_server() as (base, hook), http_server() as (base2, hook2):
        hook.hold = threading.Event()  # every request waits until released
        svc = service([{"name": "stuck", "url": f"{base}/s", "timeout_s": 30.0},
                       {"name": "fine", "url": f"{base2}/f"}], max_per_minute=1000)
        svc.start()
        try:
            for i in range(n):  # each returns at once though an endpoint is stuck
                svc.on_batch(T0, "hot", [("@oe", "leg.x", BadFrame(f"k{i}", "x"))])
            assert hook.arrived.wait(10)

            def settled() -> bool:
                out = svc.stats()["outlets"]
                return (out["fine"]["sent"] + out["fine"]["dropped"] == n
                        and out["stuck"]["dropped"] >= n - OUTLET_QUEUE - 1)

            eventually(settled, 20)
            out = svc.stats()["outlets"]
            # the other destination went on while this one hung: it sent what it held
            assert out["fine"]["sent"] >= 1 and len(hook2.posts) == out["fine"]["sent"]
            # the stuck one: one request in flight, OUTLET_QUEUE waiting, the rest dropped
            assert out["stuck"]["sent"] == 0 and len(hook.posts) == 1
            assert n - OUTLET_QUEUE - 1 <= out["stuck"]["dropped"] <= n - OUTLET_QUEUE
        finally:
            hook.hold.set()
            svc.stop(timeout_s=10)


def test_the_queue_from_the_journal_is_bounded_and_counts_its_drops() -> None:
    svc = service([{"url": "http://127.0.0.1:9/never"}], queue_size=2)  # not started
    for _ in range(5):
        svc.on_batch(T0, "hot", HALT)
    svc.on_batch(T0, "hot", [])  # nothing that may be an alert: not queued
    assert svc.stats()["batches"] == 2 and svc.stats()["dropped"] == 3
