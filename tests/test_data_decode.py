"""Decoding one image file: formats, colour modes, bit depths, centre crop, and bad files."""

import io
import struct
import zlib

import numpy as np
import pytest
from PIL import Image

from gencompare.data.decode import MAX_PIXELS, UnreadableImage, decode_image

RED, GREEN, BLUE = (255, 0, 0), (0, 160, 0), (0, 0, 255)


def encode(image, image_format, **options):
    """The bytes of `image` saved in `image_format` (shared with the image-set tests)."""
    buffer = io.BytesIO()
    image.save(buffer, format=image_format, **options)
    return buffer.getvalue()


def marker_image(width, height):
    """Green image, blue bars on the parts a centre crop must remove, a red square in the centre.

    The bars cover exactly what lies outside the centred square, so after cropping no blue may
    remain, and the red square must sit exactly in the middle.
    """
    pixels = np.zeros((height, width, 3), dtype=np.uint8)
    pixels[:] = GREEN
    side = min(width, height)
    left, top = (width - side) // 2, (height - side) // 2
    if width > height:
        pixels[:, :left] = BLUE
        pixels[:, left + side:] = BLUE
    else:
        pixels[:top] = BLUE
        pixels[top + side:] = BLUE
    centre_x, centre_y, half = width // 2, height // 2, side // 6
    pixels[centre_y - half:centre_y + half, centre_x - half:centre_x + half] = RED
    return Image.fromarray(pixels), half


def bomb_png(width, height):
    """A valid 1x1 PNG whose header claims `width` x `height` pixels (a decompression-bomb header)."""
    data = bytearray(encode(Image.new("L", (1, 1)), "PNG"))
    data[16:24] = struct.pack(">II", width, height)
    data[29:33] = struct.pack(">I", zlib.crc32(bytes(data[12:29])))
    return bytes(data)


@pytest.mark.parametrize("width, height", [(120, 60), (60, 120), (61, 40)])
def test_centre_crop_removes_the_edges_and_keeps_the_centre(width, height):
    image, half = marker_image(width, height)
    side = min(width, height)
    decoded = decode_image(encode(image, "PNG"), side)
    is_blue = (decoded[..., 2] > 128) & (decoded[..., 0] < 128)
    assert not is_blue.any(), "the blue bars outside the centred square must be cropped away"
    red = np.argwhere((decoded[..., 0] > 200) & (decoded[..., 1] < 50))
    assert (red.max(axis=0) - red.min(axis=0) + 1).tolist() == [2 * half, 2 * half]
    centre = (red.min(axis=0) + red.max(axis=0)) / 2
    np.testing.assert_allclose(centre, [(side - 1) / 2] * 2, atol=1.0)


def test_resizing_after_the_crop_keeps_the_geometry():
    image, _ = marker_image(256, 128)
    decoded = decode_image(encode(image, "PNG"), 32).astype(int)
    assert decoded.shape == (32, 32, 3)
    assert (decoded[..., 2] < 40).all(), "no blue from outside the crop may leak in through the filter"
    assert (decoded[14:18, 14:18, 0] > 200).all() and (decoded[0:4, 0:4, 1] > 120).all()


@pytest.mark.parametrize("image_format", ["PNG", "BMP", "WEBP", "GIF", "TIFF"])
def test_lossless_formats_decode_exactly(image_format):
    pixels = np.zeros((8, 8, 3), dtype=np.uint8)
    pixels[:4] = RED
    pixels[4:] = BLUE
    options = {"lossless": True} if image_format == "WEBP" else {}
    decoded = decode_image(encode(Image.fromarray(pixels), image_format, **options), 8)
    np.testing.assert_array_equal(decoded, pixels)


def test_jpeg_decodes_close_to_the_original_and_large_jpegs_are_reduced_correctly():
    pixels = np.full((64, 64, 3), (200, 100, 50), dtype=np.uint8)
    decoded = decode_image(encode(Image.fromarray(pixels), "JPEG", quality=95), 64).astype(int)
    assert np.abs(decoded - pixels).max() <= 4
    big = np.full((480, 640, 3), (200, 100, 50), dtype=np.uint8)
    small = decode_image(encode(Image.fromarray(big), "JPEG", quality=95), 64).astype(int)
    assert small.shape == (64, 64, 3) and np.abs(small - big[:64, :64]).max() <= 4


