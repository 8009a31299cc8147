"""Cores are pure by construction: the domain modules import no I/O, thread or process machinery.

ruff's TID253 (``pyproject.toml``) bans those imports at module level in ``actors/`` (except
``actors/runtime/``) and ``kernels/``; this test reads the same list and also catches an import
hidden inside a function or a ``TYPE_CHECKING`` block.
"""

from __future__ import annotations

import ast
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _banned() -> list[str]:
    cfg = tomllib.loads((ROOT / "pyproject.toml").read_text())
    return cfg["tool"]["ruff"]["lint"]["flake8-tidy-imports"]["banned-module-level-imports"]


def _domain_modules() -> list[Path]:
    actors = [p for p in (ROOT / "actors").rglob("*.py")
              if not p.is_relative_to(ROOT / "actors" / "runtime")]
    return sorted([*actors, *(ROOT / "kernels").rglob("*.py")])


def _imports(path: Path) -> list[tuple[int, str]]:
    out = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            out += [(node.lineno, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            out.append((node.lineno, node.module))
    return out


def test_domain_modules_import_nothing_banned() -> None:
    banned = _banned()
    assert {"zmq", "threading", "os", "pathlib", "socket", "psutil", "pykka"} <= set(banned)
    mods = _domain_modules()
    names = {p.relative_to(ROOT).as_posix() for p in mods}
    # the domain is what it should be: cores in, runtime (shells, hosts) out
    assert {"actors/feed.py", "actors/journal.py", "actors/strategy/strategy.py",
            "kernels/book.py"} <= names
    assert not any(n.startswith("actors/runtime/") for n in names)
    bad = [f"{p.relative_to(ROOT)}:{line}: {mod}" for p in mods for line, mod in _imports(p)
           if any(mod == b or mod.startswith(b + ".") for b in banned)]
    assert bad == []


def test_the_check_would_see_a_hidden_import(tmp_path: Path) -> None:
    probe = tmp_path / "probe.py"
    probe.write_text("def f():\n    import zmq\n    from os import path\n")
    assert _imports(probe) == [(2, "zmq"), (3, "os")]
