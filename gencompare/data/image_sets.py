"""Loading a set of image files (a folder or zips) into one uint8 array, with split, limit and cache.

Split rule: a file belongs to the held-out "test" split when the SHA-256 of its bytes, read as a
number, falls in the lowest 5 % of its range. Deciding by content rather than by name puts every
exact duplicate on the same side, so no test image also appears in "train".

Order rule: images come out ordered by another part of the same hash (ties by name), so `limit=k`
returns the first k readable images of that order and smaller limits are prefixes of larger ones.
"""

import concurrent.futures
import dataclasses
import hashlib
import logging
import os
import zipfile

import numpy as np
from tqdm.auto import tqdm

from gencompare.data import archives, cache
from gencompare.data.decode import UnreadableImage, decode_image
from gencompare.data.errors import DatasetUnavailable

logger = logging.getLogger(__name__)

TEST_FRACTION = 0.05
_SPLIT_BUCKETS = 10_000
_CHUNK = 2048
_EXAMPLES_IN_WARNING = 5
CROP = "centre-square"


@dataclasses.dataclass(frozen=True)
class Request:
    """What to load.

    Attributes:
        label: Dataset name used in messages and cache file names.
        path: A folder or .zip file.
        image_size: Output side length.
        channels: 1 or 3.
        split: "train", "test" or "all".
        limit: Maximum number of images, or None.
        deduplicate: Keep one of each set of byte-identical files.
        member_folder: Only read images inside a folder of this name (None: all).
    """

    label: str
    path: object
    image_size: int
    channels: int = 3
    split: str = "train"
    limit: int | None = None
    deduplicate: bool = False
    member_folder: str | None = None


def in_test_split(digest):
    """Whether a file whose SHA-256 digest is `digest` belongs to the held-out test split."""
    return int.from_bytes(digest[:8], "big") % _SPLIT_BUCKETS < TEST_FRACTION * _SPLIT_BUCKETS


def _order_key(item):
    member, digest = item
    return digest[8:16], member.name, str(member.container)


def select(fingerprinted, split, deduplicate):
    """The (member, digest) pairs of one split, in the deterministic hash order.

    Args:
        fingerprinted: (member, digest) pairs of every readable file.
        split: "train", "test" or "all".
        deduplicate: Keep only the first (in order) of each digest.

    Returns:
        The selected pairs, ordered.
    """
    chosen = [item for item in fingerprinted
              if split == "all" or in_test_split(item[1]) == (split == "test")]
    chosen.sort(key=_order_key)
    if deduplicate:
        seen = set()
        chosen = [item for item in chosen if not (item[1] in seen or seen.add(item[1]))]
    return chosen


def _fingerprint(reader, member):
    """(member, digest) or (member, reason) when the file is too large, empty or unreadable."""
    if member.size > archives.MAX_FILE_BYTES:
        return member, f"{member.size} bytes exceeds the {archives.MAX_FILE_BYTES}-byte limit"
    try:
        data = reader.read(member)
    except Exception as error:  # zipfile raises BadZipFile, OSError, zlib.error, EOFError, ...
        return member, f"cannot read ({type(error).__name__}: {error})"
    if not data:
        return member, "empty file"
    return member, hashlib.sha256(data).digest()


def _decode(reader, member, request):
    try:
        return decode_image(reader.read(member), request.image_size, request.channels)
    except UnreadableImage as error:
        return error
    except Exception as error:  # the read itself failed (CRC error, file vanished)
        return UnreadableImage(f"cannot read ({type(error).__name__}: {error})")


def _workers():
    return max(1, min(8, os.cpu_count() or 1))


def fingerprint_all(reader, members, pool, label):
    """Hashes every member's bytes; returns (pairs, skipped) with skipped = [(name, reason)]."""
    pairs, skipped = [], []
    progress = tqdm(total=len(members), desc=f"hashing {label}", unit="file", leave=False)
    with progress:
        for member, result in pool.map(lambda m: _fingerprint(reader, m), members):
            progress.update()
            if isinstance(result, bytes):
                pairs.append((member, result))
            else:
                skipped.append((member.display_name, result))
    return pairs, skipped


