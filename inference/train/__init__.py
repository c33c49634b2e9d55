"""Training: `python -m inference.train scalp|face|quantize` re-trains each model from ../shared
(``scalp/`` and ``face/`` hold each domain's stages, ``router/`` the scalp / face / neither router)."""
