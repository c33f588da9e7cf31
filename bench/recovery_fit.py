"""``python -m bench.recovery_fit``: how good one recovery fine-tune is, offline.

The first challenger after a drift decides how fast the loop recovers: it is trained on the
few post-drift examples in by then (150 at first, ``ARENA_TRAINER_DRIFT_MIN_LABELS``) and
promoted at its first look when it is much better. This measures that fine-tune alone, with
no stack: the demo's initial champion (3,000 digits, 3 epochs), fine-tuned the way the
trainer does it (twice the learning rate, a replay sample of clean digits of 30 %, epochs
within the pass budget), on ``n`` drifted digits drawn three times, then scored on 2,000
drifted test digits no fit saw. Two recipes: the earlier one (no shifted copies, 2,500
example-passes) and the current defaults. Prints one line per drift, size and recipe.

With ``--ceiling N`` it instead trains the network from scratch on ``N`` digits of each drift
(and of clean ones): how far a drift lowers what any fine-tune could reach.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from dataclasses import dataclass

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from arena.config import TrainerSettings
from arena.datasets import DRIFTS, Labels, U8Images, load_mnist
from arena.flavors import ModelFlavor
from arena.flavors.pretrain import train_initial
from trainer.augment import with_shifted_copies
from trainer.fine_tune import recovery_epochs

TEST_DIGITS = 2_000
DRAWS = 3


@dataclass(frozen=True)
class Recipe:
    name: str
    augment_copies: int
    pass_budget: int


RECIPES = (
    Recipe("before: no copies, 2,500 passes", 1, 2_500),
    Recipe("now: 3 copies, 7,500 passes", TrainerSettings().drift_augment_copies, 7_500),
)


def accuracy(model: ModelFlavor, images: U8Images, labels: Labels) -> float:
    predicted = model.predict_proba(images.astype(np.float32) / 255.0).argmax(axis=1)
    return float((predicted == labels).mean())


def fit_once(
    champion: ModelFlavor, drift: str, n: int, recipe: Recipe, draw: int
) -> tuple[float, float]:
    """Accuracy on drifted test digits after one recovery fine-tune, and its seconds."""
    cfg = TrainerSettings(
        drift_augment_copies=recipe.augment_copies, drift_pass_budget=recipe.pass_budget
    )
    data, shift = load_mnist(), DRIFTS[drift]
    rng = np.random.default_rng(100 + draw)
    fresh = rng.choice(np.arange(3_000, 20_000), n, replace=False)
    replay = rng.choice(3_000, max(32, int(n * cfg.drift_replay_fraction)), replace=False)
    images = np.concatenate([shift(data.x_train[fresh]), data.x_train[replay]])
    labels = np.concatenate([data.y_train[fresh], data.y_train[replay]]).astype(np.int64)
    x, y = with_shifted_copies(
        images.astype(np.float32) / 255.0, labels, cfg.drift_augment_copies, rng
    )
    model = champion.clone()
    started = time.monotonic()
    model.fit(
        x,
        y,
        epochs=recovery_epochs(cfg, len(y)),
        learning_rate=model.default_learning_rate * cfg.drift_learning_rate_scale,
    )
    seconds = time.monotonic() - started
    test = data.x_test[:TEST_DIGITS]
    return accuracy(model, shift(test), data.y_test[:TEST_DIGITS]), seconds


def ceiling(drifts: list[str], n: int, epochs: int) -> None:
    """What the champion's network reaches when trained from scratch on ``n`` digits of each
    drift, against the same training on clean digits: whether the drift left the digits
    readable. A drift whose ceiling is far below clean accuracy cannot be recovered to the
    pre-drift level by any amount of fine-tuning of this network."""
    data = load_mnist()
    test_x, test_y = data.x_test[:TEST_DIGITS], data.y_test[:TEST_DIGITS]
    for drift in ["clean", *drifts]:
        shift = (lambda images: images) if drift == "clean" else DRIFTS[drift]
        model = train_initial(
            "keras", shift(data.x_train[:n]), data.y_train[:n], epochs=epochs, seed=0
        )
        print(
            f"ceiling {drift:10s} trained from scratch on {n:,} digits, {epochs} epochs: "
            f"{accuracy(model, shift(test_x), test_y):.3f} on {TEST_DIGITS:,} test digits",
            flush=True,
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--drifts", default="invert,rotate,new-camera,blur,noise")
    parser.add_argument("--sizes", default="150,300")
    parser.add_argument(
        "--ceiling",
        type=int,
        metavar="N",
        help="instead: train from scratch on N digits of each drift (and of clean ones)",
    )
    parser.add_argument("--epochs", type=int, default=3, help="epochs of a --ceiling training")
    args = parser.parse_args(argv)
    if args.ceiling:
        ceiling(args.drifts.split(","), args.ceiling, args.epochs)
        return 0
    data = load_mnist()
    champion = train_initial("keras", data.x_train[:3000], data.y_train[:3000], epochs=3, seed=0)
    clean = accuracy(champion, data.x_test[:TEST_DIGITS], data.y_test[:TEST_DIGITS])
    print(f"champion on clean test digits: {clean:.3f}")
    for drift in args.drifts.split(","):
        test = DRIFTS[drift](data.x_test[:TEST_DIGITS])
        before = accuracy(champion, test, data.y_test[:TEST_DIGITS])
        print(f"{drift}: champion on drifted digits {before:.3f}")
        for n in (int(s) for s in args.sizes.split(",")):
            for recipe in RECIPES:
                runs = [fit_once(champion, drift, n, recipe, draw) for draw in range(DRAWS)]
                accs = [a for a, _ in runs]
                print(
                    f"  {drift:10s} n={n:4d} {recipe.name:32s} mean {statistics.mean(accs):.3f}"
                    f" (draws {', '.join(f'{a:.3f}' for a in accs)};"
                    f" fit median {statistics.median(s for _, s in runs):.1f} s)",
                    flush=True,
                )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
