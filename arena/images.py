"""Turn image payloads into model input, writing straight into a preallocated batch.

The scorer owns one float32 batch ``[N, H, W]`` and hands each event its ``[H, W]`` slot, so
the hot path allocates nothing per image. Raw grey bytes at the model's size are scaled in
place from a zero-copy view; anything else goes through Pillow (any mode, any size).
"""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from PIL import Image

from arena.config import ImageSettings
from arena.errors import InvalidEvent
from arena.events import ContentType, ImageEvent

F32Images = npt.NDArray[np.float32]
U8Image = npt.NDArray[np.uint8]

# Larger inputs are refused before decoding: a stream image is a photo, not a poster, and
# a tiny compressed payload can otherwise expand into gigabytes (a decompression bomb).
MAX_DECODED_PIXELS = 4096 * 4096

DEFAULT_ENCODED_FORMATS = ("PNG", "JPEG", "WEBP", "BMP", "TIFF", "GIF")
"""What content type 3 may be unless ``ARENA_IMAGES_FORMATS`` says otherwise: formats
Pillow decodes itself (never EPS, which runs Ghostscript, nor any other exotic plugin)."""

_SCALE = np.float32(1.0 / 255.0)
_FORMATS: dict[ContentType, tuple[str, ...]] = {
    ContentType.PNG: ("PNG",),
    ContentType.JPEG: ("JPEG",),
}


class PixelBudget:
    """The pixels one batch may still decode; an image that would overdraw it is poison.

    A producer could otherwise fill every batch with 4096x4096 images that compress to
    almost nothing, and keep a scorer decoding gigapixels per batch.
    """

    def __init__(self, pixels: int) -> None:
        self.remaining = pixels
        self._limit = pixels

    def take(self, event: ImageEvent, pixels: int) -> None:
        if pixels > self.remaining:
            raise InvalidEvent(
                f"image {event.event_id}: its {pixels} pixels exceed what is left of the "
                f"batch's decode budget ({self.remaining} of {self._limit}, "
                "ARENA_IMAGES_MAX_BATCH_PIXELS)"
            )
        self.remaining -= pixels


@dataclass(frozen=True, slots=True)
class DecodeLimits:
    """What ``decode_into`` may be asked to decode."""

    encoded_formats: tuple[str, ...] = DEFAULT_ENCODED_FORMATS  # content type 3
    max_batch_pixels: int = 256 * 1024 * 1024

    @classmethod
    def from_settings(cls, images: ImageSettings) -> DecodeLimits:
        return cls(images.formats, images.max_batch_pixels)


def to_unit_float(images: U8Image) -> F32Images:
    """Scale uint8 pixels to float32 in 0..1, exactly as ``decode_into`` does."""
    return np.multiply(images, _SCALE, dtype=np.float32)


def decode_into(
    event: ImageEvent,
    payload: bytes,
    out: F32Images,
    *,
    limits: DecodeLimits = DecodeLimits(),
    budget: PixelBudget | None = None,
) -> None:
    """Decode ``payload`` (the event's inline bytes or its fetched reference) into ``out``.

    Args:
        event: the event; its content type says how to decode, and for RAW_GRAY8 its
            height and width give the layout (0 means "the model's size").
        payload: the encoded image.
        out: a C-contiguous float32 ``[H, W]`` slot of the model's input batch; receives
            grey values in 0..1, resized to ``out.shape`` if needed.
        limits: the formats content type 3 may be; Pillow tries no other.
        budget: the batch's remaining decode budget, charged with the image's pixels
            before it is decoded.

    Raises:
        InvalidEvent: the bytes are not a decodable image of the declared type (whatever
            Pillow raised, named in the reason), or a raw payload's length does not match
            its declared height and width.
    """
    if out.ndim != 2 or out.dtype != np.float32:
        raise ValueError(f"out must be a float32 [H, W] slot, got {out.dtype} {out.shape}")
    if event.content_type == ContentType.RAW_GRAY8:
        _decode_raw(event, payload, out, budget)
    else:
        formats = _FORMATS.get(event.content_type, limits.encoded_formats)
        _decode_encoded(event, payload, out, formats, budget)


def _decode_raw(
    event: ImageEvent, payload: bytes, out: F32Images, budget: PixelBudget | None
) -> None:
    height = event.height or out.shape[0]
    width = event.width or out.shape[1]
    if budget is not None:
        budget.take(event, height * width)
    if len(payload) != height * width:
        raise InvalidEvent(
            f"image {event.event_id}: raw payload is {len(payload)} bytes, "
            f"expected {height}x{width}={height * width}"
        )
    pixels = np.frombuffer(payload, dtype=np.uint8).reshape(height, width)
    if pixels.shape == out.shape:
        np.multiply(pixels, _SCALE, out=out)  # the fast path: no intermediate array
    else:
        _resize_into(Image.fromarray(pixels), out)


def _decode_encoded(
    event: ImageEvent,
    payload: bytes,
    out: F32Images,
    formats: tuple[str, ...],
    budget: PixelBudget | None,
) -> None:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(payload), formats=formats)
            if image.width * image.height > MAX_DECODED_PIXELS:
                raise InvalidEvent(
                    f"image {event.event_id}: {image.width}x{image.height} is larger than "
                    f"{MAX_DECODED_PIXELS} pixels"
                )
            if budget is not None:
                budget.take(event, image.width * image.height)
            if image.format == "JPEG":
                # Let libjpeg decode grey at a reduced scale: much cheaper than full size.
                image.draft("L", (out.shape[1], out.shape[0]))
            image.load()
            grey = image if image.mode == "L" else image.convert("L")
    except InvalidEvent:
        raise
    except Exception as exc:
        # Pillow's plugins refuse bad input with whatever they like (UnidentifiedImageError,
        # OSError, SyntaxError, NotImplementedError for a DDS pixel format, struct.error,
        # the decompression-bomb warning we made an error, ...): all are the payload's fault.
        expected = "/".join(formats)
        raise InvalidEvent(
            f"image {event.event_id}: payload is not a decodable {expected} "
            f"({type(exc).__name__}: {exc})"
        ) from None
    _resize_into(grey, out)


def _resize_into(grey: Image.Image, out: F32Images) -> None:
    height, width = out.shape
    if grey.size != (width, height):
        grey = grey.resize((width, height), Image.Resampling.LANCZOS, reducing_gap=2.0)
    np.multiply(np.asarray(grey, dtype=np.uint8), _SCALE, out=out)


def _to_image(image: U8Image) -> Image.Image:
    if image.dtype != np.uint8 or image.ndim not in (2, 3):
        raise ValueError(
            f"expected a uint8 [H, W] or [H, W, C] image, got {image.dtype} {image.shape}"
        )
    return Image.fromarray(image)


def encode_png(image: U8Image) -> bytes:
    """Encode a uint8 grey ``[H, W]`` (or RGB ``[H, W, 3]``) image as PNG."""
    buffer = io.BytesIO()
    _to_image(image).save(buffer, format="PNG")
    return buffer.getvalue()


def encode_jpeg(image: U8Image, *, quality: int = 90) -> bytes:
    """Encode a uint8 grey ``[H, W]`` (or RGB ``[H, W, 3]``) image as JPEG (lossy)."""
    buffer = io.BytesIO()
    _to_image(image).save(buffer, format="JPEG", quality=quality)
    return buffer.getvalue()
