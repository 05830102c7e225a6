"""The command line: `python -m gencompare train|sample|data ...` (also installed as `gencompare`).

Each subcommand is added by one small function (`add_train_command`, ...) listed in `COMMANDS`, and
each group of `train` options by another, so later commands and options slot in without touching
the rest. TensorFlow is imported only when a command runs, so `--help` answers at once.
"""

import argparse
import sys

PROGRAM = "gencompare"
# Exit codes: 2 for bad arguments or input (as argparse), 1 for a run that diverged.
EXIT_USAGE = 2
EXIT_DIVERGED = 1
EXIT_INTERRUPTED = 130


class UsageError(ValueError):
    """A problem with the command line itself (e.g. options that cannot go together)."""


class ArgumentParser(argparse.ArgumentParser):
    """`argparse.ArgumentParser` whose errors are one line naming the `--help` to read."""

    def error(self, message):
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message} (see `{self.prog} --help`)\n")


# ----------------------------------------------------------------------------------------------
# train
# ----------------------------------------------------------------------------------------------

TRAIN_EXAMPLES = """\
examples:
  # MNIST VAE (seed: MNIST VAE report), 2 quick epochs on 512 images
  python -m gencompare train --model vae --preset mnist --epochs 2 --limit 512

  # cat-face VAE with the seed's learning rate, a grid every 5 epochs
  python -m gencompare train --model vae --preset cats --learning-rate 1e-3 --sample-every 5

  # GAN on anime faces with the hinge loss
  python -m gencompare train --model gan --preset faces64 --dataset anime --gan-loss hinge

  # a VAE, then a GAN whose generator starts from the VAE's decoder
  python -m gencompare train --model vae-gan --preset mnist --epochs 10

  # continue a killed run (or train a finished one further with --epochs)
  python -m gencompare train --resume runs/mnist-vae-20250101-120000
  # continue a run that diverged (NaN loss) from its last good checkpoint, more gently
  python -m gencompare train --resume runs/mnist-vae-20250101-120000 --learning-rate 1e-5

  # repeat a run from its config.json (same seed, data and settings: same history.csv on CPU)
  python -m gencompare train --config runs/mnist-vae-20250101-120000/config.json
"""

# `train` options that map one to one onto `gencompare.train.RunSettings` fields.
SETTING_OPTIONS = (
    "model", "preset", "gan_preset", "dataset", "epochs", "batch_size", "learning_rate", "latent_dim",
    "beta", "reconstruction_loss", "gan_loss", "limit", "image_size", "seed", "sample_every",
    "checkpoint_every", "summary_every", "jit_compile", "tensorboard", "from_vae",
    "strategy", "precision", "steps_per_execution",
)

# What `--resume` may change: more epochs, or a lower learning rate after a divergence.
RESUME_OPTIONS = ("epochs", "learning_rate")


