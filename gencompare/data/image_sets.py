"""Loading a set of image files (a folder or zips) into one uint8 array, with split, limit and cache.

Split rule: a file belongs to the held-out "test" split when the first 8 bytes of the SHA-256 of
its bytes, read as a big-endian number, modulo 10 000 are below 500 (5 %). Deciding by content rather than by name puts every
exact duplicate on the same side, so no test image also appears in "train".

Order rule: images come out ordered by another part of the same hash (ties by name), so `limit=k`
returns the first k readable images of that order and smaller limits are prefixes of larger ones.
For split="all" the train images come first, then the test images.
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


def held_out_mask(digests):
    """Which files belong to the held-out test split, from their (N, 32) uint8 SHA-256 digests."""
    numbers = np.ascontiguousarray(np.asarray(digests, dtype=np.uint8)[:, :8]).view(">u8").ravel()
    return numbers % _SPLIT_BUCKETS < TEST_FRACTION * _SPLIT_BUCKETS


def in_test_split(digest):
    """Whether the file whose SHA-256 digest (bytes) is `digest` belongs to the test split."""
    return bool(held_out_mask(np.frombuffer(digest, dtype=np.uint8)[np.newaxis])[0])


def _order_key(item):
    # Train before test, so that in the whole-set cache each split is one contiguous block.
    member, digest = item
    return in_test_split(digest), digest[8:16], member.name, str(member.container)


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


def decode_in_order(candidates, request, reader, pool):
    """Decodes (member, digest) candidates in order until `request.limit` images are readable.

    Returns:
        (images, digests, skipped): a uint8 image array, the (N, 32) uint8 SHA-256 digests of
        the decoded files in the same order, and the [(name, reason)] of undecodable files.
    """
    wanted = min(request.limit or len(candidates), len(candidates))
    shape = (wanted, request.image_size, request.image_size, request.channels)
    images, digests, skipped = np.empty(shape, dtype=np.uint8), np.empty((wanted, 32), dtype=np.uint8), []
    filled = position = 0
    with tqdm(total=wanted, desc=f"decoding {request.label}", unit="img") as progress:
        while filled < wanted and position < len(candidates):
            chunk = candidates[position:position + min(_CHUNK, wanted - filled)]
            position += len(chunk)
            results = pool.map(lambda item: _decode(reader, item[0], request), chunk)
            for (member, digest), result in zip(chunk, results):
                if isinstance(result, UnreadableImage):
                    skipped.append((member.display_name, str(result)))
                    continue
                images[filled], digests[filled] = result, np.frombuffer(digest, dtype=np.uint8)
                filled += 1
                progress.update()
    return images[:filled], digests[:filled], skipped


def take(images, digests, split, deduplicate, limit):
    """Selects split, distinct files and limit from a fully decoded set stored in selection order.

    Gives the same result as decoding only the selection, because the stored order is the
    selection order and the stored images are exactly the decodable ones. Without
    `deduplicate` the result is a slice (a view, no copy): train and test are contiguous blocks.
    """
    in_test = held_out_mask(digests)
    indices = np.arange(len(images)) if split == "all" else np.flatnonzero(in_test == (split == "test"))
    if deduplicate:
        rows = np.ascontiguousarray(digests[indices]).view(np.dtype((np.void, digests.shape[1]))).ravel()
        indices = indices[np.sort(np.unique(rows, return_index=True)[1])]
    indices = indices[:limit]
    if len(indices) and indices[-1] - indices[0] + 1 == len(indices):
        return images[indices[0]:indices[-1] + 1]
    return images[indices]


def report_skipped(label, skipped, total):
    """One warning line: how many files were skipped, and a few of them with the reason."""
    if not skipped:
        return
    examples = "; ".join(f"{name} ({reason})" for name, reason in skipped[:_EXAMPLES_IN_WARNING])
    more = f"; and {len(skipped) - _EXAMPLES_IN_WARNING} more" if len(skipped) > _EXAMPLES_IN_WARNING else ""
    logger.warning("%s: skipped %d of %d files that are not usable images: %s%s",
                   label, len(skipped), total, examples, more)


def _cache_file(request, source_files, whole):
    """The whole decoded set has one entry per size; a limited load without it gets its own."""
    subset = {} if whole else {"split": request.split, "limit": request.limit, "deduplicate": request.deduplicate}
    return cache.cache_path(request.label, source_files, image_size=request.image_size,
                            channels=request.channels, crop=CROP, member_folder=request.member_folder,
                            whole=whole, **subset)


def _digest_file(cache_file):
    return cache_file.with_name(cache_file.stem + ".digests.npy")


def _list(request):
    """(members, unsafe names) of the request's files; clear errors for a damaged or empty source."""
    try:
        members, unsafe = archives.list_members(request.path, request.member_folder)
    except zipfile.BadZipFile as error:
        raise DatasetUnavailable(f"{request.label}: a zip in {request.path} is damaged or incomplete ({error}); "
                                 "delete it and download it again.") from error
    if not members:
        raise DatasetUnavailable(f"{request.label}: no image files ({', '.join(sorted(archives.IMAGE_EXTENSIONS))}) "
                                 f"found in {request.path}.")
    return members, unsafe


