"""``report``: engine-added is engine minus raw per rate, the verdict reads the rows at the
target rates, and the table's columns line up (made-up rows, no run)."""

from __future__ import annotations

from scripts.bench.orders.report import assemble, format_table
from scripts.bench.orders.stats import schedule_ns, split, summarize


def _row(rate: float, service_ns: int, engine: bool) -> dict:
    n = int(rate)  # one second
    sched = schedule_ns(0, rate, n)
    ack = sched + service_ns
    row = summarize(rate, sched, sched.copy(), ack, ack)
    row["cpu_pct"] = {"gateway": 10.0, "engine" if engine else "bench": 20.0}
    if engine:
        row["hops"] = {h: {"n": n, "p50_us": 1.0, "p99_us": 2.0}
                       for h in ("send_to_ack", "intent_fsync")}
        row["denied"] = {}
        row["split"] = split(sched.copy(), sched + service_ns // 4, ack)
        row["driver"] = {"frames": n, "cpu_pct": 12.5}
    return row


def test_engine_added_and_the_verdict() -> None:
    raw = [_row(1000.0, 300_000, False), _row(10000.0, 300_000, False)]
    eng = [_row(1000.0, 700_000, True), _row(10000.0, 900_000, True)]
    r = assemble(raw, {"engine": eng})
    added = {a["rate"]: a for a in r["engine_added"]}
    assert abs(added[1000.0]["p50_us"] - 400) < 1 and abs(added[10000.0]["p99_us"] - 600) < 1
    assert r["verdict"]["p99_ok"] is True  # 700 µs at 1,000/s
    assert r["verdict"]["sustained_at_target"] == {"raw": True, "engine": True}
    assert r["engine_nosync"] == []


def test_the_table_is_aligned_and_names_the_verdict() -> None:
    r = assemble([_row(1000.0, 300_000, False)], {"engine": [_row(1000.0, 2_000_000, True)]})
    text = format_table(r)
    lines = text.splitlines()
    head = next(i for i, x in enumerate(lines) if x.startswith("path"))
    table = lines[head:head + 3]
    # every column ends where its header ends (right-aligned numbers)
    end = table[0].index("p50 µs") + len("p50 µs")
    assert all(len(x[:end].rstrip()) == end for x in table)
    assert "-> MISSED" in text  # 2 ms p99 at 1,000/s


def test_engine_added_says_what_the_gateway_and_each_half_of_the_engine_take() -> None:
    raw = [_row(1000.0, 300_000, False)]
    r = assemble(raw, {"engine": [_row(1000.0, 800_000, True)]})
    (a,) = r["engine_added"]
    assert abs(a["gateway_p50_us"] - 300) < 1  # the raw client's service: the gateway alone
    assert abs(a["to_executor_p50_us"] - 200) < 1  # a quarter of the engine's 800 µs
    assert abs(a["executor_to_ack_p50_us"] - 600) < 1
    text = format_table(r)
    assert "link -> executor 200" in text and "the gateway alone: 300" in text
    assert "driver 12.5% of a CPU, 1000 frames" in text


def test_engine_added_in_ipc_round_trips_of_the_machine() -> None:
    raw = [_row(1000.0, 300_000, False)]
    eng = {"engine": [_row(1000.0, 800_000, True)]}
    rtt = {"n": 2000, "p50_us": 200.0, "p99_us": 450.0, "p999_us": 900.0}
    r = assemble(raw, eng, {"ipc_rtt_us": rtt})
    assert r["machine"] == {"ipc_rtt_us": rtt}
    (a,) = r["engine_added"]
    assert abs(a["p50_over_rtt"] - 2.5) < 0.01  # 500 µs added over a 200 µs round trip
    text = format_table(r)
    assert "machine: ipc round trip, both sides sleeping: p50 200 µs p99 450 µs" in text
    assert "(2.5 ipc round trips)" in text
    # without the baseline: the key is there, the ratio is not made up
    r = assemble(raw, eng)
    assert r["machine"] == {"ipc_rtt_us": None}
    assert r["engine_added"][0]["p50_over_rtt"] is None
    assert "machine:" not in format_table(r)
