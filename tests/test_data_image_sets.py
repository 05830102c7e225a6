"""Image sets from a folder or zip: mixed files, content-hash split, nested limits, skips, cache."""

import hashlib
import logging
import os
import zipfile

import numpy as np
import pytest
from PIL import Image

from gencompare.data import DatasetUnavailable, image_sets, load_images
from test_data_decode import bomb_png, encode

# (file name, PIL image, save options, expected RGB after decoding, tolerance)
MIXED_CASES = [
    ("rgb_wide.png", Image.new("RGB", (40, 20), (10, 20, 30)), {}, (10, 20, 30), 0),
    ("rgb_tall.jpg", Image.new("RGB", (20, 40), (200, 50, 50)), {"quality": 95}, (200, 50, 50), 4),
    ("square.bmp", Image.new("RGB", (16, 16), (0, 0, 200)), {}, (0, 0, 200), 0),
    ("frame.gif", Image.new("RGB", (30, 30), (0, 255, 0)), {}, (0, 255, 0), 0),
    ("lossless.webp", Image.new("RGB", (24, 12), (120, 120, 0)), {"lossless": True}, (120, 120, 0), 0),
    ("gray.png", Image.new("L", (16, 16), 77), {}, (77, 77, 77), 0),
    ("gray_alpha.png", Image.new("LA", (16, 16), (150, 255)), {}, (150, 150, 150), 0),
    ("rgba.png", Image.new("RGBA", (16, 16), (5, 100, 250, 255)), {}, (5, 100, 250), 0),
    ("cmyk.jpg", Image.new("CMYK", (16, 16), (0, 255, 255, 0)), {"quality": 95}, (255, 0, 0), 8),
    ("deep.png", Image.fromarray(np.full((16, 16), 257 * 60, dtype=np.uint16)), {}, (60, 60, 60), 0),
]


@pytest.fixture(autouse=True)
def private_cache(tmp_path, monkeypatch):
    cache = tmp_path / "cache"
    monkeypatch.setenv("GENCOMPARE_CACHE", str(cache))
    return cache


def _write(folder, files):
    folder.mkdir(parents=True, exist_ok=True)
    for name, data in files.items():
        (folder / name).write_bytes(data)
    return folder


def _mixed_files():
    files = {name: encode(image, name.rsplit(".", 1)[1].upper().replace("JPG", "JPEG"), **options)
             for name, image, options, _, _ in MIXED_CASES}
    palette = Image.new("P", (12, 12), 1)
    palette.putpalette([0, 0, 0, 10, 200, 30] + [0] * 762)
    files["palette.png"] = encode(palette, "PNG")
    return files


def _distinct_files(count, seed=0, size=8):
    rng = np.random.default_rng(seed)
    return {f"{index:04d}.png": encode(Image.fromarray(rng.integers(0, 256, (size, size, 3), dtype=np.uint8)), "PNG")
            for index in range(count)}


def _rows(images):
    return {image.tobytes() for image in images}


def test_mixed_formats_and_modes_from_a_folder_and_from_a_zip(tmp_path):
    files = _mixed_files()
    folder = _write(tmp_path / "mixed", files)
    images = load_images(str(folder), "all", image_size=8)
    assert images.shape == (len(files), 8, 8, 3) and images.dtype == np.uint8
    expected = [case[3] for case in MIXED_CASES] + [(10, 200, 30)]
    tolerances = [case[4] for case in MIXED_CASES] + [0]
    colours = images.reshape(len(images), -1, 3).astype(int)
    assert (colours.max(axis=1) - colours.min(axis=1)).max() <= 4, "each file is one solid colour"
    for colour, tolerance in zip(expected, tolerances):
        distances = np.abs(colours[:, 0] - colour).max(axis=1)
        assert distances.min() <= tolerance, f"no decoded image has colour {colour}"
    with zipfile.ZipFile(tmp_path / "mixed.zip", "w") as archive:
        for name, data in files.items():
            archive.writestr(f"mixed/{name}", data)
    from_zip = load_images(str(tmp_path / "mixed.zip"), "all", image_size=8)
    np.testing.assert_array_equal(np.sort(from_zip.reshape(len(files), -1), axis=0),
                                  np.sort(images.reshape(len(files), -1), axis=0))


