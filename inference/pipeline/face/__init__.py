"""The face (acne) chain: detect (``detect.py``) -> segment (``segment.py``) -> count
(``count.py``) -> grade (``grade.py``), chained in ``chain.py``."""
