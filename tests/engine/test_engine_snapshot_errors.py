"""Snapshot fetches that fail (fault catalogue F12), against the whole engine and the simulator:
the venues answer 70 % of snapshot requests ``error`` (the simulator's ``ref_snapshot_error``).
Each feed must keep asking on its retry timer -- never faster than ``snapshot_retry_ms`` -- until
a snapshot comes, decide nothing before every traded feed is ``SYNCED``, then trade, with the
venue's record holding the order invariants."""

from __future__ import annotations

import itertools

import pytest

from tests.engine.test_engine_oe_faults import budgets, run
from tests.support.engine_sim import MS, SimEngine, check_invariants
from transports.wire.messages import ComboIntent, FeedHealth
from transports.wire.venue_msgs import SnapshotReq


@pytest.fixture(scope="module")
def eng() -> SimEngine:
    return run(ref_snapshot_error=0.7)


def test_failed_snapshot_fetches_are_retried_and_nothing_is_decided_before_sync(
        eng: SimEngine) -> None:
    errors = eng.truth()["counts"]["fault_ref_snapshot_error"]
    assert errors >= 3
    synced: dict[str, int] = {}
    for ts, s, _d, m in eng.log:
        if type(m) is FeedHealth and m.state == "SYNCED":
            synced.setdefault(s, ts)
    assert set(synced) >= {"feed.shfe", "feed.comex", "feed.fx"}, synced
    # each error was an answer the feed counted and retried on its timer, never sooner
    assert sum(eng.cores[f].rejects for f in synced) == errors
    asked: dict[tuple[str, str], list[int]] = {}
    for ts, feed, req in eng.ref_out:
        if type(req) is SnapshotReq:
            asked.setdefault((feed, req.sym), []).append(ts)
    retry_ns = {f"feed.{v.name}": v.snapshot_retry_ms * MS for v in eng.cfg.venues}
    assert sum(len(t) for t in asked.values()) == errors + len(asked)  # one good answer each
    for (feed, _sym), times in asked.items():
        assert all(b - a >= retry_ns[feed] for a, b in itertools.pairwise(times))
    opens = [ts for ts, _s, _d, m in eng.log if type(m) is ComboIntent and m.action == "open"]
    assert opens and min(opens) > max(synced.values())
    assert check_invariants(eng, budgets(eng)[1]).violations == []