def test_split_by_content_keeps_duplicates_together_and_limits_nest(tmp_path):
    files = _distinct_files(200)
    copies = {f"copy_of_{name}": data for name, data in list(files.items())[:60]}
    folder = _write(tmp_path / "set", {**files, **copies})
    train = load_images(str(folder), "train", image_size=8)
    test = load_images(str(folder), "test", image_size=8)
    everything = load_images(str(folder), "all", image_size=8)
    assert len(train) + len(test) == len(everything) == 260
    assert 2 <= len(test) <= 30, "about 5 % of the files are held out"
    assert not _rows(train) & _rows(test), "no test image may also sit in train"
    distinct = load_images(str(folder), "all", image_size=8, deduplicate=True)
    assert len(distinct) == len(_rows(distinct)) == 200
    small = load_images(str(folder), "train", image_size=8, limit=20)
    large = load_images(str(folder), "train", image_size=8, limit=50)
    np.testing.assert_array_equal(large[:20], small)
    np.testing.assert_array_equal(train[:50], large)


def test_a_limited_decode_equals_a_cut_of_the_whole_cached_set(tmp_path, monkeypatch):
    files = {**_distinct_files(120, seed=8), "broken.png": b"not an image"}
    files.update({f"again_{name}": data for name, data in list(files.items())[:40]})
    folder = _write(tmp_path / "set", files)
    settings = [("train", False, 7), ("test", False, 3), ("all", True, 50), ("train", True, None)]
    limited = {setting: load_images(str(folder), setting[0], image_size=8, deduplicate=setting[1], limit=setting[2])
               for setting in settings}
    monkeypatch.setenv("GENCOMPARE_CACHE", str(tmp_path / "another_cache"))
    load_images(str(folder), "all", image_size=8)  # decodes everything once
    for (split, deduplicate, limit), expected in limited.items():
        cut = load_images(str(folder), split, image_size=8, deduplicate=deduplicate, limit=limit)
        np.testing.assert_array_equal(cut, expected)


def test_test_split_follows_the_documented_hash_rule(tmp_path):
    files = _distinct_files(300, seed=9)
    folder = _write(tmp_path / "set", files)
    # The documented rule, recomputed here: first 8 bytes of SHA-256(file bytes), big-endian, mod 10 000 < 500.
    held_out = {np.asarray(Image.open(folder / name)).tobytes() for name, data in files.items()
                if int.from_bytes(hashlib.sha256(data).digest()[:8], "big") % 10_000 < 500}
    assert held_out, "300 files should put some into the test split"
    assert _rows(load_images(str(folder), "test", image_size=8)) == held_out


def test_split_and_order_do_not_depend_on_file_names(tmp_path):
    files = _distinct_files(100, seed=1)
    renamed = {f"renamed_{index}.png": data for index, data in enumerate(reversed(list(files.values())))}
    first = load_images(str(_write(tmp_path / "a", files)), "test", image_size=8)
    second = load_images(str(_write(tmp_path / "b", renamed)), "test", image_size=8)
    np.testing.assert_array_equal(first, second)


