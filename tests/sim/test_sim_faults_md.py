"""The simulator's market-data fault switches, one test each, over a SimCore on a TestClock.

Each test schedules one fault on shfe (refreshes every 20 ms, heartbeats every 250 ms), checks
the md stream the engine would receive, and checks with a protocol-following ``Mirror`` how many
resyncs it costs and that the book is the venue's afterwards.
"""

from __future__ import annotations

import msgspec
import pytest

from tests.sim.test_sim_harness import MD, MS, T0, Run, cfg_with
from transports.errors import CodecError
from transports.wire.venue_msgs import (
    Ack,
    Delta,
    Done,
    Fill,
    Heartbeat,
    MdStatus,
    NewOrder,
    SnapshotReq,
)

SHFE, AU = "shfe", "au2606"


def _at(kind: str, at_s: float, for_s: float = 0.0, venue: str = SHFE) -> list[dict]:
    return [{"kind": kind, "at_s": at_s, "for_s": for_s, "venue": venue}]


def _seqs(r: Run) -> list[int]:
    return [d.seq for _, d in r.deltas(SHFE, AU)]


def _events(r: Run, kind: str) -> list[dict]:
    return [e for e in r.core.truth.fault_events if e["kind"] == kind]


def _hbs(r: Run) -> list[tuple[int, Heartbeat]]:
    return [(t, msgspec.convert(m, Heartbeat)) for t, m in r.frames(SHFE) if m["t"] == "hb"]


def test_md_drop_is_a_gap_and_costs_one_resync() -> None:
    r = Run(cfg_with(_at("md_drop", 0.2)))
    m, mc = r.mirror(SHFE, AU), r.mirror("comex", "GCZ6")
    r.to(1000)
    (ev,) = r.core.truth.fault_events
    assert (ev["kind"], ev["venue"], ev["ts"]) == ("md_drop", SHFE, T0 + 200 * MS)
    seqs = _seqs(r)
    assert seqs == [s for s in range(1, seqs[-1] + 1) if s != ev["seq"]]  # seq used, not sent
    assert (m.resyncs, m.reasons) == (1, ["gap"]) and m.matches_venue(r.now)
    assert mc.resyncs == 0 and mc.matches_venue(r.now)
    assert r.counts()["fault_md_drop"] == 1
    assert r.core.truth.to_dict()["faults"]["by_venue"]["comex"].get("fault_md_drop", 0) == 0


def test_md_drop_of_the_last_delta_is_seen_by_the_heartbeat() -> None:
    r = Run(cfg_with(_at("md_drop", 0.24)))  # the delta of 240 ms; the hb at 250 ms tells
    m = r.mirror(SHFE, AU)
    r.to(255)
    (ev,) = _events(r, "md_drop")
    hb = _hbs(r)[-1][1]
    assert hb.seqs[AU] == ev["seq"] == _seqs(r)[-1] + 1  # the true last seq
    assert m.reasons == ["hb_gap"]
    r.to(600)
    assert m.resyncs == 1 and m.matches_venue(r.now)


def test_md_duplicate_is_ignored_without_resync() -> None:
    r = Run(cfg_with(_at("md_duplicate", 0.2)))
    m = r.mirror(SHFE, AU)
    r.to(1000)
    (ev,) = r.core.truth.fault_events
    seqs = _seqs(r)
    i = seqs.index(ev["seq"])
    assert seqs[i + 1] == ev["seq"] and seqs.count(ev["seq"]) == 2
    assert sorted(set(seqs)) == list(range(1, seqs[-1] + 1))
    assert (m.resyncs, m.duplicates) == (0, 1) and m.matches_venue(r.now)
    assert r.counts()["fault_md_duplicate"] == 1


def test_md_reorder_swaps_two_consecutive_deltas() -> None:
    r = Run(cfg_with(_at("md_reorder", 0.2)))
    m = r.mirror(SHFE, AU)
    r.to(1000)
    (ev,) = _events(r, "md_reorder")
    n = ev["seq"]
    seqs = _seqs(r)
    i = seqs.index(n + 1)
    assert seqs[i - 1 : i + 3] == [n - 1, n + 1, n, n + 2]
    assert sorted(seqs) == list(range(1, seqs[-1] + 1))
    assert m.resyncs == 1 and m.matches_venue(r.now)  # n + 1 is a gap, n then an old one
    assert r.counts()["fault_md_reorder"] == 1


