"""Which check a photo's caption asks for: the user's words decide without asking.

A caption naming only the scalp (두피, 머리, 탈모 ...) or only the face (얼굴, 피부,
여드름 ...) sends the photo to that check; no caption, both or neither: the service routes
it (and the bot asks where the photo could be either).

Example:
    >>> domain_from_caption("정수리 탈모 확인 부탁해요")
    <Domain.SCALP: 'scalp'>
    >>> domain_from_caption("오늘 얼굴 피부 상태")
    <Domain.FACE: 'face'>
    >>> domain_from_caption(None)
    <Domain.AUTO: 'auto'>
"""
from __future__ import annotations

from .storage import Domain

SCALP_WORDS = ("두피", "머리", "탈모", "정수리", "헤어라인", "모발", "머리카락", "가르마", "scalp", "hair")
FACE_WORDS = ("얼굴", "피부", "여드름", "트러블", "뾰루지", "모공", "face", "skin", "acne")


def domain_from_caption(caption: str | None) -> Domain:
    """SCALP or FACE when the caption names only that one; AUTO otherwise."""
    text = (caption or "").lower()
    scalp = any(w in text for w in SCALP_WORDS)
    face = any(w in text for w in FACE_WORDS)
    if scalp != face:
        return Domain.SCALP if scalp else Domain.FACE
    return Domain.AUTO
