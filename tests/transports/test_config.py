"""Config sections: one base, the simulator's own module, errors that name the field path."""

from __future__ import annotations

import msgspec
import pytest

from transports.config import base, engine, ops, sim
from transports.config.engine import AppConfig, load_config, load_config_bytes
from transports.errors import ConfigError


def test_every_section_of_every_config_module_shares_the_one_base() -> None:
    sections = [v for m in (engine, ops, sim) for v in vars(m).values()
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
    (b"[sim]\nbogus = 1\n", "x.toml: Object contains unknown field `bogus` - at `$.sim`"),
    (b"[[sim.venues]]\nname = 'x'\nlatency = 3\n",
     "x.toml: Object contains unknown field `latency` - at `$.sim.venues[0]`"),
    (b"[sim.faults]\nmd_drop = 1.5\n",
     "x.toml: Expected `float` <= 1.0 - at `$.sim.faults.md_drop`"),
    (b"[sim]\nbasis_cny_g = nan\n", "x.toml: $.sim.basis_cny_g: must be a finite number, got nan"),
    (b"[supervision]\nbogus = 1\n",
     "x.toml: Object contains unknown field `bogus` - at `$.supervision`"),
    (b"[metrics]\nport = 70000\n", "x.toml: Expected `int` <= 65535 - at `$.metrics.port`"),
    (b"[risk]\nmax_drawdown = inf\n",
     "x.toml: $.risk.max_drawdown: must be a finite number, got inf"),
])
def test_errors_name_the_path_in_every_section(toml: bytes, message: str) -> None:
    with pytest.raises(ConfigError) as exc:
        load_config_bytes(toml, "x.toml")
    assert str(exc.value) == message