def test_md_reorder_never_lets_a_heartbeat_pass_the_held_delta() -> None:
    r = Run(cfg_with(_at("md_reorder", 0.24)))  # held at 240 ms, the hb comes at 250 ms
    m = r.mirror(SHFE, AU)
    r.to(1000)
    assert _seqs(r) == list(range(1, _seqs(r)[-1] + 1))  # flushed unswapped before the hb
    assert r.counts()["fault_md_reorder"] == 0 and m.resyncs == 0


def test_md_delay_holds_the_stream_in_order() -> None:
    r = Run(cfg_with(_at("md_delay", 0.2), md_delay_ms=100))
    m = r.mirror(SHFE, AU)
    r.to(1000)
    (ev,) = r.core.truth.fault_events
    assert ev["kind"] == "md_delay"
    release = T0 + 300 * MS
    for arrival, d in r.deltas(SHFE, AU):
        want = release if T0 + 200 * MS <= d.ts <= release else d.ts
        assert arrival == want, (d.seq, arrival - T0, d.ts - T0)
    assert [t for t, h in _hbs(r) if h.ts == T0 + 250 * MS] == [release]  # held behind it
    assert _seqs(r) == list(range(1, _seqs(r)[-1] + 1))  # order kept
    comex = [(t, d) for t, d in r.deltas("comex", "GCZ6") if d.ts == T0 + 200 * MS]
    assert comex and comex[0][0] == T0 + 200 * MS  # other venues are not held
    assert m.resyncs == 0 and m.matches_venue(r.now)


def test_md_stall_stops_deltas_while_heartbeats_report_the_true_seq() -> None:
    r = Run(cfg_with(_at("md_stall", 0.3, 1.0)))
    m = r.mirror(SHFE, AU)
    r.to(400)
    r.send(SHFE, NewOrder("c1", AU, "B", r.ask_price(SHFE, AU), 2, "IOC", r.now))
    r.to(2000)
    deltas = r.deltas(SHFE, AU)
    before = [d for _, d in deltas if d.ts < T0 + 300 * MS]
    assert not [d for _, d in deltas if T0 + 300 * MS <= d.ts < T0 + 1300 * MS]
    hbs = [h for _, h in _hbs(r) if T0 + 300 * MS <= h.ts < T0 + 1300 * MS]
    assert len(hbs) == 4 and all(h.seqs[AU] == before[-1].seq for h in hbs)
    after = [d for _, d in deltas if d.ts >= T0 + 1300 * MS]
    assert after[0].seq == before[-1].seq + 1  # no gap: the changes come in one delta
    assert [type(x) for x in r.replies()] == [Ack, Fill, Done]  # orders still trade
    assert r.core.truth.counts["fills"] == 1
    assert m.resyncs == 0 and m.matches_venue(r.now) and r.counts()["fault_md_stall"] == 1


def test_stop_silences_everything_then_resumes() -> None:
    r = Run(cfg_with(_at("stop", 0.3, 0.5)))
    m = r.mirror(SHFE, AU)
    r.to(400)
    assert r.core.ref(r.now, SHFE, SnapshotReq(sym=AU)) is None  # ref unanswered
    assert r.core.ref(r.now, "comex", SnapshotReq(sym="GCZ6")) is not None
    r.send(SHFE, NewOrder("c1", AU, "B", r.ask_price(SHFE, AU, 50), 2, "IOC", r.now))
    r.to(1500)
    quiet = [x for t, x in r.frames(SHFE) if T0 + 300 * MS <= t < T0 + 800 * MS]
    assert quiet == []  # no delta, no hb
    assert [t for t, v, *_ in r.md if v == "comex" and T0 + 300 * MS <= t < T0 + 800 * MS]
    reps = [(t, x) for t, v, a, x in r.oe if a == "acct"]
    assert [type(x) for _, x in reps] == [Ack, Fill, Done]
    assert all(t >= T0 + 800 * MS for t, _ in reps)  # the request waited for the end
    assert r.core.truth.orders[0]["ts"] == T0 + 800 * MS
    assert _seqs(r) == list(range(1, _seqs(r)[-1] + 1))
    assert m.resyncs == 0 and m.matches_venue(r.now) and r.counts()["fault_stop"] == 1


