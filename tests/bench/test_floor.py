"""The floor module is what both the bench and the profiler run (one copy of the floor)."""

from __future__ import annotations

import scripts.bench.tick_to_trade as t2t
from scripts.bench import floor
from scripts.bench.floor import FLOOR_T0_NS, WARM_TICKS, Floor, floor_ticks, load_snapshots
from scripts.bench.profile_hot_path import profile


def test_the_bench_re_exports_the_floor() -> None:
    # tests and tools import the floor's names from the bench; they must be the floor's own
    for name in ("run_floor", "check_decisions", "orders_digest", "FLOOR_DECISIONS",
                 "FLOOR_T0_NS", "FLOOR_STEP_NS", "BenchError"):
        assert getattr(t2t, name) is getattr(floor, name)


def test_floor_ticks_alternate_venues_in_virtual_time() -> None:
    ticks = list(floor_ticks(4))
    assert len(ticks) == 4 + WARM_TICKS
    assert [v for v, _, _ in ticks[:4]] == ["bench-a", "bench-b", "bench-a", "bench-b"]
    assert [t for _, t, _ in ticks[:3]] == [FLOOR_T0_NS + i * floor.FLOOR_STEP_NS
                                            for i in (1, 2, 3)]


def test_the_profiler_runs_the_floor_and_charges_the_order_path() -> None:
    times, n = profile(200)
    assert n == 200
    charged = {k for k, v in times.items() if v}
    # the path from the tick to both orders, each charged to its actor and message
    for key in [("(decode)", "Delta"), ("strategy.bench", "BookUpdate"),
                ("combo", "ComboIntent"), ("leg.bench-a", "LegOrder"),
                ("leg.bench-b", "LegOrder"), ("(encode)", "NewOrder")]:
        assert key in charged, key


def test_a_floor_without_ticks_sends_nothing() -> None:
    class Venue(floor._FloorSink):
        pass

    sink = Venue()
    f = Floor(t2t.bench_config(), sink)
    f.start(FLOOR_T0_NS)
    load_snapshots(f, FLOOR_T0_NS)
    assert sink.orders == [] and "journal" not in f.cores
    assert {"combo", "risk", "strategy.bench", "leg.bench-a", "leg.bench-b"} <= set(f.cores)
