"""Which of the five views (``inference.types.VIEWS``: Top-Down, Back, Front, Left, Right) a
scalp photo shows, from the view classifier (a MobileNetV2 ``ImageClassifier`` on the whole
photo, ``weights/scalp_view.pt``): the measurements of the right Norwood zones depend on it.

"Left" and "Right" are the side of the head the photo shows (a mirrored left profile is a
right profile); the classifier is trained with any quarter turn, so a photo that arrives
rotated reads as its view.

Example (a stand-in classifier; the shipped one needs the weights):
    >>> import numpy as np
    >>> class Stub:
    ...     classes = ("Top-Down", "Back", "Front", "Left", "Right")
    ...     def probabilities(self, images):
    ...         return np.array([[0.1, 0.1, 0.1, 0.6, 0.1]] * len(images))
    >>> predict_views(Stub(), [np.zeros((8, 8, 3), np.uint8)])[0].view
    'Left'
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

import numpy as np


class ViewClassifier(Protocol):  # inference.models.classifier.ImageClassifier
    classes: tuple[str, ...]

    def probabilities(self, images: list[np.ndarray]) -> np.ndarray: ...


@dataclass(frozen=True)
class ViewEstimate:
    view: str  # the most likely view
    probabilities: dict[str, float] = field(default_factory=dict)  # every view's probability

    @property
    def confidence(self) -> float:
        return self.probabilities.get(self.view, 0.0)


def predict_views(classifier: ViewClassifier, images: list[np.ndarray]) -> list[ViewEstimate]:
    """One estimate per RGB photo (the whole photo, as decoded), all in one forward pass."""
    if not images:
        return []
    probs = classifier.probabilities(images)
    classes = tuple(classifier.classes)
    return [ViewEstimate(classes[int(np.argmax(p))], {c: float(v) for c, v in zip(classes, p)}) for p in probs]
