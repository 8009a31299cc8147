"""A restarted strategy continues its combo ids in the new epoch wherever it keeps them: on the
core (parity) or in the ``PairPosition`` it composes (basis, funding, stat)."""

from __future__ import annotations

from actors.runtime.rebuild.rebuild import re_epoch
from actors.strategy.kinds import build_strategy
from scripts.demo.scenarios import scenario_conf
from transports.config.engine import load_config


def _build(conf: str, epoch: int):
    cfg = load_config(conf)
    contracts = {f"{c.venue}:{c.sym}": c for c in cfg.contracts}
    p = cfg.pairs[0]
    return build_strategy(f"strategy.{p.name}", p, contracts, "combo", epoch, 0)


def _next_id(core) -> int:
    pos = getattr(core, "pos", None)
    if pos is not None and hasattr(pos, "next_id"):
        return int(pos.next_id())
    core.combo_seq += 1
    return int(core.combo_seq)


def test_every_kind_continues_its_combo_ids_in_the_new_epoch() -> None:
    for scenario in ("gold", "basis", "funding", "stat-arb", "multi-venue"):
        conf = scenario_conf(scenario)
        core = _build(conf, 1)
        first = [_next_id(core) for _ in range(3)]
        assert first[0] // 1_000_000_000 == 1, scenario
        re_epoch(core, _build(conf, 1), _build(conf, 2))
        after = _next_id(core)
        # the same place in the sequence, in epoch 2: never an id of epoch 1 again
        assert after == 2_000_000_000 + first[-1] % 1_000_000_000 + 1, (scenario, first, after)
