"""Training: `python -m inference.train scalp|skin` re-trains each model from ../shared."""
