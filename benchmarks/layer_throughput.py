"""Per-layer training throughput of a preset: what each conv achieves alone, forward and backward.

`throughput.py` times whole train steps. When a model stays far below the machine's matmul peak, this
script says whether its layers can do better: it times every Conv2D, Conv2DTranspose and Dense layer
of a preset on its own (forward, gradient with respect to its input and its weights, on a random
batch of the layer's input shape), and reports GFLOP/s per layer next to the share of the step's
FLOPs. If the layers that hold most FLOPs stay below the peak even alone, the architecture (small
channel counts, tiny spatial sizes at a small batch) is the limit, not the train step around them.

    python benchmarks/layer_throughput.py --model vae --preset cats
    python benchmarks/layer_throughput.py --model gan --preset faces64 --batch-size 32 --precision mixed_bfloat16

FLOPs per layer are 3 × the forward multiply-adds × 2 (forward, input gradient, weight gradient), as in
`throughput.py`. The first layer's input gradient is timed too (a model does not need it), so the
first conv reads slightly slow.
"""

import argparse
import statistics
import sys
import time

import keras
import tensorflow as tf

import throughput
from gencompare import distribute


def _in_order(network):
    """The layers of a functional network in the order they run, nested networks expanded."""
    for layer in network.layers:
        if isinstance(layer, keras.Model):
            yield from _in_order(layer)
        else:
            yield layer


def layers_of(model, kind):
    """`(network name, layer)` of every layer with a matmul, in the order they run."""
    networks = (model.encoder, model.decoder) if kind == "vae" else (model.generator, model.discriminator)
    for network in networks:
        for layer in _in_order(network):
            if throughput.layer_macs(layer):
                yield network.name, layer


def time_layer(layer, batch_size, repeats=5, windows=5):
    """Median seconds of one forward + backward pass of `layer` on a random batch of its input shape."""
    inputs = tf.cast(tf.random.normal((batch_size, *throughput._shape(layer.input))), layer.compute_dtype)

    @tf.function
    def step(x):
        with tf.GradientTape() as tape:
            tape.watch(x)
            loss = tf.reduce_sum(tf.cast(layer(x, training=True), tf.float32))
        gradients = tape.gradient(loss, [x, *layer.trainable_weights])
        # Summing every gradient keeps tf.function from pruning any of them.
        return tf.add_n([tf.reduce_sum(tf.cast(gradient, tf.float32)) for gradient in gradients])

    step(inputs).numpy()
    durations = []
    for _ in range(windows):
        start = time.perf_counter()
        for _ in range(repeats):
            result = step(inputs)
        result.numpy()
        durations.append((time.perf_counter() - start) / repeats)
    return statistics.median(durations)


def measure(kind, preset_name, batch_size, precision):
    """Rows `(network, layer, type, input shape, ms, GFLOP/s, share of FLOPs)` and the summed time."""
    model_class = {"vae": throughput.VAE, "gan": throughput.GAN}[kind]
    batch_size = batch_size or model_class.preset(preset_name).training["batch_size"]
    with distribute.precision(precision):
        model = model_class.from_preset(preset_name)
    layers = list(layers_of(model, kind))
    total_flops = sum(6 * throughput.layer_macs(layer) for _, layer in layers)
    rows = []
    for network, layer in layers:
        flops = 6 * throughput.layer_macs(layer)
        seconds = time_layer(layer, batch_size)
        rows.append({
            "network": network, "layer": layer.name, "type": type(layer).__name__,
            "input": throughput._shape(layer.input), "ms": 1000 * seconds,
            "gflops": flops * batch_size / seconds / 1e9, "share": flops / total_flops,
        })
    return batch_size, rows


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", choices=("vae", "gan"), required=True)
    parser.add_argument("--preset", required=True)
    parser.add_argument("--batch-size", type=int, default=None, help="default: the preset's")
    parser.add_argument("--precision", choices=distribute.PRECISIONS, default="float32")
    args = parser.parse_args(argv)
    try:
        batch_size, rows = measure(args.model, args.preset, args.batch_size, args.precision)
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    peak = throughput.measure_peak("float32")
    print(f"{args.model}:{args.preset}, batch {batch_size}, {args.precision}; float32 matmul peak {peak:.0f} GFLOP/s")
    print("| network | layer | type | input | ms (fwd+bwd) | GFLOP/s | % of f32 peak | share of FLOPs |")
    print("|---|---|---|---|---|---|---|---|")
    for row in rows:
        print(f"| {row['network']} | {row['layer']} | {row['type']} | {row['input']} | {row['ms']:.2f} | "
              f"{row['gflops']:.0f} | {100 * row['gflops'] / peak:.0f} % | {100 * row['share']:.1f} % |")
    seconds = sum(row["ms"] for row in rows) / 1000
    flops = sum(row["gflops"] * row["ms"] / 1000 for row in rows)
    print(f"All layers alone: {seconds * 1000:.1f} ms per batch, {flops / seconds:.0f} GFLOP/s "
          f"({100 * flops / seconds / peak:.0f} % of the float32 peak) — the ceiling of a train step.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
