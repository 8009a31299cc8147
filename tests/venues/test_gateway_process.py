"""The exit-code rule every gateway process shares (``transports.venues.gateway_process``): 0
after SIGTERM/SIGINT, 2 on a configuration error (before or during the start), 1 on a gateway
error; one line on stderr each. Real signals to this process."""

from __future__ import annotations

import asyncio
import os
import signal
from typing import Any

import pytest

from transports.errors import CmcError, ConfigError
from transports.venues.gateway_process import run_gateway_process


def _load() -> str:
    return "cfg"


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_a_stop_signal_ends_the_gateway_with_0(sig: int) -> None:
    served: list[str] = []

    async def serve(loaded: str, stop: asyncio.Event) -> None:
        served.append(loaded)
        os.kill(os.getpid(), sig)  # as the launcher (or an operator) stops it
        await asyncio.wait_for(stop.wait(), 5)

    assert run_gateway_process(_load, serve) == 0
    assert served == ["cfg"]


def test_a_config_error_exits_2_and_names_it(capsys: pytest.CaptureFixture[str]) -> None:
    def load() -> Any:
        raise ConfigError("venues[0].ctp.td_front: 'tcp://x' is not reachable syntax")

    async def serve(loaded: Any, stop: asyncio.Event) -> None:
        raise AssertionError("never served")

    assert run_gateway_process(load, serve) == 2
    assert capsys.readouterr().err == (
        "config error: venues[0].ctp.td_front: 'tcp://x' is not reachable syntax\n")


@pytest.mark.parametrize(("exc", "code", "line"), [
    (ConfigError("contract GCZ6 not known to IB"), 2,
     "config error: contract GCZ6 not known to IB"),
    (CmcError("no login within 10 s"), 1, "gateway error: no login within 10 s"),
    (OSError("connection refused"), 1, "gateway error: OSError: connection refused"),
])
def test_an_error_while_serving_exits_with_its_code(
        exc: BaseException, code: int, line: str, capsys: pytest.CaptureFixture[str]) -> None:
    async def serve(loaded: str, stop: asyncio.Event) -> None:
        raise exc

    assert run_gateway_process(_load, serve) == code
    assert capsys.readouterr().err == line + "\n"
