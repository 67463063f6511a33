"""Image checks and thumbnails (Pillow).

The pixel count is checked from the header before anything is decoded, so a small file that
claims a huge canvas (a decompression bomb, a "pixel flood") is refused without allocating it.
``Image.MAX_IMAGE_PIXELS`` is set to the same limit when the app starts, so any other Pillow use
in the process refuses such images too.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

from django.conf import settings
from django.utils.formats import number_format
from django.utils.translation import gettext as _
from PIL import Image, ImageOps, UnidentifiedImageError

THUMBNAIL_SIZE = (320, 320)
_PILLOW_FORMATS = {
    "image/png": "PNG",
    "image/jpeg": "JPEG",
    "image/gif": "GIF",
    "image/webp": "WEBP",
}
_ROTATED = {5, 6, 7, 8}  # EXIF orientations that swap width and height


class ImageRefused(Exception):
    def __init__(self, code: str, detail: str):
        super().__init__(detail)
        self.code = code
        self.detail = detail


@dataclass(frozen=True)
class ImageInfo:
    width: int
    height: int
    thumbnail: bytes
    thumbnail_ext: str


def max_pixels() -> int:
    return settings.MEDIA_MAX_IMAGE_PIXELS


def inspect_image(path: str, *, mime: str) -> ImageInfo:
    """Dimensions (as displayed, after EXIF rotation) and a thumbnail, or ``ImageRefused``."""
    try:
        with Image.open(path) as image:
            width, height = image.size
            _check_pixels(width, height)
            if image.format != _PILLOW_FORMATS.get(mime):
                raise ImageRefused(
                    "invalid_image",
                    _("The image is not a valid %(upper)s.")
                    % {"upper": mime.split("/")[1].upper()},
                )
            image.verify()
        with Image.open(path) as image:
            if image.getexif().get(0x0112) in _ROTATED:
                width, height = height, width
            thumbnail, ext = _thumbnail(image)
    except ImageRefused:
        raise
    except Image.DecompressionBombError:
        raise ImageRefused("image_too_large", _too_large_detail()) from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, EOFError) as exc:
        raise ImageRefused(
            "invalid_image", _("The image could not be read: %(exc)s.") % {"exc": exc}
        ) from None
    return ImageInfo(width=width, height=height, thumbnail=thumbnail, thumbnail_ext=ext)


def _too_large_detail() -> str:
    return _("Images are limited to %(pixels)s pixels (width × height).") % {
        "pixels": number_format(max_pixels(), force_grouping=True)
    }


def _check_pixels(width: int, height: int) -> None:
    if width <= 0 or height <= 0:
        raise ImageRefused("invalid_image", _("The image has no pixels."))
    if width * height > max_pixels():
        raise ImageRefused(
            "image_too_large",
            _("%(too_large_detail)s This one is %(width)s × %(height)s.")
            % {"too_large_detail": _too_large_detail(), "width": width, "height": height},
        )


def _thumbnail(image: Image.Image) -> tuple[bytes, str]:
    """A re-encoded copy at most ``THUMBNAIL_SIZE``: JPEG, or PNG where there is transparency.
    Re-encoding also drops metadata and anything appended to the original."""
    image.draft("RGB", THUMBNAIL_SIZE)  # JPEG: decode at a reduced scale
    frame = ImageOps.exif_transpose(image)
    frame.thumbnail(THUMBNAIL_SIZE)
    has_alpha = frame.mode in ("RGBA", "LA", "PA") or (
        frame.mode == "P" and "transparency" in frame.info
    )
    out = io.BytesIO()
    if has_alpha:
        frame.convert("RGBA").save(out, "PNG", optimize=True)
        return out.getvalue(), "png"
    frame.convert("RGB").save(out, "JPEG", quality=82, optimize=True)
    return out.getvalue(), "jpg"
