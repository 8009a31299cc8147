"""scripts.admin."""
