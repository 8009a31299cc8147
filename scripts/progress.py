"""One progress display for the long commands (``cmc demo``, ``cmc drill crash``,
``cmc bench gateway``, ``cmc bench risk``): a tqdm bar on stderr, shown only on a terminal.

``disable=None`` is tqdm's "only when the stream is a tty": a pipe, a file, CI or a test's
captured stderr get nothing, so the commands' output (and their ``--json``) stays clean; a
caller passes ``enabled=False`` for ``--json`` so a terminal's stderr stays quiet too. The bar
is left off the screen when it closes (``leave=False``): the command's own summary follows.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager


class Progress:
    """What a caller moves: ``advance(n)`` adds to the count, ``to(n)`` sets it (a clock's
    elapsed seconds), ``note(text)`` shows a short status beside the bar."""

    def __init__(self, bar: object | None) -> None:
        self._bar = bar

    def advance(self, n: float = 1) -> None:
        """Add ``n`` to the count."""
        if self._bar is not None:
            self._bar.update(n)  # type: ignore[attr-defined]

    def to(self, n: float) -> None:
        """Set the count to ``n`` (capped at the total: a loop's last wake-up may overshoot)."""
        bar = self._bar
        if bar is None:
            return
        total = bar.total  # type: ignore[attr-defined]
        n = min(n, total) if total else n
        bar.update(n - bar.n)  # type: ignore[attr-defined]

    def note(self, text: str) -> None:
        """Show ``text`` after the bar (the current step of a drill, say)."""
        if self._bar is not None:
            self._bar.set_postfix_str(text, refresh=True)  # type: ignore[attr-defined]

    @property
    def shown(self) -> bool:
        """Whether a bar is on the terminal (False when disabled or not a tty)."""
        return self._bar is not None


@contextmanager
def progress_bar(total: float | None, label: str, unit: str = "it",
                 enabled: bool = True) -> Iterator[Progress]:
    """A bar of ``total`` ``unit`` (None: a counter without a total) labelled ``label``, on
    stderr when it is a terminal and ``enabled``; yields a ``Progress`` that does nothing when
    the bar is not shown, so callers never test for it."""
    if not enabled:
        yield Progress(None)
        return
    from tqdm import tqdm

    # seconds show as 1.2/30.0 s (tqdm's default would print 1.2000000000000002/30)
    seconds = unit == "s" and total is not None
    fmt = "{l_bar}{bar}| {n:.1f}/{total:.1f} {unit}{postfix}" if seconds else None
    bar = tqdm(total=total, desc=label, unit=unit, disable=None, file=sys.stderr, leave=False,
               dynamic_ncols=True, **({"bar_format": fmt} if fmt else {}))
    try:
        yield Progress(None if bar.disable else bar)
    finally:
        bar.close()


def on_terminal(enabled: bool = True) -> bool:
    """Whether ``progress_bar(..., enabled)`` will show a bar: enabled and stderr a terminal
    (a caller quietens its own stderr chatter then, so lines do not cut through the bar)."""
    return enabled and sys.stderr.isatty()


def echo(text: str) -> None:
    """Print a line on stderr above any bar that is shown (tqdm clears and redraws it)."""
    from tqdm import tqdm

    tqdm.write(text, file=sys.stderr)


__all__ = ["Progress", "echo", "on_terminal", "progress_bar"]
