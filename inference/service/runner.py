"""The model side of the service, in a LitServe-like lifecycle.

``setup`` (load every domain's models once, hash their weights) -> ``decode``
(bytes -> upright RGB + quality report) -> batch (done outside, by
``batching.MicroBatcher``) -> ``predict`` (a list of photos -> one forward pass
per model: route, then each domain's ``analyze``) -> unbatch (outside) ->
``encode`` (one photo's prediction -> the JSON answer with the annotated JPEG).
Nothing here knows about HTTP, queues or threads; ``run_one`` chains the steps
for one photo without batching (the CLI, and the reference in the tests).

Domains sit behind one interface, ``DomainModel`` (``analyze(list of RGB) ->
list of analyses``), registered in ``domains()`` with their weights files and an
adapter that turns the domain's analysis into the generic ``DomainOutput``.
"face" is registered without a loader until the skin models exist: asking for
it answers 400 ``domain_unavailable``, and ``auto`` routes everything to scalp
(``"routing": "default"``, see ``inference/pipeline/route.py``).

A photo failing the quality gate (``too_small``, ``too_dark``, ``too_bright``,
``blurry`` before the models; ``not_scalp_or_face`` from the models' evidence)
is a valid request: the answer is the normal JSON with ``quality.ok`` false,
the reasons, and ``grade``, ``confidence`` and ``annotated_jpeg`` null; the bot
shows the retake advice for the reasons.
"""
from __future__ import annotations

import base64
import hashlib
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Protocol

import numpy as np

from inference.pipeline import quality as gate
from inference.pipeline.decode import DecodedImage, decode
from inference.pipeline.draw import Annotation, render_jpeg, scalp_headline
from inference.pipeline.quality import QualityReport, RegionEvidence
from inference.pipeline.route import DEFAULT_DOMAIN, NEITHER, Router, load_router, route_batch
from inference.pipeline.types import Box, Detection, GradeResult, Segmentation

from .settings import Settings

REQUEST_DOMAINS = ("auto", "scalp", "face")
HASH_CHARS = 8  # short sha256 of each weights file in model_version


class DomainModel(Protocol):
    def analyze(self, images: list[np.ndarray]) -> list[Any]:
        """One analysis per image, all images in one forward pass per network."""


@dataclass(frozen=True)
class DomainOutput:
    """A domain's analysis of one photo, in the terms the answer and the drawing need."""

    detections: tuple[Detection, ...]
    regions: tuple[dict, ...]  # the answer's "regions"
    segmentation: Segmentation | None
    measurements: dict
    grade: GradeResult
    evidence: RegionEvidence
    headline: str  # the key measurement in Korean, for the legend


@dataclass(frozen=True)
class DomainSpec:
    name: str
    files: tuple[str, ...]  # weights files in WEIGHTS_DIR, all required
    load: Callable[[Path, str], DomainModel] | None  # (weights dir, device) -> model
    output: Callable[[Any], DomainOutput] | None  # the domain's analysis -> DomainOutput
    optional: tuple[str, ...] = ()  # weights files used when present (hashed into the version then)


def regions_of(dets: tuple[Detection, ...], seg: Segmentation) -> tuple[tuple[dict, ...], RegionEvidence]:
    """The answer's regions and the subject evidence, from detections and per-region pixel counts.

    When nothing was detected the models analysed the whole photo: that region
    is listed as class "image" with score 0.
    """
    h, w = seg.labels.shape[:2]
    boxes = list(dets) + [Detection(Box(0, 0, w, h), -1, "image", 0.0)] * max(0, len(seg.region_pixels) - len(dets))
    regions, subject, total = [], 0, 0
    for det, counts in zip(boxes, seg.region_pixels):
        area = {c: int(n) for c, n in counts.items() if c != "background"}
        subject += sum(area.values())
        total += sum(counts.values())
        regions.append({"box": det.box.as_list(), "class": det.label, "score": round(det.score, 4), "mask_area": area})
    best = max((d.score for d in dets), default=0.0)
    return tuple(regions), RegionEvidence(float(best), subject / total if total else 0.0)


