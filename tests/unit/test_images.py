from __future__ import annotations

import io
import struct

import numpy as np
import pytest
from PIL import Image

from arena.datasets import load_mnist
from arena.errors import InvalidEvent
from arena.events import ContentType, ImageEvent
from arena.images import (
    DEFAULT_ENCODED_FORMATS,
    DecodeLimits,
    PixelBudget,
    decode_into,
    encode_jpeg,
    encode_png,
    to_unit_float,
)


def event(content_type: ContentType, payload: bytes, height: int = 0, width: int = 0) -> ImageEvent:
    return ImageEvent(
        event_id="e1",
        timestamp_ms=0,
        source="test",
        content_type=content_type,
        payload=payload,
        height=height,
        width=width,
    )


def digit() -> np.ndarray:
    return np.array(load_mnist().x_test[0])


def slot() -> np.ndarray:
    return np.full((28, 28), -1.0, dtype=np.float32)


def test_raw_gray8_fills_the_slot_with_unit_floats() -> None:
    image = digit()
    batch = np.zeros((4, 28, 28), np.float32)

    decode_into(event(ContentType.RAW_GRAY8, image.tobytes(), 28, 28), image.tobytes(), batch[2])

    np.testing.assert_array_equal(batch[2], to_unit_float(image))
    assert batch[2].max() == 1.0
    assert not batch[[0, 1, 3]].any()  # neighbouring slots untouched


def test_raw_gray8_of_another_size_is_resized() -> None:
    big = np.array(Image.fromarray(digit()).resize((56, 56)))
    out = slot()

    decode_into(event(ContentType.RAW_GRAY8, big.tobytes(), 56, 56), big.tobytes(), out)

    assert np.abs(out - to_unit_float(digit())).mean() < 0.05


def test_raw_payload_of_the_wrong_size_is_invalid() -> None:
    ok = event(ContentType.RAW_GRAY8, bytes(784), 28, 28)

    with pytest.raises(InvalidEvent, match="783 bytes, expected 28x28"):
        decode_into(ok, bytes(783), slot())


def test_png_grey_decodes_exactly() -> None:
    image = digit()
    payload = encode_png(image)
    out = slot()

    decode_into(event(ContentType.PNG, payload), payload, out)

    np.testing.assert_array_equal(out, to_unit_float(image))


def test_jpeg_decodes_close_to_the_original() -> None:
    image = digit()
    payload = encode_jpeg(image, quality=95)
    out = slot()

    decode_into(event(ContentType.JPEG, payload), payload, out)

    assert np.abs(out - to_unit_float(image)).mean() < 0.03


@pytest.mark.parametrize("mode", ["RGB", "RGBA", "P", "LA", "1", "I;16"])
def test_png_in_any_mode_becomes_grey(mode: str) -> None:
    grey = Image.fromarray(digit())
    buffer = io.BytesIO()
    grey.convert(mode).save(buffer, format="PNG")
    out = slot()

    decode_into(event(ContentType.PNG, buffer.getvalue()), buffer.getvalue(), out)

    assert out.min() >= 0.0 and out.max() <= 1.0
    # The stroke is where it was: the brightest pixels of the original stay bright.
    assert out[digit() > 200].mean() > 0.7
    assert out[digit() == 0].mean() < 0.1


@pytest.mark.parametrize(
    ("content_type", "size", "encode"),
    [
        (ContentType.PNG, (100, 80), "PNG"),
        (ContentType.JPEG, (224, 224), "JPEG"),
        (ContentType.ENCODED, (14, 14), "WEBP"),
        (ContentType.ENCODED, (300, 300), "BMP"),
    ],
)
def test_colour_images_of_other_sizes_are_resized_to_the_slot(
    content_type: ContentType, size: tuple[int, int], encode: str
) -> None:
    colour = Image.fromarray(digit()).convert("RGB").resize(size)
    buffer = io.BytesIO()
    colour.save(buffer, format=encode)
    out = slot()

    decode_into(event(content_type, buffer.getvalue()), buffer.getvalue(), out)

    assert np.abs(out - to_unit_float(digit())).mean() < 0.08


@pytest.mark.parametrize("content_type", [ContentType.PNG, ContentType.JPEG, ContentType.ENCODED])
def test_garbage_bytes_are_invalid(content_type: ContentType) -> None:
    with pytest.raises(InvalidEvent, match="e1: payload is not a decodable"):
        decode_into(event(content_type, b"garbage"), b"garbage", slot())


