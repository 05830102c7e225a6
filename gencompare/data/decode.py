"""Turns the bytes of one image file into a square uint8 array of a chosen size.

Every mode Pillow can open is brought to 8-bit RGB (or L for grayscale sets): palettes and
transparency are composited over white, CMYK/YCbCr/LAB are converted, 16-bit and 32-bit integer
images are scaled down to 8 bits. Non-square images are centre-cropped to a square and then resized
with Lanczos filtering, which antialiases when shrinking.
"""

import io
import math

import numpy as np
from PIL import Image

# Far above any real photo used here, far below what would exhaust memory: a file declaring more
# pixels than this is treated as a decompression bomb and skipped without being decoded.
MAX_PIXELS = 40_000_000
SIXTEEN_BIT_MAXIMUM = 65535
_INTEGER_MODES = ("I", "I;16", "I;16B", "I;16L", "I;16N")
_ALPHA_MODES = ("RGBA", "RGBa", "LA", "La", "PA")
_BACKGROUND = (255, 255, 255, 255)


class UnreadableImage(ValueError):
    """One file could not be turned into an image; the message is the short reason."""


def decode_image(data, image_size, channels=3):
    """Decodes, converts, centre-crops and resizes one image file.

    Args:
        data: The file's bytes.
        image_size: Side length of the square output.
        channels: 3 for RGB output, 1 for grayscale.

    Returns:
        A uint8 array of shape (image_size, image_size, channels).

    Raises:
        UnreadableImage: The bytes are empty, not an image, truncated, corrupt, or declare more
            than `MAX_PIXELS` pixels.
        ValueError: `channels` is not 1 or 3.
    """
    if channels not in (1, 3):
        raise ValueError(f"channels must be 1 or 3, got {channels!r}.")
    if not data:
        raise UnreadableImage("empty file")
    try:
        with Image.open(io.BytesIO(data)) as image:
            width, height = image.size
            if width * height > MAX_PIXELS:
                raise UnreadableImage(f"{width}x{height} pixels exceeds the {MAX_PIXELS} limit "
                                      "(decompression bomb?)")
            _request_reduced_jpeg(image, image_size)
            image.load()
            converted = to_channels(flatten_alpha(to_eight_bit(image)), channels)
    except UnreadableImage:
        raise
    except Image.UnidentifiedImageError as error:
        raise UnreadableImage("not an image in a format Pillow can read") from error
    except Exception as error:  # Corrupt files raise a zoo of types from deep inside Pillow.
        raise UnreadableImage(f"{type(error).__name__}: {error}") from error
    return _as_array(resize_square(centre_crop(converted), image_size), channels)


def _request_reduced_jpeg(image, image_size):
    """Lets the JPEG decoder scale down by 1/2, 1/4 or 1/8 while staying at least `image_size`."""
    if image.format != "JPEG":
        return
    width, height = image.size
    shorter = min(width, height)
    if shorter > image_size:
        image.draft(None, (math.ceil(width * image_size / shorter), math.ceil(height * image_size / shorter)))


def to_eight_bit(image):
    """Scales 16/32-bit integer and float images to 8-bit "L"; other modes pass through."""
    if image.mode in _INTEGER_MODES:
        values = np.asarray(image, dtype=np.float64) * (255.0 / SIXTEEN_BIT_MAXIMUM)
        return Image.fromarray(np.clip(np.rint(values), 0, 255).astype(np.uint8), "L")
    if image.mode == "F":
        values = np.asarray(image, dtype=np.float64)
        # Float images are stored either in [0, 1] or in [0, 255]; the maximum tells which.
        scale = 255.0 if np.nanmax(values, initial=0.0) <= 1.0 else 1.0
        return Image.fromarray(np.clip(np.rint(np.nan_to_num(values) * scale), 0, 255).astype(np.uint8), "L")
    return image


def flatten_alpha(image):
    """Composites transparent images (RGBA, LA, palette with transparency) over white."""
    if image.mode == "P":
        image = image.convert("RGBA" if "transparency" in image.info else "RGB")
    if image.mode not in _ALPHA_MODES:
        return image
    rgba = image.convert("RGBA")
    background = Image.new("RGBA", rgba.size, _BACKGROUND)
    return Image.alpha_composite(background, rgba).convert("RGB")


def to_channels(image, channels):
    """Converts to "RGB" (3 channels) or "L" (1 channel), e.g. CMYK and grayscale to RGB."""
    mode = "RGB" if channels == 3 else "L"
    return image if image.mode == mode else image.convert(mode)


def centre_crop(image):
    """Crops the largest centred square out of `image`."""
    width, height = image.size
    side = min(width, height)
    left, top = (width - side) // 2, (height - side) // 2
    if side == width == height:
        return image
    return image.crop((left, top, left + side, top + side))


def resize_square(image, image_size):
    """Resizes a square image to `image_size` with Lanczos (antialiased) resampling."""
    if image.size == (image_size, image_size):
        return image
    return image.resize((image_size, image_size), Image.Resampling.LANCZOS)


def _as_array(image, channels):
    array = np.asarray(image, dtype=np.uint8)
    return array.reshape(array.shape[0], array.shape[1], channels)


def resize_array(images, image_size):
    """Resizes a batch of square uint8 images (N, H, H, C) to (N, image_size, image_size, C).

    Args:
        images: uint8 array of square images with 1 or 3 channels.
        image_size: The new side length.

    Returns:
        A new uint8 array; the input itself when the size already matches.
    """
    if images.shape[1] == image_size and images.shape[2] == image_size:
        return images
    channels = images.shape[-1]
    mode = "L" if channels == 1 else "RGB"
    resized = np.empty((len(images), image_size, image_size, channels), dtype=np.uint8)
    for index, image in enumerate(images):
        source = Image.fromarray(image[..., 0] if channels == 1 else image, mode)
        resized[index] = _as_array(resize_square(centre_crop(source), image_size), channels)
    return resized