def test_md_reset_restarts_seqs_with_the_whole_book() -> None:
    r = Run(cfg_with(_at("md_reset", 0.3)))
    m = r.mirror(SHFE, AU)
    r.to(300)
    snap = r.core.ref(r.now, SHFE, SnapshotReq(sym=AU))
    r.to(1000)
    deltas = [d for _, d in r.deltas(SHFE, AU)]
    first = next(i for i, d in enumerate(deltas) if d.ts >= T0 + 300 * MS)
    d1 = deltas[first]
    assert deltas[first - 1].seq > 1 and d1.seq == 1
    assert snap.seq == 1 and (d1.b, d1.a) == (snap.b, snap.a)  # the whole book, consistent
    assert [d.seq for d in deltas[first:]] == list(range(1, len(deltas) - first + 1))
    st = [x for t, x in r.frames(SHFE) if x["t"] == "status" and t == T0 + 300 * MS]
    assert [msgspec.convert(x, MdStatus).state for x in st] == ["open"]
    hb = next(h for _, h in _hbs(r) if h.ts > T0 + 300 * MS)
    assert hb.seqs[AU] < deltas[first - 1].seq
    assert (m.resyncs, m.reasons) == (1, ["reset"]) and m.matches_venue(r.now)
    assert r.counts()["fault_md_reset"] == 1


def test_md_crossed_publishes_a_crossing_delta_then_the_correction() -> None:
    r = Run(cfg_with(_at("md_crossed", 0.2)))
    m = r.mirror(SHFE, AU)
    r.to(200)
    snap = r.core.ref(r.now, SHFE, SnapshotReq(sym=AU))
    r.to(1000)
    (ev,) = r.core.truth.fault_events
    deltas = {d.seq: d for _, d in r.deltas(SHFE, AU)}
    n = ev["seq"]
    ((px, q),) = deltas[n + 1].b
    assert deltas[n + 1].a == [] and q > 0
    assert snap.seq == n + 1 and tuple(snap.b[0]) == (px, q) and px > snap.a[0][0]  # crossed
    assert (px, 0) in [tuple(x) for x in deltas[n + 2].b]  # the correction
    assert _seqs(r) == list(range(1, _seqs(r)[-1] + 1))
    assert (m.resyncs, m.reasons) == (1, ["bad_book"]) and m.matches_venue(r.now)
    book = r.core.venues[SHFE].books[AU]
    assert book.best("B") < book.best("S")  # the venue's real book never crossed


@pytest.mark.parametrize("kind", ["px_zero", "qty_negative", "qty_huge", "float"])
def test_md_bad_value_replaces_the_delta(kind: str) -> None:
    r = Run(cfg_with(_at("md_bad", 0.2), md_bad_kinds=(kind,)))
    m = r.mirror(SHFE, AU)
    r.to(1000)
    (ev,) = r.core.truth.fault_events
    assert ev["bad"] == kind
    frames = [
        (f, x)
        for _, v, _, f in r.md
        if v == SHFE and (x := msgspec.msgpack.decode(f))["t"] == "delta"
    ]
    bad = [(f, x) for f, x in frames if x["seq"] == ev["seq"]]
    assert len(bad) == 1  # the good delta with that seq never went out
    frame, raw = bad[0]
    (px, qty) = (raw["b"] or raw["a"])[0]
    if kind == "float":
        assert isinstance(px, float)
        with pytest.raises(CodecError):
            MD.decode(frame)
        assert m.rejected == 1 and m.reasons == ["gap"]
    else:
        d = MD.decode(frame)
        assert isinstance(d, Delta)
        assert {"px_zero": px <= 0, "qty_negative": qty < 0, "qty_huge": qty > 10_000_000}[kind]
        assert m.reasons == ["bad_book"]
    assert m.resyncs == 1 and m.matches_venue(r.now) and r.counts()["fault_md_bad"] == 1


def test_rate_switches_reset_and_stall_spans() -> None:
    r = Run(cfg_with(md_reset=1.0))
    r.to(500)
    assert {d.seq for _, d in r.deltas(SHFE, AU)} == {1}  # every refresh restarts the seqs
    r = Run(cfg_with(md_stall=1.0, md_stall_ms=300))
    r.to(1000)
    assert r.deltas(SHFE, AU) == [] and _hbs(r)  # stalled throughout, heartbeats alive
    starts = [e["ts"] - T0 for e in _events(r, "md_stall") if e["venue"] == SHFE]
    assert starts == [0, 300 * MS, 600 * MS, 900 * MS]  # each lasts md_stall_ms
