"""The journal-only check that no decision used an unusable book: it must see a violation."""

from __future__ import annotations

from pathlib import Path

from actors.runtime.shells.journal_shell import JournalShell
from scripts.demo.md_audit import decisions_on_unusable_book
from transports.config.engine import load_config
from transports.journal.writer import JournalWriter
from transports.wire.messages import BookInvalid, ComboIntent, JournalBatch, LegSpec
from transports.wire.venue_msgs import Delta, Snapshot


def _intent(cid: int) -> ComboIntent:
    leg = LegSpec("shfe", "au2606", "S", 28, 1, 1.0)
    return ComboIntent(cid, "au-gc", "open", -1, [leg, leg], 0.0, 0.0, 0.0, 0.0, 0.0, 0.0,
                       0, 0, 0, 0)


def _journal(path: Path, items: list) -> None:
    w = JournalWriter.open(path, run_id="t", cfg_hash="0" * 32)
    j = JournalShell.build("journal", w)
    for i, item in enumerate(items):
        j.handle(JournalBatch("hot", i, [item]), i)
    j.close(len(items))


def test_a_decision_between_invalidation_and_snapshot_is_counted(tmp_path: Path) -> None:
    path = tmp_path / "journal.cmcj"
    _journal(path, [
        ("strategy.au-gc", "combo", _intent(1)),                       # fine
        ("feed.comex", "book.comex:GCZ6", BookInvalid("comex", "GCZ6", "gap", 0)),
        ("strategy.au-gc", "combo", _intent(2)),                       # on a bad book
        ("@ref", "feed.comex", Snapshot(sym="GCZ6", seq=5, ts=0, b=[], a=[])),
        ("strategy.au-gc", "combo", _intent(3)),                       # fine again
        ("feed.shfe", "book.shfe:au2606", BookInvalid("shfe", "au2606", "book_stale", 0)),
        ("strategy.au-gc", "combo", _intent(4)),                       # quiet book: bad
        ("@md", "feed.shfe", Delta(sym="au2606", seq=9, ts=0, b=[], a=[])),
        ("strategy.au-gc", "combo", _intent(5)),                       # moved again: fine
    ])
    got = decisions_on_unusable_book(path, load_config())
    assert got["decisions"] == 5
    assert got["on_unusable_book"] == 2
    assert [e["combo_id"] for e in got["examples"]] == [2, 4]
