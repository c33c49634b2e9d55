"""Inference side of the scalp and skin self-check: models, pure pipeline, service, training."""

__version__ = "0.1.0"
