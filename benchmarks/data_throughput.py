"""Data-layer throughput: cold-cache load, cached load, and the `to_dataset` pipeline's images/s.

    python benchmarks/data_throughput.py --dataset cats --data-dir ../shared/data --batch-size 64

The cold load uses a fresh temporary cache folder (removed afterwards), so the user's cache is
neither used nor touched. Run it on a quiet machine: the numbers are wall-clock times.
"""

import argparse
import os
import shutil
import statistics
import tempfile
import time


def parse_arguments():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="cats", help="dataset name or path (default: cats)")
    parser.add_argument("--data-dir", default=None, help="data directory (default: GENCOMPARE_DATA rule)")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--batches", type=int, default=200, help="batches to time in the pipeline")
    parser.add_argument("--limit", type=int, default=None, help="load only this many images")
    parser.add_argument("--value-range", choices=["0,1", "-1,1"], default="-1,1")
    return parser.parse_args()


def timed(function, *args, **kwargs):
    start = time.perf_counter()
    result = function(*args, **kwargs)
    return result, time.perf_counter() - start


def pipeline_rate(dataset, batches, batch_size):
    """Images per second over `batches` batches, after one warm-up batch (tracing, threads)."""
    iterator = iter(dataset.repeat())
    next(iterator)
    start = time.perf_counter()
    for _ in range(batches):
        next(iterator)
    return batches * batch_size / (time.perf_counter() - start)


def main():
    arguments = parse_arguments()
    cache = tempfile.mkdtemp(prefix="gencompare-benchmark-cache-")
    os.environ["GENCOMPARE_CACHE"] = cache
    from gencompare.data import load_images, to_dataset  # after GENCOMPARE_CACHE is set

    try:
        load = lambda: load_images(arguments.dataset, "all", limit=arguments.limit, data_dir=arguments.data_dir)
        images, cold = timed(load)
        cached = statistics.median(timed(load)[1] for _ in range(3))
        value_range = tuple(float(v) for v in arguments.value_range.split(","))
        dataset = to_dataset(images, arguments.batch_size, value_range=value_range, seed=0)
        rate = pipeline_rate(dataset, arguments.batches, arguments.batch_size)
    finally:
        shutil.rmtree(cache, ignore_errors=True)
    rows = [
        ("images", f"{len(images)} x {images.shape[1]}x{images.shape[2]}x{images.shape[3]} uint8"),
        ("first load (cold cache)", f"{cold:.2f} s  ({len(images) / cold:,.0f} images/s)"),
        ("cached load (median of 3)", f"{cached:.3f} s"),
        (f"to_dataset, batch {arguments.batch_size}", f"{rate:,.0f} images/s over {arguments.batches} batches"),
    ]
    width = max(len(label) for label, _ in rows)
    print(f"data throughput: {arguments.dataset}, {os.cpu_count()} CPUs")
    for label, value in rows:
        print(f"  {label:<{width}}  {value}")


if __name__ == "__main__":
    main()
