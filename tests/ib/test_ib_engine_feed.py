"""The engine's own market-data path against the IB gateway (on its fake TWS): the feed and book
actors as a node builds them, driven as a host drives them (``tests.support.engine_md``), follow
the gateway's snapshot and depth deltas with no gap or resync. The engine side runs in a thread
so the gateway keeps serving on this test's event loop."""

from __future__ import annotations

import asyncio

from tests.ib.tws import CON
from tests.ib.world import run, world
from tests.support.engine_md import EngineFeed
from transports.wire.venue_msgs import MdStatus


def test_the_engines_feed_and_book_follow_the_ib_gateways_depth() -> None:
    async def go() -> None:
        async with world() as w:
            await w.md_until(lambda t, m: isinstance(m, MdStatus) and m.state == "open")
            # two bids and an ask before the engine starts: its snapshot holds them
            w.tws.depth(CON, [(0, 0, 1, 2345.6, 3), (1, 0, 1, 2345.5, 7), (0, 0, 0, 2345.7, 2)])
            eng = EngineFeed(w.cfg, str(w.d), "comex")
            try:
                def top(bid: int, qty: int) -> bool:
                    return any(u.valid and u.bid_px[:1] == [bid] and u.bid_qty[:1] == [qty]
                               for u in eng.books("GCZ6"))

                await asyncio.to_thread(eng.pump_until, lambda: top(23456, 3),
                                        "the snapshot never became the engine's book")
                w.tws.depth(CON, [(0, 1, 1, 2345.6, 9)])  # update the best bid
                await asyncio.to_thread(eng.pump_until, lambda: top(23456, 9),
                                        "the delta never reached the engine's book")
                last = eng.books("GCZ6")[-1]
                assert (last.bid_px[:2], last.bid_qty[:2], last.ask_px[:1]) == (
                    [23456, 23455], [9, 7], [23457])
                feed = eng.shells["feed.comex"].core
                assert (feed.gaps, feed.resyncs) == (0, 0)
            finally:
                eng.close()

    run(go())
