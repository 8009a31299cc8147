"""``cmc top --once``: the plain text frame for scripts and CI, over the real admin socket."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from scripts.cli import main as cli
from tests.admin_console.conftest import Launch

pytestmark = pytest.mark.timeout(20)


def test_once_prints_the_plain_frame_and_replication_when_present(launch: Launch) -> None:
    launch.start()
    args = ["top", "--once", "--endpoint", launch.endpoint, "--keys", str(launch.keys),
            "--timeout", "2"]
    res = CliRunner().invoke(cli, args)
    assert res.exit_code == 0, res.output
    lines = res.output.splitlines()
    assert lines[0].startswith("cmc top") and "trading ACTIVE" in lines[0]
    assert "\x1b[" not in res.output  # plain: no colour, no screen clearing
    pair = next(x for x in lines if x.startswith("au-gc"))
    assert pair.rstrip().endswith("trading")
    assert not any(x.startswith("ha ") for x in lines)
    launch.backend.extra_status["ha"] = {"role": "standby", "holder": "srv-a", "epoch": 3,
                                         "lag_records": 0, "lag_ms": 0.4}
    res = CliRunner().invoke(cli, args)
    assert "ha     role standby  holder srv-a  epoch 3  lag 0 records / 0.4 ms" in res.output
    halt = CliRunner().invoke(cli, ["admin", "halt", "--endpoint", launch.endpoint, "--keys",
                                    str(launch.keys)])
    assert halt.exit_code == 0, halt.output
    pair = next(x for x in CliRunner().invoke(cli, args).output.splitlines()
                if x.startswith("au-gc"))
    assert "HALTED (risk)" in pair and not pair.rstrip().endswith("trading")


def test_once_without_a_launch_exits_2_naming_the_endpoint(launch: Launch) -> None:
    res = CliRunner().invoke(cli, ["top", "--once", "--endpoint", launch.endpoint, "--keys",
                                   str(launch.keys), "--timeout", "0.2"])
    assert res.exit_code == 2
    assert f"no reply from {launch.endpoint}" in res.output
