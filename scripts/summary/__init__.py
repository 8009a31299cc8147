"""``cmc summary RUN``: a run's summary computed from its journal (``build``), as text or JSON
(``text``, ``cmd``); ``cmc launch`` writes the same figures to ``summary.json`` at its stop."""
