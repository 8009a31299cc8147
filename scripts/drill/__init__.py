"""scripts.drill: drills a desk runs before going live."""
