"""Turning any image a user has into the uint8 grayscale arrays the models are trained on.

The dataset decoder and the predictor both call `prepare_image`, so training and inference
convert and resize pixels with the same code.
"""

from __future__ import annotations

import io
import os
import stat
import warnings
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from ..errors import ImageLoadError

# Limits on what an image may cost before it is decoded (each is checked from the header alone):
MAX_PIXELS = 40_000_000  # a 10,000 x 10,000 RGBA image would be 400 MB
MAX_DECODED_BYTES = 64 * 2**20  # decoded pixel memory; a larger JPEG decodes reduced (draft), others are refused
WORKING_SIDE = 2048  # larger images are reduced to this side at once (ample for letters and for face crops)
MAX_FILE_BYTES = 100 * 2**20
_BYTES_PER_BAND = {"1": 1, "I;16": 2, "I;16B": 2, "I;16L": 2, "I;16N": 2, "I": 4, "F": 4}


def _check_file(path: Path, label: str) -> None:
    """Only regular files are opened: a FIFO would block forever, a device could be endless."""
    try:
        info = os.stat(path)
    except FileNotFoundError:
        raise ImageLoadError(f"{label}: no such file") from None
    except OSError as exc:
        raise ImageLoadError(f"{label}: cannot be read ({exc.strerror})") from None
    if stat.S_ISDIR(info.st_mode):
        raise ImageLoadError(f"{label}: is a directory, not an image")
    if not stat.S_ISREG(info.st_mode):
        raise ImageLoadError(f"{label}: is not a regular file (a pipe, device or socket), so it is not read")
    if info.st_size > MAX_FILE_BYTES:
        raise ImageLoadError(f"{label}: the file is {info.st_size / 2**20:.0f} MB; images up to "
                             f"{MAX_FILE_BYTES // 2**20} MB are read")  # fmt: skip


def _bound_memory(img: Image.Image, label: str) -> None:
    """Refuse (or, for JPEG, decode reduced) an image whose decoded pixels would exceed the limits."""
    if img.width * img.height > MAX_PIXELS:
        raise ImageLoadError(
            f"{label}: image is too large ({img.width}x{img.height} pixels; the limit is {MAX_PIXELS:,} pixels)"
        )
    decoded = img.width * img.height * len(img.getbands()) * _BYTES_PER_BAND.get(img.mode, 1)
    if decoded <= MAX_DECODED_BYTES:
        return
    if img.format == "JPEG":
        img.draft(img.mode, (WORKING_SIDE, WORKING_SIDE))  # the decoder skips detail: 1/2, 1/4 or 1/8 of the side
        return
    raise ImageLoadError(
        f"{label}: a {img.width}x{img.height} {img.mode} image takes {decoded / 2**20:.0f} MB decoded; the limit is "
        f"{MAX_DECODED_BYTES // 2**20} MB (save it smaller, or as JPEG)"
    )


def _check_mode(img: Image.Image, label: str) -> None:
    """Refuse a colour mode Pillow cannot turn into grayscale (what letters need) and RGB (what faces need), such
    as LAB: tried on one pixel, so the refusal comes before any work, for either kind of model."""
    try:
        pixel = Image.new(img.mode, (1, 1))
        pixel.convert("L")
        pixel.convert("RGB")
    except ValueError:
        raise ImageLoadError(
            f"{label}: its colour mode {img.mode} cannot be converted to grayscale or RGB (save it as RGB)"
        ) from None


def open_image(source: str | Path | bytes | Image.Image, name: str | None = None) -> Image.Image:
    """Open and fully decode an image from a path, raw bytes or a PIL image (first frame only), within the memory
    limits above; an image larger than WORKING_SIDE comes back reduced to it."""
    if isinstance(source, Image.Image):
        return source
    label = name or (str(source) if isinstance(source, (str, Path)) else "upload")
    if isinstance(source, (str, Path)):
        _check_file(Path(source), label)
    try:
        with warnings.catch_warnings():
            # PIL warns (two lines on stderr) between its bomb limits; _bound_memory decides instead.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            img = Image.open(io.BytesIO(source) if isinstance(source, bytes) else source)
            _bound_memory(img, label)
            img.seek(0)  # animated images: use the first frame
            img.load()
            _check_mode(img, label)
            if max(img.size) > WORKING_SIDE:
                img.thumbnail((WORKING_SIDE, WORKING_SIDE), Image.Resampling.BOX)
    except ImageLoadError:
        raise
    except Image.DecompressionBombError:
        raise ImageLoadError(f"{label}: image is too large (far over the limit of {MAX_PIXELS:,} pixels)") from None
    except UnidentifiedImageError:
        raise ImageLoadError(f"{label}: not an image file PIL can read") from None
    except (OSError, SyntaxError, ValueError) as exc:  # truncated or corrupt data
        raise ImageLoadError(f"{label}: cannot decode image ({exc})") from None
    return img


