"""Keyboards and typed settings: /remind's buttons and what a typed /remind asks for."""
from __future__ import annotations

from types import SimpleNamespace

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


def result(i: int, grade: str, view: str | None = None, file_id: str | None = "f") -> SimpleNamespace:
    measurements = {"exposed_scalp_ratio": 0.1 * i} | ({"view": view} if view else {})
    return SimpleNamespace(result_id=i, grade=grade, measurements=measurements,
                           annotated_file_id=file_id and f"{file_id}{i}")


def test_the_trend_compares_the_latest_with_the_last_graded_photo_of_its_view() -> None:
    results = [result(1, "LOW", "Front"), result(2, "MIDDLE", "Top-Down"),
               result(3, "HIGH", "Front"), result(4, "UNCERTAIN", "Top-Down"),
               result(5, "LOW", "Top-Down")]
    previous, latest = ui.trend_pair("scalp", results)
    assert (previous.result_id, latest.result_id) == (2, 5)  # not 4 (판단 어려움), not 3 (Front)
    assert ui.trend_pair("scalp", results[:2]) is None  # one graded photo of each view
    assert ui.trend_pair("scalp", [result(1, "UNCERTAIN")]) is None
    faces = [result(1, "LOW"), result(2, "HIGH"), result(3, "UNCERTAIN")]
    assert [r.result_id for r in ui.trend_pair("face", faces)] == [1, 2]


def test_before_after_is_the_first_and_latest_photo_of_one_view() -> None:
    results = [result(1, "LOW", "Top-Down"), result(2, "MIDDLE", "Front"),
               result(3, "HIGH", "Top-Down", file_id=None), result(4, "MIDDLE", "Top-Down"),
               result(5, "UNCERTAIN", "Top-Down")]
    first, latest = ui.before_after("scalp", results)
    assert (first.result_id, latest.result_id) == (1, 4)
    same = [result(1, "LOW", "Front", file_id="album"), result(1, "HIGH", "Front", file_id="album")]
    assert ui.before_after("scalp", same) is None  # one album picture: nothing to compare
    assert ui.before_after("scalp", [result(1, "LOW", "Front")]) is None


def test_answer_and_remove_keyboards() -> None:
    rows = ui.answer_keyboard(7, "scalp", "HIGH").inline_keyboard
    assert [[b.callback_data for b in row] for row in rows] == [["tips:scalp:HIGH"], ["rerun:7:face"]]
    assert all(ui.TIPS_PATTERN.match(b.callback_data) for b in rows[0])
    uncertain = ui.answer_keyboard(7, "face", "UNCERTAIN").inline_keyboard
    assert [[b.text for b in row] for row in uncertain] == [["두피 점검으로 다시"]]
    ask = ui.reopen_keyboard(12).inline_keyboard
    assert [(b.text, b.callback_data) for b in ask[0]] == [("이 기록 삭제", "rm:12")]
    confirm = ui.remove_keyboard(12).inline_keyboard[0]
    assert [b.callback_data for b in confirm] == ["rm:12:yes", "rm:12:no"]
    assert all(ui.REMOVE_PATTERN.match(b.callback_data) for b in (*ask[0], *confirm))


@pytest.mark.parametrize("pattern,prefix,suffix", [
    (ui.RERUN_PATTERN, "rerun:", ":face"), (ui.OPEN_PATTERN, "open:", ""),
    (ui.REMOVE_PATTERN, "rm:", ""), (ui.REMOVE_PATTERN, "rm:", ":yes"),
])
def test_ids_in_button_data_fit_the_database(pattern, prefix, suffix) -> None:
    """A 23-digit id raised OverflowError in the database and the button went unanswered: such
    data matches no pattern, so the catch-all handler answers it as an old button."""
    assert pattern.match(f"{prefix}{'9' * 18}{suffix}")
    assert int("9" * 18) < 2**63  # SQLite INTEGER and PostgreSQL BIGINT
    assert not pattern.match(f"{prefix}{'1' * 23}{suffix}")
    assert not ui.HISTORY_PATTERN.match("hist:" + "1" * 23)


def test_the_which_check_question_has_its_own_buttons() -> None:
    """Its buttons are told apart from the answer's re-analyse buttons: the handler takes the
    question away once it is answered."""
    [row] = ui.choose_keyboard(5, ["face", "scalp"]).inline_keyboard
    assert [(b.text, b.callback_data) for b in row] == [("피부 점검", "pick:5:face"), ("두피 점검", "pick:5:scalp")]
    assert all(ui.CHOOSE_PATTERN.match(b.callback_data) and not ui.RERUN_PATTERN.match(b.callback_data)
               for b in row)
