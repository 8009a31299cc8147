"""scripts.audit."""
