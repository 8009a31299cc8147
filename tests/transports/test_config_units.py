"""Numbers the units say (``pint``), and config errors a person can act on (issue 17, items 7, 9).

Every shipped config still loads; ``unit_factor`` and ``base_per_lot`` are derived from the units
when not given, and a given value that disagrees (the ``0.0311`` that traded 3% off) is refused
naming the field, the given value and the derived one. A misspelt key gets "did you mean", a wrong
type or range shows the value from the file.
"""

from __future__ import annotations

import re
from pathlib import Path

import msgspec
import pytest

from transports.config import units
from transports.config.engine import load_config, load_config_bytes, with_overrides
from transports.errors import ConfigError

CONF = Path(__file__).resolve().parents[2] / "conf"
DEMO = (CONF / "demo.toml").read_text()
G_PER_OZT = 31.1034768
SHIPPED = sorted([*CONF.glob("*.toml"), *CONF.glob("scenarios/*.toml"),
                  *CONF.glob("faults/*.toml")])


def _load(text: str):
    return load_config_bytes(text.encode(), "x.toml")


def _edit(old: str, new: str, text: str = DEMO) -> str:
    assert old in text, old
    return text.replace(old, new, 1)


def _error(text: str) -> str:
    with pytest.raises(ConfigError) as exc:
        _load(text)
    return str(exc.value)


@pytest.mark.parametrize("path", [p for p in SHIPPED if p.name != "calendars.toml"],
                         ids=lambda p: str(p.relative_to(CONF)))
def test_every_shipped_config_still_loads(path: Path) -> None:
    cfg = load_config(path)
    by_key = {f"{c.venue}:{c.sym}": c for c in cfg.contracts}
    for p in cfg.pairs:  # and a gold pair's factor is the one the units say
        if {by_key[p.leg_a].unit, by_key[p.leg_b].unit} == {"g", "ozt"}:
            assert p.unit_factor == pytest.approx(1 / G_PER_OZT, rel=1e-12)


def test_the_shipped_configs_were_found() -> None:
    names = {str(p.relative_to(CONF)) for p in SHIPPED}
    assert {"demo.toml", "scenarios/stat-arb.toml", "scenarios/funding.toml",
            "faults/oe-chaos.toml"} <= names


# --- unit_factor ---------------------------------------------------------------------------------

_UF = "unit_factor = 0.0321507465686280"


def test_a_unit_factor_3_percent_off_is_refused_naming_given_and_derived() -> None:
    msg = _error(_edit(_UF, "unit_factor = 0.0311"))
    assert msg.startswith("x.toml: $.pairs[0].unit_factor: 0.0311 disagrees with the units")
    assert "0.03215074657" in msg and "tolerance 0.1%" in msg and "3.27%" in msg


def test_an_explicit_1_for_grams_against_ounces_is_refused_not_taken_for_unset() -> None:
    assert "$.pairs[0].unit_factor: 1 disagrees" in _error(_edit(_UF, "unit_factor = 1.0"))


def test_a_unit_factor_within_the_tolerance_is_kept_as_given() -> None:
    cfg = _load(_edit(_UF, "unit_factor = 0.03215"))  # 0.002% off
    assert cfg.pairs[0].unit_factor == 0.03215


def test_a_missing_unit_factor_is_derived_from_the_units() -> None:
    cfg = _load(re.sub(r"unit_factor = [^\n]*\n", "", DEMO, count=1))
    assert cfg.pairs[0].unit_factor == pytest.approx(1 / G_PER_OZT, rel=1e-12)


def test_a_factor_set_in_code_is_checked_too() -> None:
    cfg = load_config()
    bad = msgspec.structs.replace(cfg.pairs[0], unit_factor=0.0311)
    with pytest.raises(ConfigError, match=r"\$\.pairs\[0\]\.unit_factor: 0\.0311 disagrees"):
        with_overrides(cfg, pairs=[bad])
    assert with_overrides(cfg, pairs=list(cfg.pairs)).pairs == cfg.pairs


def test_legs_on_different_underlyings_are_not_checked() -> None:
    text = (CONF / "scenarios" / "stat-arb.toml").read_text()
    assert 'underlying = "rebar"' in text and 'underlying = "iron_ore"' in text
    assert _load(text).pairs[0].unit_factor == 1.0  # both in t, but no conversion between them
    cfg = _load(_edit("[[pairs]]\n", "[[pairs]]\nunit_factor = 0.37\n", text))
    assert cfg.pairs[0].unit_factor == 0.37


