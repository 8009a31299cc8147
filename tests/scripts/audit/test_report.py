"""``cmc report`` writes an HTML page whose plots exist and are real PNGs."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from scripts.cli import main as cli
from tests.support.demo_runs import demo_run


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return demo_run(tmp_path_factory)


def test_report_writes_index_and_non_empty_images(run_dir: Path, tmp_path: Path) -> None:
    import matplotlib  # noqa: F401  - in the test extra: a missing install fails, never skips
    res = CliRunner().invoke(cli, ["report", str(run_dir / "journal.cmcj"), "--out", str(tmp_path)])
    assert res.exit_code == 0, res.output
    page = (tmp_path / "index.html").read_text()
    pngs = sorted(tmp_path.glob("*.png"))
    assert {p.name for p in pngs} >= {"latency.png", "exposure.png", "pnl.png", "spread-au-gc.png"}
    for p in pngs:
        assert p.stat().st_size > 5000 and p.read_bytes()[:4] == b"\x89PNG"
        assert f"src='{p.name}'" in page
    assert "Combos" in page and "identical" in page
