"""Layouts of the labelled photo folders that training and evaluation read."""
from __future__ import annotations

import re
from pathlib import Path

VIEWS = ("Top-Down", "Back", "Front", "Left", "Right")
# where each dataset keeps its valid-split photos, under a datasets root that the caller names
VALID_PHOTOS = {"scalp_uze": ("scalp_uze", "valid"), "acne04": ("acne04", "valid", "images")}
_VIEW = re.compile(r"^(\d+)-?(Top-Down|Back|Front|Left|Right)[_.]")


def view_of(filename: str) -> str:
    """The view in a scalp_uze file name ("6-Top-Down_jpg.rf....jpg", also "31Left_jpg...")."""
    m = _VIEW.match(filename)
    return m.group(2) if m else "unknown"


def person_number(filename: str) -> str:
    """The number before the view (shared by one person's five views; reused across people)."""
    m = _VIEW.match(filename)
    return m.group(1) if m else filename


def valid_photos(datasets_root: Path, dataset: str) -> list[Path]:
    """The valid-split JPEGs of ``dataset`` ("scalp_uze" or "acne04") under ``datasets_root``,
    sorted; empty when the folder is not there."""
    return sorted(Path(datasets_root).joinpath(*VALID_PHOTOS[dataset]).glob("*.jpg"))
