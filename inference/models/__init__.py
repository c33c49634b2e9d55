"""Model families: one module each, built from a config."""
