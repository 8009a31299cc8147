"""``scripts.progress``: the one bar of the long commands, on a terminal only."""

from __future__ import annotations

import io

import pytest

from scripts.progress import echo, on_terminal, progress_bar


class _Tty(io.StringIO):
    """A stderr that says it is a terminal."""

    def isatty(self) -> bool:
        return True


def _stderr(monkeypatch: pytest.MonkeyPatch, buf: io.StringIO) -> io.StringIO:
    """Replace stderr inside the test's call (pytest's capture re-installs its own at the
    start of each phase, so a fixture's replacement would not last)."""
    monkeypatch.setattr("sys.stderr", buf)
    return buf


def test_on_a_terminal_the_bar_counts_caps_at_its_total_and_is_wiped(
        monkeypatch: pytest.MonkeyPatch) -> None:
    tty = _stderr(monkeypatch, _Tty())
    assert on_terminal()
    with progress_bar(5.0, "demo", "s") as bar:
        assert bar.shown
        bar.to(2.5)
        assert bar._bar.n == 2.5  # type: ignore[attr-defined]
        bar.to(7.3)  # the loop's last wake-up overshoots the run's length
        assert bar._bar.n == 5.0  # type: ignore[attr-defined]
        bar.note("combos 3")
        echo("drill: kill 1/2")  # a line above the bar, not through it
    out = tty.getvalue()
    assert "demo" in out and "5.0/5.0 s" in out and "combos 3" in out
    assert "drill: kill 1/2\n" in out
    assert out.endswith("\r")  # leave=False: the bar is wiped for the summary that follows


def test_a_whole_count_bar_advances(monkeypatch: pytest.MonkeyPatch) -> None:
    tty = _stderr(monkeypatch, _Tty())
    with progress_bar(3, "drill", "kill") as bar:
        for _ in range(3):
            bar.advance()
        assert bar._bar.n == 3  # type: ignore[attr-defined]
    assert "drill:" in tty.getvalue() and "/3 " in tty.getvalue()


def test_json_runs_show_nothing_even_on_a_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    tty = _stderr(monkeypatch, _Tty())
    assert not on_terminal(enabled=False)
    with progress_bar(10, "bench", "order", enabled=False) as bar:
        assert not bar.shown
        bar.advance(4)
        bar.to(9)
        bar.note("x")
    assert tty.getvalue() == ""


def test_no_terminal_no_bar(monkeypatch: pytest.MonkeyPatch) -> None:
    buf = _stderr(monkeypatch, io.StringIO())  # a pipe, a file, CI: isatty() is False
    assert not on_terminal()
    with progress_bar(2.0, "demo", "s") as bar:
        assert not bar.shown
        bar.to(1.0)
    assert buf.getvalue() == ""
