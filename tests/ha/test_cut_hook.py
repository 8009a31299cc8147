"""``CutHook`` (``scripts.launch.ha.runtime``): the drill's exact-instant partition fires once it is
armed and both legs' first orders of one combo were acknowledged, once."""

from __future__ import annotations

from pathlib import Path

import pytest

from scripts.launch.ha.runtime import CUT_AFTER_BOTH_LEGS, CutHook
from transports.errors import ConfigError
from transports.wire.codec import encode
from transports.wire.venue_msgs import NewOrder


def _intent(cl: str) -> bytes:
    """One intent record as ``LegShell`` replicates it: (ts, account, order)."""
    return encode((1, "shfe-acct", NewOrder(cl=cl, sym="au2606", side="B", px=30_700, qty=28,
                                            tif="IOC", ts=1)))


def test_fires_after_both_legs_of_one_combo_once_armed_and_only_once(tmp_path: Path) -> None:
    arm = tmp_path / "armed"
    hook = CutHook(str(arm))
    assert not hook.due([_intent("1.1000000001.0.0"), _intent("1.1000000001.1.0")])  # not armed
    arm.touch()
    assert not hook.due([_intent("1.1000000002.0.0")])  # one leg's shell flushed
    assert not hook.due([_intent("1.1000000002.0.1")])  # a chase is not the other leg
    assert hook.due([_intent("1.1000000002.1.0")])  # the other shell: both legs acked
    assert Path(f"{arm}.fired").read_text().strip() == "1000000002"
    assert not hook.due([_intent("1.1000000003.0.0"), _intent("1.1000000003.1.0")])  # once


def test_read_from_the_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("CMC_TEST_CUT_AFTER", raising=False)
    assert CutHook.from_env() is None
    monkeypatch.setenv("CMC_TEST_CUT_AFTER", CUT_AFTER_BOTH_LEGS)
    monkeypatch.delenv("CMC_TEST_CUT_ARM", raising=False)
    with pytest.raises(ConfigError):
        CutHook.from_env()
    monkeypatch.setenv("CMC_TEST_CUT_ARM", str(tmp_path / "a"))
    hook = CutHook.from_env()
    assert hook is not None and hook.arm == str(tmp_path / "a")
