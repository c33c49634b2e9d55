"""Print the pip requirements of one image, from pyproject.toml (the one place they are written).

    python requirements.py pyproject.toml inference   # without the bot's packages
    python requirements.py pyproject.toml bot         # without the model stack (no torch)

The bot imports no torch, Ultralytics, ONNX or prometheus-client, the service no Telegram,
database or template package; tests/deploy/test_deploy.py follows the imports of ``python -m bot``
and ``python -m inference serve`` and checks that each image keeps every package its entry
point needs. Standard library only: it runs in the image's build stage before anything is
installed.
"""
from __future__ import annotations

import re
import sys
import tomllib

#: Dependencies the bot image leaves out: the models' stack and the service's metrics.
BOT_EXCLUDES = frozenset({
    "torch", "torchvision", "ultralytics", "segmentation-models-pytorch",
    "onnx", "onnxruntime", "prometheus-client",
})
#: Dependencies the inference image leaves out: the bot's Telegram, database and text packages.
INFERENCE_EXCLUDES = frozenset({"python-telegram-bot", "aiosqlite", "asyncpg", "jinja2"})
EXCLUDES = {"bot": BOT_EXCLUDES, "inference": INFERENCE_EXCLUDES}


def name_of(requirement: str) -> str:
    """The normalised project name of a PEP 508 line (``Foo_Bar[x]>=1`` -> ``foo-bar``)."""
    return re.sub(r"[-_.]+", "-", re.split(r"[\s\[<>=!~;@]", requirement.strip(), maxsplit=1)[0]).lower()


def requirements(pyproject: str, image: str) -> list[str]:
    if image not in EXCLUDES:
        raise SystemExit(f"image must be one of {', '.join(EXCLUDES)}, not {image!r}")
    with open(pyproject, "rb") as f:
        deps = tomllib.load(f)["project"]["dependencies"]
    return [d for d in deps if name_of(d) not in EXCLUDES[image]]


if __name__ == "__main__":
    if len(sys.argv) != 3:
        raise SystemExit(__doc__)
    print("\n".join(requirements(sys.argv[1], sys.argv[2])))
