"""The domains the service answers for, loaded from the weights folder and registered here.

Each domain (``DOMAINS``: scalp, face) names its weights files, a loader that builds its
chain from them (``inference.pipeline.scalp.chain.ScalpChain``,
``inference.pipeline.face.chain.FaceChain``) and an adapter that turns the chain's
analysis into the generic ``DomainOutput`` the answer and the drawing need. The router is
loaded beside them where its weights are there. ``load_models`` loads every domain whose
files are all present (at least one must be) and hashes the files that run, for the
answer's ``model_version``.
"""
from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from inference import artifacts as A
from inference.models.classifier import ImageClassifier
from inference.models.face_detector import FaceDetector
from inference.models.onnx_runtime import Backend
from inference.models.router import Router
from inference.models.unet import load_unet
from inference.models.yolo import YoloDetector
from inference.pipeline.common.draw import face_headline, scalp_headline
from inference.pipeline.common.quality import RegionEvidence
from inference.pipeline.face.chain import FaceAnalysis, FaceChain
from inference.pipeline.face.evidence import FACE_SCORE_MIN, FACE_SURE, shows_face
from inference.pipeline.face.grade import CountGrader
from inference.pipeline.face.segment import lesion_index
from inference.pipeline.scalp.chain import ScalpAnalysis, ScalpChain, surely_faceless
from inference.pipeline.scalp.evidence import shows_scalp
from inference.pipeline.scalp.grade import CNN_FEATURES, LogisticGrader
from inference.pipeline.scalp.segment import RegionSegmenter
from inference.types import Box, Detection, GradeResult, Segmentation

from .settings import Settings

HASH_CHARS = 8  # short sha256 of each weights file in model_version


class DomainChain(Protocol):
    def analyze(self, images: list[np.ndarray], backgrounds: list[np.ndarray | None] | None = None) -> list[Any]:
        """One analysis per image, all images in one forward pass per network; ``backgrounds``:
        per image, the pixels known not to be the person (``pipeline/common/background.py``)."""
        ...


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
    found: bool = True  # the photo shows the domain's subject (the check under the grade)
    sure: bool = False  # so surely that the router's "neither" is overruled (a trusted face)
    also: tuple[str, ...] = ()  # the other domains whose subject the chain saw (a scalp photo's face)
    only: bool = False  # the chain is sure no other domain's subject is in view (a crown from above)


RouteProbabilities = Mapping[str, float] | None  # the router's, where one ran


@dataclass(frozen=True)
class DomainSpec:
    name: str
    files: tuple[str, ...]  # weights files, all required
    load: Callable[[Path, Backend], DomainChain]  # (weights folder, backend) -> chain
    output: Callable[[Any, RouteProbabilities], DomainOutput]  # (analysis, router's view) -> DomainOutput
    optional: tuple[str, ...] = ()  # weights files used when present (hashed into the version then)
    # the photos (of those the router called neither) this domain still takes, from its chain
    claims: Callable[[Any], Callable[[list[np.ndarray]], list[bool]]] | None = None


# -- scalp -------------------------------------------------------------------------------


def load_scalp(directory: Path, backend: Backend) -> ScalpChain:
    grader = LogisticGrader.from_json(json.loads((directory / A.SCALP_GRADER).read_text()))
    cnn = ImageClassifier.load(directory / A.SCALP_CNN, backend) if CNN_FEATURES[0] in grader.features else None
    # the view classifier where it is shipped: the chain measures the view's Norwood zones with it
    view = ImageClassifier.load(directory / A.SCALP_VIEW, backend) if (directory / A.SCALP_VIEW).is_file() else None
    return ScalpChain(
        YoloDetector(directory / A.SCALP_DETECTOR, backend),
        RegionSegmenter(load_unet(directory / A.SCALP_SEGMENTER, backend)),
        grader,
        classifier=cnn,
        faces=FaceDetector(directory / A.FACE_FINDER),
        view=view,
    )