def test_truncated_png_is_invalid() -> None:
    payload = encode_png(digit())[:60]

    with pytest.raises(InvalidEvent, match="not a decodable PNG"):
        decode_into(event(ContentType.PNG, payload), payload, slot())


def test_a_jpeg_declared_as_png_is_invalid() -> None:
    payload = encode_jpeg(digit())

    with pytest.raises(InvalidEvent, match="PNG"):
        decode_into(event(ContentType.PNG, payload), payload, slot())


def dds_with_an_unknown_pixel_format() -> bytes:
    """A DDS header Pillow recognises, then refuses with NotImplementedError."""
    header = bytearray(120)
    struct.pack_into("<3I", header, 0, 0x1007, 28, 28)  # flags, height, width
    struct.pack_into("<4I", header, 68, 32, 0x4, int.from_bytes(b"ZZZZ", "little"), 0)
    return b"DDS " + struct.pack("<I", 124) + bytes(header)


def test_a_format_pillow_recognises_but_cannot_decode_is_invalid() -> None:
    payload = dds_with_an_unknown_pixel_format()
    limits = DecodeLimits(encoded_formats=("DDS",))

    with pytest.raises(InvalidEvent, match=r"not a decodable DDS \(NotImplementedError"):
        decode_into(event(ContentType.ENCODED, payload), payload, slot(), limits=limits)


@pytest.mark.parametrize("fmt", ["EPS", "DDS", "ICO", "PCX"])
def test_content_type_3_tries_only_the_allowed_formats(fmt: str) -> None:
    """EPS would run Ghostscript: Pillow is never even asked to open a format not allowed."""
    if fmt == "DDS":
        payload = dds_with_an_unknown_pixel_format()
    elif fmt == "EPS":
        payload = b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 28 28\nshowpage\n"
    else:
        buffer = io.BytesIO()
        Image.new("L", (28, 28)).save(buffer, format=fmt)
        payload = buffer.getvalue()
    opened: list[str] = []
    real_open = Image.open

    def spy(fp: object, mode: str = "r", formats: object = None) -> Image.Image:
        opened.append(repr(formats))
        return real_open(fp, mode, formats)  # type: ignore[arg-type]

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(Image, "open", spy)
        with pytest.raises(InvalidEvent, match=r"not a decodable PNG/JPEG/WEBP/BMP/TIFF/GIF"):
            decode_into(event(ContentType.ENCODED, payload), payload, slot())
    assert opened == [repr(DEFAULT_ENCODED_FORMATS)]


def test_the_default_formats_are_the_settings_default() -> None:
    from arena.config import ImageSettings

    assert ImageSettings().formats == DEFAULT_ENCODED_FORMATS


def test_a_batch_decode_budget_refuses_the_images_that_overdraw_it() -> None:
    budget = PixelBudget(28 * 28 * 2 + 10)
    png = io.BytesIO()
    Image.new("L", (28, 28)).save(png, format="PNG")
    payload = png.getvalue()
    for _ in range(2):
        decode_into(event(ContentType.PNG, payload), payload, slot(), budget=budget)
    with pytest.raises(InvalidEvent, match="decode budget"):
        decode_into(event(ContentType.PNG, payload), payload, slot(), budget=budget)
    raw = bytes(28 * 28)
    with pytest.raises(InvalidEvent, match="ARENA_IMAGES_MAX_BATCH_PIXELS"):
        decode_into(
            ImageEvent("r", 0, "t", ContentType.RAW_GRAY8, raw, height=28, width=28),
            raw,
            slot(),
            budget=budget,
        )
    assert budget.remaining == 10


def test_a_decompression_bomb_is_refused_before_decoding() -> None:
    buffer = io.BytesIO()
    Image.new("L", (5000, 5000)).save(buffer, format="PNG")

    with pytest.raises(InvalidEvent, match="larger than"):
        decode_into(event(ContentType.PNG, buffer.getvalue()), buffer.getvalue(), slot())


def test_out_must_be_a_float32_slot() -> None:
    payload = bytes(784)
    with pytest.raises(ValueError, match="float32"):
        decode_into(event(ContentType.RAW_GRAY8, payload, 28, 28), payload, np.zeros((28, 28)))
