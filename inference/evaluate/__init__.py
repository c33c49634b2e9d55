"""Evaluation of the shipped models: ``python -m inference.evaluate scalp|face`` (``__main__.py``);
the metrics in ``metrics.py``, each domain's evaluation in ``scalp.py`` and ``face.py``."""
