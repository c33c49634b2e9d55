"""The pure core: arrays in, dataclasses out.

decode -> quality -> route -> detect -> segment -> measure -> grade -> draw,
one module per step.
"""
