"""Keyboards and typed settings: /remind's buttons and what a typed /remind asks for."""
from __future__ import annotations

import pytest

from bot import ui


@pytest.mark.parametrize("typed,wanted", [
    ("2주", 14), ("4 주", 28), ("8w", 56), ("10", 10), ("10일", 10), ("3 days", 3),
    ("off", False), ("끄기", False), ("0", False),
    ("매주", None), ("999", None), ("26주", None), ("-3", None), ("", None),
])
def test_typed_remind_settings_are_understood_or_refused(typed, wanted) -> None:
    assert ui.parse_remind(typed) == wanted


def test_remind_keyboard_marks_the_current_setting() -> None:
    [row] = ui.remind_keyboard(28).inline_keyboard
    assert [(b.text, b.callback_data) for b in row] == [
        ("2주", "remind:14"), ("✓ 4주", "remind:28"), ("8주", "remind:56"), ("끄기", "remind:off")]
    [off] = ui.remind_keyboard(None).inline_keyboard
    assert off[-1].text == "✓ 끄기" and all(ui.REMIND_PATTERN.match(b.callback_data) for b in off)