def add_train_command(subparsers):
    parser = subparsers.add_parser(
        "train",
        help="train a VAE, a GAN, or a VAE then a GAN; writes a run folder",
        description="Train a model from a preset (plus overrides) and write a run folder "
        "runs/<dataset>-<model>-<timestamp>/ with config.json, history.csv, checkpoints/, "
        "samples/, model.keras and figures. Options left out take the preset's value.",
        epilog=TRAIN_EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_model_arguments(parser)
    add_training_arguments(parser)
    add_run_arguments(parser)
    parser.set_defaults(handler=train_command)
    return parser


def add_model_arguments(parser):
    group = parser.add_argument_group("model")
    group.add_argument("--model", choices=("vae", "gan", "vae-gan"), help="what to train (default: vae)")
    group.add_argument("--preset", help="preset name, e.g. mnist, cats, anime (VAE) or mnist, faces64 (GAN); "
                       "default: the preset named after --dataset, else mnist")
    group.add_argument("--gan-preset", help="vae-gan: the GAN preset (default: the one matching --preset)")
    group.add_argument("--latent-dim", type=int, help="size of the latent vector")
    group.add_argument("--beta", type=float, help="VAE: weight of the KL term")
    group.add_argument("--recon-loss", dest="reconstruction_loss", help="VAE reconstruction loss: bce, mse or l1")
    group.add_argument("--gan-loss", help="GAN loss: bce, hinge or wgan-gp")
    group.add_argument("--from-vae", metavar="RUN_DIR",
                       help="gan/vae-gan: start the generator from this finished VAE run's decoder")


def add_training_arguments(parser):
    group = parser.add_argument_group("data and training")
    group.add_argument("--dataset", metavar="NAME|PATH",
                       help="dataset name (mnist, cats, anime, ...) or a folder/zip of images; "
                       "default: the preset's")
    group.add_argument("--data-dir", help="folder holding the datasets (default: $GENCOMPARE_DATA)")
    group.add_argument("--limit", type=int, help="train on the first N images only")
    group.add_argument("--image-size", type=int, help="resize images to this side length")
    group.add_argument("--epochs", type=int, help="number of epochs (with --resume: the new total)")
    group.add_argument("--batch-size", type=int)
    group.add_argument("--learning-rate", type=float,
                       help="a GAN preset's separate D/G rates are scaled by the same factor (with --resume: replaces the saved rate)")
    group.add_argument("--seed", type=int, help="seed of every random source (default: 0)")
    group.add_argument("--jit-compile", choices=("auto", "on", "off"),
                       help="XLA compilation (default: auto, which is off on CPU-only machines)")
    add_scale_arguments(parser)


def add_scale_arguments(parser):
    from gencompare import distribute

    group = parser.add_argument_group("scale and speed (see README: Scale and speed)")
    group.add_argument("--strategy", choices=distribute.STRATEGIES,
                       help="default: one device; mirrored: every local GPU; multiworker: several machines "
                       "(TF_CONFIG). --batch-size is the global batch (default: default)")
    group.add_argument("--precision", choices=distribute.PRECISION_CHOICES,
                       help="Keras dtype policy (default: auto = mixed_bfloat16 on CPUs with AVX-512 BF16/AMX "
                       "and on Ampere+ GPUs, mixed_float16 on Volta/Turing GPUs, else float32)")
    group.add_argument("--steps-per-execution", type=_steps_per_execution,
                       help=f"train steps per compiled call (default: auto = {distribute.AUTO_STEPS_PER_EXECUTION} "
                       "on one device, 1 with several replicas)")


def _steps_per_execution(text):
    """`--steps-per-execution`: "auto" or a positive integer."""
    if text == "auto":
        return text
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected 'auto' or a positive integer, got {text!r}")
    return value


def add_run_arguments(parser):
    group = parser.add_argument_group("run folder")
    group.add_argument("--out", default="runs", help="folder in which run folders are created (default: runs)")
    group.add_argument("--sample-every", type=int, help="epochs between sample grids (default: 5)")
    group.add_argument("--checkpoint-every", type=int, help="epochs between kept checkpoints (default: 10)")
    group.add_argument("--summary-every", type=int, help="epochs between one-line loss summaries (default: 1)")
    group.add_argument("--tensorboard", action="store_true", default=None,
                       help="also write TensorBoard logs to RUN_DIR/tensorboard")
    group.add_argument("--verbose", type=int, choices=(0, 1, 2), default=1,
                       help="Keras progress: 0 silent, 1 progress bar, 2 one line per epoch")
    source = group.add_mutually_exclusive_group()
    source.add_argument("--resume", metavar="RUN_DIR", help="continue this run folder after its last checkpoint")
    source.add_argument("--config", metavar="CONFIG_JSON",
                        help="repeat the run described by a run's config.json (options given here override it)")


def given_settings(arguments):
    """The `RunSettings` fields the user set on the command line (None means "not given")."""
    return {name: getattr(arguments, name) for name in SETTING_OPTIONS if getattr(arguments, name) is not None}


def train_command(arguments):
    from gencompare import train

    given = given_settings(arguments)
    common = dict(data_dir=arguments.data_dir, verbose=arguments.verbose)
    if arguments.resume:
        extra = sorted(set(given) - set(RESUME_OPTIONS))
        if extra:
            options = ", ".join("--" + name.replace("_", "-") for name in extra)
            raise UsageError(
                f"--resume continues a run with its saved settings; only --epochs and --learning-rate may "
                f"change (got {options}). Start a new run to change the others."
            )
        changes = {name: given[name] for name in RESUME_OPTIONS if name in given}
        result = train.resume(arguments.resume, **changes, **common)
    else:
        settings = {}
        if arguments.config:
            settings = dict(train.read_config(arguments.config)["run"])
        settings.update(given)
        result = train.run(out=arguments.out, **common, **settings)
    print(f"Run finished: {result.run_dir}")
    return 0


# ----------------------------------------------------------------------------------------------
# sample
# ----------------------------------------------------------------------------------------------

SAMPLE_EXAMPLES = """\
examples:
  python -m gencompare sample runs/mnist-vae-20250101-120000 -n 64
  python -m gencompare sample runs/cats-gan-20250101-120000 -n 16 --seed 7 --out cats.png
"""


def add_sample_command(subparsers):
    parser = subparsers.add_parser(
        "sample",
        help="draw a grid of images from a trained run",
        description="Draw images from a run folder's model (model.keras, or the last checkpoint of an "
        "unfinished run) and save them as one PNG grid.",
        epilog=SAMPLE_EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("run_dir", metavar="RUN_DIR", help="a run folder written by `train`")
    parser.add_argument("-n", "--count", type=int, default=64, help="number of images (default: 64)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the latent vectors (default: 0)")
    parser.add_argument("--out", help="PNG path (default: RUN_DIR/samples/sample_n<N>_seed<SEED>.png)")
    parser.set_defaults(handler=sample_command)
    return parser


def sample_command(arguments):
    from gencompare import train

    path = train.sample_run(arguments.run_dir, arguments.count, seed=arguments.seed, path=arguments.out)
    print(f"Wrote {path}")
    return 0


# ----------------------------------------------------------------------------------------------
# data
# ----------------------------------------------------------------------------------------------

DATA_EXAMPLES = """\
examples:
  python -m gencompare data info mnist
  python -m gencompare data download cats     # needs Kaggle credentials (see the README)
"""


def add_data_command(subparsers):
    parser = subparsers.add_parser(
        "data",
        help="describe or download a dataset",
        description="Show where a dataset's files are and whether they are present, or download them.",
        epilog=DATA_EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("action", choices=("info", "download"))
    parser.add_argument("name", metavar="NAME", help="dataset name, e.g. mnist, cats, anime")
    parser.add_argument("--data-dir", help="folder holding the datasets (default: $GENCOMPARE_DATA)")
    parser.set_defaults(handler=data_command)
    return parser


def data_command(arguments):
    from gencompare import data

    if arguments.action == "download":
        folder = data.download(arguments.name, data_dir=arguments.data_dir)
        print(f"{arguments.name}: ready in {folder}")
        return 0
    for key, value in data.dataset_info(arguments.name, data_dir=arguments.data_dir).items():
        print(f"{key}: {value}")
    return 0


# ----------------------------------------------------------------------------------------------
# The parser and the entry point
# ----------------------------------------------------------------------------------------------

MAIN_EXAMPLES = """\
examples:
  python -m gencompare train --model vae --preset mnist --epochs 2 --limit 512
  python -m gencompare sample runs/mnist-vae-20250101-120000 -n 64
  python -m gencompare data info mnist
  python -m gencompare report

Run `python -m gencompare COMMAND --help` for a command's options.
"""

def add_report_command(subparsers):
    """`report`: train or reuse every experiment of a profile, evaluate, write the report."""
    from gencompare import experiments

    parser = subparsers.add_parser(
        "report", help="train or reuse every experiment, measure them, write reports/README.md",
        description="Train (or reuse) every experiment of a profile on the datasets present, evaluate each run "
        "on the held-out test split, and write README.md and figures/ (default: reports/; reports/smoke/ for the "
        "smoke profile, which never overwrites the committed report).",
        epilog=REPORT_EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--profile", type=_profile_name, default=None,
                        help=f"one of {', '.join(experiments.PROFILES)} (default: ${experiments.ENVIRONMENT_VARIABLE}, "
                        f"else {experiments.DEFAULT_PROFILE})")
    parser.add_argument("--out", default=None, help="output folder (default: reports/; reports/smoke/ for smoke)")
    parser.add_argument("--runs", default=None, help="folder of the run folders (default: runs/PROFILE)")
    parser.add_argument("--datasets", nargs="+", default=None, metavar="NAME",
                        help="datasets to include (default: every dataset whose files are present)")
    parser.add_argument("--seed", type=_non_negative, default=0, help="the one seed of every run and metric (default 0)")
    parser.add_argument("--data-dir", default=None, help="datasets folder (default: $GENCOMPARE_DATA)")
    parser.set_defaults(handler=report_command)
    return parser


REPORT_EXAMPLES = """\
examples:
  python -m gencompare report                       # profile from GENCOMPARE_PROFILE (default smoke)
  python -m gencompare report --profile quick       # writes reports/; README gives its measured time
  python -m gencompare report --profile quick --datasets mnist cats --out /tmp/report
"""


def _profile_name(text):
    """argparse type of `--profile`: checked at once, before anything heavy is imported."""
    from gencompare import experiments

    try:
        return experiments.get_profile(text).name
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def _non_negative(text):
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value < 0:
        raise argparse.ArgumentTypeError(f"--seed must be a non-negative integer, got {text!r}.")
    return value


def report_command(arguments):
    from gencompare import experiments

    experiments.make_report(arguments.profile, out=arguments.out, runs=arguments.runs, datasets=arguments.datasets,
                            seed=arguments.seed, data_dir=arguments.data_dir)
    return 0


# Subcommands that load TensorFlow (its start-up lines are held back, see `distribute.load_tensorflow_quietly`).
TENSORFLOW_COMMANDS = ("train", "sample", "report")

# One entry per subcommand.
COMMANDS = [add_train_command, add_sample_command, add_data_command, add_report_command]


def build_parser():
    """The `gencompare` argument parser with every subcommand in `COMMANDS`."""
    parser = ArgumentParser(
        prog=PROGRAM,
        description="Train and compare VAEs and GANs (Keras 3).",
        epilog=MAIN_EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=ArgumentParser)
    subparsers.required = True
    for add_command in COMMANDS:
        add_command(subparsers)
    return parser


def main(argv=None):
    """Runs the command line; returns the exit status (0 ok, 1 diverged, 2 bad input, 130 interrupted).

    Errors the user can fix — bad options, unknown presets or datasets, missing files — are
    reported as one line `gencompare: error: ...` on stderr, without a traceback.
    """
    arguments = build_parser().parse_args(argv)
    try:
        if arguments.command in TENSORFLOW_COMMANDS:
            from gencompare import distribute

            # TensorFlow's C++ start-up chatter (absl, CUDA probing) would bury the run's own output.
            distribute.load_tensorflow_quietly()
        return arguments.handler(arguments)
    except KeyboardInterrupt:
        print(f"\n{PROGRAM}: interrupted. Continue with `{PROGRAM} train --resume RUN_DIR` "
              "(the run folder printed above).", file=sys.stderr)
        return EXIT_INTERRUPTED
    except Exception as error:  # noqa: BLE001 - `report_error` re-raises what the user cannot fix
        return report_error(error)


def report_error(error):
    """Prints one line for errors the user can act on and returns the exit status; re-raises others."""
    # Imported here, not at the top, so that `--help` does not pay for importing TensorFlow.
    from gencompare.data import DatasetUnavailable
    from gencompare.train import TrainingDiverged

    if isinstance(error, (ValueError, DatasetUnavailable)):
        print(f"{PROGRAM}: error: {one_line(error)}", file=sys.stderr)
        return EXIT_USAGE
    if isinstance(error, TrainingDiverged):
        print(f"{PROGRAM}: {one_line(error)}", file=sys.stderr)
        return EXIT_DIVERGED
    raise error


def one_line(error):
    """An error message on one line (some messages list options on several)."""
    return " ".join(str(error).split())