def test_units_pint_does_not_know_are_left_to_the_config() -> None:
    text = (CONF / "demo-crypto.toml").read_text()
    cfg = _load(_edit("unit_factor = 1.0", "unit_factor = 0.97", text))  # BTC legs: no check
    assert cfg.pairs[0].unit_factor == 0.97


@pytest.mark.parametrize(("a", "b", "want"), [
    ("g", "ozt", 1 / G_PER_OZT), ("kg", "g", 1000.0), ("t", "kg", 1000.0),
    ("kg", "lb", 1 / 0.45359237), ("bbl", "l", 158.987294928),
    ("g", "BTC", None), ("USD", "USD", None), ("pt", "pt", None),  # pt = index point, not pint
    ("oz", "g", None), ("mt", "kg", 1000.0),  # avoirdupois oz: ambiguous; mt = tonne
    ("g", "l", None),  # mass against volume
])
def test_unit_factor_of_unit_pairs(a: str, b: str, want: float | None) -> None:
    got = units.unit_factor(a, b)
    assert got == (None if want is None else pytest.approx(want, rel=1e-9))


# --- base_per_lot --------------------------------------------------------------------------------

def test_a_missing_base_per_lot_is_derived_in_the_underlyings_base_unit() -> None:
    cfg = _load(_edit("base_per_lot = 3110.34768", "", DEMO))
    gc = next(c for c in cfg.contracts if c.unit == "ozt")
    assert gc.base_per_lot == pytest.approx(100 * G_PER_OZT, rel=1e-12)


def test_with_no_base_per_lot_at_all_the_first_contracts_unit_is_the_base() -> None:
    text = _edit("base_per_lot = 3110.34768", "", _edit("base_per_lot = 1000.0", "", DEMO))
    got = {c.unit: c.base_per_lot for c in _load(text).contracts if c.underlying == "gold"}
    assert got == {"g": 1000.0, "ozt": pytest.approx(100 * G_PER_OZT, rel=1e-12)}


def test_a_base_per_lot_that_disagrees_is_refused() -> None:
    msg = _error(_edit("base_per_lot = 3110.34768", "base_per_lot = 3000.0"))
    assert msg.startswith("x.toml: $.contracts[1].base_per_lot: 3000 disagrees with the units")
    assert "3110.34768" in msg and "1 g" in msg and "tolerance 0.1%" in msg


def test_contracts_without_an_underlying_or_physical_unit_keep_zero() -> None:
    fx = next(c for c in load_config().contracts if not c.underlying)
    assert fx.base_per_lot == 0.0


# --- error messages: did you mean, the bad value -------------------------------------------------

@pytest.mark.parametrize(("old", "new", "message"), [
    ("z_entry =", "z_entri =", "x.toml: $.pairs[0].z_entri: unknown key; did you mean 'z_entry'?"),
    ("[risk]", "[riks]", "x.toml: $.riks: unknown key; did you mean 'risk'?"),
    ("duration_s = 30.0", "durashun_s = 30.0",
     "x.toml: $.run.durashun_s: unknown key; did you mean 'duration_s'?"),
    ("duration_s = 30.0", "duration_s = -5.0",
     "x.toml: $.run.duration_s: Expected `float` > 0.0; the file has -5.0"),
    ("z_entry = 2.0", "z_entry = \"two\"",
     "x.toml: $.pairs[0].z_entry: Expected `float`, got `str`; the file has 'two'"),
])
def test_errors_say_the_closest_key_or_the_bad_value(old: str, new: str, message: str) -> None:
    assert _error(_edit(old, new)) == message


def test_a_key_like_none_lists_the_known_ones() -> None:
    msg = _error("[run]\nqqqq = 1\n")
    assert msg.startswith("x.toml: $.run.qqqq: unknown key (known keys: ")
    assert "duration_s" in msg and "epoch" in msg


def test_a_misspelt_key_in_an_optional_nested_section() -> None:
    toml = "[[venues]]\nname='a'\nmd='x'\nref='y'\noe='z'\n[venues.ccxt]\nexchangee='b'\n"
    assert _error(toml) == ("x.toml: $.venues[0].ccxt.exchangee: unknown key; "
                            "did you mean 'exchange'?")
