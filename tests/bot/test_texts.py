"""Tests for bot.texts and the Korean templates in messages/."""
from __future__ import annotations

import itertools
import re
from datetime import UTC, date, datetime, timedelta
from html.parser import HTMLParser
from typing import Any

import pytest
from jinja2 import UndefinedError

from bot import guide, limits, texts
from bot.storage import Domain, Grade, Result

DOMAINS = ("scalp", "face")
GRADES = ("LOW", "MIDDLE", "HIGH", "UNCERTAIN")
DOMAIN_GRADES = list(itertools.product(DOMAINS, GRADES))

DISCLAIMER = "의학적 진단이 아닙니다"
SPECIALIST = "피부과 전문의"
HIGH_REFERRAL = "피부과 전문의의 진료를 받아 보시길 권해 드려요"

T0 = datetime(2026, 11, 26, 3, 0, tzinfo=UTC)

SCALP_M = {"exposed_scalp_ratio": 0.234, "regions": {"crown": 0.31, "hairline": 0.12}}
FACE_M = {"lesion_count": 14, "lesion_density": 3.42}
MEASUREMENTS = {"scalp": SCALP_M, "face": FACE_M}

#: Worst-case measurements for the caption length check: big numbers, more
#: regions than are shown, long unknown region names, every optional field.
WORST_MEASUREMENTS = {
    "scalp": {
        "exposed_scalp_ratio": 0.999999,
        "regions": {f"unknown_region_name_that_is_long_{i}": 0.999 for i in range(12)},
    },
    "face": {
        "lesion_count": 123456789,
        "lesion_density": 123456.789,
        "lesion_density_unit": "per_10cm2",
    },
}


def result_row(
    domain: str, grade: str, days_ago: int, measurements: dict[str, Any]
) -> dict[str, Any]:
    return {
        "created_at": T0 - timedelta(days=days_ago),
        "domain": domain,
        "grade": grade,
        "confidence": 0.8,
        "measurements": measurements,
    }


def album_item(domain: str, grade: str, measurements: dict[str, Any],
               view: str | None = None) -> dict[str, Any]:
    return {"domain": domain, "grade": grade, "measurements": measurements, "view": view}


