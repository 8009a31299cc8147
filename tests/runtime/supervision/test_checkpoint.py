"""Checkpoints (``actors.runtime.checkpoint``): every core of the demo config round-trips; a
rebuild from
a checkpoint equals a rebuild from the start (cores, snapshots, pending timers) on a real demo
journal; a damaged or missing checkpoint falls back (to the scan, then to the start);
``cmc replay --verify`` of a journal with checkpoints says identical and checks them; the
config key is validated; and a live host's checkpoint rebuilds a crashed actor."""

from __future__ import annotations

import itertools
import json
import pickle
import shutil
import threading
from pathlib import Path
from typing import Any

import msgspec
import numpy as np
import pytest
import zmq
from click.testing import CliRunner

from actors.journal import read_journal
from actors.runtime.checkpoint import CODEC, dump_cores, load_cores
from actors.runtime.node_runtime import NodeRuntime
from actors.runtime.rebuild.rebuild import Rebuild
from actors.runtime.supervisor import with_epoch, wrap_leg
from scripts.cli import main as cli
from scripts.replay.core import Verifier, build_cores, load_run_config
from tests.support.demo_runs import demo_run
from tests.support.helpers import FaultyCore, eventually
from transports.clock import LiveClock
from transports.config.engine import load_config, load_config_bytes
from transports.config.ops import SupervisionConfig
from transports.errors import ConfigError
from transports.journal.ckpt_index import locate, read_index
from transports.journal.format import (
    T_BATCH,
    T_CHECKPOINT,
    decode_batch_raw,
    decode_checkpoint,
    decode_item,
)
from transports.journal.reader import JournalReader
from transports.journal.writer import JournalOptions, JournalWriter, checkpoint_index_path
from transports.wire.messages import ExecReport, FaultHook


def _snap(core: Any) -> str:
    return json.dumps(core.snapshot(), sort_keys=True, default=str)


def write_with_checkpoints(src: Path, dst: Path, fraction: float = 0.5,
                           blob_for: Any = None) -> dict[str, Any]:
    """Copy ``src``'s journal to ``dst`` record by record, inserting a CHECKPOINT of every
    group at its batch nearest ``fraction`` of its batches: the cores are the replayed ones
    (``--verify`` says they are the recorded ones). Returns the checkpoints' cores."""
    dst.mkdir()
    for name in ("config.json", "truth.json"):
        if (src / name).exists():
            shutil.copy(src / name, dst / name)
    frames = [f for f in JournalReader(src) if f.rtype == T_BATCH]
    per_group: dict[str, list[int]] = {}
    for k, f in enumerate(frames):
        per_group.setdefault(decode_batch_raw(f.body)[1], []).append(k)
    routers = Verifier(src).routers
    at = {per_group[g][int(len(per_group[g]) * fraction)]: g for g in routers}
    w = JournalWriter.open(dst / "journal.cmcj", options=JournalOptions(rotate_daily=False))
    taken: dict[str, Any] = {}
    for k, f in enumerate(frames):
        ts, group, items = decode_batch_raw(f.body)
        w.append(T_BATCH, bytes(f.body), ts)
        w.items += len(items)
        for name, r in routers.items():
            if group == "":
                for s, d, raw in items:
                    r.host_marker(decode_item(s, d, raw), name, ts)
            elif group == name:
                for s, d, raw in items:
                    if s[0] == "@":
                        r.external(s, d, decode_item(s, d, raw), ts)
        g = at.get(k)
        if g is not None:
            r = routers[g]
            blob, ext = dump_cores(r.cores, {})
            meta = {"codec": CODEC, "actors": list(r.cores), "epochs": dict(r.epochs),
                    "timers": {a: [list(p) for p in t] for a, t in r.timers.items()},
                    "externals": ext,
                    "seq": 1}
            w.append_checkpoint(ts, g, meta, blob_for(g, blob) if blob_for else blob)
            taken[g] = {"cores": pickle.loads(blob), "timers": meta["timers"], "record": k}
    w.close()
    return taken


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return demo_run(tmp_path_factory)


