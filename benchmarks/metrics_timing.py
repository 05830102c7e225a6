"""Times the metrics on this CPU: each feature extractor, SWD, and the feature-space distances.

    python benchmarks/metrics_timing.py                 # 10 000 images per set (the target)
    python benchmarks/metrics_timing.py --count 200     # quick run; 10 000 is then extrapolated

Images are random uint8 arrays: the time of every metric here depends on image count and shape, not
on content. The Inception extractor runs with random weights unless `--inception-weights` is given
(same network, same cost). With fewer than 10 000 images, per-image work (extractors, SWD from 1000
images up) is scaled linearly to 10 000 and precision/recall quadratically, each labelled
"extrapolated"; the Fréchet distance and KID are not extrapolated (their cost does not scale with the
count) and the line says why. Tiny counts mostly measure fixed overheads. Run it on a quiet machine
for numbers to report.
"""

import argparse
import os
import platform
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402

from gencompare.metrics import distances, features, swd  # noqa: E402

TARGET_COUNT = 10_000
SHAPES = {"mnist": (28, 28, 1), "faces": (64, 64, 3)}


def _timed(function):
    start = time.perf_counter()
    result = function()
    return result, time.perf_counter() - start


def _report(name, seconds, count, scaling="linear"):
    """Prints one timing; below the target count, scales it to 10 000 images as `scaling` says.

    scaling: "linear" (per-image work), "quadratic" (pairwise distances) or a string explaining why
    the time is not extrapolated.
    """
    line = f"{name:<44} {count:>6} images {seconds:8.2f} s"
    if count != TARGET_COUNT:
        if scaling in ("linear", "quadratic"):
            factor = TARGET_COUNT / count
            estimate = seconds * (factor if scaling == "linear" else factor**2)
            line += f"   ~{estimate:8.1f} s for {TARGET_COUNT} (extrapolated, {scaling})"
        else:
            line += f"   (not extrapolated: {scaling})"
    print(line, flush=True)


def _images(count, shape, seed):
    return np.random.default_rng(seed).integers(0, 256, (count, *shape), dtype=np.uint8)


def time_extractor(name, extractor, count, shape):
    images = _images(count, shape, 0)
    extractor(images[:extractor.batch_size], progress=False)  # build and trace outside the timing
    feats, seconds = _timed(lambda: extractor(images, progress=False))
    _report(f"{name} features {shape[0]}x{shape[1]}x{shape[2]}", seconds, count)
    return feats


def time_distances(name, real_features, generated_features):
    count = len(real_features)
    _, seconds = _timed(lambda: distances.frechet_distance(real_features, generated_features))
    _report(f"  Fréchet distance ({name})", seconds, count,
            "a fixed d³ matrix square root plus a covariance linear in the count")
    _, seconds = _timed(lambda: distances.kernel_inception_distance(real_features, generated_features))
    _report(f"  KID, 100 subsets ({name})", seconds, count,
            "the same for any count ≥ 1000 (100 subsets of 1000)" if count >= 1000
            else f"subsets shrink to {count}; run with --count 1000 or more")
    _, seconds = _timed(lambda: distances.precision_recall(real_features, generated_features))
    _report(f"  precision/recall k=3 ({name})", seconds, count, "quadratic")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=TARGET_COUNT, help="images per set (default 10000)")
    parser.add_argument("--inception-weights", default=None,
                        help="'imagenet' or a .h5 path; default random weights (same cost)")
    parser.add_argument("--skip-inception", action="store_true", help="skip the slow Inception timing")
    args = parser.parse_args(argv)
    if args.count < 10:
        parser.error("--count must be at least 10")
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs; "
          f"count {args.count}{'' if args.count == TARGET_COUNT else ' (smaller than the 10000 target)'}")

    mnist = features.get_extractor("mnist")
    real = time_extractor("mnist classifier", mnist, args.count, SHAPES["mnist"])
    time_distances("mnist, 64-d", real, real + np.random.default_rng(1).normal(size=real.shape))

    if not args.skip_inception:
        inception = features.get_extractor("inception", weights=args.inception_weights)
        label = "inception" + ("" if args.inception_weights else " (random weights)")
        for shape in SHAPES.values():
            real = time_extractor(label, inception, args.count, shape)
        time_distances("inception, 2048-d", real, real + np.random.default_rng(1).normal(size=real.shape))

    for name, shape in SHAPES.items():
        a, b = _images(args.count, shape, 2), _images(args.count, shape, 3)
        min_resolution = 7 if name == "mnist" else 16
        _, seconds = _timed(lambda: swd.sliced_wasserstein_distance(
            a, b, min_resolution=min_resolution, progress=False))
        _report(f"SWD {shape[0]}x{shape[1]}x{shape[2]} (both sets)", seconds, args.count,
                "linear" if args.count >= 1000 else "below 1000 images the fixed projection cost dominates")


if __name__ == "__main__":
    main()
