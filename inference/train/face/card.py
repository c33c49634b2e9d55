"""The face section of ``weights/MODEL_CARD.md``: ``card.md.j2`` rendered with the run's
choices and valid figures between ``<!-- face:begin -->`` and ``<!-- face:end -->``; the
rest of the card is written by hand and left as it is."""
from __future__ import annotations

import argparse
import importlib.resources
from pathlib import Path

import jinja2

from inference.artifacts import MODEL_CARD
from inference.pipeline.face.grade import CountGrader

CARD_BEGIN, CARD_END = "<!-- face:begin -->", "<!-- face:end -->"
TEMPLATE = "card.md.j2"
# valid-split figures the card quotes (``face_metrics``)
METRIC_FIELDS = ("n", "map50", "map50_95", "precision", "recall", "fusion_precision", "fusion_recall",
                 "grade_accuracy", "grade_accuracy4", "routing_accuracy")


def card_fields(args: argparse.Namespace, grader: CountGrader, metrics: dict, router: dict) -> dict:
    """What the template reads: the detector's size, the calibrated grader (merge,
    thresholds, confidences, fusion), the valid metrics and the router's valid figures."""
    return {"imgsz": args.imgsz, "merge": grader.merge, "thresholds": grader.thresholds,
            "uncertain": grader.uncertain_below, "fusion_used": grader.fusion.enabled, "conf": grader.conf,
            "scalp_routing": router.get("scalp_accuracy"), "neither_routing": router.get("neither_accuracy"),
            **{k: metrics.get(k) for k in METRIC_FIELDS}}


def render_section(fields: dict) -> str:
    """The face section, markers included; a missing figure (None) reads "n/a"."""
    env = jinja2.Environment(keep_trailing_newline=True, undefined=jinja2.StrictUndefined, autoescape=False,
                             finalize=lambda v: "n/a" if v is None else v)
    env.filters["g"] = lambda v: format(v, "g")
    text = importlib.resources.files(__package__).joinpath(TEMPLATE).read_text(encoding="utf-8")
    return CARD_BEGIN + "\n" + env.from_string(text).render(**fields) + CARD_END


def write_model_card(out: Path, fields: dict) -> Path:
    """Replace (or append) the face section of ``weights/MODEL_CARD.md``."""
    path = out / MODEL_CARD
    text = path.read_text() if path.exists() else "# Model card\n"
    section = render_section(fields)
    if CARD_BEGIN in text and CARD_END in text:
        text = text[: text.index(CARD_BEGIN)] + section + text[text.index(CARD_END) + len(CARD_END) :]
    else:
        text = text.rstrip("\n") + "\n\n" + section + "\n"
    path.write_text(text)
    return path
