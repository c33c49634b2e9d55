"""The scalp chain: detect (``detect.py``) -> segment (``segment.py``) -> measure
(``measure.py``) -> grade (``grade.py``), chained in ``chain.py``."""
