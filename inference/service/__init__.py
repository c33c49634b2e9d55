"""The HTTP inference service: ``python -m inference serve`` (see ``app.py``)."""
