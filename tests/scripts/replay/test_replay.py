"""Replay of a real demo journal: identical as recorded; changed parameters change decisions."""

from __future__ import annotations

import json
from pathlib import Path

import msgspec
import pytest
from click.testing import CliRunner

from scripts.cli import main as cli
from scripts.replay.core import Verifier, load_run_config
from scripts.replay.params import ParamError, apply_sets
from scripts.replay.whatif import run_whatif
from tests.support.demo_runs import copy_run, demo_run


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return demo_run(tmp_path_factory)


def test_demo_journal_replays_identical(run_dir: Path) -> None:
    res = CliRunner().invoke(cli, ["replay", str(run_dir / "journal.cmcj"), "--verify", "--json"])
    assert res.exit_code == 0, res.output
    r = json.loads(res.output)
    assert r["status"] == "identical", r["divergence"]
    assert r["external"] > 100 and r["compared"] > 10 and r["events_per_s"] > 0


def test_a_changed_config_diverges_at_the_first_changed_decision(
    run_dir: Path, tmp_path: Path
) -> None:
    d = copy_run(run_dir, tmp_path / "run")
    cfg = json.loads((d / "config.json").read_bytes())
    cfg["pairs"][0]["min_edge"] = 1000.0  # no opportunity is worth it any more
    (d / "config.json").write_bytes(json.dumps(cfg).encode())
    r = Verifier(d).run()
    assert r["status"] == "diverged"
    div = r["divergence"]
    assert div["expected"]["msg"][0] == "ComboIntent" and div["got"] is None
    assert div["record"] > 0 and div["group"] == "hot"


def test_changed_parameters_change_the_decisions(run_dir: Path) -> None:
    base_cfg = load_run_config(run_dir)
    base = run_whatif(run_dir, *apply_sets(base_cfg, []))
    assert base["what_if"]["intents"] > 0 and base["combos"] > 0
    assert base["venue"]["orders"] > 0 and base["venue"]["fills"] > 0
    cfg, changed = apply_sets(base_cfg, ["pairs.au-gc.min_edge=1000"])
    assert changed == {"pairs.au-gc.min_edge": 1000}
    strict = run_whatif(run_dir, cfg, changed)
    assert strict["what_if"]["intents"] == 0 and strict["combos"] == 0
    assert strict["what_if"]["decisions_changed"]
    assert set(base) >= {"capture_rate", "pnl", "final_exposure", "venue", "latency_us"}


def test_what_if_cli_prints_the_demo_summary(run_dir: Path) -> None:
    res = CliRunner().invoke(
        cli,
        ["replay", str(run_dir), "--set", "pairs[0].z_entry=3", "--fill-model", "book", "--json"],
    )
    assert res.exit_code == 0, res.output
    s = msgspec.json.decode(res.output.strip().splitlines()[-1])
    assert s["what_if"]["set"] == {"pairs[0].z_entry": 3}
    assert {"combos", "capture_rate", "pnl", "venue"} <= set(s)


@pytest.mark.parametrize(
    ("arg", "words"),
    [
        ("pairs.au-gc.z_entr=3", "unknown field 'z_entr'"),
        ("pairs.nope.z_entry=3", "no item named 'nope'"),
        ("pairs[0].z_entry=abc", "Expected `float`"),
        ("pairs[0].z_exit=9", "must be below z_entry"),
        ("placement.nodes=[]", "cannot change in a replay"),
        ("z_entry", "expected KEY=VALUE"),
    ],
)
def test_set_errors_name_the_key(run_dir: Path, arg: str, words: str) -> None:
    with pytest.raises(ParamError) as exc:
        apply_sets(load_run_config(run_dir), [arg])
    assert words in str(exc.value)
    res = CliRunner().invoke(cli, ["replay", str(run_dir), "--set", arg])
    assert res.exit_code == 2 and words in res.output
