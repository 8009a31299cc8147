"""``cmc bench orders`` and ``cmc bench soak`` end to end on tiny sizes: the JSON keys the docs
promise, and counts that add up (every order sent is answered). No number is asserted."""

from __future__ import annotations

import json

import msgspec
import pytest
from click.testing import CliRunner

from scripts.bench.cmd_orders import SOAK_CMD
from scripts.bench.orders.bench import run_orders_bench

ROW_KEYS = {"rate", "seconds", "scheduled", "sent", "acked", "done", "failed", "achieved_rate",
            "latency", "send_lag", "service", "backlog_first_s", "backlog_last_s",
            "backlog_max", "per_second", "sustained", "cpu_pct"}


@pytest.mark.e2e
@pytest.mark.timeout(120)
def test_orders_bench_answers_every_order_on_both_paths() -> None:
    # one engine variant keeps the test short (the other differs by a flag on the intent WAL)
    r = json.loads(msgspec.json.encode(run_orders_bench(
        rates=(200.0,), seconds=0.5, progress=False, variants=(("engine", True),),
        baseline_trips=50)))
    assert set(r) == {"cpus", "machine", "target", "raw", "engine", "engine_nosync",
                      "engine_added", "verdict"}
    rtt = r["machine"]["ipc_rtt_us"]  # the machine's ipc round trip, measured first
    assert rtt["n"] == 50 and rtt["p50_us"] > 0
    assert r["engine_nosync"] == []
    for path in ("raw", "engine"):
        (row,) = r[path]
        assert set(row) >= ROW_KEYS, path
        assert row["scheduled"] == 100 and row["sent"] == 100, path
        # every order sent is answered: acked (then done: IOC away from the market), or
        # denied/rejected with a reason the engine rows name
        assert row["acked"] + row["failed"] == row["sent"], path
        assert row["done"] == row["acked"], path
        assert sum(s["offered"] for s in row["per_second"]) == row["scheduled"]
    assert r["raw"][0]["failed"] == 0  # nothing in the venue's way
    row = r["engine"][0]
    assert sum(row["denied"].values()) == row["failed"]
    assert row["hops"]["send_to_ack"]["n"] >= row["acked"] > 0  # the node saw the acks
    assert row["hops"]["intent_fsync"]["n"] > 0  # intents made durable before sending
    assert row["driver"]["frames"] == row["scheduled"]  # one link frame per order
    # every acked order is cut where the executor took it
    assert row["split"]["executor_to_ack"]["n"] == row["acked"]
    assert row["split"]["to_executor"]["n"] >= row["acked"]
    # one clock for both processes, read when each report arrives: never before the send
    assert row["split"]["to_executor"]["p50_us"] > 0 and row["service"]["p50_us"] > 0
    assert [a["path"] for a in r["engine_added"]] == ["engine"]
    (added,) = r["engine_added"]
    assert added["p50_over_rtt"] == round(added["p50_us"] / rtt["p50_us"], 2)


@pytest.mark.e2e
@pytest.mark.timeout(120)
def test_soak_samples_the_engine_while_the_demo_trades() -> None:
    res = CliRunner().invoke(SOAK_CMD, ["--minutes", "0.03", "--interval", "0.3", "--rate",
                                        "150", "--json"])
    assert res.exit_code == 0, res.output
    r = json.loads(res.stdout)
    assert set(r) == {"minutes", "rate", "interval_s", "samples", "limits", "demo", "engine",
                      "tree"}
    trading = [s for s in r["samples"] if s["phase"] == "trading"]
    assert len(trading) >= 3
    # the engine and the simulator: the tree holds both and weighs more than the engine
    assert all(s["procs"] >= 2 and s["tree_mb"] > s["engine_mb"] > 0 for s in trading)
    assert r["demo"]["md_events"] > 0
    for key in ("engine", "tree"):
        assert set(r[key]) == {"warmup_end_s", "start_mb", "warmup_mb", "last_mb", "max_mb",
                               "slope_mb_per_min", "last_minus_warmup_mb", "growing"}
        assert isinstance(r[key]["growing"], bool)
