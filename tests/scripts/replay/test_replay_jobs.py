"""``cmc replay --verify --jobs N``: the groups verified in forked processes report what one
process reports (same counts, same first divergence), and a damaged journal still fails."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from scripts.cli import main as cli
from scripts.replay.core import Verifier
from scripts.replay.parallel import AUTO_JOBS_MIN_BYTES, ParallelVerify, auto_jobs, merge, shares
from tests.scripts.replay.test_replay_verify import _tamper_first_order
from tests.support.demo_runs import copy_run, demo_run
from transports.errors import CmcError
from transports.journal.format import decode_header


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return demo_run(tmp_path_factory)


def test_two_processes_report_what_one_does(run_dir: Path) -> None:
    assert shares(str(run_dir), 2) == [["hot"], ["risk"]]
    assert shares(str(run_dir), 1) == [["hot", "risk"]]
    # a short journal is verified in one process unless --jobs says otherwise
    assert (run_dir / "journal.cmcj").stat().st_size < AUTO_JOBS_MIN_BYTES
    assert auto_jobs(str(run_dir)) == 1
    one = Verifier(run_dir).run()
    par = ParallelVerify(str(run_dir), 2)
    assert par.jobs == 2
    two = par.run()
    assert one["status"] == "identical", one["divergence"]
    assert two.pop("jobs") == 2
    assert two == one


def test_a_tampered_order_is_found_by_its_groups_process(run_dir: Path, tmp_path: Path) -> None:
    d = copy_run(run_dir, tmp_path / "run")
    record, qty = _tamper_first_order(d / "journal.cmcj")
    one = Verifier(d).run()
    two = ParallelVerify(str(d), 2).run()
    assert two["status"] == "diverged" and two["divergence"] == one["divergence"]
    assert two["divergence"]["record"] == record and two["divergence"]["group"] == "hot"
    assert two["divergence"]["expected"]["msg"]["qty"] == qty + 1
    assert two["items"] == one["items"]  # the items before the batch that diverged
    res = CliRunner().invoke(cli, ["replay", str(d), "--verify", "--json", "--jobs", "2"])
    assert res.exit_code == 1, res.output
    out = json.loads(res.output)
    assert out["status"] == "diverged" and out["divergence"]["record"] == record
    assert out["jobs"] == 2


def test_a_damaged_journal_fails_with_every_job_count(run_dir: Path, tmp_path: Path) -> None:
    d = copy_run(run_dir, tmp_path / "run")
    j = d / "journal.cmcj"
    data = bytearray(j.read_bytes())
    _meta, hlen = decode_header(bytes(data))
    data[hlen + (len(data) - hlen) // 2] ^= 0xFF  # a flipped byte mid-journal: a CRC mismatch
    j.write_bytes(bytes(data))
    for jobs in (1, 2):
        with pytest.raises(CmcError) as err:
            ParallelVerify(str(d), jobs).run()
        assert "is bad" in str(err.value)  # JournalCorrupt: file, record, offset, why
        res = CliRunner().invoke(cli, ["replay", str(d), "--verify", "--json", "--jobs", str(jobs)])
        assert res.exit_code == 2 and "cmc replay:" in res.output


def _result(group: str, div: dict | None = None, **kw: int) -> dict:
    base = {
        "status": "identical" if div is None else "diverged",
        "items": 10,
        "batches": 5,
        "external": 4,
        "compared": 3,
        "groups": [group],
        "decisions": 2,
        "send_failures": 0,
        "cross_group": {"sent": 1, "unjournaled": 1},
        "checkpoints": {"seen": 1, "matched": 1, "differs": []},
        "torn_tail": None,
        "divergence": div,
    }
    return {**base, **kw}


def test_merge_reports_the_first_item_divergence_before_any_decision_check() -> None:
    item = {
        "record": 9,
        "group": "b",
        "ts_ns": 1,
        "reason": "items differ",
        "expected": None,
        "got": None,
    }
    decision = {
        "record": 3,
        "group": "a",
        "ts_ns": 0,
        "reason": "decision 0 the group sent to the journal differs",
        "expected": None,
        "got": None,
    }
    later = {**item, "record": 12, "group": "c"}
    m = merge([_result("a", decision), _result("b", item, items=8), _result("c", later)])
    # one process stops at the item divergence and never reaches the decision check
    assert m["status"] == "diverged" and m["divergence"] == item and m["items"] == 8
    assert m["groups"] == ["a", "b", "c"] and m["jobs"] == 3
    assert (m["external"], m["compared"], m["cross_group"]) == (
        12,
        9,
        {"sent": 3, "unjournaled": 3},
    )
    assert m["checkpoints"] == {"seen": 3, "matched": 3, "differs": []}
    assert merge([_result("a"), _result("b", decision)])["divergence"] == decision
    clean = merge([_result("a"), _result("b")])
    assert clean["status"] == "identical" and clean["divergence"] is None
    assert (clean["items"], clean["decisions"]) == (10, 2)  # journal-wide: counted once


def test_a_childs_error_reaches_the_parent_with_its_text() -> None:
    from scripts.replay.parallel import _portable
    from transports.journal.format import BadRecord
    from transports.journal.writer import JournalCorrupt

    exc = JournalCorrupt("j.cmcj", BadRecord(5, 2, "CRC mismatch", torn=False))
    sent = _portable(exc)
    assert isinstance(sent, CmcError) and str(sent) == str(exc)
    assert isinstance(_portable(ValueError("x")), ValueError)
