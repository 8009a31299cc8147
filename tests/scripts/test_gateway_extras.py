"""``cmc gateway ccxt`` without its optional extra: exit 2 naming the library and the extra to
install, never a traceback (``ccxt`` is hidden from the child with ``sys.modules``)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_a_gateway_without_its_extra_names_the_extra() -> None:
    code = ("import sys; sys.modules['ccxt'] = None; sys.argv = ['cmc', 'gateway', 'ccxt', "
            "'--exchange', 'binance', '--market', 'spot', '--conf', 'conf/demo-crypto.toml']; "
            "from scripts.cli import main; main()")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, cwd=ROOT,
                          timeout=60, check=False)
    err = proc.stderr.decode()
    assert proc.returncode == 2, err
    assert "'ccxt' is not installed (pip install -e '.[crypto]')" in err
    assert "Traceback" not in err
