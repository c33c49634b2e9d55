"""The caption decides the check: only the scalp's words, only the face's, or the service routes."""
from __future__ import annotations

import pytest

from bot.captions import domain_from_caption
from bot.storage import Domain


@pytest.mark.parametrize("caption,domain", [
    ("두피 상태 봐 주세요", Domain.SCALP),
    ("요즘 머리가 많이 빠져요", Domain.SCALP),
    ("탈모 진행 중인가요?", Domain.SCALP),
    ("얼굴 좀 봐 주세요", Domain.FACE),
    ("여드름이 심해졌어요", Domain.FACE),
    ("Acne check", Domain.FACE),
    ("두피랑 얼굴 피부 둘 다", Domain.AUTO),  # both: the service routes, the bot may ask
    ("오늘 찍은 사진", Domain.AUTO),
    ("", Domain.AUTO),
    (None, Domain.AUTO),
])
def test_caption_words_choose_the_check(caption, domain):
    assert domain_from_caption(caption) == domain
