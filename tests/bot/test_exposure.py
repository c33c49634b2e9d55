"""The scalp caption's describing sentence and the exposed-scalp ratio it shows.

The sentence after "두피 노출 비율 NN%:" comes from the same number, through
``bot.texts.exposure_band``; its cut points live only in ``bot/texts.py``. These tests
parse the number and the sentence out of the rendered caption and check that they can
never disagree, for every grade and a fine grid of ratios with the rounding edges.
"""
from __future__ import annotations

import math
import re
from pathlib import Path

import pytest

from bot import limits, texts, ui

GRADES = ("LOW", "MIDDLE", "HIGH", "UNCERTAIN")
#: The graded answers show the ratio (판단 어려움 shows no measurement behind no grade).
GRADED = ("LOW", "MIDDLE", "HIGH")
SHOWN = re.compile(r"^두피 노출 비율 (-?\d+)%: (.*)$", re.MULTILINE)
CUTS = (texts.EXPOSURE_LOW_BELOW, texts.EXPOSURE_HIGH_FROM)

#: The Korean sentence of each band, read from messages/_exposure.j2.
SENTENCES: dict[str, str] = dict(
    texts.build_environment().get_template("_exposure.j2").module.EXPOSURE_SENTENCE
)
BAND_OF_SENTENCE = {sentence: band for band, sentence in SENTENCES.items()}


def _edges() -> list[float]:
    """Ratios at the rounding edges of every cut point: x.5 % on either side, one ulp
    and 1e-9 away, and values whose float product lands just under .5 (0.145 * 100)."""
    out = [0.0, 1e-9, 0.004999, 0.005, 0.005001, 0.1499, 0.145, 0.155, 0.995, 0.999999, 1.0]
    for cut in CUTS:
        for whole in (cut - 1, cut):
            for half in (whole - 0.5, whole + 0.5):
                x = half / 100
                out += [x, math.nextafter(x, 0), math.nextafter(x, 1), x - 1e-9, x + 1e-9,
                        x - 1e-4, x + 1e-4]
        out += [cut / 100, math.nextafter(cut / 100, 0), (cut - 0.01) / 100]
    return out


#: 0 to 1 in steps of 0.0005 (every shown percent, both halves of each), plus the edges.
RATIOS = sorted({i / 2000 for i in range(2001)} | set(_edges()))


def expected_band(shown: int) -> str:
    """The band of a shown percent, from the cut points (not from exposure_band)."""
    if shown < texts.EXPOSURE_LOW_BELOW:
        return "low"
    if shown < texts.EXPOSURE_HIGH_FROM:
        return "moderate"
    return "high"


def caption(grade: str, ratio: float | None, **extra: object) -> str:
    measurements: dict[str, object] = {"regions": {"crown": 0.5, "hairline": 0.2}}
    if ratio is not None:
        measurements["exposed_scalp_ratio"] = ratio
    return texts.render("result_caption", domain="scalp", grade=grade, confidence=0.8,
                        measurements=measurements, **extra)


def parse(text: str) -> tuple[int, str]:
    """(the percent shown, the band its describing sentence names) from one caption."""
    shown = SHOWN.findall(text)
    assert len(shown) == 1, text
    number, sentence = shown[0]
    assert sentence in BAND_OF_SENTENCE, f"no describing sentence beside the ratio: {text}"
    named = [band for sentence, band in BAND_OF_SENTENCE.items() if sentence in text]
    assert named == [BAND_OF_SENTENCE[sentence]], f"more than one describing sentence: {text}"
    return int(number), BAND_OF_SENTENCE[sentence]


# --------------------------------------------------------------------------- agreement


@pytest.mark.parametrize("grade", GRADED)
def test_sentence_matches_the_percent_shown(grade: str) -> None:
    seen: dict[str, set[int]] = {band: set() for band in texts.EXPOSURE_BANDS}
    for ratio in RATIOS:
        shown, band = parse(caption(grade, ratio))
        assert shown == int(texts.percent(ratio)[:-1])
        assert band == expected_band(shown), f"{ratio!r} shown as {shown}% but described {band}"
        assert band == texts.exposure_band(ratio)
        seen[band].add(shown)
    # the grid reaches every band and both sides of every cut point
    assert all(seen.values()), seen
    for cut in CUTS:
        assert cut - 1 in set().union(*seen.values()) and cut in set().union(*seen.values())


def test_bands_follow_the_shown_percent_in_order() -> None:
    order = {band: i for i, band in enumerate(texts.EXPOSURE_BANDS)}
    last = -1
    for ratio in RATIOS:
        rank = order[texts.exposure_band(ratio)]
        assert rank >= last, ratio
        last = rank


@pytest.mark.parametrize(
    ("ratio", "band"),
    [
        (0.0, "low"),
        (0.1949, "low"),  # shown "19%"
        (0.1951, "moderate"),  # shown "20%"
        (0.2, "moderate"),
        (0.5449, "moderate"),  # shown "54%"
        (0.5451, "high"),  # shown "55%"
        (0.96, "high"),
        (1.0, "high"),
    ],
)
def test_exposure_band_at_the_cut_points(ratio: float, band: str) -> None:
    assert (texts.EXPOSURE_LOW_BELOW, texts.EXPOSURE_HIGH_FROM) == (20, 55)
    assert texts.exposure_band(ratio) == band


