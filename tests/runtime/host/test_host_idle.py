"""The host's idle strategy (``spin_us`` per placement group, ``PollingInbox.spin_ns``): busy-poll
the sockets, the tells and the timers for a while after the last input, then sleep as before.

The inbox tests drive ``PollingInbox.get`` in this thread with a spin window far longer than the
test, so "it never slept" is a fact of the code path, not of the machine's speed; the fallback
to the blocking wait and the host test wait on the inbox's counters with deadlines.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest
import zmq
from loguru import logger

from actors.core import Core, Out
from actors.runtime.host.host import Begin, Directory, Host
from actors.runtime.host.host_inbox import Envelope, IoReady, PollingInbox, TimersDue
from actors.runtime.shells.shell import Shell, SocketSpec
from tests.support.helpers import eventually
from transports.clock import LiveClock
from transports.config.engine import load_config_bytes
from transports.errors import ConfigError
from transports.wire.messages import Halt, SetTimer, Timer

BENCH_TOML = Path(__file__).resolve().parents[3] / "conf" / "bench.toml"
NEVER_NS = 60 * 1_000_000_000  #: a spin window no test outlasts: the inbox never sleeps


def _bench_with_spin(value: str) -> bytes:
    raw = BENCH_TOML.read_text()
    hot = 'name = "hot"\nnode = "engine"\n'
    assert hot in raw
    return raw.replace(hot, hot + f"spin_us = {value}\n").encode()


# --- config --------------------------------------------------------------------------------------


def test_spin_us_defaults_to_off_and_takes_a_value_per_group() -> None:
    cfg = load_config_bytes(BENCH_TOML.read_bytes(), "bench.toml")
    assert cfg.placement is not None
    assert [g.spin_us for g in cfg.placement.groups] == [0, 0, 0]
    cfg = load_config_bytes(_bench_with_spin("500"), "bench.toml")
    assert cfg.placement is not None
    assert {g.name: g.spin_us for g in cfg.placement.groups} == {"hot": 500, "risk": 0,
                                                                "journal": 0}


@pytest.mark.parametrize(("value", "why"), [("-1", ">= 0"), ("10001", "<= 10000"),
                                            ('"fast"', "Expected `int`")])
def test_a_bad_spin_us_is_a_config_error_naming_the_field(value: str, why: str) -> None:
    with pytest.raises(ConfigError) as err:
        load_config_bytes(_bench_with_spin(value), "bench.toml")
    assert "$.placement.groups[0].spin_us" in str(err.value)
    assert why in str(err.value)


# --- the inbox -----------------------------------------------------------------------------------


def _inbox(spin_ns: int) -> PollingInbox:
    inbox = PollingInbox()
    inbox.spin_ns = spin_ns
    return inbox


def test_a_spinning_inbox_fires_a_timer_without_sleeping_until_it_is_due() -> None:
    inbox = _inbox(NEVER_NS)
    asked: list[int] = []

    def next_timeout_ms() -> float:
        asked.append(1)
        return 5.0 if len(asked) < 4 else 0.0  # due at the fourth look

    inbox.next_timeout_ms = next_timeout_ms
    try:
        assert isinstance(inbox.get().message, TimersDue)
        # each empty round looked at the timers again; none of them slept until the next one
        assert inbox.spins == 3 and inbox.sleeps == 0
    finally:
        inbox.close()


def test_a_spinning_inbox_finds_socket_input_and_tells_without_sleeping(ctx: Any) -> None:
    inbox = _inbox(NEVER_NS)
    rx, tx = ctx.socket(zmq.PAIR), ctx.socket(zmq.PAIR)
    try:
        rx.bind("inproc://spin-inbox")
        tx.connect("inproc://spin-inbox")
        inbox.poller.register(rx, zmq.POLLIN)
        tx.send(b"tick")
        got = inbox.get().message
        assert isinstance(got, IoReady) and got.socks == [rx]
        assert rx.recv(zmq.NOBLOCK) == b"tick"
        assert inbox.spin_hits == 1 and inbox.sleeps == 0

        # a tell from another thread while it spins: no eventfd ring needed, no sleep
        told = Envelope(Halt("told"))
        spins = inbox.spins

        def teller() -> None:
            eventually(lambda: inbox.spins > spins)
            inbox.put(told)

        t = threading.Thread(target=teller)
        t.start()
        assert inbox.get() is told
        t.join(timeout=5)
        assert inbox.sleeps == 0
    finally:
        inbox.close()
        rx.close(linger=0)
        tx.close(linger=0)


@pytest.mark.parametrize("spin_ns", [0, 200_000])
def test_an_idle_inbox_sleeps_after_its_spin_window_and_a_tell_wakes_it(spin_ns: int) -> None:
    inbox = _inbox(spin_ns)
    told = Envelope(Halt("wake"))

    def teller() -> None:
        eventually(lambda: inbox.sleeps >= 1)  # it gave up spinning and sleeps in poll
        inbox.put(told)

    t = threading.Thread(target=teller)
    t.start()
    try:
        assert inbox.get() is told
        t.join(timeout=5)
        assert inbox.sleeps >= 1
        # spin 0 is today's path: straight to the blocking wait, no busy-poll at all
        assert (inbox.spins > 0) == bool(spin_ns)
        assert inbox.spin_hits == 0
    finally:
        inbox.close()


# --- the host ------------------------------------------------------------------------------------


class Echo(Core):
    """Keeps what it hears (``Halt`` reasons); ``timer`` arms a timer 2 ms ahead."""

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.seen: list[str] = []

    def on_halt(self, c: Halt, now_ns: int) -> Out:
        if c.reason == "timer":
            return [("@timer", SetTimer("t", now_ns + 2_000_000))]
        self.seen.append(c.reason)
        return []

    def on_timer(self, t: Timer, now_ns: int) -> Out:
        self.seen.append("timer " + t.key)
        return []

    def snapshot(self) -> dict[str, Any]:
        return {"seen": list(self.seen)}


class FeedShell(Shell):
    """A PULL socket bound in the host's thread; each frame is a ``Halt``."""

    def socket_specs(self) -> list[SocketSpec]:
        return [SocketSpec("md", zmq.PULL, "inproc://spin-host", bind=True)]

    def decode(self, key: str, frames: list[bytes], now_ns: int) -> Any:
        return Halt(frames[0].decode())


