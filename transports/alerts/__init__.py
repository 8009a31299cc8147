"""Alerts of a launch: which journaled events become alerts (``rules``), each service's payload
(``formats``) and the sender off the hot path (``sender``); ``[alerts]`` is
``transports.config.alerts``."""