def _contexts() -> dict[str, list[dict[str, Any]]]:
    """Representative contexts for every public template."""
    history_results = [
        result_row("scalp", "MIDDLE", 0, SCALP_M),
        result_row("face", "HIGH", 10, FACE_M),
        result_row("face", "UNCERTAIN", 20, {}),
        result_row("scalp", "LOW", 40, {"exposed_scalp_ratio": 0.05}),
    ]
    trend_pairs = [
        ("scalp", {"exposed_scalp_ratio": 0.20}, {"exposed_scalp_ratio": 0.26}, "MIDDLE", "HIGH"),
        ("scalp", {"exposed_scalp_ratio": 0.20}, {"exposed_scalp_ratio": 0.21}, "MIDDLE", "MIDDLE"),
        ("face", {"lesion_count": 12}, {"lesion_count": 5}, "HIGH", "MIDDLE"),
        ("face", {}, {}, "LOW", "UNCERTAIN"),
    ]
    return {
        "start": [{"first_name": "민지"}, {"first_name": None}, {"first_name": ""}],
        "help": [{}],
        "result_caption": [
            {"domain": d, "grade": g, "confidence": c, "measurements": m}
            for d, g in DOMAIN_GRADES
            for c, m in ((0.87, MEASUREMENTS[d]), (0.41, {}))
        ],
        "tips_long": [{"domain": d, "grade": g} for d, g in DOMAIN_GRADES],
        "quality_retake": [{"reasons": [r]} for r in texts.QUALITY_REASONS]
        + [{"reasons": []}, {"reasons": ["something_new"]}, {"reasons": ["too_dark", "blurry"]}],
        "tips_button": [{}],
        "remove_button": [{"choice": c} for c in ("ask", "yes", "no")],
        "result_removed": [{}],
        "before_after": [
            {"domain": "scalp", "first": result_row("scalp", "LOW", 60, {"view": "Front"}),
             "latest": result_row("scalp", "MIDDLE", 0, {"view": "Front"})},
            {"domain": "face", "first": result_row("face", "LOW", 60, {}),
             "latest": result_row("face", "HIGH", 0, {})},
        ],
        "guide_label": [{"label": name} for name in guide.LABELS],
        "album_caption": [
            {"items": [album_item("scalp", "MIDDLE", {"exposed_scalp_ratio": 0.3}, "Front"),
                       album_item("scalp", "HIGH", {"exposed_scalp_ratio": 0.6}, "Top-Down"),
                       {"domain": None, "grade": None, "reasons": ["blurry"], "template": "quality_retake"}],
             "overall": [{"domain": "scalp", "grade": "HIGH", "photos": 2}]},
            {"items": [album_item("face", "LOW", {"lesion_count": 3}),
                       album_item("scalp", "UNCERTAIN", {"exposed_scalp_ratio": 0.2})],
             "overall": [{"domain": "face", "grade": "LOW", "photos": 1},
                         {"domain": "scalp", "grade": "UNCERTAIN", "photos": 1}]},
            {"items": [{"domain": None, "grade": None, "reasons": [], "template": "not_analysable"}],
             "overall": []},
        ],
        "analyzing": [{}],
        "delayed": [{}],
        "failed": [{}],
        "unsupported": [
            {"kind": k}
            for k in ("text", "sticker", "video", "animation", "video_note", "voice",
                      "audio", "document", "other", "poll")
        ],
        "too_big": [{}],
        "history": [
            {"results": history_results, "page": 1, "pages": 3, "total": 11},
            {"results": [], "page": 1, "pages": 1, "total": 0},
        ],
        "trend": [
            {
                "domain": d,
                "previous": result_row(d, g1, 30, m1),
                "current": result_row(d, g2, 0, m2),
            }
            for d, m1, m2, g1, g2 in trend_pairs
        ]
        + [{"domain": "scalp", "previous": None, "current": result_row("scalp", "LOW", 0, {})}],
        "remind_on": [{"interval_days": 30, "next_due_at": T0 + timedelta(days=30)}],
        "remind_off": [{}],
        "remind_status": [
            {"interval_days": 28, "next_due_at": T0 + timedelta(days=28), "unknown": ""},
            {"interval_days": None, "next_due_at": None, "unknown": ""},
            {"interval_days": None, "next_due_at": None, "unknown": "매주 화요일"},
        ],
        "remind_button": [{"days": 14}, {"days": 28}, {"days": 56}, {"days": 10}, {"days": None}],
        "remind_ping": [{"last_date": T0 - timedelta(days=30)}, {"last_date": None}],
        "delete_confirm": [{}],
        "delete_done": [{"counts": {"results": 3, "jobs": 5, "reminders": 1, "users": 1}}],
        "delete_cancelled": [{}],
        "rerun_as": [{"domain": "scalp"}, {"domain": "face"}],
        "choose_button": [{"domain": "scalp"}, {"domain": "face"}],
        "check_mode": [{"mode": "scalp"}, {"mode": "face"}, {"mode": "auto"}],
        "choose_check": [{"domains": ["scalp", "face"]}, {"domains": ["face", "scalp"]}],
        "history_nav": [{"direction": "prev"}, {"direction": "next"}],
        "delete_button": [{"choice": "confirm"}, {"choice": "cancel"}],
        # bot/ (handlers, jobs, chart)
        "not_analysable": [
            {"code": c}
            for c in ("domain_unavailable", "not_an_image", "too_large", "something_else")
        ],
        "callback_notice": [
            {"what": w} for w in ("rerun_queued", "rerun_duplicate", "gone", "not_yours")
        ],
        "history_item": [{"result": r} for r in history_results],
        "command_description": [
            {"command": c} for c in ("start", "help", "history", "remind", "scalp", "face", "auto", "delete")
        ],
        "chart_label": [
            {"label": label, "domain": d}
            for label in ("title", "grade_axis", "measure_axis", "date_axis")
            for d in DOMAINS
        ],
    }