def test_a_spinning_host_serves_frames_and_timers_and_warns_when_it_shares_its_process(
        ctx: Any) -> None:
    warnings: list[str] = []
    sink = logger.add(lambda m: warnings.append(str(m)), level="WARNING")
    d = Directory("n", {"a": "g1", "r": "g2"}, {"g1": "n", "g2": "n"}, {"n": "inproc://unused"})
    h = Host.start("g1", [FeedShell(Echo("a"))], d, LiveClock(), ctx, spin_us=2_000)
    d.refs["g1"] = h
    tx = ctx.socket(zmq.PUSH)
    try:
        h.tell(Begin())
        proxy = h.proxy()
        proxy.host_counters().get(timeout=5)  # started: its socket is bound
        tx.connect("inproc://spin-host")
        tx.send(b"tick")
        tx.send(b"timer")
        eventually(lambda: proxy.query("a").get(timeout=1)["seen"] == ["tick", "timer t"])
        c = eventually(lambda: (lambda c: c if c["idle.sleeps"] >= 1 else None)(
            proxy.host_counters().get(timeout=1)))
        assert c["idle.spins"] > 0  # it spun after its inputs, then went to sleep
        assert any("spin_us = 2000" in w and "g2" in w for w in warnings)
    finally:
        logger.remove(sink)
        tx.close(linger=0)


def test_a_host_without_spin_reports_no_idle_counters(ctx: Any) -> None:
    d = Directory("n", {"a": "g1"}, {"g1": "n"}, {"n": "inproc://unused"})
    h = Host.start("g1", [Shell(Echo("a"))], d, LiveClock(), ctx)
    d.refs["g1"] = h
    h.tell(Begin())
    assert h.proxy().host_counters().get(timeout=5) == {}
