"""Shadow scoring: the challenger scores live unlabeled events beside the champion, without
serving. Agreement with the champion and the confidence of both are early signals, before
the labels that decide arrive; each round writes them to the score history (role
``shadow``)."""

from __future__ import annotations

from collections import deque

import numpy as np
from numpy.typing import NDArray

from arena.flavors import INPUT_SHAPE


class ShadowSample:
    """The most recent unlabeled images, up to ``capacity``, for the next round to score."""

    def __init__(self, capacity: int) -> None:
        if capacity < 1:
            raise ValueError("capacity must be >= 1")
        self._images: deque[NDArray[np.float32]] = deque(maxlen=capacity)

    def offer(self, images: NDArray[np.float32]) -> None:
        """Keep (copies of) the newest images of a batch."""
        for image in images[-(self._images.maxlen or len(images)) :]:
            self._images.append(np.array(image, dtype=np.float32))

    def take(self) -> NDArray[np.float32]:
        """Everything kept since the last take, oldest first; empties the sample."""
        if not self._images:
            return np.empty((0, *INPUT_SHAPE), np.float32)
        images = np.stack(list(self._images))
        self._images.clear()
        return images


def shadow_metrics(
    champion_proba: NDArray[np.float32], challenger_proba: NDArray[np.float32]
) -> dict[str, float]:
    """Agreement of the two models' top classes, and each one's confidence distribution."""
    if champion_proba.shape != challenger_proba.shape or champion_proba.ndim != 2:
        raise ValueError("need two [N, classes] arrays of the same shape")
    if len(champion_proba) == 0:
        return {}
    agree = champion_proba.argmax(axis=1) == challenger_proba.argmax(axis=1)
    chall = challenger_proba.max(axis=1)
    champ = champion_proba.max(axis=1)
    p10, p50, p90 = np.percentile(chall, [10, 50, 90])
    return {
        "shadow_agreement": float(agree.mean()),
        "shadow_challenger_confidence_mean": float(chall.mean()),
        "shadow_challenger_confidence_p10": float(p10),
        "shadow_challenger_confidence_p50": float(p50),
        "shadow_challenger_confidence_p90": float(p90),
        "shadow_champion_confidence_mean": float(champ.mean()),
    }
