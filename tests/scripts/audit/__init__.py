"""tests.scripts.audit."""
