"""``EpochFence``, the fencing helper every gateway uses: the highest epoch per account, epoch
0 never fenced, and (with a file) durable across a restart, written before it is acted on."""

from __future__ import annotations

import json
from pathlib import Path

from loguru import logger

from transports.venues.fence import EpochFence


def test_highest_epoch_per_account_and_zero_is_never_fenced() -> None:
    f = EpochFence()
    assert f.check("a", 5) == ""
    why = f.check("a", 4)
    assert why == "epoch 4 is older than 5, the highest seen for 'a'"
    assert f.check("a", 5) == "" and f.check("a", 0) == ""  # the same epoch; none
    assert f.check("b", 1) == ""  # each account its own
    assert f.check("a", 7) == "" and f.check("a", 6) != ""
    assert f.highest == {"a": 7, "b": 1} and f.fenced == 2


def test_durable_beside_the_map_and_read_again(tmp_path: Path) -> None:
    f = EpochFence.beside(tmp_path / "st" / "binance-clmap.jsonl")
    assert f.path == tmp_path / "st" / "binance-clmap.epochs.json"
    f.check("acct", 3)
    assert json.loads(f.path.read_text()) == {"acct": 3}  # on disk when check returned
    f.check("acct", 2)  # refused: nothing written
    f.check("other", 1)
    assert json.loads(f.path.read_text()) == {"acct": 3, "other": 1}
    again = EpochFence.beside(tmp_path / "st" / "binance-clmap.jsonl")
    assert again.check("acct", 2) != "" and again.check("acct", 3) == ""
    assert not list(f.path.parent.glob("*.tmp"))


def test_an_unreadable_file_or_a_failed_write_is_logged_not_fatal(tmp_path: Path) -> None:
    logs: list[str] = []
    sink = logger.add(logs.append, level="ERROR", format="{message}")
    try:
        bad = tmp_path / "x.epochs.json"
        bad.write_text("{torn")
        f = EpochFence(bad)
        assert f.highest == {} and f.check("a", 2) == ""
        assert json.loads(bad.read_text()) == {"a": 2}  # replaced by a good one
        blocked = tmp_path / "file"
        blocked.write_text("")
        g = EpochFence(blocked / "sub" / "e.json")  # its directory cannot exist
        assert g.check("a", 5) == "" and g.check("a", 4) != ""  # in memory still
    finally:
        logger.remove(sink)
    assert any("unreadable" in m for m in logs) and any("not written" in m for m in logs)
