"""``cmc replay --verify`` still catches what it must after its fast path (typed batch decoding,
byte comparison): a journaled order that is not the one the cores send is a divergence, and the
typed decoding feeds the cores exactly what the item-by-item decoding does."""

from __future__ import annotations

import json
from pathlib import Path

import msgspec
import pytest
from click.testing import CliRunner

from scripts.cli import main as cli
from scripts.replay.core import Verifier
from scripts.replay.items import batch_decoder, lazy_items, peek_batch
from tests.support.demo_runs import copy_run, demo_run
from transports.journal.format import (
    REC_HDR,
    T_BATCH,
    decode_batch_raw,
    decode_header,
    decode_item,
    encode_batch,
    encode_record,
    frame_hash,
    is_map,
)
from transports.journal.reader import JournalReader
from transports.wire.messages import Halt, Timer
from transports.wire.venue_msgs import Delta


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return demo_run(tmp_path_factory)


def _tamper_first_order(journal: Path) -> tuple[int, int]:
    """Add a lot to the first NewOrder a leg sent and write the journal again with a valid
    chain (CRCs and hashes recomputed: only the replay can tell). Returns the item's journal
    index (as ``Verifier`` counts items) and the quantity the order really had."""
    data = journal.read_bytes()
    _meta, hlen = decode_header(data)
    out = [data[:hlen]]
    prev = frame_hash(data[:hlen])
    items_before = 0
    found: tuple[int, int] | None = None
    for frame in JournalReader(journal):
        body = bytes(frame.body)
        if frame.rtype == T_BATCH and found is None:
            ts, group, items = decode_batch_raw(body)
            for k, (src, dest, raw) in enumerate(items):
                if src[:1] != "@" and dest.endswith("@oe"):
                    m = msgspec.msgpack.decode(raw)
                    if m.get("t") == "new":
                        found = (items_before + k, m["qty"])
                        m["qty"] += 1
                        items[k] = (src, dest, msgspec.Raw(msgspec.msgpack.encode(m)))
                        body = encode_batch(ts, group, items)
                        break
            items_before += len(items)
        rec = encode_record(frame.rtype, prev, body)
        prev = frame_hash(rec)
        out.append(rec)
    assert found is not None, "the demo run sent no order"
    journal.write_bytes(b"".join(out))
    return found


def test_a_tampered_order_is_the_first_divergence(run_dir: Path, tmp_path: Path) -> None:
    d = copy_run(run_dir, tmp_path / "run")
    record, qty = _tamper_first_order(d / "journal.cmcj")
    r = Verifier(d).run()
    assert r["status"] == "diverged"
    div = r["divergence"]
    assert div["reason"] == "items differ" and div["record"] == record and div["group"] == "hot"
    assert div["expected"]["msg"]["qty"] == qty + 1  # the journal's (tampered) order
    assert div["got"]["msg"]["type"] == "NewOrder" and div["got"]["msg"]["qty"] == qty

    res = CliRunner().invoke(cli, ["replay", str(d / "journal.cmcj"), "--verify", "--json"])
    assert res.exit_code == 1, res.output
    out = json.loads(res.output)
    assert out["status"] == "diverged" and out["divergence"]["record"] == record
    # events: the items of the batches replayed before the one that diverged
    assert out["events"] == out["items"] and 0 < out["events"] <= record
    assert out["seconds"] > 0 and out["events_per_s"] > 0


def test_typed_decoding_replays_as_item_by_item_decoding(run_dir: Path) -> None:
    typed = Verifier(run_dir)
    generic = Verifier(run_dir)
    generic._decode = lambda _body: None  # every batch through decode_item, one by one
    a, b = typed.run(), generic.run()
    assert a["status"] == "identical", a["divergence"]
    assert a == b
    # and the typed path was the one taken: every batch of the demo decodes typed, to the
    # same messages decode_item gives
    n = 0
    for frame in JournalReader(run_dir / "journal.cmcj"):
        if frame.rtype != T_BATCH:
            continue
        got = typed._decode(frame.body)
        assert got is not None
        ts, group, items = decode_batch_raw(frame.body)
        assert got[:2] == (ts, group) == peek_batch(frame.body)[:2]
        assert peek_batch(frame.body)[2] == len(items) == len(got[2])
        for it, (src, dest, raw) in zip(got[2], items, strict=True):
            assert (it.src, it.dest) == (src, dest)
            if it.ext:
                assert it.msg == decode_item(src, dest, raw)
                n += 1
            else:
                assert bytes(it.msg) == bytes(raw)
    assert n > 100


