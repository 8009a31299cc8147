"""Journal framing: what is written reads back in order; a torn tail is not read."""

from __future__ import annotations

from pathlib import Path

from actors.journal import JournalCore, read_journal
from transports.messages import Control, Decision, JournalBatch
from transports.venue_msgs import NewOrder


def test_batches_read_back_in_order_and_typed(tmp_path: Path) -> None:
    path = tmp_path / "j.cmcj"
    with open(path, "wb") as f:
        j = JournalCore("journal", f)
        order = NewOrder(cl="1.2.0.0", sym="au", side="B", px=1, qty=2, tif="IOC", ts=3)
        j.handle(JournalBatch("hot", 10, [("leg.x", "leg.x@oe", order),
                                          ("@group", "combo", Control("halt"))]), 11)
        j.handle(Decision("combo", "repair", "{}", 12), 12)
        j.on_stop(13)
    recs = list(read_journal(path))
    assert [(ts, g, d) for ts, g, d, _ in recs] == [(10, "hot", "leg.x@oe"), (10, "hot", "combo"),
                                                    (12, "", "journal")]
    assert recs[0][3]["t"] == "new" and recs[0][3]["cl"] == "1.2.0.0"
    assert recs[1][3] == ["Control", "halt", ""]
    assert j.records == 3


def test_torn_tail_stops_reading_at_the_last_good_frame(tmp_path: Path) -> None:
    path = tmp_path / "j.cmcj"
    with open(path, "wb") as f:
        j = JournalCore("journal", f)
        for i in range(3):
            j.handle(JournalBatch("hot", i, [("@group", "a", Control(str(i)))]), i)
    data = path.read_bytes()
    path.write_bytes(data[:-3])  # a crash in the middle of the last write
    assert [m[1] for *_, m in read_journal(path)] == ["0", "1"]