def regions_of(dets: tuple[Detection, ...], seg: Segmentation) -> tuple[tuple[dict, ...], RegionEvidence]:
    """The answer's regions and the subject evidence, from detections and per-region pixel counts.

    When nothing was detected the models analysed the whole photo: that region
    is listed as class "image" with score 0.
    """
    h, w = seg.labels.shape[:2]
    missing = max(0, len(seg.region_pixels) - len(dets))
    boxes = list(dets) + [Detection(Box(0, 0, w, h), -1, "image", 0.0)] * missing
    regions, subject, total = [], 0, 0
    for det, counts in zip(boxes, seg.region_pixels):
        area = {c: int(n) for c, n in counts.items() if c != "background"}
        subject += sum(area.values())
        total += sum(counts.values())
        regions.append({"box": det.box.as_list(), "class": det.label, "score": round(det.score, 4), "mask_area": area})
    best = max((d.score for d in dets), default=0.0)
    return tuple(regions), RegionEvidence(float(best), subject / total if total else 0.0)


def scalp_output(a: ScalpAnalysis, route: RouteProbabilities = None) -> DomainOutput:
    """The scalp's answer; its subject is found where the best box holds enough hair and
    scalp in the scalp zone (``scalp/evidence.py``)."""
    regions, evidence = regions_of(a.detections, a.segmentation)
    found = False
    if a.detections and a.segmentation.region_pixels:
        h, w = a.segmentation.labels.shape[:2]
        x1, y1, x2, y2 = a.detections[0].box.clip(w, h).as_int()
        found = shows_scalp(a.detections[0].score, a.segmentation.region_pixels[0], (x2 - x1) * (y2 - y1))
    only = surely_faceless(a.measurements.view_probabilities)  # a crown or back: no face to check
    return DomainOutput(a.detections, regions, a.segmentation, a.measurements.as_dict(), a.grade, evidence,
                        scalp_headline(a.measurements.exposed_scalp_ratio), found,
                        also=("face",) if a.faces else (), only=only)


# -- face --------------------------------------------------------------------------------


def load_face(directory: Path, backend: Backend) -> FaceChain:
    grader = CountGrader.from_json(json.loads((directory / A.FACE_GRADER).read_text()))
    finder = directory / A.FACE_FINDER  # the evidence that a face is in view, where shipped
    return FaceChain(
        YoloDetector(directory / A.FACE_DETECTOR, backend, imgsz=grader.detector_imgsz),
        load_unet(directory / A.FACE_SEGMENTER, backend),
        grader,
        faces=FaceDetector(finder, score=FACE_SCORE_MIN) if finder.is_file() else None,
    )


def face_output(a: FaceAnalysis, route: RouteProbabilities = None) -> DomainOutput:
    """One region per counted lesion (its box, score and the U-Net's lesion pixels inside it).

    Whether the photo shows a face at all is not the lesions' question (clear skin has no
    lesion and is a valid LOW): a face YuNet finds, or a skin close-up the router takes for a
    face (``face/evidence.py``)."""
    seg = a.segmentation
    h, w = seg.labels.shape[:2]
    lesion = lesion_index(seg.classes)
    regions = []
    for d in a.detections:
        x1, y1, x2, y2 = d.box.clip(w, h).as_int()
        px = int(np.count_nonzero(seg.labels[y1:y2, x1:x2] == lesion))
        regions.append({"box": d.box.as_list(), "class": d.label, "score": round(d.score, 4),
                        "mask_area": {"lesion": px}})
    found = shows_face(a.face_score, a.skin, route.get("face") if route else None)
    return DomainOutput(a.detections, tuple(regions), seg, a.measurements.as_dict(), a.grade,
                        RegionEvidence(1.0, 1.0), face_headline(a.measurements.lesion_count),
                        found, a.face_score >= FACE_SURE)


# -- the registry ------------------------------------------------------------------------

