"""Issue 17's command-line defects: the tick-to-trade table, the what-if replay's label and
opportunities, ``cmc top`` under a risk halt, ``admin keygen`` over existing keys and
``cmc launch --duration``."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from scripts.cli import main as cli
from tests.support.demo_runs import demo_run

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return demo_run(tmp_path_factory)


# --- cmc bench tick-to-trade: an aligned table, rows in a fixed order ---------------------------


def _bench_row(rate: float, p50: float, p99: float, p999: float, ok: bool) -> dict[str, Any]:
    return {"rate": rate, "achieved_rate": int(rate * 0.999), "p50": p50, "p99": p99,
            "p999": p999, "md_wire_p50_first_us": 12.0, "md_wire_p50_last_us": 14.0,
            "ticks_seen": 1000, "sent": 1000, "orders_at_venue": 900, "sustained": ok,
            "n": 900, "ratio_p50": round(p50 / 35.68, 2), "ratio_p99": round(p99 / 193.09, 2),
            "ratio_p50_idle": round(p50 / 61.2, 2), "cpu_us_per_tick": {"hot": 13.61, "risk": 1.2}}


#: a ``--json`` result as ``run_tick_to_trade`` builds it: each placement's rows in the order they
#: ran (the failed search step before the best sustained one) and p99s wide enough to touch
BENCH = {
    "floor": {"n": 10000, "p50": 35.68, "p99": 193.09, "p999": 1857.16, "orders_per_tick": 1.0},
    "floor_idle": {"n": 10000, "p50": 61.2, "p99": 231.5, "p999": 1490.0, "orders_per_tick": 1.0,
                   "idle_us": 1000},
    "cpus": 4,
    "placements": {
        "default-nosync": {"rows": [_bench_row(1000.0, 176.83, 852.8, 977.17, True),
                                    _bench_row(40000.0, 221.55, 3918.67, 3927.93, False),
                                    _bench_row(20000.0, 197.76, 1816.98, 3328.18, True)],
                           "max_sustained_rate": 20000.0},
        "multiprocess": {"rows": [_bench_row(1000.0, 787.03, 5605.09, 5958.11, True),
                                  _bench_row(40000.0, 14148.34, 173281.14, 182987.53, False),
                                  _bench_row(20000.0, 2397.48, 26326.19, 47771.19, True)],
                         "max_sustained_rate": 20000.0},
        "default": {"rows": [_bench_row(1000.0, 426.42, 3769.15, 6689.57, True)],
                    "max_sustained_rate": 1000.0},
    },
}


def test_bench_table_is_aligned_and_ordered() -> None:
    from scripts.bench.tick_to_trade import PLACEMENT_ORDER, format_table

    before = json.dumps(BENCH, sort_keys=True)
    lines = format_table(BENCH).splitlines()
    assert json.dumps(BENCH, sort_keys=True) == before  # the JSON result is left as it is
    head = next(i for i, x in enumerate(lines) if x.startswith("placement"))
    rows = []
    for x in lines[head + 1:]:
        if not x.strip():
            break
        rows.append(x)
    cols = lines[head].split()
    assert cols[:2] == ["placement", "rate"] and cols[-1] == "sustained"
    for x in rows:  # every cell apart from its neighbours: as many fields as there are columns
        assert len(x.split()) == 11, x
    # the header's right-aligned columns end where their values end
    for name in ("rate", "achieved", "×p99"):
        end = lines[head].index(name) + len(name)
        assert all(x[end - 1] != " " and (len(x) == end or x[end] == " ") for x in rows), name
    order = [(x.split()[0], float(x.split()[1])) for x in rows]
    names = [n for n, _ in order]
    assert sorted(set(names), key=names.index) == [n for n in PLACEMENT_ORDER]
    assert order == sorted(order, key=lambda r: (PLACEMENT_ORDER.index(r[0]), r[1]))
    assert any("multiprocess" in x and "max sustained rate: 20000" in x for x in lines)
    # the idle floor is shown with its gap, and each row's p50 over it
    assert any(x.startswith("idle floor (asleep 1000 µs after each tick): p50 61.2 µs")
               for x in lines)
    end = lines[head].index("×idle") + len("×idle")
    assert rows[0].startswith("default ") and rows[0][:end].split()[-1] == f"{426.42 / 61.2:.2f}"


# --- the what-if replay: labelled as one, opportunities from the recorded truth ----------------


def test_whatif_is_labelled_and_counts_the_recorded_opportunities(run_dir: Path,
                                                                   tmp_path: Path) -> None:
    from scripts.demo.summary import merge_windows

    args = ["--set", "pairs.au-gc.z_entry=3", "--fill-model", "book"]
    res = CliRunner().invoke(cli, ["replay", str(run_dir), *args])
    assert res.exit_code == 0, res.output
    first = res.output.splitlines()[0]
    assert "cmc demo" not in res.output and "simulated venues" not in first
    assert f"what-if replay of {run_dir}" in first and "pairs.au-gc.z_entry=3" in first
    windows = json.loads((run_dir / "truth.json").read_bytes())["windows"]
    want = len(merge_windows(windows))
    assert want > 0
    assert re.search(rf"opportunities\s+{want} \(the recorded run's ground truth", res.output)
    # a run without the simulator's record (a launch's): no opportunity count, not a 0
    bare = Path(shutil.copytree(run_dir, tmp_path / "bare"))
    (bare / "truth.json").unlink()
    res = CliRunner().invoke(cli, ["replay", str(bare), *args])
    assert res.exit_code == 0, res.output
    assert "opportunities" not in res.output and "capture rate" not in res.output
    js = CliRunner().invoke(cli, ["replay", str(bare), *args, "--json"])
    assert json.loads(js.output)["opportunities"] is None


# --- cmc top: the pair is not "trading" while risk is HALTED -----------------------------------


class _Cluster:
    """The admin's cluster view of a ``SimEngine``'s real cores (snapshots, nothing canned)."""

    def __init__(self, eng: Any) -> None:
        self.eng = eng
        self.nodes = ["engine"]

    def query(self, actor: str, timeout_s: float = 2.0) -> dict[str, Any]:
        return self.eng.cores[actor].snapshot()  # type: ignore[no-any-return]

    def on_node(self, node: str, cmd: str, args: dict[str, Any], timeout_s: float = 2.0) -> Any:
        return {}


class _Backend:
    def __init__(self, eng: Any) -> None:
        self.cluster = _Cluster(eng)
        self.cfg = eng.cfg

    def status(self) -> dict[str, Any]:
        return {"state": "running", "nodes": {}}


def test_top_shows_a_risk_halt_as_the_pairs_state() -> None:
    import msgspec

    from actors.admin import AdminCore
    from scripts.admin.top import render
    from tests.support.engine_sim import SimEngine
    from transports.config.engine import load_config
    from transports.wire.messages import Halt

    eng = SimEngine(load_config(None))
    eng.run_to(3000)
    admin = AdminCore(_Backend(eng))  # type: ignore[arg-type]

    def pairs() -> dict[str, Any]:
        req = msgspec.msgpack.encode({"id": str(len(eng.log)), "cmd": "pairs", "args": {}})
        reply = msgspec.msgpack.decode(admin.handle(req, "k:client"))
        assert reply["ok"], reply
        return reply["result"]  # type: ignore[no-any-return]

    view = pairs()
    assert view["risk"]["state"] == "ACTIVE"
    line = next(x for x in render(view).splitlines() if x.startswith("au-gc"))
    assert line.rstrip().endswith("trading")
    eng.send("risk", Halt("operator"))
    eng.run_to(3500)
    view = pairs()
    assert view["risk"]["state"] == "HALTED"
    out = render(view)
    line = next(x for x in out.splitlines() if x.startswith("au-gc"))
    assert "HALTED" in line and not line.rstrip().endswith("trading"), line
    assert "\x1b[31mHALTED (risk)" in render(view, color=True)


# --- cmc admin keygen: never overwrites keys silently ------------------------------------------


def test_keygen_refuses_to_overwrite_keys_unless_forced(tmp_path: Path) -> None:
    out = tmp_path / "keys"
    runner = CliRunner()
    assert runner.invoke(cli, ["admin", "keygen", "--out", str(out)]).exit_code == 0
    before = {p.name: p.read_bytes() for p in out.rglob("*.key*")}
    again = runner.invoke(cli, ["admin", "keygen", "--out", str(out)])
    assert again.exit_code == 2
    assert "refusing to overwrite" in again.output
    assert str(out / "server.key_secret") in again.output and "--force" in again.output
    assert {p.name: p.read_bytes() for p in out.rglob("*.key*")} == before  # nothing written
    # a new client beside the existing keys is refused too (the server's would be replaced)
    assert runner.invoke(cli, ["admin", "keygen", "--out", str(out),
                               "--client", "ops"]).exit_code == 2
    forced = runner.invoke(cli, ["admin", "keygen", "--out", str(out), "--force"])
    assert forced.exit_code == 0, forced.output
    assert (out / "server.key_secret").read_bytes() != before["server.key_secret"]


# --- cmc launch --duration ----------------------------------------------------------------------


def test_launch_duration_must_be_seconds_or_config(tmp_path: Path) -> None:
    from tests.scripts.launch.test_launch_helpers import ONE_NODE, write_conf

    conf = write_conf(tmp_path, tempfile.mkdtemp(prefix="cmcd-"), ONE_NODE, gateways=True,
                      admin=False)
    for bad in ("0", "-3", "soon"):
        res = CliRunner().invoke(cli, ["launch", str(conf), "--duration", bad])
        assert res.exit_code == 2, (bad, res.output)
        assert "neither a positive number of seconds nor `config`" in res.output, res.output


@pytest.mark.e2e
@pytest.mark.timeout(180)
def test_launch_stops_after_the_configs_duration(tmp_path: Path) -> None:
    """``--duration config``: the launch stops by itself after ``[run] duration_s`` with the
    orderly shutdown (reason ``duration``), exit 0."""
    from tests.scripts.launch.test_launch_helpers import ONE_NODE, write_conf

    conf = write_conf(tmp_path, tempfile.mkdtemp(prefix="cmcd-"), ONE_NODE, gateways=True,
                      admin=False)
    text = conf.read_text()
    assert "duration_s = 30.0" in text
    conf.write_text(text.replace("duration_s = 30.0", "duration_s = 2.0", 1))
    log = tmp_path / "launch.log"
    proc = subprocess.Popen([sys.executable, "-m", "scripts.cli", "launch", str(conf), "--quiet",
                             "--duration", "config"], cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=log.open("wb"), stdin=subprocess.DEVNULL)
    try:
        assert proc.stdout is not None
        ready = proc.stdout.readline().decode().strip()
        assert ready.startswith("READY "), f"{ready!r}: {log.read_text()}"
        code = proc.wait(120)  # it stops on its own: no signal is sent
        assert code == 0, log.read_text()
        st = json.loads(Path(ready.split(" ", 1)[1]).read_text())
        assert (st["state"], st["stop_reason"]) == ("stopped", "duration")
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(5)
        if proc.stdout is not None:
            proc.stdout.close()
