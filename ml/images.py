"""Safe image decoding and encoding: bytes or a path in, an ``H x W x 3`` uint8 RGB array out.

Every way an upload can be unusable ends in one exception, :class:`ImageDecodeError`, whose
``code`` says why (``empty``, ``not_an_image``, ``corrupt``, ``too_many_pixels``,
``unsupported``) and whose message a person can act on. The pixel limit is checked from the
header, before any pixel is decoded, so a decompression bomb costs a few bytes of parsing.

Only the formats in :data:`DECODABLE_FORMATS` are ever handed to Pillow's decoders (no EPS,
which would start Ghostscript, no PSD, no exotic scientific formats). Pillow's global settings
(``Image.MAX_IMAGE_PIXELS``, ``ImageFile.LOAD_TRUNCATED_IMAGES``) are read, never changed.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import cv2
import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

#: Refuse images above this many pixels unless the caller passes another limit (50 MP is a
#: 8660 x 5773 photo; the decoded RGB array of such an image is 150 MB).
DEFAULT_MAX_PIXELS: Final = 50_000_000

#: Pillow formats we decode (the JPEG plugin also reads MPO, the multi-picture JPEG of cameras).
DECODABLE_FORMATS: Final = ("JPEG", "PNG", "WEBP", "GIF", "BMP", "TIFF", "AVIF")

# Image formats people upload that we cannot decode, recognised by their first bytes, so the
# error says "unsupported" rather than "not an image".
_KNOWN_UNDECODABLE: Final = (
    (b"ftypheic", "HEIC"),
    (b"ftypheix", "HEIC"),
    (b"ftypmif1", "HEIF"),
    (b"ftypmsf1", "HEIF"),
    (b"8BPS", "PSD"),
    (b"%!PS", "EPS"),
    (b"\xc5\xd0\xd3\xc6", "EPS"),
    (b"\x00\x00\x00\x0cjP  ", "JPEG 2000"),
    (b"\xffO\xffQ", "JPEG 2000"),
    (b"\xff\x0a", "JPEG XL"),
    (b"\x00\x00\x00\x0cJXL ", "JPEG XL"),
    (b"<svg", "SVG"),
    (b"<?xml", "SVG/XML"),
    (b"II*\x00\x10\x00\x00\x00CR", "Canon RAW"),
)


class ImageDecodeError(ValueError):
    """An image that cannot be used, with a machine-readable ``code`` and a human message."""

    EMPTY: Final = "empty"
    NOT_AN_IMAGE: Final = "not_an_image"
    CORRUPT: Final = "corrupt"
    TOO_MANY_PIXELS: Final = "too_many_pixels"
    UNSUPPORTED: Final = "unsupported"

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


#: The suffix a stored image of each Pillow format gets (the name is derived, never the uploader's).
FORMAT_SUFFIXES: Final = {
    "JPEG": ".jpg",
    "MPO": ".jpg",
    "PNG": ".png",
    "WEBP": ".webp",
    "GIF": ".gif",
    "BMP": ".bmp",
    "TIFF": ".tiff",
    "AVIF": ".avif",
}


@dataclass(frozen=True)
class ImageInfo:
    """What an image file's header says: Pillow's ``format`` name and the size it is shown at
    (EXIF orientation applied, so a phone portrait is taller than wide)."""

    format: str
    width: int
    height: int

    @property
    def suffix(self) -> str:
        return FORMAT_SUFFIXES.get(self.format, ".img")


def probe_image(source: bytes | Path, *, max_pixels: int = DEFAULT_MAX_PIXELS) -> ImageInfo:
    """The format and size of an image without decoding its pixels.

    Reads the header (format, size, EXIF orientation) and runs Pillow's ``verify()``, which
    checks a PNG's chunks and CRCs without inflating them: under 1 ms for the demo photos
    (which :func:`load_image` takes 9 to 180 ms to decode), 10 ms against 700 ms for a 24 MP
    JPEG, in constant memory. It raises
    the same :class:`ImageDecodeError` codes as :func:`load_image` for an empty file, a
    non-image, an undecodable format, too many pixels and a broken PNG. A JPEG truncated inside
    its pixel data passes (only decoding finds that), so whoever decodes later must still
    expect ``corrupt``.
    """
    data = Path(source).read_bytes() if isinstance(source, (str, Path)) else bytes(source)
    with _decode_errors(data):
        with Image.open(io.BytesIO(data), formats=DECODABLE_FORMATS) as image:
            width, height = image.size
            if width * height > max_pixels:
                raise _too_many_pixels(width, height, max_pixels)
            image_format = image.format or ""
            if _orientation(image) in (5, 6, 7, 8):  # a quarter turn: shown with width and height swapped
                width, height = height, width
        with Image.open(io.BytesIO(data), formats=DECODABLE_FORMATS) as image:
            image.verify()  # must come straight after open: reading the EXIF may have moved on
        return ImageInfo(format=image_format, width=width, height=height)


def load_image(source: bytes | Path, *, max_pixels: int = DEFAULT_MAX_PIXELS) -> np.ndarray:
    """Decode an image file into a C-contiguous ``H x W x 3`` uint8 RGB array.

    The EXIF orientation is applied (a phone portrait comes out upright), transparency is
    composited onto white, greyscale/palette/CMYK/16-bit images are converted to 8-bit RGB and
    an animated image gives its first frame.

    Raises :class:`ImageDecodeError` for an empty file, bytes that are not an image, a truncated
    or corrupt file, more than ``max_pixels`` pixels, or an image format we do not decode.
    A missing path raises ``FileNotFoundError`` as usual.
    """
    data = Path(source).read_bytes() if isinstance(source, (str, Path)) else bytes(source)
    with _decode_errors(data):
        with Image.open(io.BytesIO(data), formats=DECODABLE_FORMATS) as image:
            width, height = image.size
            if width * height > max_pixels:
                raise _too_many_pixels(width, height, max_pixels)
            image.load()
            image = _upright(image)
            return _to_rgb_array(image)


@contextmanager
def _decode_errors(data: bytes) -> Iterator[None]:
    """Turn whatever Pillow raises on bad bytes into one :class:`ImageDecodeError` with a code."""
    if not data:
        raise ImageDecodeError(ImageDecodeError.EMPTY, "the file is empty (0 bytes).")
    try:
        yield
    except ImageDecodeError:
        raise
    except Image.DecompressionBombError as exc:  # Pillow's own limit, when it is below ours
        raise ImageDecodeError(
            ImageDecodeError.TOO_MANY_PIXELS, f"refused as a possible decompression bomb ({exc})."
        ) from exc
    except UnidentifiedImageError as exc:
        undecodable = _sniff_undecodable(data)
        if undecodable:
            raise ImageDecodeError(
                ImageDecodeError.UNSUPPORTED, f"{undecodable} images are not supported; convert it to JPEG or PNG."
            ) from exc
        raise ImageDecodeError(ImageDecodeError.NOT_AN_IMAGE, "not an image file (no known image format).") from exc
    except (OSError, SyntaxError, ValueError, EOFError, IndexError, TypeError, MemoryError) as exc:
        # Pillow reports truncation as OSError("image file is truncated ...") and broken
        # streams as OSError/SyntaxError/ValueError depending on the plugin.
        raise ImageDecodeError(ImageDecodeError.CORRUPT, f"the image data is corrupt or truncated ({exc}).") from exc


def _orientation(image: Image.Image) -> int:
    """The EXIF orientation (1 = as stored), read from the header only: a PNG whose EXIF comes
    after its pixels (rare) counts as upright rather than being decoded to find it."""
    if image.format == "PNG" and "exif" not in image.info:
        return 1
    try:
        return int(image.getexif().get(0x0112, 1))
    except (SyntaxError, ValueError, TypeError, KeyError, OSError):
        return 1


def encode_jpeg(image: np.ndarray, quality: int = 90) -> bytes:
    """JPEG bytes of an ``H x W x 3`` RGB (or ``H x W`` grey) uint8 array."""
    if not 1 <= quality <= 100:
        raise ValueError(f"JPEG quality must be in 1..100, got {quality}")
    array = _check_array(image)
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="JPEG", quality=quality)
    return buffer.getvalue()


def thumbnail(image: np.ndarray, size: int | tuple[int, int]) -> np.ndarray:
    """A copy scaled down (never up) to fit in ``size`` (one side, or ``(width, height)``),
    keeping the aspect ratio; area interpolation, so no aliasing."""
    array = _check_array(image)
    max_w, max_h = (size, size) if isinstance(size, int) else size
    if max_w < 1 or max_h < 1:
        raise ValueError(f"thumbnail size must be positive, got {size}")
    height, width = array.shape[:2]
    scale = min(max_w / width, max_h / height, 1.0)
    if scale == 1.0:
        return array.copy()
    new_size = (max(1, round(width * scale)), max(1, round(height * scale)))
    return cv2.resize(array, new_size, interpolation=cv2.INTER_AREA)


def _too_many_pixels(width: int, height: int, limit: int) -> ImageDecodeError:
    return ImageDecodeError(
        ImageDecodeError.TOO_MANY_PIXELS,
        f"{width}x{height} is {width * height:,} pixels, above the limit of {limit:,}; "
        "refused as a possible decompression bomb.",
    )


def _upright(image: Image.Image) -> Image.Image:
    """Apply the EXIF orientation; a broken EXIF block leaves the image as stored."""
    try:
        return ImageOps.exif_transpose(image)
    except (SyntaxError, ValueError, TypeError, KeyError, OSError):
        return image


def _to_rgb_array(image: Image.Image) -> np.ndarray:
    if image.mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        grey = np.asarray(image, dtype=np.float64)
        top = 65535.0 if image.mode.startswith("I;16") or grey.max(initial=0) > 255 else 255.0
        grey8 = np.clip(grey * (255.0 / top), 0, 255).round().astype(np.uint8)
        return np.ascontiguousarray(np.repeat(grey8[:, :, None], 3, axis=2))
    if image.mode == "P" and "transparency" in image.info:
        image = image.convert("RGBA")
    if image.mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        image = Image.alpha_composite(background, rgba)
    rgb = np.asarray(image.convert("RGB"), dtype=np.uint8)
    return np.ascontiguousarray(rgb)


def _sniff_undecodable(data: bytes) -> str | None:
    head = data[:64].lstrip()
    for magic, name in _KNOWN_UNDECODABLE:
        if head.startswith(magic) or (magic.startswith(b"ftyp") and data[4:12] == magic):
            return name
    return None


def _check_array(image: np.ndarray) -> np.ndarray:
    array = np.asarray(image)
    if array.dtype != np.uint8 or not (array.ndim == 2 or (array.ndim == 3 and array.shape[2] == 3)):
        raise ValueError(f"expected an H x W x 3 (or H x W) uint8 array, got {array.dtype} {array.shape}")
    if array.shape[0] == 0 or array.shape[1] == 0:
        raise ValueError(f"empty image of shape {array.shape}")
    return np.ascontiguousarray(array)


def check_rgb(image: np.ndarray) -> np.ndarray:
    """``image`` as a contiguous ``H x W x 3`` uint8 array; ValueError for anything else."""
    array = np.asarray(image)
    if array.dtype != np.uint8 or array.ndim != 3 or array.shape[2] != 3 or array.shape[0] == 0 or array.shape[1] == 0:
        raise ValueError(f"expected an H x W x 3 uint8 RGB image, got {array.dtype} {array.shape}")
    return np.ascontiguousarray(array)
