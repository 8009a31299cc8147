"""scripts.report."""
