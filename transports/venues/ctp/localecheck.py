"""The locale openctp-ctp needs, checked before its import.

Importing ``openctp_ctp`` without the ``zh_CN.GB18030`` locale aborts the whole process from
C++ (``std::runtime_error: locale::facet::_S_create_c_locale``) — no Python exception, no
message. So the gateway asks the C library first (``setlocale``, then restores the previous
locale) and refuses to start with a message that says how to create it.
"""

from __future__ import annotations

import locale

from transports.errors import ConfigError

CTP_LOCALE = "zh_CN.GB18030"
HOW_TO = ("the CTP API needs the zh_CN.GB18030 locale: create it with "
          "`localedef -i zh_CN -f GB18030 zh_CN.GB18030` (as root; Debian/Ubuntu: "
          "`apt-get install locales` first)")


def has_ctp_locale() -> bool:
    """Whether the C library can load ``zh_CN.GB18030`` (the process locale is unchanged)."""
    before = locale.setlocale(locale.LC_ALL)
    try:
        locale.setlocale(locale.LC_ALL, CTP_LOCALE)
    except locale.Error:
        return False
    finally:
        locale.setlocale(locale.LC_ALL, before)
    return True


def require_ctp_locale() -> None:
    """Raise ``ConfigError`` with the command that creates the locale when it is missing."""
    if not has_ctp_locale():
        raise ConfigError(HOW_TO)


__all__ = ["CTP_LOCALE", "HOW_TO", "has_ctp_locale", "require_ctp_locale"]
