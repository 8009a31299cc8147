"""The Textual console driven by its test pilot against a real admin socket and engine.

What the desk relies on: a halt from the console (key ``h``, confirmed) really reaches risk
(HALTED) through the authenticated socket and the pair then reads HALTED, never "trading";
flatten asks first and a "no" sends nothing; reduce and resume need no dialog; the console
waits for a launch that is not up yet instead of exiting; replication shows only when the
status carries it.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from textual.widgets import Sparkline, Static

from scripts.admin.console.app import TopApp
from scripts.admin.console.source import AdminSource
from scripts.admin.console.widgets import ConfirmScreen
from tests.admin_console.conftest import Launch, until

pytestmark = pytest.mark.timeout(20)


def _app(launch: Launch, timeout_s: float = 2.0) -> TopApp:
    return TopApp(AdminSource(launch.endpoint, str(launch.keys), timeout_s=timeout_s),
                  interval_s=0.2)


def _text(app: TopApp, selector: str) -> str:
    return str(app.query_one(selector, Static).content)


def test_halt_from_the_console_halts_risk_and_the_pair_reads_halted(launch: Launch) -> None:
    launch.start()
    backend = launch.backend

    async def run() -> None:
        app = _app(launch)
        async with app.run_test(size=(180, 60)) as pilot:
            await until(pilot, lambda: app.view is not None, "a first frame")
            assert app.view is not None and app.view.trading == "ACTIVE"
            await until(pilot, lambda: bool(app.query("#pairtext-au-gc")), "the pair's card")
            await until(pilot, lambda: "trading" in _text(app, "#pairtext-au-gc"), "drawn")
            pair = _text(app, "#pairtext-au-gc")
            assert "CNY/g" in pair and "HALTED" not in pair  # units from the launch's config
            assert "net 0.00 CNY" in _text(app, "#book")  # PnL in the home currency
            assert "shfe SYNCED" in _text(app, "#health")
            await until(pilot, lambda: len(app.query_one("#spark-au-gc", Sparkline).data or [])
                        >= 2, "two spread samples in the sparkline")

            await pilot.press("h")
            await until(pilot, lambda: isinstance(app.screen, ConfirmScreen), "the dialog")
            assert backend.commands() == []  # nothing goes out before the answer
            await pilot.press("y")
            await until(pilot, lambda: app.view is not None and app.view.trading == "HALTED",
                        "risk HALTED on the console")
            pair = _text(app, "#pairtext-au-gc")
            assert "HALTED (risk)" in pair and not pair.rstrip().endswith("trading")
            assert "halt sent" in _text(app, "#alarms")
            assert "risk ACTIVE -> HALTED" in _text(app, "#alarms")

    asyncio.run(run())
    assert backend.cluster.risk_state() == "HALTED"  # the engine's risk core itself
    (what, detail), = backend.commands()
    assert what == "halt" and detail["ok"] and detail["key"].startswith("client:")
    assert detail["args"] == {"reason": "cmc top"}


def test_flatten_asks_first_and_no_sends_nothing(launch: Launch) -> None:
    launch.start()
    backend = launch.backend

    async def run() -> None:
        app = _app(launch)
        async with app.run_test(size=(180, 60)) as pilot:
            await until(pilot, lambda: app.view is not None, "a first frame")
            await pilot.press("f")
            await until(pilot, lambda: isinstance(app.screen, ConfirmScreen), "the dialog")
            await pilot.press("n")
            await until(pilot, lambda: not isinstance(app.screen, ConfirmScreen), "closed")
            await until(pilot, lambda: "flatten cancelled" in _text(app, "#alarms"), "noted")
            await pilot.press("f", "enter")  # Enter presses the focused button: No
            await until(pilot, lambda: not isinstance(app.screen, ConfirmScreen), "closed")
            assert backend.commands() == []
            await pilot.press("f", "y")
            await until(pilot, lambda: [c for c, _ in app.sent] == ["flatten"], "sent")

    asyncio.run(run())
    assert [w for w, _ in backend.commands()] == ["flatten"]
    kinds = [(a, type(m).__name__) for a, m in backend.cluster.told]
    assert ("risk", "Flatten") in kinds and ("strategy.au-gc", "Flatten") in kinds


def test_reduce_and_resume_go_at_once(launch: Launch) -> None:
    launch.start()
    backend = launch.backend

    async def run() -> None:
        app = _app(launch)
        async with app.run_test(size=(180, 60)) as pilot:
            await until(pilot, lambda: app.view is not None, "a first frame")
            await pilot.press("d")
            await until(pilot, lambda: app.view is not None and app.view.trading == "REDUCING",
                        "risk REDUCING")
            assert backend.cluster.risk_state() == "REDUCING"
            assert any("reduce only" in r.state for r in app.view.pairs)
            await pilot.press("r")
            await until(pilot, lambda: app.view is not None and app.view.trading == "ACTIVE",
                        "risk ACTIVE again")

    asyncio.run(run())
    assert backend.cluster.risk_state() == "ACTIVE"
    assert [w for w, _ in backend.commands()] == ["reduce", "resume"]


def test_the_console_waits_for_a_launch_then_shows_it(launch: Launch) -> None:
    async def run() -> None:
        app = _app(launch, timeout_s=0.2)
        async with app.run_test(size=(180, 60)) as pilot:
            await until(pilot, lambda: app.polls >= 2, "two unanswered polls")
            assert app.is_running and app.view is None
            assert f"waiting for a launch at {launch.endpoint}" in _text(app, "#banner")
            await pilot.press("h")  # no launch: nothing to halt, no dialog
            assert not isinstance(app.screen, ConfirmScreen)
            assert "halt not sent" in _text(app, "#alarms")
            launch.start()
            await until(pilot, lambda: app.view is not None, "the launch once it is up")
            assert "trading ACTIVE" in _text(app, "#banner")

    asyncio.run(run())


def test_replication_shows_when_the_status_has_it_and_hides_when_not(launch: Launch) -> None:
    launch.start()
    ha: dict[str, Any] = {"role": "primary", "holder": "srv-a", "epoch": 7, "lag_records": 3,
                          "lag_ms": 1.5}

    async def run() -> None:
        app = _app(launch)
        async with app.run_test(size=(180, 60)) as pilot:
            await until(pilot, lambda: app.view is not None, "a first frame")
            assert app.query_one("#ha").has_class("hidden")
            launch.backend.extra_status["ha"] = ha
            await until(pilot, lambda: not app.query_one("#ha").has_class("hidden"), "HA shown")
            text = _text(app, "#ha")
            assert "primary" in text and "srv-a" in text and "epoch 7" in text
            assert "3 records" in text and "1.5 ms" in text
            launch.backend.extra_status["ha"] = {**ha, "role": "standby", "holder": "srv-b"}
            await until(pilot, lambda: "HA primary -> standby" in _text(app, "#alarms"),
                        "the failover as an alarm")
            del launch.backend.extra_status["ha"]
            await until(pilot, lambda: app.query_one("#ha").has_class("hidden"), "HA hidden")

    asyncio.run(run())


def test_quit_returns_at_once_with_a_request_in_flight(keys: Path, sock_dir: str) -> None:
    """No launch, a poll waiting out its deadline: ``q`` still ends the app (the poll's thread
    posts its result to a closed app instead of waiting on it)."""
    async def run() -> None:
        app = TopApp(AdminSource(f"ipc://{sock_dir}/admin", str(keys), timeout_s=1.0))
        async with app.run_test() as pilot:
            await until(pilot, lambda: app._busy, "a poll in flight")
            await pilot.press("q")
        assert app.polls == 0 and not app.is_running

    asyncio.run(run())
