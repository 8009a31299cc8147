"""Configs of the paper tests (no tests here): the demo world with a paper venue added.

``paper_conf`` writes conf/demo.toml plus a venue ``comex-paper`` whose ``[venues.paper]`` takes
its market data from the simulator's ``comex``; with ``trade_paper`` the pair trades
``comex-paper:GCZ6`` instead of ``comex:GCZ6`` (the engine's placement gets its actors). The
simulator itself runs the plain demo config (``sim_conf``): it must not bind the paper venue's
addresses, and it quotes ``comex`` as the pair's foreign leg.
"""

from __future__ import annotations

from pathlib import Path

import msgspec

from transports.config.engine import AppConfig, load_config

ROOT = Path(__file__).resolve().parents[2]
PAPER = "comex-paper"

_VENUE = """
[[venues]]
name = "comex-paper"
md = "ipc://{{sock}}/comex-paper-md"
ref = "ipc://{{sock}}/comex-paper-ref"
oe = "ipc://{{sock}}/comex-paper-oe"
account = "comex-paper-acct"
book_stale_after_ms = 1000

[venues.paper]
md_from = "{md_from}"
source_timeout_s = {source_timeout_s}
latency_us = {latency_us}
taker_bps = {taker_bps}
maker_bps = {maker_bps}
queue_ahead = 1.0
hb_interval_ms = 100

[[contracts]]
venue = "comex-paper"
sym = "GCZ6"
tick = "0.10"
multiplier = 100.0
unit = "ozt"
ccy = "USD"
underlying = "gold"
base_per_lot = 3110.34768
fee_per_lot = 2.5
"""


def paper_conf(dst: Path, *, trade_paper: bool = False, latency_us: int = 600,
               taker_bps: float = 0.1, maker_bps: float = 0.05, md_from: str = "comex",
               source_timeout_s: float = 30.0) -> Path:
    """Write the test config to ``dst`` and return its path."""
    text = (ROOT / "conf" / "demo.toml").read_text()
    if trade_paper:
        old = 'leg_b = "comex:GCZ6"'
        assert old in text
        text = text.replace(old, 'leg_b = "comex-paper:GCZ6"')
    old = '"strategy.au-gc", "combo", "leg.shfe", "leg.comex"]'
    assert old in text
    text = text.replace(old, '"strategy.au-gc", "combo", "leg.shfe", "leg.comex",\n'
                             '          "feed.comex-paper", "book.comex-paper:GCZ6", '
                             '"leg.comex-paper"]')
    text += _VENUE.format(latency_us=latency_us, taker_bps=taker_bps, maker_bps=maker_bps,
                          md_from=md_from, source_timeout_s=source_timeout_s)
    dst.write_text(text)
    load_config(dst)  # fails here, naming the field, if the edit broke it
    return dst


def sim_conf(*, static_comex: bool = False, md_drop: float = 0.0) -> AppConfig:
    """The simulator's config: the demo's. ``static_comex``: comex quotes once at the start and
    never again (its book is then exactly the snapshot a test takes); ``md_drop``: comex drops
    that share of its deltas (gaps for the paper gateway to resync)."""
    cfg = load_config(None)
    if not static_comex and not md_drop:
        return cfg
    venues = []
    for v in cfg.sim.venues:
        if v.name == "comex":
            if static_comex:
                v = msgspec.structs.replace(v, md_interval_ms=3_600_000)
            if md_drop:
                faults = msgspec.structs.replace(cfg.sim.faults, md_drop=md_drop)
                v = msgspec.structs.replace(v, faults=faults)
        venues.append(v)
    return msgspec.structs.replace(cfg, sim=msgspec.structs.replace(cfg.sim, venues=venues))
