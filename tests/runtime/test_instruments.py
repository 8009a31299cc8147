"""Instruments from the venue: a config that disagrees with the venue's tick, lot or currency
stops the start with an error naming the field, the config's value and the venue's."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import msgspec
import pytest
import zmq

from actors.runtime.instruments import InstrumentMismatch, check_instruments, compare
from transports.clock import LiveClock
from transports.config.engine import AppConfig, load_config
from transports.errors import ConfigError
from transports.venues.sim.gateway import serve
from transports.wire.venue_msgs import Instrument

CFG = load_config(None)


@pytest.fixture
def venues(tmp_path: Path) -> Iterator[tuple[zmq.Context[Any], str]]:
    """The simulator gateway (the demo config's venues) on real ipc sockets."""
    ctx: zmq.Context[Any] = zmq.Context()
    sock_dir = str(tmp_path / "s")
    stop, bound = threading.Event(), threading.Event()
    th = threading.Thread(target=lambda: serve(CFG, sock_dir, ctx, clock=LiveClock(), stop=stop,
                                               duration_s=60.0, ready=bound.set), daemon=True)
    th.start()
    assert bound.wait(10)
    try:
        yield ctx, sock_dir
    finally:
        stop.set()
        th.join(10)
        ctx.term()
    assert not th.is_alive()


def _with_contract(cfg: AppConfig, i: int, **changes: Any) -> AppConfig:
    contracts = list(cfg.contracts)
    contracts[i] = msgspec.structs.replace(contracts[i], **changes)
    return msgspec.structs.replace(cfg, contracts=contracts)


def test_the_demo_config_matches_its_venues(venues: tuple[zmq.Context[Any], str]) -> None:
    ctx, sock_dir = venues
    checked = check_instruments(CFG, ctx, sock_dir)
    assert sum(checked.values()) == len(CFG.contracts)
    assert set(checked) == {c.venue for c in CFG.contracts}


def test_a_wrong_tick_stops_the_start_naming_field_and_values(
        venues: tuple[zmq.Context[Any], str]) -> None:
    ctx, sock_dir = venues
    i = next(i for i, c in enumerate(CFG.contracts) if c.tick == "0.02")
    bad = _with_contract(CFG, i, tick="0.05")
    with pytest.raises(InstrumentMismatch) as err:
        check_instruments(bad, ctx, sock_dir)
    msg = str(err.value)
    assert f"$.contracts[{i}].tick: config 0.05" in msg and "says 0.02" in msg
    assert isinstance(err.value, ConfigError)  # the launcher's exit code 2, "config error"


def test_a_wrong_lot_and_an_unknown_symbol_are_each_named(
        venues: tuple[zmq.Context[Any], str]) -> None:
    ctx, sock_dir = venues
    bad = _with_contract(CFG, 0, multiplier=CFG.contracts[0].multiplier * 10)
    bad = _with_contract(bad, 1, sym="nosuch")
    with pytest.raises(InstrumentMismatch) as err:
        check_instruments(bad, ctx, sock_dir)
    msg = str(err.value)
    assert "$.contracts[0].multiplier" in msg
    assert "$.contracts[1].sym" in msg and "nosuch" in msg


def test_a_silent_venue_is_an_error_not_a_hang(tmp_path: Path) -> None:
    ctx: zmq.Context[Any] = zmq.Context()
    try:
        with pytest.raises(InstrumentMismatch, match="no instruments reply"):
            check_instruments(CFG, ctx, str(tmp_path / "nobody"), timeout_ms=200)
    finally:
        ctx.term()


def test_decimal_spellings_compare_by_value() -> None:
    c = CFG.contracts[0]
    same = Instrument(sym=c.sym, tick=c.tick + "0", lot=f"{c.multiplier:.3f}", ccy=c.ccy,
                      unit=c.unit)
    assert compare(0, c, same) == []
    other = msgspec.structs.replace(same, ccy="XXX")
    assert compare(0, c, other) == [f"$.contracts[0].ccy: config {c.ccy}, venue "
                                    f"{c.venue!r} says XXX"]


def test_a_venue_that_wants_offsets_is_refused_unless_the_contract_trades_with_them() -> None:
    """A CTP-style venue (v2 ``offsets``) traded by a contract without ``offsets = true`` would
    get orders with no open/close: the start stops, naming the field; so does a close-today
    rule that differs from the venue's."""
    c = CFG.contracts[0]
    ctp = Instrument(sym=c.sym, tick=c.tick, lot=f"{c.multiplier:g}", ccy=c.ccy, unit=c.unit,
                     offsets=True, close_today=True)
    [msg] = compare(0, c, ctp)
    assert msg.startswith("$.contracts[0].offsets: config false") and "offset" in msg
    with_offsets = msgspec.structs.replace(c, offsets=True, close_today=True)
    assert compare(0, with_offsets, ctp) == []
    no_ct = msgspec.structs.replace(with_offsets, close_today=False)
    assert compare(0, no_ct, ctp) == [f"$.contracts[0].close_today: config false, venue "
                                      f"{c.venue!r} says true"]