def scalp_output(a) -> DomainOutput:
    regions, evidence = regions_of(a.detections, a.segmentation)
    return DomainOutput(
        a.detections, regions, a.segmentation, a.measurements.as_dict(), a.grade, evidence,
        scalp_headline(a.measurements.exposed_scalp_ratio),
    )


def _load_scalp(directory: Path, device: str) -> DomainModel:
    from inference.pipeline.scalp import ScalpModels

    return ScalpModels.load(directory, device=device)


def domains() -> dict[str, DomainSpec]:
    """The registry of domain models (a function, so that importing this module loads no torch)."""
    from inference.pipeline.scalp import SCALP_CNN, SCALP_DETECTOR, SCALP_GRADER, SCALP_SEGMENTER

    from .face_adapter import FACE_FILES, face_output, load_face

    return {
        "scalp": DomainSpec("scalp", (SCALP_DETECTOR, SCALP_SEGMENTER, SCALP_GRADER), _load_scalp, scalp_output,
                            optional=(SCALP_CNN,)),  # the grade CNN, where the grader uses it
        "face": DomainSpec("face", FACE_FILES, load_face, face_output),
    }


def running_onnx(path: Path, device: str | None) -> Path | None:
    """The ONNX file that runs for a ``.pt`` weights file on ``device``: its export or the
    export's int8 twin (``runtime_onnx``); None where the weights file itself runs."""
    from inference.models.onnx_utils import runtime_onnx

    if device is None or Path(path).suffix != ".pt":
        return None
    return runtime_onnx(device, Path(path).with_suffix(".onnx"))


