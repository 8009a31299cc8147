"""The CTP gateway (SHFE, INE, DCE, CZCE, GFEX through openctp-ctp): pure mappings (``time``,
``offsets``, ``md``, ``orders``), the locale check that must run before the vendor import
(``localecheck``), and the process (``gateway``)."""