CONTEXTS = _contexts()
ALL_RENDERS = [
    pytest.param(name, ctx, id=f"{name}-{i}")
    for name, ctxs in CONTEXTS.items()
    for i, ctx in enumerate(ctxs)
]
PLAIN_TEXT = {
    "rerun_as", "choose_button", "remind_button", "history_nav", "delete_button",
    "callback_notice", "history_item", "command_description", "chart_label", "guide_label",
    "tips_button", "remove_button",
}

# Tags Telegram accepts with parse_mode=HTML.
TELEGRAM_TAGS = {
    "b", "strong", "i", "em", "u", "ins", "s", "strike", "del", "span",
    "tg-spoiler", "a", "code", "pre", "blockquote", "tg-emoji",
}
BAD_AMPERSAND = re.compile(r"&(?!(?:lt|gt|amp|quot|#\d+|#x[0-9a-fA-F]+);)")
ENGLISH_GRADE = re.compile(r"\b(?:LOW|MIDDLE|HIGH|UNCERTAIN)\b")


class _TagChecker(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[str] = []
        self.errors: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag not in TELEGRAM_TAGS:
            self.errors.append(f"tag <{tag}> not supported by Telegram")
        self.stack.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if not self.stack or self.stack.pop() != tag:
            self.errors.append(f"unbalanced </{tag}>")


def assert_telegram_html(text: str) -> None:
    checker = _TagChecker()
    checker.feed(text)
    checker.close()
    assert not checker.errors, checker.errors
    assert not checker.stack, f"unclosed tags {checker.stack}"
    assert not BAD_AMPERSAND.search(text), "raw '&' must be escaped"


# --------------------------------------------------------------------------- coverage


def test_every_template_has_representative_contexts() -> None:
    assert set(texts.template_names()) == set(CONTEXTS)


@pytest.mark.parametrize(("name", "ctx"), ALL_RENDERS)
def test_every_template_renders(name: str, ctx: dict[str, Any]) -> None:
    out = texts.render(name, **ctx)
    assert out and out == out.strip()
    assert "\n\n\n" not in out
    assert not ENGLISH_GRADE.search(out), f"English grade word in {name}: {out}"
    assert "None" not in out and "Undefined" not in out
    assert "{{" not in out and "{%" not in out
    if name in PLAIN_TEXT:
        assert "\n" not in out and len(out) <= 64  # inline keyboard button labels
    else:
        assert_telegram_html(out)
        assert texts.telegram_length(out) <= texts.MESSAGE_LIMIT


# --------------------------------------------------------------------------- results


@pytest.mark.parametrize(("domain", "grade"), DOMAIN_GRADES)
def test_result_texts_carry_disclaimer_and_referral(domain: str, grade: str) -> None:
    caption = texts.render(
        "result_caption",
        domain=domain,
        grade=grade,
        confidence=0.9,
        measurements=MEASUREMENTS[domain],
    )
    tips = texts.render("tips_long", domain=domain, grade=grade)
    for out in (caption, tips):
        assert DISCLAIMER in out
        assert SPECIALIST in out
        assert texts.grade_name(grade, domain) in out
        assert texts.domain_name(domain) in out
        assert (HIGH_REFERRAL in out) == (grade == "HIGH")


@pytest.mark.parametrize(("domain", "grade"), DOMAIN_GRADES)
def test_the_answer_fits_one_phone_screen_in_the_worst_case(domain: str, grade: str) -> None:
    """The caption is the whole answer's text: at most ANSWER_TEXT_LIMIT (900) characters with
    the longest measurements, and so under Telegram's caption limit."""
    caption = texts.render(
        "result_caption",
        domain=domain,
        grade=grade,
        confidence=1.0,
        measurements=WORST_MEASUREMENTS[domain],
    )
    # The caption as sent (with tags and entities) is an upper bound of what Telegram counts.
    assert len(caption.encode("utf-16-le")) // 2 <= limits.ANSWER_TEXT_LIMIT
    assert texts.telegram_length(caption) <= limits.ANSWER_TEXT_LIMIT < texts.CAPTION_LIMIT


@pytest.mark.parametrize(("domain", "grade"), DOMAIN_GRADES)
def test_the_caption_gives_three_tips_and_the_long_tips_stay_behind_the_button(domain: str, grade: str) -> None:
    caption = texts.render("result_caption", domain=domain, grade=grade, confidence=0.8,
                           measurements=MEASUREMENTS[domain])
    assert caption.count("\n• ") == 3 and caption.count(DISCLAIMER) == 1
    assert "이럴 때는 피부과 전문의와 상담해 주세요" not in caption  # tips_long's section
    tips = texts.render("tips_long", domain=domain, grade=grade)
    assert "이럴 때는 피부과 전문의와 상담해 주세요" in tips and tips.count("\n• ") > 6


@pytest.mark.parametrize("name", ["start", "help"])
def test_start_and_help_fit_under_the_guide_picture_and_name_every_grade(name: str) -> None:
    out = texts.render(name, **({"first_name": "가" * 64} if name == "start" else {}))
    assert texts.telegram_length(out) <= texts.CAPTION_LIMIT  # a Telegram first_name: <= 64
    for grade in ("LOW", "MIDDLE", "HIGH", "UNCERTAIN"):
        assert f"<b>{texts.grade_name(grade)}</b>" in out  # the scalp's words, as in answers
    face = [texts.grade_name(g, "face").removeprefix("트러블 ") for g in ("LOW", "MIDDLE", "HIGH")]
    assert "트러블 " + " · ".join(face) in out


def test_an_album_of_ten_fits_the_answer_limit_and_says_how_it_was_combined() -> None:
    items = [album_item("scalp", "HIGH", {"exposed_scalp_ratio": 0.999}, "Right")] * 5 + [
        album_item("face", "MIDDLE", {"lesion_count": 188})] * 3 + [
        {"domain": None, "grade": None, "reasons": ["no_scalp_found"], "template": "quality_retake"}] * 2
    overall = [{"domain": "scalp", "grade": "HIGH", "photos": 5},
               {"domain": "face", "grade": "MIDDLE", "photos": 3}]
    out = texts.render("album_caption", items=items, overall=overall)
    assert texts.telegram_length(out) <= len(out.encode("utf-16-le")) // 2 <= limits.ANSWER_TEXT_LIMIT
    assert out.startswith("<b>사진 10장 점검 결과</b>")
    assert "10. 다시 찍어 주세요: 이 사진에서 두피를 찾지 못했어요." in out
    assert "1. 두피(오른쪽 옆머리): 심각 · 두피 노출 비율 100%" in out
    assert "두피 종합: 심각" in out and "가장 많이 진행된 결과를 종합 결과로" in out
    assert "피부(얼굴) 종합: 트러블 중간" in out and "트러블이 가장 많은 결과" in out
    assert out.count(DISCLAIMER) == 1 and HIGH_REFERRAL in out


@pytest.mark.parametrize("domain", DOMAINS)
def test_an_uncertain_answer_gives_the_retake_tips_once(domain: str) -> None:
    out = texts.render("result_caption", domain=domain, grade="UNCERTAIN", confidence=0.3,
                       measurements=MEASUREMENTS[domain])
    assert "판단 어려움" in out and "확신도" not in out  # no confidence word on no grade
    assert "결과가 나쁘다는 뜻은 아니에요" in out and "다시 분석" in out
    lines = [line for line in out.splitlines() if line.startswith("• ")]
    assert len(lines) == len(set(lines)) == 3
    assert "%" not in out and "트러블 14개" not in out  # no measurement behind no grade


def test_caption_measurements_are_shown() -> None:
    scalp = texts.render(
        "result_caption", domain="scalp", grade="MIDDLE", confidence=0.823, measurements=SCALP_M
    )
    assert "두피 점검 결과: 진행 중" in scalp and "확신도 높음" in scalp
    assert "82%" not in scalp and "두피 노출 비율 23%" in scalp
    assert "정수리" not in scalp  # one measurement: the zones are in the picture and the JSON
    face = texts.render(
        "result_caption", domain=Domain.FACE, grade=Grade.HIGH, confidence=0.5, measurements=FACE_M
    )
    assert "피부(얼굴) 점검 결과: 트러블 많음" in face and "확신도 낮음" in face
    assert "찾은 트러블 14개" in face
    assert "화소" not in face and "진행 중" not in face


@pytest.mark.parametrize("domain", DOMAINS)
def test_tips_long_referral_conditions_and_pharmacist(domain: str) -> None:
    for grade in GRADES:
        out = texts.render("tips_long", domain=domain, grade=grade)
        if domain == "scalp":
            assert "갑자기 많이 빠지거나 동그랗게 빠지는 경우" in out
        else:
            assert "통증" in out and "부어오른" in out
        if grade in ("MIDDLE", "HIGH"):
            assert "약사나 의사와 상담" in out
        if domain == "face" and grade in ("MIDDLE", "HIGH"):
            assert "짜거나 뜯지" in out
    assert "자외선 차단" in texts.render("tips_long", domain=domain, grade="LOW")


# --------------------------------------------------------------------------- strictness


def test_strict_undefined_catches_missing_variables() -> None:
    with pytest.raises(UndefinedError):
        texts.render("result_caption", domain="scalp", grade="LOW", confidence=0.5)
    with pytest.raises(UndefinedError):
        texts.render("start")
    with pytest.raises(UndefinedError):
        texts.render("remind_on", interval_days=30)
    with pytest.raises(UndefinedError):
        texts.render("rerun_as", domain="elbow")


def test_unknown_grade_or_domain_fails_loudly() -> None:
    with pytest.raises((KeyError, UndefinedError)):
        texts.render("result_caption", domain="scalp", grade="BAD", confidence=0.5,
                     measurements={})
    with pytest.raises((KeyError, UndefinedError)):
        texts.render("tips_long", domain="elbow", grade="LOW")


def test_unknown_template_name() -> None:
    with pytest.raises(LookupError):
        texts.render("no_such_message")


# --------------------------------------------------------------------------- escaping


def test_user_provided_strings_are_html_escaped() -> None:
    out = texts.render("start", first_name="<b>Kim</b> & \"co\"")
    assert "&lt;b&gt;Kim&lt;/b&gt; &amp; &#34;co&#34;" in out
    assert "<b>Kim" not in out
    assert_telegram_html(out)


def test_button_labels_are_plain_text() -> None:
    assert texts.render("rerun_as", domain="scalp") == "두피 점검으로 다시"
    assert texts.render("rerun_as", domain=Domain.FACE) == "피부 점검으로 다시"
    assert texts.render("choose_button", domain="scalp") == "두피 점검"
    assert texts.render("choose_button", domain=Domain.FACE) == "피부 점검"
    assert texts.render("history_nav", direction="prev") == "◀ 이전"
    assert texts.render("history_nav", direction="next") == "다음 ▶"
    assert "삭제" in texts.render("delete_button", choice="confirm")


# --------------------------------------------------------------------------- quality gate


def test_quality_retake_reasons() -> None:
    titles = {
        "too_small": "사진이 너무 작아요",
        "too_dark": "사진이 너무 어두워요",
        "too_bright": "사진이 너무 밝아요",
        "blurry": "사진이 흐려요",
        "not_scalp_or_face": "두피나 얼굴 사진으로 보이지 않아요",
        "no_scalp_found": "이 사진에서 두피를 찾지 못했어요",
        "no_face_found": "이 사진에서 얼굴을 찾지 못했어요",
    }
    assert set(titles) == set(texts.QUALITY_REASONS)
    generic = "조금 더 선명하게 찍어 주세요"
    for reason, title in titles.items():
        out = texts.render("quality_retake", reasons=[reason])
        assert title in out
        assert generic not in out
        for other, other_title in titles.items():
            if other != reason:
                assert other_title not in out

    several = texts.render("quality_retake", reasons=["too_dark", "blurry", "too_dark"])
    assert several.count(titles["too_dark"]) == 1 and titles["blurry"] in several
    assert several.index(titles["too_dark"]) < several.index(titles["blurry"])
    assert generic in texts.render("quality_retake", reasons=[])
    unknown = texts.render("quality_retake", reasons=["lens_dirty", "too_small"])
    assert generic in unknown and titles["too_small"] in unknown


# --------------------------------------------------------------------------- other texts


def test_history_lists_and_empty_state() -> None:
    ctx = CONTEXTS["history"][0]
    out = texts.render("history", **ctx)
    assert out.count("• ") == 4
    assert "2026년 11월 26일 오후 12:00 · 두피 · <b>진행 중</b> (두피 노출 비율 23%)" in out
    viewed = texts.render("history", results=[result_row("scalp", "LOW", 0, {"view": "Top-Down"})],
                          page=1, pages=1, total=1)
    assert "2026년 11월 26일 오후 12:00 · 두피(정수리) · <b>정상</b>" in viewed
    label = texts.render("history_item", result=result_row("scalp", "HIGH", 0, {"view": "Back"}))
    assert label == "11/26 오후 12:00 · 뒤통수 · 심각"
    face = texts.render("history_item", result=result_row("face", "HIGH", 0, {"lesion_count": 30}))
    assert face == "11/26 오후 12:00 · 피부 · 트러블 많음" and len(face) <= 28
    assert "트러블 14개" in out
    assert "1/3쪽" in out and "전체 11건" in out
    empty = texts.render("history", results=[], page=1, pages=1, total=0)
    assert "아직 저장된 결과가 없어요" in empty and "• " not in empty


def test_texts_accept_storage_result_objects() -> None:
    def result(result_id: int, grade: Grade, ratio: float, days_ago: int) -> Result:
        return Result(
            result_id=result_id,
            job_id=result_id,
            user_id=1,
            domain=Domain.SCALP,
            grade=grade,
            confidence=0.7,
            measurements={"exposed_scalp_ratio": ratio},
            model_version="t",
            annotated_file_id=None,
            created_at=T0 - timedelta(days=days_ago),
        )

    old, new = result(1, Grade.MIDDLE, 0.30, 30), result(2, Grade.LOW, 0.20, 0)
    history = texts.render("history", results=[new, old], page=1, pages=1, total=2)
    assert "정상" in history and "진행 중" in history
    trend = texts.render("trend", domain=Domain.SCALP, previous=old, current=new)
    assert "개선" in trend and "30% → 20% (-10.0%p)" in trend


@pytest.mark.parametrize(
    ("index", "word"), [(0, "악화"), (1, "유지"), (2, "개선"), (3, "비교하기 어려워요")]
)
def test_trend_wording(index: int, word: str) -> None:
    out = texts.render("trend", **CONTEXTS["trend"][index])
    assert word in out
    assert DISCLAIMER in out
    for other in {"개선", "유지", "악화"} - {word}:
        assert f"<b>{other}</b>" not in out


@pytest.mark.parametrize(
    ("domain", "before", "after", "words"),
    [
        ("scalp", 0.20, 0.594, "크게 <b>악화</b>"),  # the "+39.4%p … 조금 악화"
        ("scalp", 0.20, 0.25, "조금 <b>악화</b>"),
        ("scalp", 0.40, 0.25, "보다 <b>개선</b>"),
        ("face", 30, 8, "크게 <b>개선</b>"),
        ("face", 8, 12, "조금 <b>악화</b>"),
    ],
)
def test_trend_words_follow_the_size_of_the_change(domain: str, before: float, after: float,
                                                   words: str) -> None:
    metric = "exposed_scalp_ratio" if domain == "scalp" else "lesion_count"
    out = texts.render("trend", domain=domain,
                       previous=result_row(domain, "MIDDLE", 30, {metric: before}),
                       current=result_row(domain, "MIDDLE", 0, {metric: after}))
    assert words in out
    if "크게 <b>악화</b>" in words:
        assert "진료를 받아 보시길 권해 드려요" in out or "상담해 보시길 권해 드려요" in out


def test_trend_size_without_a_measurement_counts_grade_steps() -> None:
    def r(grade: str) -> dict[str, Any]:
        return {"grade": grade, "measurements": {}}

    assert texts.describe_trend("face", r("LOW"), r("HIGH")).size == "large"
    assert texts.describe_trend("face", r("LOW"), r("MIDDLE")).size == "clear"
    assert texts.describe_trend("face", r("LOW"), r("LOW")).size is None


def test_trend_without_previous() -> None:
    out = texts.render("trend", **CONTEXTS["trend"][-1])
    assert "이전 기록이 아직 없어 비교하지 못했어요" in out


def test_messages_with_fixed_phrases() -> None:
    assert "분석 중입니다…" in texts.render("analyzing")
    assert "잠시 지연되고 있어요" in texts.render("delayed")
    assert "다시 보내" in texts.render("failed")
    assert "20MB" in texts.render("too_big")
    assert "스티커" in texts.render("unsupported", kind="sticker")
    assert "사진" in texts.render("unsupported", kind="whatever")
    on = texts.render("remind_on", interval_days=30, next_due_at=datetime(2026, 12, 26, tzinfo=UTC))
    assert "30일마다" in on and "2026년 12월 26일" in on
    assert "4주마다" in texts.render("remind_on", interval_days=28, next_due_at=datetime(2026, 12, 26, tzinfo=UTC))
    status = texts.render("remind_status", interval_days=None, next_due_at=None, unknown="매주")
    assert "‘매주’" in status and "꺼져 있어요" in status
    assert [texts.render("remind_button", days=d) for d in (14, 28, 56, None)] == ["2주", "4주", "8주", "끄기"]
    done = texts.render("delete_done", counts={"results": 3, "jobs": 5, "reminders": 0})
    assert "분석 결과 3건" in done and "사진 분석 요청 5건" in done and "알림 설정 0건" in done
    start = texts.render("start", first_name="민지")
    for phrase in ("민지님", "정수리", "헤어라인", "가르마", "/history", "/remind", "/delete",
                   "/help", "개인정보", "위 그림처럼"):
        assert phrase in start, phrase
    # how to frame a photo is the guide picture's (bot/guide.py), not repeated in the caption
    from bot import guide
    labels = " ".join(guide.label(name) for name in guide.LABELS)
    for phrase in ("가르마", "초점", "화장을 지우고", "정면", "이마"):
        assert phrase in labels, phrase
    assert texts.render("help").count("/delete") >= 1


# --------------------------------------------------------------------------- filters


def test_filters() -> None:
    assert texts.percent(0.823) == "82%"
    assert texts.percent(0.5, 1) == "50.0%"
    assert texts.percent(None) == "-"
    assert texts.pp(-0.021) == "-2.1%p"
    assert texts.pp(0.05) == "+5.0%p"
    assert texts.pp(0.0) == "0.0%p"
    assert texts.signed(3) == "+3" and texts.signed(-2.0) == "-2" and texts.signed(0) == "0"
    assert texts.kdate(datetime(2026, 11, 26, 6, tzinfo=UTC)) == "2026년 11월 26일"
    assert texts.ktime(datetime(2026, 11, 26, 6, 5, tzinfo=UTC)) == "오후 3:05"  # KST
    assert texts.ktime(datetime(2026, 11, 26, 15, 0, tzinfo=UTC)) == "오전 12:00"
    assert texts.ktime("2026-11-26T00:30:00") == "오전 9:30"  # naive: UTC
    # 16:00 UTC is already the next day in Korea.
    assert texts.kdate(datetime(2026, 11, 26, 16, tzinfo=UTC)) == "2026년 11월 27일"
    assert texts.kdate(date(2026, 1, 5)) == "2026년 1월 5일"
    assert texts.kdate("2026-11-26T06:00:00+00:00") == "2026년 11월 26일"
    assert [texts.grade_name(g) for g in GRADES] == ["정상", "진행 중", "심각", "판단 어려움"]
    assert texts.grade_name(Grade.HIGH) == "심각"
    assert texts.domain_name("scalp") == "두피" and texts.domain_name(Domain.FACE) == "피부(얼굴)"
    with pytest.raises(KeyError):
        texts.grade_name("VERY_HIGH")


def test_describe_trend() -> None:
    def r(grade: str, **m: float) -> dict[str, Any]:
        return {"grade": grade, "measurements": m}

    same = texts.describe_trend("scalp", r("LOW", exposed_scalp_ratio=0.20),
                                r("LOW", exposed_scalp_ratio=0.22))
    assert same.direction == "same" and same.delta == pytest.approx(0.02)
    worse = texts.describe_trend("scalp", r("LOW", exposed_scalp_ratio=0.20),
                                 r("MIDDLE", exposed_scalp_ratio=0.25))
    assert worse.direction == "worse" and worse.metric == "exposed_scalp_ratio"
    better = texts.describe_trend("face", r("HIGH", lesion_count=12), r("MIDDLE", lesion_count=5))
    assert better.direction == "better" and better.delta == -7
    assert texts.describe_trend("face", r("LOW", lesion_count=3),
                                r("LOW", lesion_count=5)).direction == "same"
    assert texts.describe_trend("face", r("LOW"), r("MIDDLE")).direction == "worse"
    assert texts.describe_trend("face", r("HIGH"), r("LOW")).direction == "better"
    unknown = texts.describe_trend("scalp", r("UNCERTAIN", exposed_scalp_ratio=0.1),
                                   r("LOW", exposed_scalp_ratio=0.5))
    assert unknown.direction == "unknown" and unknown.delta is None


def test_telegram_length_counts_visible_utf16() -> None:
    assert texts.telegram_length("<b>두피</b> &amp; 😀") == len("두피 & ") + 2


@pytest.mark.parametrize("domain,confidence,word", [
    ("scalp", 0.49, "낮음"), ("scalp", 0.5, "보통"), ("scalp", 0.69, "보통"), ("scalp", 0.7, "높음"),
    ("scalp", 1.0, "높음"), ("face", 0.59, "낮음"), ("face", 0.6, "보통"), ("face", 0.89, "보통"),
    (Domain.FACE, 0.9, "높음"), ("scalp", None, "-"),
])
def test_confidence_is_a_word_at_each_domains_cut_points(domain, confidence, word) -> None:
    assert texts.confidence_word(confidence, domain) == word
    assert set(texts.CONFIDENCE_LOW_BELOW) == set(texts.CONFIDENCE_HIGH_FROM) == {"scalp", "face"}
    assert all(texts.CONFIDENCE_LOW_BELOW[d] < texts.CONFIDENCE_HIGH_FROM[d] for d in ("scalp", "face"))