DOMAINS: dict[str, DomainSpec] = {
    # optional: the grade CNN (loaded where the grader uses it) and the view classifier
    "scalp": DomainSpec("scalp", (A.SCALP_DETECTOR, A.SCALP_SEGMENTER, A.SCALP_GRADER, A.FACE_FINDER), load_scalp,
                        scalp_output, optional=(A.SCALP_CNN, A.SCALP_VIEW)),
    # optional: the face finder, the evidence that a face is in view
    # claims: a face YuNet trusts, where the router saw neither (selfies, portraits)
    "face": DomainSpec("face", (A.FACE_DETECTOR, A.FACE_SEGMENTER, A.FACE_GRADER), load_face, face_output,
                       optional=(A.FACE_FINDER,), claims=lambda chain: chain.sure_faces),
}


def load_router(directory: Path, backend: Backend) -> Router | None:
    """The router, or None without its weights (then every photo goes to the default domain)."""
    path = directory / A.ROUTER
    return Router.load(path, backend) if path.is_file() else None


def running_file(path: Path, backend: Backend) -> Path:
    """The file that runs for a weights file: its ONNX export or int8 twin where the backend
    runs ONNX, else the file itself."""
    path = Path(path)
    return (backend.onnx_file(path.with_suffix(".onnx")) if path.suffix == ".pt" else None) or path


def short_sha256(path: Path, backend: Backend | None = None) -> str:
    """Short sha256 of a weights file; with ``backend``, also of the ONNX file that runs for it
    (``running_file``), so the version names the network used."""
    paths = [Path(path)]
    if backend is not None and running_file(path, backend) != Path(path):
        paths.append(running_file(path, backend))
    h = hashlib.sha256()
    for p in paths:
        with open(p, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                h.update(chunk)
    return h.hexdigest()[:HASH_CHARS]


@dataclass
class Models:
    """The loaded domains: what ``predict`` runs and ``/healthz`` reports."""

    chains: dict[str, DomainChain]
    outputs: dict[str, Callable[[Any, RouteProbabilities], DomainOutput]]
    hashes: dict[str, dict[str, str]]  # domain -> weights file -> short sha256
    device: str = "cpu"
    router: Router | None = None
    running: dict[str, dict[str, str]] = field(default_factory=dict)  # domain -> weights file -> the file that runs
    claims: dict[str, Callable[[list[np.ndarray]], list[bool]]] = field(default_factory=dict)  # DomainSpec.claims

    def available(self, domain: str) -> bool:
        return domain == "auto" or domain in self.chains

    def model_version(self, domain: str | None = None) -> str:
        if domain in self.hashes:
            doms = [domain] + (["router"] if "router" in self.hashes else [])
        else:
            doms = sorted(self.hashes)
        return " ".join(f"{d}:" + ".".join(self.hashes[d].values()) for d in doms)


def load_models(settings: Settings, specs: dict[str, DomainSpec] | None = None) -> Models:
    """Every registered domain whose weights are all present; at least one must load."""
    backend = settings.runtime()
    if settings.threads > 0 and (not backend.device.startswith("cpu") or backend.backend == "torch"):
        import torch

        torch.set_num_threads(settings.threads)
    directory = Path(settings.weights)
    chains, outputs, hashes, running, claims, missing = {}, {}, {}, {}, {}, []
    for name, spec in (DOMAINS if specs is None else specs).items():
        paths = [directory / f for f in spec.files]
        absent = [str(p) for p in paths if not p.is_file()]
        if absent:
            missing += absent
            continue
        chains[name] = spec.load(directory, backend)
        outputs[name] = spec.output
        if spec.claims is not None:
            claims[name] = spec.claims(chains[name])
        paths += [p for p in (directory / f for f in spec.optional) if p.is_file()]
        hashes[name] = {p.name: short_sha256(p, backend) for p in paths}
        running[name] = {p.name: running_file(p, backend).name for p in paths}
    if not chains:
        raise FileNotFoundError(f"no domain model could be loaded; missing weights: {', '.join(missing)}"
                                f" (WEIGHTS_DIR={directory}, from {os.getcwd()})")
    router = load_router(directory, backend)
    if router is not None:
        hashes["router"] = {A.ROUTER: short_sha256(directory / A.ROUTER, backend)}
        running["router"] = {A.ROUTER: running_file(directory / A.ROUTER, backend).name}
    return Models(chains, outputs, hashes, backend.device, router=router, running=running, claims=claims)