def short_sha256(path: Path, device: str | None = None) -> str:
    """Short sha256 of a weights file; with ``device``, also of the ONNX export beside it
    or its int8 twin, when that is what runs (``runtime_onnx``), so the version names the
    network used."""
    paths = [Path(path)]
    onnx = running_onnx(path, device)
    if onnx is not None:
        paths.append(onnx)
    h = hashlib.sha256()
    for p in paths:
        with open(p, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                h.update(chunk)
    return h.hexdigest()[:HASH_CHARS]


def running_file(path: Path, device: str) -> str:
    """The name of the file that runs for a weights file on ``device``."""
    return (running_onnx(path, device) or Path(path)).name


@dataclass(frozen=True)
class Job:
    """One gated photo waiting for the models."""

    rgb: np.ndarray
    domain: str = "auto"  # auto / scalp / face


@dataclass(frozen=True)
class Prediction:
    domain: str | None  # None: the router saw neither a scalp nor a face
    routing: str  # requested / router / default
    output: DomainOutput | None  # None when ``rejected``
    batch_size: int  # photos of this domain in the forward pass
    predict_ms: float
    rejected: str | None = None  # a quality reason decided by the router ("not_scalp_or_face")
    route_probabilities: dict[str, float] | None = None


@dataclass
class Runner:
    models: dict[str, DomainModel]
    outputs: dict[str, Callable[[Any], DomainOutput]]
    hashes: dict[str, dict[str, str]]  # domain -> weights file -> short sha256
    device: str = "cpu"
    router: Router | None = None
    on_model_batch: Callable[[str, int, float], None] | None = None  # (domain, size, seconds)
    running: dict[str, dict[str, str]] = field(default_factory=dict)  # domain -> weights file -> the file that runs

    # -- setup ---------------------------------------------------------------

    @classmethod
    def setup(cls, settings: Settings, specs: dict[str, DomainSpec] | None = None) -> "Runner":
        """Load every registered domain whose weights are all present; at least one must load."""
        device = settings.resolved_device()
        if settings.threads > 0:
            from inference.models import onnx_utils

            onnx_utils.THREADS = settings.threads
            if not device.startswith("cpu") or os.environ.get("INFERENCE_BACKEND") == "torch":
                import torch

                torch.set_num_threads(settings.threads)
        specs = domains() if specs is None else specs
        models, outputs, hashes, running, missing = {}, {}, {}, {}, []
        for name, spec in specs.items():
            if spec.load is None or spec.output is None:
                continue
            paths = [Path(settings.weights) / f for f in spec.files]
            absent = [str(p) for p in paths if not p.is_file()]
            if absent:
                missing += absent
                continue
            models[name] = spec.load(Path(settings.weights), device)
            outputs[name] = spec.output
            paths += [p for p in (Path(settings.weights) / f for f in spec.optional) if p.is_file()]
            hashes[name] = {p.name: short_sha256(p, device) for p in paths}
            running[name] = {p.name: running_file(p, device) for p in paths}
        if not models:
            raise FileNotFoundError(f"no domain model could be loaded; missing weights: {', '.join(missing)}")
        router = load_router(Path(settings.weights), device)
        if router is not None:
            from inference.pipeline.router import ROUTER_WEIGHTS

            hashes["router"] = {ROUTER_WEIGHTS: short_sha256(Path(settings.weights) / ROUTER_WEIGHTS, device)}
            running["router"] = {ROUTER_WEIGHTS: running_file(Path(settings.weights) / ROUTER_WEIGHTS, device)}
        return cls(models, outputs, hashes, device, router=router, running=running)

    def available(self, domain: str) -> bool:
        return domain == "auto" or domain in self.models

    def model_version(self, domain: str | None = None) -> str:
        doms = [domain] + (["router"] if "router" in self.hashes else []) if domain in self.hashes else sorted(self.hashes)
        return " ".join(f"{d}:" + ".".join(self.hashes[d].values()) for d in doms)

    # -- decode --------------------------------------------------------------

    @staticmethod
    def decode(data: bytes) -> tuple[DecodedImage, QualityReport, dict[str, float]]:
        """Bytes -> photo and quality report (raises ``DecodeError``), with timings in ms."""
        t0 = time.perf_counter()
        img = decode(data)
        t1 = time.perf_counter()
        report = gate.check(img.rgb)
        t2 = time.perf_counter()
        return img, report, {"decode": (t1 - t0) * 1000, "quality": (t2 - t1) * 1000}

    # -- predict -------------------------------------------------------------

    def predict(self, jobs: list[Job]) -> list[Prediction]:
        """All jobs at once: route the "auto" ones, then one ``analyze`` call per domain."""
        domains: list[str] = [j.domain for j in jobs]
        routing = ["requested"] * len(jobs)
        probs: list[dict | None] = [None] * len(jobs)
        out: list[Prediction | None] = [None] * len(jobs)
        auto = [i for i, j in enumerate(jobs) if j.domain == "auto"]
        route_ms = 0.0  # the router's pass is part of every routed photo's predict time
        if auto:
            t0 = time.perf_counter()
            if self.router is not None and hasattr(self.router, "decisions"):
                decisions = self.router.decisions([jobs[i].rgb for i in auto])
                routed = [NEITHER if dec.neither else dec.domain for dec in decisions]
                for i, dec in zip(auto, decisions):
                    probs[i] = dec.probabilities
            else:
                routed = route_batch([jobs[i].rgb for i in auto], self.router)
            route_ms = (time.perf_counter() - t0) * 1000
            for i, d in zip(auto, routed):
                how = "router" if self.router is not None else "default"
                if d == NEITHER:  # no model runs on a photo of neither
                    out[i] = Prediction(None, how, None, 0, route_ms, "not_scalp_or_face", probs[i])
                    domains[i] = NEITHER
                    continue
                if d not in self.models:  # the router chose a domain this server has no models for
                    d, how = (DEFAULT_DOMAIN if DEFAULT_DOMAIN in self.models else next(iter(self.models))), "default"
                domains[i], routing[i] = d, how
        for d in dict.fromkeys(domains):
            if d == NEITHER:
                continue
            idx = [i for i, di in enumerate(domains) if di == d]
            if d not in self.models:
                raise KeyError(f"no models loaded for domain {d!r}")
            t0 = time.perf_counter()
            analyses = self.models[d].analyze([jobs[i].rgb for i in idx])
            dt = time.perf_counter() - t0
            if self.on_model_batch is not None:
                self.on_model_batch(d, len(idx), dt)
            for i, a in zip(idx, analyses):
                out[i] = Prediction(d, routing[i], self.outputs[d](a), len(idx),
                                    dt * 1000 + (route_ms if routing[i] != "requested" else 0.0), route_probabilities=probs[i])
        return out  # type: ignore[return-value]

    # -- encode --------------------------------------------------------------

    def encode(
        self,
        img: DecodedImage,
        report: QualityReport,
        pred: Prediction | None,
        timings_ms: dict[str, float],
        requested: str = "auto",
        with_image: bool = True,
    ) -> dict:
        """The answer for one photo (see the module docstring for a photo failing the gate)."""
        t0 = time.perf_counter()
        out = pred.output if pred is not None else None
        if pred is not None and pred.rejected:
            report = report.with_reason(pred.rejected)
        if out is not None:
            why = gate.region_reason(out.evidence)
            if why:
                report = report.with_reason(why)
        graded = out is not None and report.ok
        jpeg = None
        if graded and with_image:
            a = Annotation(
                pred.domain, out.detections,
                out.segmentation.labels if out.segmentation is not None else None,
                out.segmentation.classes if out.segmentation is not None else (),
                out.grade, out.headline,
            )
            jpeg = render_jpeg(img.rgb, a)
        timings = dict(timings_ms)
        timings["draw"] = (time.perf_counter() - t0) * 1000
        domain = pred.domain if pred is not None else (requested if requested != "auto" else None)
        g = out.grade if graded else None
        return {
            "domain": domain,
            "routing": pred.routing if pred is not None else ("requested" if requested != "auto" else None),
            "route_probabilities": pred.route_probabilities if pred is not None else None,
            "grade": g.grade if g else None,
            "confidence": g.confidence if g else None,
            "grade_detail": (
                {"best_guess": g.best_guess, "probabilities": g.probabilities, "reasons": list(g.reasons)} if g else None
            ),
            "quality": report.as_dict(),
            "regions": [dict(r) for r in out.regions] if out is not None else [],
            "measurements": out.measurements if out is not None else None,
            "model_version": self.model_version(domain),
            "image": {
                "width": int(img.rgb.shape[1]),
                "height": int(img.rgb.shape[0]),
                "original_width": img.original_size[0],
                "original_height": img.original_size[1],
                "format": img.format,
            },
            "timings_ms": {k: round(v, 1) for k, v in timings.items()},
            "annotated_jpeg": base64.b64encode(jpeg).decode("ascii") if jpeg is not None else None,
        }

    # -- all steps for one photo, no batching ------------------------------------

    def run_one(self, data: bytes, domain: str = "auto", with_image: bool = True) -> dict:
        t0 = time.perf_counter()
        img, report, timings = self.decode(data)
        return self.run_decoded(img, report, timings, domain, with_image, t0)

    def run_decoded(
        self,
        img: DecodedImage,
        report: QualityReport,
        timings: dict[str, float],
        domain: str = "auto",
        with_image: bool = True,
        started: float | None = None,
    ) -> dict:
        """``run_one`` after ``decode``; ``started``: the ``perf_counter()`` before decoding."""
        t0 = time.perf_counter() if started is None else started
        pred = None
        if report.ok:
            pred = self.predict([Job(img.rgb, domain)])[0]
            timings["predict"] = pred.predict_ms
        result = self.encode(img, report, pred, timings, requested=domain, with_image=with_image)
        result["timings_ms"]["total"] = round((time.perf_counter() - t0) * 1000, 1)
        return result
