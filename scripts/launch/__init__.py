"""scripts.launch."""