def test_gif_uses_the_first_frame():
    frames = [Image.new("RGB", (8, 8), RED), Image.new("RGB", (8, 8), BLUE)]
    data = encode(frames[0], "GIF", save_all=True, append_images=frames[1:])
    assert Image.open(io.BytesIO(data)).n_frames == 2
    np.testing.assert_array_equal(decode_image(data, 8)[0, 0], RED)


def test_grayscale_becomes_rgb_for_colour_sets_and_stays_single_channel_otherwise():
    data = encode(Image.new("L", (6, 6), 77), "PNG")
    assert decode_image(data, 6).tolist() == np.full((6, 6, 3), 77).tolist()
    assert decode_image(data, 6, channels=1).shape == (6, 6, 1)
    rgb = encode(Image.new("RGB", (6, 6), (255, 0, 0)), "PNG")
    assert decode_image(rgb, 6, channels=1)[0, 0, 0] == 76  # ITU-R 601 luma of pure red


@pytest.mark.parametrize("mode, colour, alpha, expected", [
    ("RGBA", (0, 0, 255), 0, (255, 255, 255)),      # fully transparent: white background
    ("RGBA", (0, 0, 255), 255, (0, 0, 255)),        # opaque: the colour itself
    ("RGBA", (0, 0, 0), 128, (127, 127, 127)),      # half transparent black over white
    ("LA", 40, 255, (40, 40, 40)),
    ("LA", 40, 0, (255, 255, 255)),
])
def test_transparency_is_composited_over_white(mode, colour, alpha, expected):
    fill = colour + (alpha,) if mode == "RGBA" else (colour, alpha)
    decoded = decode_image(encode(Image.new(mode, (4, 4), fill), "PNG"), 4)
    np.testing.assert_allclose(decoded[0, 0], expected, atol=1)


def test_palette_images_with_and_without_transparency():
    palette = Image.new("P", (4, 4), 1)
    palette.putpalette([0, 0, 0, 10, 200, 30] + [0] * 762)
    np.testing.assert_array_equal(decode_image(encode(palette, "PNG"), 4)[0, 0], (10, 200, 30))
    transparent = encode(palette, "PNG", transparency=1)
    np.testing.assert_array_equal(decode_image(transparent, 4)[0, 0], (255, 255, 255))


def test_cmyk_jpeg_and_one_bit_images_become_rgb():
    cmyk = encode(Image.new("CMYK", (16, 16), (0, 255, 255, 0)), "JPEG", quality=95)
    np.testing.assert_allclose(decode_image(cmyk, 16)[8, 8], RED, atol=8)
    one_bit = Image.new("1", (4, 4), 1)
    np.testing.assert_array_equal(decode_image(encode(one_bit, "PNG"), 4)[0, 0], (255, 255, 255))


def test_sixteen_bit_images_are_scaled_to_eight_bits():
    values = np.array([[0, 257 * 100], [32896, 65535]], dtype=np.uint16)
    image = Image.fromarray(values)
    assert image.mode.startswith("I;16")
    decoded = decode_image(encode(image, "PNG"), 2)
    assert decoded[..., 0].tolist() == [[0, 100], [128, 255]]


def test_bad_files_raise_unreadable_image_with_a_reason():
    good = encode(Image.new("RGB", (32, 32), RED), "JPEG")
    png = encode(Image.fromarray(np.random.default_rng(0).integers(0, 256, (32, 32, 3), dtype=np.uint8)), "PNG")
    corrupt_png = png[:60] + bytes(b ^ 0xFF for b in png[60:120]) + png[120:]
    cases = {
        "empty": (b"", "empty"),
        "text": (b"this is a text file, not an image\n", "not an image"),
        "truncated jpeg": (good[: len(good) // 2], "truncated|OSError"),
        "truncated png": (png[: len(png) // 2], "truncated|OSError|SyntaxError"),
        "corrupt png": (corrupt_png, "Error"),
        "bomb below Pillow's own limit": (bomb_png(7_000, 7_000), "exceeds the 40000000 limit"),
        "bomb above Pillow's own limit": (bomb_png(20_000, 20_000), "decompression bomb"),
    }
    for label, (data, reason) in cases.items():
        with pytest.raises(UnreadableImage, match=reason):
            decode_image(data, 16)
    assert 7_000 * 7_000 > MAX_PIXELS


def test_channels_must_be_one_or_three():
    with pytest.raises(ValueError, match="channels") as raised:
        decode_image(encode(Image.new("RGB", (4, 4)), "PNG"), 4, channels=2)
    assert not isinstance(raised.value, UnreadableImage), "a caller's mistake is not a bad file"