@pytest.fixture(scope="module")
def ckpt_run(demo: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    dst = tmp_path_factory.mktemp("ckpt") / "run"
    return dst, write_with_checkpoints(demo, dst)


def _build(run: Path) -> Any:
    cfg = load_run_config(run)
    return lambda actor, epoch: build_cores(with_epoch(cfg, epoch), [actor])[actor]


def _rebuild(run: Path, group: str, checkpoints: bool) -> Rebuild:
    cfg = load_run_config(run)
    actors = [a for g in cfg.placement.groups if g.name == group for a in g.actors]  # type: ignore[union-attr]
    rb = Rebuild(run, group, actors, _build(run), cfg.run.epoch, checkpoints=checkpoints)
    rb.advance()
    return rb


def test_every_core_of_the_demo_config_round_trips(ckpt_run: tuple[Path, dict[str, Any]]
                                                   ) -> None:
    run, taken = ckpt_run
    cores = {a: c for t in taken.values() for a, c in t["cores"].items()}
    kinds = {type(c).__name__ for c in cores.values()}
    assert {"FeedCore", "BookCore", "StrategyCore", "ComboExecutorCore", "RiskCore"} <= kinds
    assert any(k.startswith("Leg") for k in kinds), kinds
    blob, ext = dump_cores(cores, {})
    assert ext == {}
    again = load_cores(blob, {}, {}, _build(run))
    for actor, core in cores.items():
        assert type(again[actor]) is type(core) and _snap(again[actor]) == _snap(core), actor
    book = again["book.shfe:au2606"]  # the row views share the book's memory again
    assert np.shares_memory(book.bid_px, book.book) and np.shares_memory(book.bid_n, book.n)


def test_a_rebuild_from_the_checkpoint_equals_one_from_the_start(
        ckpt_run: tuple[Path, dict[str, Any]]) -> None:
    run, _taken = ckpt_run
    for group in ("hot", "risk"):
        full, fast = _rebuild(run, group, False), _rebuild(run, group, True)
        assert full.source == "start" and fast.source == "checkpoint", fast.fallback
        assert fast.checkpoint is not None and fast.checkpoint["found_by"] == "index"
        assert 0 < fast.items < full.items
        for actor in full.router.cores:
            a, b = full.take(actor, 9), fast.take(actor, 9)
            assert _snap(a[0]) == _snap(b[0]), actor
            assert a[1] == b[1], actor  # the same pending timers
        print(f"\n{group}: from the start {full.records} records / {full.items} items; "
              f"from the checkpoint {fast.records} / {fast.items}")


def test_verify_of_a_journal_with_checkpoints_is_identical_and_checks_them(
        ckpt_run: tuple[Path, dict[str, Any]]) -> None:
    run, _taken = ckpt_run
    assert sum(1 for f in JournalReader(run) if f.rtype == T_CHECKPOINT) == 2
    res = CliRunner().invoke(cli, ["replay", str(run / "journal.cmcj"), "--verify", "--json"])
    assert res.exit_code == 0, res.output
    r = json.loads(res.output)
    assert r["status"] == "identical", r["divergence"]
    assert r["checkpoints"] == {"seen": 2, "matched": 2, "differs": []}
    res = CliRunner().invoke(cli, ["audit", "verify", str(run), "--json"])
    assert res.exit_code == 0 and json.loads(res.output)["ok"], res.output


def test_a_corrupt_or_missing_checkpoint_falls_back(demo: Path, tmp_path: Path) -> None:
    # a checkpoint whose pickle is damaged: the record is fine, loading it is not
    bad = tmp_path / "bad"
    write_with_checkpoints(demo, bad, blob_for=lambda g, b: b[: len(b) // 2])
    rb = _rebuild(bad, "hot", True)
    assert rb.source == "start" and "unreadable" in rb.fallback and rb.checkpoint is None
    full = _rebuild(bad, "hot", False)
    assert rb.items == full.items
    assert all(_snap(rb.router.cores[a]) == _snap(c) for a, c in full.router.cores.items())
    # without the index the journal is scanned; an index pointing elsewhere is not trusted
    good = tmp_path / "good"
    write_with_checkpoints(demo, good)
    idx = checkpoint_index_path(good)
    entries = read_index(good)
    idx.unlink()
    assert locate(good, "hot")[1] == "scan"
    rb = _rebuild(good, "hot", True)
    assert rb.source == "checkpoint" and rb.checkpoint["found_by"] == "scan"  # type: ignore[index]
    idx.write_text("".join(json.dumps({**e._asdict(), "prev": e.prev.hex(),
                                       "offset": e.offset + 1}) + "\n" for e in entries)
                   + "not json\n")
    at, how = locate(good, "hot")
    hot = next(e for e in entries if e.group == "hot")
    assert how == "scan" and at is not None and at.offset == hot.offset
    # no checkpoint of the group at all: from the start, nothing to say
    plain = _rebuild(demo, "hot", True)
    assert plain.source == "start" and plain.fallback == "" and plain.checkpoint is None


def test_a_checkpoint_noted_after_a_torn_index_line_is_found_by_the_index(
        demo: Path, tmp_path: Path) -> None:
    # a crash while the index was written left half a line; before, the next entry was glued
    # onto it, unreadable too, and a restart took an older checkpoint (or scanned the journal)
    run = tmp_path / "run"
    write_with_checkpoints(demo, run)
    idx = checkpoint_index_path(run)
    idx.write_bytes(idx.read_bytes()[:-25])
    hot = next(f for f in JournalReader(run) if f.rtype == T_CHECKPOINT
               and decode_checkpoint(f.body)[1] == "hot")
    ts, group, meta, blob = decode_checkpoint(hot.body)
    w = JournalWriter.open(run / "journal.cmcj", options=JournalOptions(rotate_daily=False))
    pos = w.append_checkpoint(ts, group, meta, blob)
    w.close()
    at, how = locate(run, "hot")
    assert how == "index" and at is not None
    assert (at.segment, at.offset, at.index) == (pos["segment"], pos["offset"], pos["index"])
    assert read_index(run)[-1].offset == pos["offset"]


def test_checkpoint_interval_is_validated() -> None:
    assert SupervisionConfig().checkpoint_interval_s == 300.0
    assert msgspec.convert({"checkpoint_interval_s": 0}, SupervisionConfig
                           ).checkpoint_interval_s == 0
    with pytest.raises(msgspec.ValidationError, match="checkpoint_interval_s"):
        msgspec.convert({"checkpoint_interval_s": -1}, SupervisionConfig)
    with pytest.raises(msgspec.ValidationError, match="checkpoint_intervall_s"):
        msgspec.convert({"checkpoint_intervall_s": 1}, SupervisionConfig)


def test_config_file_rejects_a_negative_interval(tmp_path: Path) -> None:
    conf = (Path(__file__).parents[3] / "conf" / "demo.toml").read_bytes()
    ok = load_config_bytes(conf + b"\n[supervision]\ncheckpoint_interval_s = 60\n")
    assert ok.supervision.checkpoint_interval_s == 60
    with pytest.raises(ConfigError, match=r"supervision\.checkpoint_interval_s"):
        load_config_bytes(conf + b"\n[supervision]\ncheckpoint_interval_s = -5\n")


def test_an_external_attribute_comes_from_a_fresh_core() -> None:
    cfg = load_config()
    event = threading.Event()
    core = FaultyCore(build_cores(cfg, ["risk"])["risk"], release=event)
    core.inner.fills = 5
    blob, ext = dump_cores({"risk": core}, cache := {})
    assert ext == {"risk": [("release",)]} and cache["risk"] == [("release",)]
    assert core.release is event  # the live core is not touched
    other = threading.Event()
    back = load_cores(blob, {"risk": [["release"]]}, {"risk": 1},
                      lambda a, e: FaultyCore(build_cores(cfg, [a])[a], release=other))
    assert back["risk"].release is other and back["risk"].inner.fills == 5


# --- a live node: the host's own checkpoint ----------------------------------------------------




def _fill(i: int, qty: int) -> ExecReport:
    return ExecReport("shfe", f"1.{i}.0.0", i, 0, 0, "au2606", "B", "fill", "FILLED",  # type: ignore[arg-type]
                      30000 + i, qty, qty, 0, 0.25, f"t{i}", "", i, i)


def test_a_crashed_actor_is_rebuilt_from_its_hosts_checkpoint(runtime: NodeRuntime) -> None:
    rt = runtime
    sup = rt.supervisor
    assert sup is not None
    risk_host = rt.node.hosts["risk"]
    for i in (1, 2):
        rt.node.send("risk", _fill(i, 2))
    eventually(lambda: rt.node.query("risk")["fills"] == 2)
    st = risk_host.proxy().checkpoint_now().get(timeout=5)
    assert st["taken"] == 1 and st["failed"] == 0
    hot = rt.node.hosts["hot"].proxy().checkpoint_now().get(timeout=5)
    print(f"\ncheckpoint pause: risk {st['last_us']:.0f} µs ({st['bytes']} B), "
          f"hot {hot['last_us']:.0f} µs ({hot['bytes']} B)")
    rt.node.send("risk", _fill(3, 1))  # after the checkpoint: replayed
    eventually(lambda: rt.node.query("risk")["fills"] == 3)
    before = {k: rt.node.query("risk")[k] for k in ("positions", "cash", "fees", "fills")}
    eventually(lambda: any(e.group == "risk" for e in read_index(rt.node.run_dir)))
    for _ in range(3):
        rt.node.send("risk", FaultHook("raise"))
    eventually(lambda: len(sup.snapshot()["rebuilds"]) == 1, 5)
    after = {k: rt.node.query("risk")[k] for k in ("positions", "cash", "fees", "fills")}
    assert after == before
    rebuilt = sup.snapshot()["rebuilds"][0]
    assert rebuilt["from"] == "checkpoint" and rebuilt["items"] >= 4, rebuilt
    assert not {"positions", "cash", "fills"} & set(rebuilt["differs"]["risk"])
    rt.stop()
    decided = [json.loads(m[3]) for _t, _g, _d, m in read_journal(rt.node.run_dir)
               if isinstance(m, list) and m[:3] == ["Decision", "supervisor", "rebuilt"]]
    assert decided and decided[0]["from"] == "checkpoint"
    cfg = rt.cfg
    res = Verifier(rt.node.run_dir, groups=["risk", "hot"],  # wrapped as the node wrapped them
                   wrap=lambda a, c: FaultyCore(c) if a == "risk" else wrap_leg(a, c, cfg)).run()
    assert res["status"] == "identical", res["divergence"]
    assert res["checkpoints"]["seen"] == 2 and res["checkpoints"]["differs"] == [], res


def test_the_hosts_take_checkpoints_on_their_own_at_the_configured_interval(
        tmp_path: Path, sock_dir: str, ctx: zmq.Context[Any]) -> None:
    base = load_config()
    cfg = msgspec.structs.replace(base, supervision=msgspec.structs.replace(
        base.supervision, checkpoint_interval_s=0.2))
    run = tmp_path / "run"
    run.mkdir()
    rt = NodeRuntime(cfg, "engine", ctx, LiveClock(), sock_dir, run)
    rt.start()
    try:
        sent = iter(range(1, 10_000))

        def three_taken() -> bool:
            rt.node.send("risk", _fill(next(sent), 1))  # keep the risk host cycling
            return len([e for e in read_index(run) if e.group == "risk"]) >= 3

        eventually(three_taken, timeout_s=10, step_s=0.05)
        taken = [e for e in read_index(run) if e.group == "risk"]
        assert len(taken) >= 3, taken
        gaps = [(b.ts_ns - a.ts_ns) / 1e9 for a, b in itertools.pairwise(taken)]
        assert all(g >= 0.2 for g in gaps), gaps  # never more often than configured
    finally:
        rt.stop()
