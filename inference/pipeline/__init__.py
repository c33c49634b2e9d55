"""The pure core: arrays in, dataclasses out; no files read, nothing fitted.

``common/``: decode -> quality -> route, and draw; ``scalp/`` and ``face/``: each domain's
chain of detect -> segment -> measure (count) -> grade, on models constructed elsewhere.
"""