def test_the_issue_examples_no_longer_contradict() -> None:
    """'적은 편' beside 96% (a LOW grade) and '조금 넓은 편' beside 1% (a MIDDLE one)."""
    low_grade = caption("LOW", 0.96)
    assert parse(low_grade) == (96, "high")
    middle_grade = caption("MIDDLE", 0.01)
    assert parse(middle_grade) == (1, "low")
    for text in (low_grade, middle_grade):
        assert "적은 편" not in text and "넓은 편" not in text


@pytest.mark.parametrize("grade", GRADES)
def test_no_sentence_without_a_ratio(grade: str) -> None:
    text = caption(grade, None)
    assert "두피 노출 비율" not in text
    assert not any(sentence in text for sentence in SENTENCES.values())
    face = texts.render("result_caption", domain="face", grade=grade, confidence=0.8,
                        measurements={"lesion_count": 3})
    assert not any(sentence in face for sentence in SENTENCES.values())


def test_summaries_no_longer_claim_an_amount_of_scalp() -> None:
    """The grade's own line describes the grade; only the ratio's sentence speaks of it."""
    tips = texts.build_environment().get_template("_tips.j2").module.TIPS
    for grade in GRADES:
        summary = tips["scalp"][grade]["summary"]
        for word in ("드러난", "두피가", "보이는 부분", "노출", "넓은", "적은", "비율", "%"):
            assert word not in summary, (grade, summary)
        assert summary.endswith("요.")


def test_nan_ratio_is_left_out_of_the_caption() -> None:
    kept = ui.caption_measurements("scalp", {"exposed_scalp_ratio": math.nan, "regions": ["crown"]})
    assert kept == {"regions": ["crown"]}
    assert ui.caption_measurements("scalp", {"exposed_scalp_ratio": 0.3}) == {"exposed_scalp_ratio": 0.3}
    with pytest.raises(ValueError):
        texts.exposure_band(math.nan)


# --------------------------------------------------------------------------- one place


def test_sentences_cover_exactly_the_bands() -> None:
    assert set(SENTENCES) == set(texts.EXPOSURE_BANDS)
    assert len(set(SENTENCES.values())) == len(SENTENCES)
    for sentence in SENTENCES.values():
        assert "비율" in sentence  # one vocabulary: the line above says "두피 노출 비율"
        assert not re.search(r"\d", sentence), sentence


def test_templates_hold_no_numbers_for_the_cut_points() -> None:
    """No template compares the ratio itself: no number literal equal to a cut point
    (as a percent or as a ratio) in any template's code, across messages/."""
    env = texts.build_environment()
    forbidden = {float(c) for c in CUTS} | {c / 100 for c in CUTS}
    for path in sorted(texts.MESSAGES_DIR.glob("*.j2")):
        for _, kind, value in env.lex(path.read_text(encoding="utf-8")):
            if kind in ("integer", "float"):
                assert float(value) not in forbidden, f"{path.name}: {value}"
    caption_source = (texts.MESSAGES_DIR / "result_caption.html.j2").read_text(encoding="utf-8")
    assert "exposure_band" in caption_source and "EXPOSURE_SENTENCE" in caption_source


def test_cut_points_are_assigned_once_in_bot() -> None:
    bot_dir = Path(texts.__file__).parent
    for name in ("EXPOSURE_LOW_BELOW", "EXPOSURE_HIGH_FROM"):
        assignments = [
            path for path in bot_dir.rglob("*.py")
            for line in path.read_text(encoding="utf-8").splitlines()
            if re.match(rf"\s*{name}\s*(?::[^=]+)?=", line)
        ]
        assert assignments == [bot_dir / "texts.py"], (name, assignments)


def test_caption_follows_the_constants(monkeypatch: pytest.MonkeyPatch) -> None:
    """Moving the cut points in bot/texts.py moves the caption's sentence with them."""
    assert parse(caption("MIDDLE", 0.30))[1] == "moderate"
    monkeypatch.setattr(texts, "EXPOSURE_LOW_BELOW", 31)
    monkeypatch.setattr(texts, "EXPOSURE_HIGH_FROM", 60)
    assert parse(caption("MIDDLE", 0.30)) == (30, "low")
    monkeypatch.setattr(texts, "EXPOSURE_LOW_BELOW", 5)
    monkeypatch.setattr(texts, "EXPOSURE_HIGH_FROM", 30)
    assert parse(caption("MIDDLE", 0.30)) == (30, "high")


@pytest.mark.parametrize("grade", GRADES)
def test_caption_with_the_sentence_fits_the_answer_limit(grade: str) -> None:
    for ratio in (0.0, 0.3, 0.999999):
        assert texts.telegram_length(caption(grade, ratio)) <= limits.ANSWER_TEXT_LIMIT


def test_an_uncertain_answer_shows_no_ratio() -> None:
    """판단 어려움 has no measurement behind it: neither the number nor its sentence."""
    text = caption("UNCERTAIN", 0.42)
    assert "두피 노출 비율" not in text and "42%" not in text
    assert not any(sentence in text for sentence in SENTENCES.values())