def _load_whole_from_cache(whole_file):
    images, digests = cache.load_cached(whole_file), cache.load_cached(_digest_file(whole_file))
    if images is None or digests is None or len(images) != len(digests):
        return None
    return images, digests


def _decode_selection(request, members, unsafe):
    """Hashes every file, selects and orders the candidates, decodes them; logs the skips."""
    with archives.MemberReader() as reader, concurrent.futures.ThreadPoolExecutor(_workers()) as pool:
        fingerprinted, unreadable = fingerprint_all(reader, members, pool, request.label)
        candidates = select(fingerprinted, request.split, request.deduplicate)
        images, digests, undecodable = decode_in_order(candidates, request, reader, pool)
    skipped = [(name, "unsafe path in archive") for name in unsafe] + unreadable + undecodable
    report_skipped(request.label, skipped, len(members) + len(unsafe))
    _require_images(request, images, members, skipped)
    return images, digests


def load_image_set(request):
    """Loads, splits, orders, limits and decodes an image set, using the cache when possible.

    Without a limit the whole set is decoded once and cached (with each file's digest), and
    every split, `deduplicate` and `limit` is then cut from that entry without decoding. With a
    limit and no whole-set entry, only the needed files are decoded (and cached on their own),
    so `limit=30000` of CelebA does not decode all 202 599 images.

    Args:
        request: A `Request`.

    Returns:
        uint8 array (N, image_size, image_size, channels).

    Raises:
        DatasetUnavailable: No image files were found, none could be decoded, or the split is
            empty; the message says which.
    """
    sources = archives.source_files(request.path, request.member_folder)
    whole_file = _cache_file(request, sources, whole=True)
    whole = _load_whole_from_cache(whole_file)
    if whole is None and request.limit is not None:
        subset_file = _cache_file(request, sources, whole=False)
        cached = cache.load_cached(subset_file)
        if cached is not None:
            return cached
        images, _ = _decode_selection(request, *_list(request))
        cache.save_cached(subset_file, images)
        return images
    if whole is None:
        whole = _decode_selection(dataclasses.replace(request, split="all", deduplicate=False), *_list(request))
        cache.save_cached(_digest_file(whole_file), whole[1])  # first: the images file marks completeness
        cache.save_cached(whole_file, whole[0])
    images = take(*whole, request.split, request.deduplicate, request.limit)
    if not len(images):
        raise DatasetUnavailable(_empty_split_message(request, len(whole[0])))
    return images


def _empty_split_message(request, count):
    return (f"{request.label}: the {request.split!r} split is empty ({count} images, "
            f"{TEST_FRACTION:.0%} go to 'test'). Use split='all' for such a small set.")


def _require_images(request, images, members, skipped):
    if len(images):
        return
    if len(skipped) >= len(members):
        raise DatasetUnavailable(
            f"{request.label}: none of the {len(members)} image files in {request.path} could be decoded "
            f"(e.g. {skipped[0][0]}: {skipped[0][1]}). Replace them with readable JPEG/PNG files.")
    raise DatasetUnavailable(_empty_split_message(request, len(members)))
