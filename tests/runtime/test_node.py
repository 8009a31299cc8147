"""Placement: every actor placed once, CPUs checked, host threads pinned (never hard-coded ids)."""

from __future__ import annotations

import os
from typing import Any

import msgspec
import pytest

from actors.core import Core
from actors.runtime.host.host import Begin, Directory, Host
from actors.runtime.node import actor_names, check_placement
from actors.runtime.shells.shell import Shell
from transports.clock import LiveClock
from transports.config.engine import load_config
from transports.errors import ConfigError


def test_demo_placement_places_every_actor_once() -> None:
    cfg = load_config()
    pl = check_placement(cfg)
    placed = [a for g in pl.groups for a in g.actors]
    assert sorted(placed) == sorted(actor_names(cfg))


def test_missing_actor_is_a_config_error() -> None:
    cfg = load_config()
    pl = cfg.placement
    assert pl is not None
    groups = [msgspec.structs.replace(g, actors=[a for a in g.actors if a != "combo"])
              for g in pl.groups]
    bad = msgspec.structs.replace(cfg, placement=msgspec.structs.replace(pl, groups=groups))
    with pytest.raises(ConfigError, match=r"not placed.*combo"):
        check_placement(bad)


def test_a_cpu_the_machine_lacks_is_a_config_error_naming_the_field() -> None:
    cfg = load_config()
    pl = cfg.placement
    assert pl is not None
    missing = max(os.sched_getaffinity(0)) + 1000
    groups = [msgspec.structs.replace(pl.groups[0], cpus=[missing]), *pl.groups[1:]]
    bad = msgspec.structs.replace(cfg, placement=msgspec.structs.replace(pl, groups=groups))
    with pytest.raises(ConfigError, match=rf"placement\.groups\[0\]\.cpus: CPU {missing}"):
        check_placement(bad)


def test_a_host_pins_its_own_thread_not_the_main_thread(ctx: Any) -> None:
    allowed = sorted(os.sched_getaffinity(0))
    cpu = allowed[-1]
    d = Directory("n", {"a": "g"}, {"g": "n"}, {"n": "inproc://x"})
    ref = Host.start("g", [Shell(Core("a"))], d, LiveClock(), ctx, [cpu])
    d.refs["g"] = ref
    ref.tell(Begin())
    inside = ref.proxy().call("a", lambda core, now: tuple(sorted(os.sched_getaffinity(0))))
    assert inside.get(timeout=5) == (cpu,)
    assert sorted(os.sched_getaffinity(0)) == allowed  # the caller's thread is untouched


def test_venue_calendars_come_from_config_and_unknown_names_are_errors() -> None:
    from actors.runtime.node import venue_calendars

    cfg = load_config()
    assert venue_calendars(cfg) is None  # the demo's simulated venues never close
    venues = [msgspec.structs.replace(v, calendar="shfe_au") if v.name == "shfe" else v
              for v in cfg.venues]
    cals = venue_calendars(msgspec.structs.replace(cfg, venues=venues))
    assert cals is not None and set(cals) == {"shfe"}
    bad = [msgspec.structs.replace(v, calendar="nope") if v.name == "shfe" else v
           for v in cfg.venues]
    with pytest.raises(ConfigError, match="nope"):
        venue_calendars(msgspec.structs.replace(cfg, venues=bad))
