"""The version 2 inputs of a real run are journaled like every input, and the run replays
identical: a ``cmc demo`` whose simulator drops comex's session for a second (``session_down``)
journals the gateway's ``session`` frames, the feeds' ``instruments`` replies and the
``VenueInfo`` the legs learn from them, and ``cmc replay --verify`` reproduces every decision."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from scripts.cli import main as cli
from tests.support.demo_pool import DemoSpec
from tests.support.demo_pool import run_dir as pooled_run_dir
from transports.journal.format import T_BATCH, decode_batch_raw, decode_item
from transports.journal.reader import JournalReader
from transports.wire.messages import VenueGate, VenueInfo
from transports.wire.venue_msgs import Instruments, Session

PRESET = """
[[sim.faults.schedule]]
kind = "session_down"
at_s = 5.0
for_s = 1.0
venue = "comex"
"""
#: run in the background from the session's start (tests.support.demo_pool)
POOLED_DEMOS = [DemoSpec("session-down-8", 8.0, faults="session-down.toml",
                         files=(("session-down.toml", PRESET),))]


@pytest.fixture(scope="module")
def run_dir() -> Path:
    return pooled_run_dir(POOLED_DEMOS[0])


def _items(run: Path) -> list[tuple[str, str, Any]]:
    out = []
    for frame in JournalReader(run / "journal.cmcj"):
        if frame.rtype == T_BATCH:
            _ts, _group, items = decode_batch_raw(frame.body)
            out += [(s, d, decode_item(s, d, raw)) for s, d, raw in items]
    return out


def test_the_session_frames_and_the_venue_info_are_journaled(run_dir: Path) -> None:
    items = _items(run_dir)
    sessions = [m.state for s, d, m in items if s == "@oe" and d == "leg.comex"
                and isinstance(m, Session)]
    assert sessions == ["down", "up"]
    assert {d for s, d, m in items if s == "@ref" and isinstance(m, Instruments)} == {
        "feed.shfe", "feed.comex"}
    assert {(d, m.version) for s, d, m in items if isinstance(m, VenueInfo)} == {
        ("leg.shfe", 1), ("leg.comex", 1)}
    assert "session_down" in {m.state for _s, _d, m in items if isinstance(m, VenueGate)}


def test_a_run_with_a_session_drop_replays_identical(run_dir: Path) -> None:
    res = CliRunner().invoke(cli, ["replay", str(run_dir / "journal.cmcj"), "--verify", "--json"])
    assert res.exit_code == 0, res.output
    r = json.loads(res.output)
    assert r["status"] == "identical", r["divergence"]
    assert r["external"] > 100 and r["compared"] > 10