def test_a_batch_the_typed_decoder_refuses_is_decoded_item_by_item() -> None:
    dec = batch_decoder(["feed.x"])
    timer = Timer("health", 5, "")
    frame = msgspec.msgpack.encode(Delta(sym="X", seq=1, ts=2, b=[(10, 1)], a=[]))
    ok = encode_batch(7, "hot", [("@timer", "feed.x", timer),
                                 ("@md", "feed.x", msgspec.Raw(frame)),
                                 ("feed.x", "journal", Halt("why"))])
    ts, group, items = dec(ok)  # type: ignore[misc]
    assert (ts, group) == (7, "hot") and [i.ext for i in items] == [True, True, False]
    assert items[0].msg == timer and items[1].msg == decode_item("@md", "feed.x", frame)
    assert bytes(items[2].msg) == msgspec.msgpack.encode(Halt("why"))
    # an unknown sender, an internal message on a venue socket: left to decode_item
    for bad in (encode_batch(7, "hot", [("other", "feed.x", Halt("why"))]),
                encode_batch(7, "hot", [("@md", "feed.x", Halt("why"))])):
        assert dec(bad) is None
        (src, dest, _raw), = decode_batch_raw(bad)[2]
        lazy = lazy_items(bad)[2][0]
        assert (lazy.src, lazy.dest) == (src, dest)
        assert lazy.msg == (Halt("why") if src[0] == "@" else lazy.raw)


def test_progress_is_told_every_record_as_the_replay_goes(run_dir: Path) -> None:
    calls: list[tuple[int, int]] = []
    r = Verifier(run_dir).run(lambda n, records: calls.append((n, records)))
    assert r["status"] == "identical", r["divergence"]
    reader = JournalReader(run_dir / "journal.cmcj")
    assert sum(1 for _ in reader) == reader.records
    # every record once: its body bytes, plus the frame headers the bar adds, fill each file
    # after its header
    files = [p.read_bytes() for p in reader.paths]
    assert sum(k for _n, k in calls) == reader.records
    assert sum(n for n, _k in calls) + REC_HDR.size * reader.records == sum(
        len(d) - decode_header(d)[1] for d in files)
    assert len(calls) > 1  # told as it goes, not once at the end


def test_an_item_cut_from_a_cycle_is_what_replay_produces_beyond_it(
        run_dir: Path, tmp_path: Path) -> None:
    """A cycle cut down to its first input alone (the replay's shortest path) whose cores
    still produce a journaled item: the first item the journal lost is the divergence."""
    d = copy_run(run_dir, tmp_path / "run")
    journal = d / "journal.cmcj"
    data = journal.read_bytes()
    _meta, hlen = decode_header(data)
    out, prev = [data[:hlen]], frame_hash(data[:hlen])
    items_before, cut = 0, None
    for frame in JournalReader(journal):
        body = bytes(frame.body)
        if frame.rtype == T_BATCH:
            ts, group, items = decode_batch_raw(body)
            # the batch becomes its first input alone; what it caused first is an internal
            # message (a tagged array: its type is its first element)
            if cut is None and group == "hot" and len(items) >= 2 and items[0][0][0] == "@" \
                    and items[1][0][0] != "@" and not is_map(items[1][2]):
                cut = (items_before + 1, items[1][0], items[1][1],
                       msgspec.msgpack.decode(items[1][2])[0])
                body = encode_batch(ts, group, items[:1])
                items = items[:1]
            items_before += len(items)
        rec = encode_record(frame.rtype, prev, body)
        prev = frame_hash(rec)
        out.append(rec)
    assert cut is not None
    journal.write_bytes(b"".join(out))
    r = Verifier(d).run()
    div = r["divergence"]
    assert r["status"] == "diverged" and div["record"] == cut[0] and div["group"] == "hot"
    assert div["reason"] == "replay produced more items than the journal holds for this cycle"
    got = div["got"]
    assert div["expected"] is None and (got["src"], got["dest"], got["msg"]["type"]) == cut[1:]