def to_grayscale_array(img: Image.Image) -> np.ndarray:
    """Any PIL mode (RGB, RGBA, P, LA, CMYK, 16-bit, float) -> 2-D uint8 array."""
    img = ImageOps.exif_transpose(img)
    if img.mode in ("I;16", "I;16B", "I;16L", "I;16N", "I", "F"):
        arr = np.asarray(img, dtype=np.float64)
        top = 65535.0 if arr.max(initial=0) > 255 else 255.0
        return np.clip(arr / top * 255.0 + 0.5, 0, 255).astype(np.uint8)
    if img.mode in ("RGBA", "LA", "PA") or (img.mode == "P" and "transparency" in img.info):
        rgba = img.convert("RGBA")
        alpha = np.asarray(rgba, dtype=np.float32)[..., 3] / 255.0
        gray = np.asarray(rgba.convert("L"), dtype=np.float32)
        if alpha.min() < 1.0:
            # Put transparent parts on the background that contrasts with what is drawn,
            # so a white stroke on a transparent canvas stays visible.
            opaque = alpha > 0.5
            ink = gray[opaque].mean() if opaque.any() else 0.0
            background = 0.0 if ink > 127 else 255.0
            gray = gray * alpha + background * (1.0 - alpha)
        return np.clip(gray + 0.5, 0, 255).astype(np.uint8)
    return np.asarray(img.convert("L"), dtype=np.uint8)


def to_rgb_array(img: Image.Image) -> np.ndarray:
    """Any PIL mode -> H x W x 3 uint8 RGB (transparent parts on white; 16-bit and float scaled to 8 bits)."""
    img = ImageOps.exif_transpose(img)
    if img.mode in ("I;16", "I;16B", "I;16L", "I;16N", "I", "F", "L", "1"):
        return np.repeat(to_grayscale_array(img)[..., None], 3, axis=2)
    if img.mode in ("RGBA", "LA", "PA") or (img.mode == "P" and "transparency" in img.info):
        rgba = img.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return np.asarray(Image.alpha_composite(white, rgba).convert("RGB"))
    return np.asarray(img.convert("RGB"))


def has_light_background(gray: np.ndarray) -> bool:
    """True for a dark glyph on a light background (the training data is light on dark)."""
    border = np.concatenate([gray[0], gray[-1], gray[:, 0], gray[:, -1]])
    return float(np.median(border)) > 127


def fit_square(gray: np.ndarray, size: int) -> np.ndarray:
    """Pad to a square with the border colour (keeps the aspect ratio), then resize to size x size."""
    h, w = gray.shape
    if (h, w) == (size, size):
        return gray
    if h != w:
        border = np.concatenate([gray[0], gray[-1], gray[:, 0], gray[:, -1]])
        side = max(h, w)
        canvas = np.full((side, side), np.uint8(np.median(border)), dtype=np.uint8)
        top, left = (side - h) // 2, (side - w) // 2
        canvas[top : top + h, left : left + w] = gray
        gray = canvas
    # BOX averages all source pixels when shrinking (no aliasing); BILINEAR when enlarging.
    resample = Image.Resampling.BOX if gray.shape[0] > size else Image.Resampling.BILINEAR
    return np.asarray(Image.fromarray(gray).resize((size, size), resample), dtype=np.uint8)


def crop_to_content(gray: np.ndarray, margin: float = 0.06) -> np.ndarray:
    """Crop a light-on-dark image to its ink plus a small margin, as notMNIST glyphs fill their frame."""
    ink = gray > max(32, int(gray.max()) // 4)
    if not ink.any():
        return gray
    rows, cols = np.flatnonzero(ink.any(axis=1)), np.flatnonzero(ink.any(axis=0))
    pad = int(round(margin * max(rows[-1] - rows[0] + 1, cols[-1] - cols[0] + 1)))
    top, bottom = max(rows[0] - pad, 0), min(rows[-1] + pad + 1, gray.shape[0])
    left, right = max(cols[0] - pad, 0), min(cols[-1] + pad + 1, gray.shape[1])
    return gray[top:bottom, left:right]


def prepare_image(img: Image.Image, size: int, invert: str = "never", crop: bool = False) -> np.ndarray:
    """PIL image -> (size, size) uint8 grayscale array.

    invert: "never" (dataset images), "always", or "auto" (user images: invert a dark glyph on a
    light background so it looks like the training data). crop: cut a user's image down to its ink first.
    """
    gray = to_grayscale_array(img)
    if invert == "always" or (invert == "auto" and has_light_background(gray)):
        gray = 255 - gray
    if crop:
        gray = crop_to_content(gray)
    return fit_square(gray, size)