def test_every_kind_of_bad_file_is_skipped_and_counted_in_one_warning(tmp_path, caplog):
    good = _distinct_files(5, seed=2, size=32)
    jpeg = encode(Image.new("RGB", (32, 32), (1, 2, 3)), "JPEG")
    bad = {
        "empty.png": b"",
        "notes.jpg": b"just some text, not an image",
        "truncated.jpg": jpeg[: len(jpeg) // 2],
        "corrupt.png": good["0000.png"][:50] + b"\x00" * 200 + good["0000.png"][250:],
        "bomb.png": bomb_png(30_000, 30_000),
    }
    archive_path = tmp_path / "bad_set.zip"
    with zipfile.ZipFile(archive_path, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=1) as archive:
        for name, data in {**good, **bad}.items():
            archive.writestr(name, data)
        archive.writestr("huge.png", bytes(65 * 1024 * 1024))  # a zip bomb: 65 MiB of zeros
        archive.writestr("../escape.png", good["0001.png"])
    with caplog.at_level(logging.WARNING, logger="gencompare.data"):
        images = load_images(str(archive_path), "all", image_size=16)
    assert len(images) == 5
    warnings = [record.getMessage() for record in caplog.records if record.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert "skipped 7 of 12 files" in warnings[0]
    assert "bad_set.zip:" in warnings[0] and "and 2 more" in warnings[0]


def test_limit_counts_readable_images_only(tmp_path):
    files = {**_distinct_files(30, seed=3), "broken_1.png": b"not an image", "broken_2.png": b""}
    folder = _write(tmp_path / "set", files)
    assert len(load_images(str(folder), "all", image_size=8, limit=30)) == 30
    assert len(load_images(str(folder), "all", image_size=8, limit=31)) == 30


def test_no_readable_image_is_an_error(tmp_path):
    folder = _write(tmp_path / "junk", {"a.png": b"", "b.jpg": b"text"})
    with pytest.raises(DatasetUnavailable, match="none of the 2 image files"):
        load_images(str(folder), "all")
    with pytest.raises(DatasetUnavailable, match="no image files"):
        load_images(str(_write(tmp_path / "texts", {"readme.txt": b"hello"})), "all")


def test_a_damaged_zip_is_reported_clearly(tmp_path):
    folder = _write(tmp_path / "set", {"download.zip": b"PK\x03\x04 cut short"})
    with pytest.raises(DatasetUnavailable, match="damaged or incomplete"):
        load_images(str(folder), "all")


def test_an_empty_split_says_to_use_all(tmp_path):
    folder = _write(tmp_path / "tiny", _distinct_files(3, seed=4))
    assert len(load_images(str(folder), "all", image_size=8)) == 3
    with pytest.raises(DatasetUnavailable, match="split='all'"):
        load_images(str(folder), "test", image_size=8)


def test_cache_hit_skips_decoding_and_a_changed_source_is_decoded_again(tmp_path, monkeypatch, private_cache):
    calls = []
    real_decode = image_sets.decode_image

    def counting_decode(*args, **kwargs):
        calls.append(1)
        return real_decode(*args, **kwargs)

    monkeypatch.setattr(image_sets, "decode_image", counting_decode)
    folder = _write(tmp_path / "set", _distinct_files(20, seed=5))
    first = load_images(str(folder), "all", image_size=8)
    assert len(calls) == 20
    second = load_images(str(folder), "all", image_size=8)
    assert len(calls) == 20, "the second load must come from the cache"
    np.testing.assert_array_equal(first, second)
    assert len(list(private_cache.glob("*.npy"))) == 2, "the images and their digests"
    assert not list(private_cache.glob("*.tmp"))
    assert sorted(p.name for p in folder.iterdir()) == sorted(_distinct_files(20, seed=5)), "data dir untouched"
    load_images(str(folder), "all", image_size=4)
    assert len(calls) == 40, "another image size is another cache entry"
    os.utime(folder / "0000.png", ns=(1, 1))
    load_images(str(folder), "all", image_size=8)
    assert len(calls) == 60, "a changed source file invalidates the entry"


def test_a_damaged_cache_file_is_rebuilt(tmp_path, private_cache, caplog):
    folder = _write(tmp_path / "set", _distinct_files(6, seed=6))
    expected = load_images(str(folder), "all", image_size=8)
    (cache_file,) = [path for path in private_cache.glob("*.npy") if not path.name.endswith(".digests.npy")]
    cache_file.write_bytes(b"garbage")
    with caplog.at_level(logging.WARNING, logger="gencompare.data"):
        np.testing.assert_array_equal(load_images(str(folder), "all", image_size=8), expected)
    assert "damaged cache file" in caplog.text
    assert np.load(cache_file, allow_pickle=False).shape == expected.shape
