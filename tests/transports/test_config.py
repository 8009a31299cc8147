"""Config sections: one base, the simulator's own module, errors that name the field path."""

from __future__ import annotations

import msgspec
import pytest

from transports.config import base, engine, market, ops, placement, sim, trading
from transports.config.engine import AppConfig, load_config, load_config_bytes
from transports.errors import ConfigError


def test_every_section_of_every_config_module_shares_the_one_base() -> None:
    sections = [v for m in (engine, market, trading, placement, ops, sim) for v in vars(m).values()
                if isinstance(v, type) and issubclass(v, msgspec.Struct)
                and v.__module__ == m.__name__]
    assert {"AppConfig", "PairConfig", "SupervisionConfig", "SimConfig", "FaultsConfig"} <= {
        s.__name__ for s in sections}
    assert all(issubclass(s, base.Section) for s in sections)
    # the simulator's sections live in their own module; the engine's AppConfig holds them
    assert sim.SimConfig.__module__ == "transports.config.sim"
    assert AppConfig.__annotations__["sim"] in ("SimConfig", sim.SimConfig)
    assert load_config().sim.venues  # the demo's [[sim.venues]] still load


@pytest.mark.parametrize(("toml", "message"), [
    (b"[sim]\nbogus = 1\n", "x.toml: $.sim.bogus: unknown key (known keys: "),
    (b"[[sim.venues]]\nname = 'x'\nlatency = 3\n",
     "x.toml: $.sim.venues[0].latency: unknown key; did you mean 'latency_us'?"),
    (b"[sim.faults]\nmd_drop = 1.5\n",
     "x.toml: $.sim.faults.md_drop: Expected `float` <= 1.0; the file has 1.5"),
    (b"[sim]\nbasis_cny_g = nan\n", "x.toml: $.sim.basis_cny_g: must be a finite number, got nan"),
    (b"[supervision]\nbogus = 1\n", "x.toml: $.supervision.bogus: unknown key (known keys: "),
    (b"[metrics]\nport = 70000\n",
     "x.toml: $.metrics.port: Expected `int` <= 65535; the file has 70000"),
    (b"[risk]\nmax_drawdown = inf\n",
     "x.toml: $.risk.max_drawdown: must be a finite number, got inf"),
])
def test_errors_name_the_path_in_every_section(toml: bytes, message: str) -> None:
    with pytest.raises(ConfigError) as exc:
        load_config_bytes(toml, "x.toml")
    # an unknown key with nothing close lists the known keys (the prefix is what matters)
    if message.endswith("(known keys: "):
        assert str(exc.value).startswith(message)
    else:
        assert str(exc.value) == message


# --- strategy kinds (issue 15) -------------------------------------------------------------------

_BASE = load_config()


def _load(data: dict[str, object]) -> AppConfig:
    """Decode and validate ``data`` as ``load_config_bytes`` does a TOML file."""
    try:
        cfg = msgspec.convert(data, AppConfig)
    except msgspec.ValidationError as exc:
        raise ConfigError(str(exc)) from None
    return engine._validate(cfg)


def _with_pair(**fields: object) -> dict[str, object]:
    """conf/demo.toml with its pair's fields replaced."""
    data = msgspec.to_builtins(_BASE)
    data["pairs"][0].update(fields)
    data["pairs"][0] = {k: v for k, v in data["pairs"][0].items() if v is not None}
    return data


def test_a_kind_needs_its_own_section_and_takes_no_other() -> None:
    with pytest.raises(ConfigError, match=r"pairs\[0\]\.basis: a pair of kind 'basis' needs"):
        _load(_with_pair(kind="basis"))
    with pytest.raises(ConfigError, match=r"pairs\[0\]\.stat: only a pair of kind 'stat'"):
        _load(_with_pair(stat={}))
    cfg = _load(_with_pair(kind="basis", basis={"rate": 0.03}))
    assert cfg.pairs[0].basis is not None and cfg.pairs[0].basis.rate == 0.03


def test_a_multi_pair_names_known_contracts_once_with_its_legs_among_them() -> None:
    legs = ["shfe:au2606", "comex:GCZ6", "fx:USDCNH"]
    ok = _load(_with_pair(kind="multi", multi={"legs": legs}))
    assert ok.pairs[0].multi is not None
    with pytest.raises(ConfigError, match=r"multi\.legs\[2\]: unknown contract 'x:Y'"):
        _load(_with_pair(kind="multi", multi={"legs": [*legs[:2], "x:Y"]}))
    with pytest.raises(ConfigError, match="listed twice"):
        _load(_with_pair(kind="multi", multi={"legs": [*legs, legs[0]]}))
    data = _with_pair(kind="multi", multi={"legs": [legs[0], legs[2], "shfe:au2612"]})
    data["contracts"].append({**data["contracts"][0], "sym": "au2612"})  # type: ignore[attr-defined]
    with pytest.raises(ConfigError, match=r"leg_b: 'comex:GCZ6' must be one of multi\.legs"):
        _load(data)
    with pytest.raises(ConfigError, match=r"length >= 3 - at `\$\.pairs\[0\]\.multi\.legs`"):
        _load(_with_pair(kind="multi", multi={"legs": legs[:2]}))


def test_a_kind_section_field_is_live_by_its_dotted_name() -> None:
    cfg = _load(_with_pair(kind="basis", basis={"rate": 0.03}))
    p = cfg.pairs[0]
    assert "basis.rate" in engine.live_pair_fields(p)
    assert "basis.rate" not in engine.live_pair_fields(_BASE.pairs[0])  # parity: no section
    new = engine.live_update(p, {"basis.rate": 0.05, "trigger": "edge"})
    assert new.basis is not None and new.basis.rate == 0.05 and new.trigger == "edge"
    assert new.basis.cost_multiple == p.basis.cost_multiple  # the rest of the section kept
    with pytest.raises(ConfigError, match=r"pairs\.au-gc\.basis\.nope: not a live parameter"):
        engine.live_update(p, {"basis.nope": 1})
    with pytest.raises(ConfigError, match="cost_multiple"):
        engine.live_update(p, {"basis.cost_multiple": 0.5})  # below the 1.0 minimum
    with pytest.raises(ConfigError, match=r"pairs\.au-gc\.kind: not a live parameter"):
        engine.live_update(p, {"kind": "parity"})
    whole = engine.with_params(cfg, "pairs.au-gc", {"basis.rate": 0.04})
    assert engine.live_params(whole)["pairs.au-gc"]["basis.rate"] == 0.04


def test_trigger_and_exit_values_are_checked() -> None:
    with pytest.raises(ConfigError, match="trigger"):
        _load(_with_pair(trigger="momentum"))
    with pytest.raises(ConfigError, match="exit_rule"):
        _load(_with_pair(exit_rule="never"))
    data = msgspec.to_builtins(_BASE)
    data["contracts"][0]["expiry"] = "2027-3-19"
    with pytest.raises(ConfigError, match="expiry"):
        _load(data)
