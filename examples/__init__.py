"""Examples that run against this stack (not shipped in the layer)."""
