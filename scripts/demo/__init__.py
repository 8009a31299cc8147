"""scripts.demo.demo."""