def decode_in_order(reader, candidates, request, pool):
    """Decodes candidates in order until `request.limit` images are readable (or all are tried).

    Returns:
        (images, skipped): a uint8 array and the [(name, reason)] of undecodable files.
    """
    wanted = min(request.limit or len(candidates), len(candidates))
    shape = (wanted, request.image_size, request.image_size, request.channels)
    images, skipped = np.empty(shape, dtype=np.uint8), []
    filled = position = 0
    with tqdm(total=wanted, desc=f"decoding {request.label}", unit="img") as progress:
        while filled < wanted and position < len(candidates):
            chunk = candidates[position:position + min(_CHUNK, wanted - filled)]
            position += len(chunk)
            for member, result in zip(chunk, pool.map(lambda m: _decode(reader, m, request), chunk)):
                if isinstance(result, UnreadableImage):
                    skipped.append((member.display_name, str(result)))
                else:
                    images[filled] = result
                    filled += 1
                    progress.update()
    return images[:filled], skipped


def report_skipped(label, skipped, total):
    """One warning line: how many files were skipped, and a few of them with the reason."""
    if not skipped:
        return
    examples = "; ".join(f"{name} ({reason})" for name, reason in skipped[:_EXAMPLES_IN_WARNING])
    more = f"; and {len(skipped) - _EXAMPLES_IN_WARNING} more" if len(skipped) > _EXAMPLES_IN_WARNING else ""
    logger.warning("%s: skipped %d of %d files that are not usable images: %s%s",
                   label, len(skipped), total, examples, more)


def _cache_file(request, source_files):
    return cache.cache_path(
        request.label, source_files, image_size=request.image_size, channels=request.channels,
        crop=CROP, split=request.split, limit=request.limit, deduplicate=request.deduplicate,
        member_folder=request.member_folder)


def load_image_set(request):
    """Loads, splits, orders, limits and decodes an image set, using the cache when possible.

    Args:
        request: A `Request`.

    Returns:
        uint8 array (N, image_size, image_size, channels).

    Raises:
        DatasetUnavailable: No image files were found, none could be decoded, or the split is
            empty; the message says which.
    """
    try:
        members, unsafe, source_files = archives.list_members(request.path, request.member_folder)
    except zipfile.BadZipFile as error:
        raise DatasetUnavailable(f"{request.label}: a zip in {request.path} is damaged or incomplete ({error}); "
                                 "delete it and download it again.") from error
    if not members:
        raise DatasetUnavailable(f"{request.label}: no image files ({', '.join(sorted(archives.IMAGE_EXTENSIONS))}) "
                                 f"found in {request.path}.")
    cache_file = _cache_file(request, source_files)
    cached = cache.load_cached(cache_file)
    if cached is not None:
        logger.info("%s: loaded %d images from the cache %s", request.label, len(cached), cache_file)
        return cached
    skipped = [(name, "unsafe path in archive") for name in unsafe]
    with archives.MemberReader() as reader, concurrent.futures.ThreadPoolExecutor(_workers()) as pool:
        fingerprinted, unreadable = fingerprint_all(reader, members, pool, request.label)
        candidates = select(fingerprinted, request.split, request.deduplicate)
        images, undecodable = decode_in_order(reader, [member for member, _ in candidates], request, pool)
    skipped += unreadable + undecodable
    report_skipped(request.label, skipped, len(members) + len(unsafe))
    _require_images(request, images, members, skipped)
    cache.save_cached(cache_file, images)
    return images


def _require_images(request, images, members, skipped):
    if len(images):
        return
    if len(skipped) >= len(members):
        raise DatasetUnavailable(
            f"{request.label}: none of the {len(members)} image files in {request.path} could be decoded "
            f"(e.g. {skipped[0][0]}: {skipped[0][1]}). Replace them with readable JPEG/PNG files.")
    raise DatasetUnavailable(
        f"{request.label}: the {request.split!r} split is empty ({len(members)} files, "
        f"{TEST_FRACTION:.0%} go to 'test'). Use split='all' for such a small set.")
