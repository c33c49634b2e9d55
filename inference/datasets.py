"""Layouts of the labelled photo folders that training and evaluation read."""
from __future__ import annotations

import re

VIEWS = ("Top-Down", "Back", "Front", "Left", "Right")
_VIEW = re.compile(r"^(\d+)-?(Top-Down|Back|Front|Left|Right)[_.]")


def view_of(filename: str) -> str:
    """The view in a scalp_uze file name ("6-Top-Down_jpg.rf....jpg", also "31Left_jpg...")."""
    m = _VIEW.match(filename)
    return m.group(2) if m else "unknown"


def person_number(filename: str) -> str:
    """The number before the view (shared by one person's five views; reused across people)."""
    m = _VIEW.match(filename)
    return m.group(1) if m else filename
