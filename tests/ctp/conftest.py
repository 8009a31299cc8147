"""CTP tests: the zh_CN.GB18030 locale must exist before openctp-ctp is imported (the import
aborts the process from C++ without it), so it is created here, when pytest loads this file —
before any test module of this directory is imported — and never skipped for."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from transports.venues.ctp.localecheck import HOW_TO, has_ctp_locale


def _ensure_locale() -> None:
    if has_ctp_locale():
        return
    tool = shutil.which("localedef")
    if tool is None:
        pytest.exit(f"localedef not found: {HOW_TO}", returncode=1)
    run = subprocess.run([tool, "-i", "zh_CN", "-f", "GB18030", "zh_CN.GB18030"],
                         capture_output=True, text=True, timeout=120, check=False)
    if not has_ctp_locale():
        pytest.exit(f"creating the locale failed ({run.returncode}: {run.stderr.strip()[:300]})"
                    f": {HOW_TO}", returncode=1)


_ensure_locale()


@pytest.fixture(scope="session", autouse=True)
def ctp_locale() -> None:
    """The locale exists for every CTP test (created above, at collection)."""
    assert has_ctp_locale(), HOW_TO
