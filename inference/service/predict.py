"""Predict: a batch of gated photos -> one forward pass per network.

The router looks at every photo first (one pass for the batch): it routes the "auto" ones,
and a photo it calls neither is answered without a model (``not_scalp_or_face``) unless a
domain claims it (``Models.claims``: a face YuNet trusts is a face, a selfie too); a photo
sent for a domain keeps it, with the router's view recorded for the check under its grade
(``quality.subject_reason``). Then each domain's chain analyses its photos in one call.
Nothing here knows about HTTP, queues or threads: the micro-batcher (``batching.py``) calls
``predict`` on the model thread.
"""
from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from inference.pipeline.common.route import DEFAULT_DOMAIN, NEITHER, could_be, route

from .domains import DomainOutput, Models

REQUEST_DOMAINS = ("auto", "scalp", "face")

OnModelBatch = Callable[[str, int, float], None]  # (domain, photos, seconds)


@dataclass(frozen=True)
class Job:
    """One gated photo waiting for the models."""

    rgb: np.ndarray
    domain: str = "auto"  # auto / scalp / face
    background: np.ndarray | None = None  # pixels known not to be the person (transparent, flat)


@dataclass(frozen=True)
class Prediction:
    domain: str | None  # None: the router saw neither a scalp nor a face
    routing: str  # requested / router / claimed (a domain took a photo the router called neither) / default
    output: DomainOutput | None  # None when ``rejected``
    batch_size: int  # photos of this domain in the forward pass
    predict_ms: float
    rejected: str | None = None  # a quality reason decided by the router ("not_scalp_or_face")
    route_probabilities: dict[str, float] | None = None
    router_neither: bool = False  # the router saw neither on a photo sent for a domain
    could_be: tuple[str, ...] = ()  # the domains the photo could be meant for, ``domain`` first


def predict(models: Models, jobs: list[Job], on_model_batch: OnModelBatch | None = None) -> list[Prediction]:
    """All jobs at once: the router's pass, then one ``analyze`` call per domain."""
    domains = [j.domain for j in jobs]
    routing = ["requested"] * len(jobs)
    probs: list[dict[str, float] | None] = [None] * len(jobs)
    neither = [False] * len(jobs)
    out: list[Prediction | None] = [None] * len(jobs)
    auto = [i for i, j in enumerate(jobs) if j.domain == "auto"]
    # without a router only the "auto" photos need a decision (the default domain)
    seen = list(range(len(jobs))) if models.router is not None else auto
    route_ms = 0.0  # the router's pass is part of every photo's predict time
    if seen:
        t0 = time.perf_counter()
        decisions = route([jobs[i].rgb for i in seen], models.router)
        route_ms = (time.perf_counter() - t0) * 1000
        how = "router" if models.router is not None else "default"
        claimed = _claimed(models, [i for i, dec in zip(seen, decisions) if dec.neither and jobs[i].domain == "auto"],
                           jobs)
        for i, dec in zip(seen, decisions):
            probs[i] = dec.probabilities or None
            if jobs[i].domain != "auto":
                neither[i] = dec.neither
                continue
            if i in claimed:
                domains[i], routing[i] = claimed[i], "claimed"
                continue
            if dec.neither:  # no model runs on a photo of neither
                out[i] = Prediction(None, how, None, 0, route_ms, "not_scalp_or_face", probs[i])
                domains[i] = NEITHER
                continue
            d, why = dec.domain, how
            if d not in models.chains:  # the router chose a domain this server has no models for
                d, why = (DEFAULT_DOMAIN if DEFAULT_DOMAIN in models.chains else next(iter(models.chains))), "default"
            domains[i], routing[i] = d, why
    for d in dict.fromkeys(domains):
        if d == NEITHER:
            continue
        if d not in models.chains:
            raise KeyError(f"no models loaded for domain {d!r}")
        idx = [i for i, di in enumerate(domains) if di == d]
        t0 = time.perf_counter()
        analyses = models.chains[d].analyze([jobs[i].rgb for i in idx], [jobs[i].background for i in idx])
        dt = time.perf_counter() - t0
        if on_model_batch is not None:
            on_model_batch(d, len(idx), dt)
        for i, a in zip(idx, analyses):
            ms = dt * 1000 + (route_ms if i in seen else 0.0)
            output = models.outputs[d](a, probs[i])
            also = output.also + (("scalp",) if routing[i] == "claimed" else ())  # a portrait shows both
            options = (d,) if routing[i] == "requested" or output.only else could_be(d, probs[i], also)
            out[i] = Prediction(d, routing[i], output, len(idx), ms, route_probabilities=probs[i],
                                router_neither=neither[i], could_be=options)
    assert all(p is not None for p in out)
    return out  # type: ignore[return-value]


def _claimed(models: Models, idx: list[int], jobs: list[Job]) -> dict[int, str]:
    """Of the photos ``idx`` the router called neither, those a domain claims: index -> domain."""
    out: dict[int, str] = {}
    for d, claims in models.claims.items():
        todo = [i for i in idx if i not in out]
        if todo:
            out.update((i, d) for i, yes in zip(todo, claims([jobs[i].rgb for i in todo])) if yes)
    return out
