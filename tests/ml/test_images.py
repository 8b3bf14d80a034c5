"""ml.images: every unusable upload ends in ImageDecodeError with a code; good ones come out
upright, RGB, uint8."""

from __future__ import annotations

import io
import struct
import time
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from ml.images import ImageDecodeError, encode_jpeg, load_image, probe_image, thumbnail


def png_bytes(array: np.ndarray, mode: str | None = None) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(array, mode=mode).save(buffer, format="PNG")
    return buffer.getvalue()


def png_claiming_size(width: int, height: int) -> bytes:
    """A tiny, valid-looking PNG whose header claims ``width x height`` pixels: the shape of a
    decompression bomb (the real thing would inflate a few KB of zeros into gigabytes)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b"\x00" * 1024))
        + chunk(b"IEND", b"")
    )


@pytest.fixture(scope="module")
def photo_bytes(shared_data: Path) -> bytes:
    return (shared_data / "photos" / "obama.jpg").read_bytes()


def test_a_real_photo_decodes_to_an_rgb_uint8_array(shared_data: Path):
    image = load_image(shared_data / "photos" / "obama.jpg")
    assert image.shape == (1137, 910, 3) and image.dtype == np.uint8 and image.flags["C_CONTIGUOUS"]


def test_bytes_and_path_give_the_same_pixels(shared_data: Path, photo_bytes: bytes):
    np.testing.assert_array_equal(load_image(photo_bytes), load_image(shared_data / "photos" / "obama.jpg"))


def test_exif_orientation_is_applied_so_a_portrait_comes_out_upright():
    landscape = np.zeros((20, 40, 3), dtype=np.uint8)
    landscape[:, :20] = (255, 0, 0)  # red on the left as stored
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 CW to display"
    buffer = io.BytesIO()
    Image.fromarray(landscape).save(buffer, format="JPEG", exif=exif.tobytes(), quality=95)

    image = load_image(buffer.getvalue())

    assert image.shape == (40, 20, 3)
    assert image[:15, :, 0].mean() > 200 and image[25:, :, 0].mean() < 60  # red now on top


def test_transparency_is_composited_on_white_and_grey_becomes_rgb():
    rgba = np.zeros((8, 8, 4), dtype=np.uint8)  # fully transparent black
    assert (load_image(png_bytes(rgba)) == 255).all()
    grey = np.full((8, 8), 77, dtype=np.uint8)
    assert (load_image(png_bytes(grey)) == 77).all()


def test_a_16_bit_png_is_scaled_to_8_bits():
    deep = np.full((4, 4), 65535, dtype=np.uint16)
    assert (load_image(png_bytes(deep)) == 255).all()


def test_an_empty_file_is_refused_as_empty():
    with pytest.raises(ImageDecodeError) as error:
        load_image(b"")
    assert error.value.code == "empty"


def test_text_is_refused_as_not_an_image():
    with pytest.raises(ImageDecodeError) as error:
        load_image(b"name,identity\nobama.jpg,Barack Obama\n" * 20)
    assert error.value.code == "not_an_image"


@pytest.mark.parametrize("keep", [0.5, 0.05], ids=["half", "header-only"])
def test_a_truncated_jpeg_is_refused_as_corrupt(photo_bytes: bytes, keep: float):
    with pytest.raises(ImageDecodeError) as error:
        load_image(photo_bytes[: int(len(photo_bytes) * keep)])
    assert error.value.code == "corrupt"
    assert "truncated" in str(error.value)


def test_a_png_with_a_damaged_chunk_is_refused_as_corrupt():
    data = bytearray(png_bytes(np.random.default_rng(0).integers(0, 255, (64, 64, 3), dtype=np.uint8)))
    data[60:80] = b"\xff" * 20  # inside IDAT: the checksum no longer matches
    with pytest.raises(ImageDecodeError) as error:
        load_image(bytes(data))
    assert error.value.code == "corrupt"


def test_a_decompression_bomb_is_refused_from_its_header_before_decoding():
    bomb = png_claiming_size(60_000, 60_000)  # 3.6 gigapixels in 100 bytes
    started = time.perf_counter()
    with pytest.raises(ImageDecodeError) as error:
        load_image(bomb)
    assert error.value.code == "too_many_pixels"
    assert time.perf_counter() - started < 1.0


def test_the_pixel_limit_is_configurable(photo_bytes: bytes):
    with pytest.raises(ImageDecodeError) as error:
        load_image(photo_bytes, max_pixels=1_000_000)  # the photo has 1,034,670
    assert error.value.code == "too_many_pixels"
    assert "1,034,670" in str(error.value)
    assert load_image(photo_bytes, max_pixels=1_100_000).shape == (1137, 910, 3)


@pytest.mark.parametrize(
    "head, name",
    [
        (b"\x00\x00\x00\x18ftypheic", "HEIC"),
        (b"<svg xmlns='http://www.w3.org/2000/svg'>", "SVG"),
        (b"8BPS\x00\x01", "PSD"),
    ],
)
def test_image_formats_we_do_not_decode_are_refused_as_unsupported(head: bytes, name: str):
    with pytest.raises(ImageDecodeError) as error:
        load_image(head + b"\x00" * 200)
    assert error.value.code == "unsupported"
    assert name in str(error.value)


def test_a_missing_path_raises_file_not_found(tmp_path: Path):
    with pytest.raises(FileNotFoundError):
        load_image(tmp_path / "absent.jpg")


def test_encode_jpeg_round_trips_and_quality_trades_size(shared_data: Path):
    image = load_image(shared_data / "photos" / "kit_with_rose.jpg")
    high, low = encode_jpeg(image, quality=95), encode_jpeg(image, quality=40)
    assert high[:3] == b"\xff\xd8\xff" and len(low) < len(high)
    again = load_image(high)
    assert again.shape == image.shape
    assert np.abs(again.astype(int) - image.astype(int)).mean() < 3


def test_thumbnail_fits_the_box_keeps_the_aspect_and_never_upscales():
    image = np.zeros((300, 600, 3), dtype=np.uint8)
    assert thumbnail(image, 200).shape == (100, 200, 3)
    assert thumbnail(image, (600, 150)).shape == (150, 300, 3)
    small = thumbnail(image, 1000)
    assert small.shape == image.shape and small is not image


def test_probing_gives_the_detected_format_and_shown_size_whatever_the_file_is_called():
    rng = np.random.default_rng(1)
    portrait = Image.fromarray(rng.integers(0, 255, (30, 40, 3), dtype=np.uint8))  # stored 40 wide, 30 high
    exif = Image.Exif()
    exif[0x0112] = 6  # shown turned a quarter: 30 wide, 40 high
    buffer = io.BytesIO()
    portrait.save(buffer, format="JPEG", exif=exif)
    info = probe_image(buffer.getvalue())
    assert (info.format, info.suffix, info.width, info.height) == ("JPEG", ".jpg", 30, 40)
    png = probe_image(png_bytes(rng.integers(0, 255, (8, 12, 3), dtype=np.uint8)))
    assert (png.format, png.suffix, png.width, png.height) == ("PNG", ".png", 12, 8)


def test_probing_refuses_what_decoding_refuses_from_the_header_and_png_checksums():
    damaged = bytearray(png_bytes(np.random.default_rng(0).integers(0, 255, (64, 64, 3), dtype=np.uint8)))
    damaged[60:80] = b"\xff" * 20
    cases = {
        b"": "empty",
        b"name,identity\n" * 20: "not_an_image",
        png_claiming_size(60_000, 60_000): "too_many_pixels",
        b"<svg xmlns='http://www.w3.org/2000/svg'>" + b"\x00" * 200: "unsupported",
        bytes(damaged): "corrupt",
    }
    for data, code in cases.items():
        with pytest.raises(ImageDecodeError) as error:
            probe_image(data)
        assert error.value.code == code
