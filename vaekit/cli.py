"""``python -m vaekit``: fetch the data, train, sample, reconstruct, interpolate, evaluate.

Every command has ``--help``. Bad arguments, and problems a user can fix (a
missing file, a corrupt checkpoint, an unwritable folder), end with one line on
stderr and exit status 2.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import signal
import sys
import threading
from dataclasses import asdict
from pathlib import Path

import torch

from . import checkpoint as ckpt
from . import distributed
from .data import DATASETS, FOLDER_PREFIX, load_dataset
from .errors import VaekitError
from .explore import DEFAULT_PORT, serve
from .data import MNIST_INFO, class_names, to_float
from .latent import interpolate
from .model import ARCHS, HEADS
from .models import ARCH_DEFAULTS, PRESETS, build
from .plotting import plot_history, plot_images, plot_pairs, save_fig
from .snapshots import Snapshots
from .train import Callback, ProgressBar, TrainConfig, Trainer, evaluate

DEFAULT_RUN = Path("runs") / "seed"
MODEL_FILE = "model.safetensors"  # weights, configuration and history
TRAINING_FILE = "training.safetensors"  # + Adam's moments and the generators, to resume


def _positive_int(text: str) -> int:
    return _number(text, int, lambda v: v >= 1, "a positive integer")


def _natural_int(text: str) -> int:
    return _number(text, int, lambda v: v >= 0, "an integer >= 0")


def _positive_float(text: str) -> float:
    return _number(text, float, lambda v: v > 0 and v != float("inf"), "a positive number")


def _bounded_int(low: int, high: int):
    def parse(text: str) -> int:
        return _number(text, int, lambda v: low <= v <= high, f"an integer from {low} to {high}")

    return parse


def _bounded_float(low: float, high: float):
    def parse(text: str) -> float:
        return _number(text, float, lambda v: low <= v <= high, f"a number from {low:g} to {high:g}")

    return parse


def _number(text, kind, ok, description):
    try:
        value = kind(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not {description}") from None
    if not ok(value):
        raise argparse.ArgumentTypeError(f"{text!r} is not {description}")
    return value


def _writable_folder(folder: Path, option: str = "--out") -> Path:
    try:
        folder.mkdir(parents=True, exist_ok=True)
        probe = folder / f".vaekit-write-test-{os.getpid()}"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        raise VaekitError(f"cannot write to {folder}: {exc.strerror or exc}; choose another folder with {option}") from exc
    return folder


def _dataset_name(text: str) -> str:
    if text in DATASETS or (text.startswith(FOLDER_PREFIX) and len(text) > len(FOLDER_PREFIX)):
        return text
    raise argparse.ArgumentTypeError(f"{text!r} is not a dataset; choose {', '.join(sorted(DATASETS))} or {FOLDER_PREFIX}PATH")


def _model_path(args) -> Path:
    path = Path(args.checkpoint)
    return path / MODEL_FILE if path.is_dir() else path


class EpochLog(Callback):
    """One line per epoch, comparable with the seed's printout."""

    def on_epoch_end(self, trainer, record):
        line = (
            f"epoch {record['epoch']:>3}  last batch: total {record['last_batch_total']:9.1f}  "
            f"reconstruction {record['last_batch_reconstruction']:9.1f}  latent {record['last_batch_kl']:8.1f}"
            f"  | train/image {record['train_total']:6.2f} (rec {record['train_reconstruction']:6.2f}, "
            f"KL {record['train_kl']:5.2f})"
        )
        if "test_total" in record:
            line += f"  | test/image {record['test_total']:6.2f}"
        from tqdm.auto import tqdm

        tqdm.write(line + f"  | {record['seconds']:.1f} s")  # above the progress bar, not through it


@contextlib.contextmanager
def _stop_after_the_step_on_ctrl_c(trainer: Trainer):
    """The first Ctrl-C lets the step in progress finish, so that the state saved is whole.

    A KeyboardInterrupt raised inside a step (between Adam's update and the
    step count, say) would save weights and progress that disagree, and the
    resumed run would drift from the uninterrupted one. A second Ctrl-C stops
    at once, keeping the last checkpoint on disk.
    """

    def handler(signum, frame):
        if trainer.stop_requested:
            raise KeyboardInterrupt
        trainer.stop_requested = True

    # Only the main thread may set signal handlers. Under torchrun every process
    # gets the Ctrl-C and could stop one step apart from the others, which would
    # then wait forever in a collective: there, all stop at once instead, and the
    # atomically written checkpoint on disk is whole.
    if threading.current_thread() is not threading.main_thread() or distributed.world_size() > 1:
        yield
        return
    previous = signal.signal(signal.SIGINT, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


# -- commands -----------------------------------------------------------------


def cmd_data(args) -> None:
    from .data import ensure_dataset

    for name in args.dataset or ["mnist"]:
        raw = ensure_dataset(name, args.data)
        print(f"{name} verified (SHA-256) in {raw}")


def cmd_train(args) -> None:
    distributed.start_from_environment(args.device)  # under torchrun: join the other processes
    is_main = distributed.is_main_process()  # the one process that prints and writes
    say = print if is_main else (lambda *_, **__: None)
    out = _writable_folder(Path(args.out))
    if args.threads:
        torch.set_num_threads(args.threads)
    overrides = {"head": args.head} if args.head else {}
    if args.latent_size:
        overrides["latent_size"] = args.latent_size
    if args.arch and args.arch != PRESETS[args.preset].arch:
        overrides.update(arch=args.arch, **ARCH_DEFAULTS[args.arch])
    config = TrainConfig(
        epochs=args.epochs,
        batch_size=args.batch_size,
        learning_rate=args.lr,
        seed=args.seed,
        device=args.device,
        grad_clip=args.grad_clip,
        checkpoint_every=args.checkpoint_every,
        fast=args.fast,
        binarize=args.binarize,
        beta=args.beta,
        kl_warmup=args.kl_warmup,
    )
    with distributed.main_process_first():
        data = load_dataset(args.dataset, args.data, train_limit=args.train_limit, test_limit=args.test_limit)
    overrides.update(image_shape=list(data.info.image_shape), input_size=data.train_images.shape[1])
    if args.conditional:
        overrides["num_classes"] = len(data.info.class_names)
    model = build(args.preset, seed=args.seed, **overrides)
    model.data_info = data.info
    training_file = out / TRAINING_FILE
    callbacks = ([EpochLog()] + ([ProgressBar(leave=False)] if args.progress else [])) if is_main else []
    if is_main and args.snapshots:
        callbacks.append(Snapshots())  # kept in both checkpoints: `animate training`, the timeline widget
    if is_main and args.tensorboard:
        from .tensorboard_log import TensorBoardLog

        callbacks.append(TensorBoardLog(_writable_folder(Path(args.tensorboard), "--tensorboard"), labels=data.test_labels))
    trainer = Trainer(
        model, data.train_images, data.test_images, config, callbacks, training_file, data.train_labels, data.test_labels
    )
    if args.resume and training_file.exists():
        trainer.restore(ckpt.load_checkpoint(training_file, trainer.device))
        say(f"resuming {training_file} at epoch {trainer.epoch}, step {trainer.step}", flush=True)
    elif training_file.exists() and not args.resume:
        say(f"note: starting afresh; {training_file} will be replaced (use --resume to continue it)", flush=True)
    processes = distributed.world_size()
    try:
        with _stop_after_the_step_on_ctrl_c(trainer):
            # Printed under the handler: from this line on, a Ctrl-C saves the state.
            say(
                f"training {model.config} on {len(data.train_images):,} {data.info.name} images for {config.epochs} epochs "
                f"(batch {config.batch_size}, {trainer.steps_per_epoch} steps an epoch) on {trainer.device}"
                + (f" in {processes} processes" if processes > 1 else ""),
                flush=True,
            )
            history = trainer.fit()
            if trainer.stop_requested and trainer.epoch < config.epochs:
                trainer.save_checkpoint()
                raise VaekitError(
                    f"interrupted; progress saved in {training_file}: continue with the same command and --resume"
                )
            # Still under the handler: a Ctrl-C while the model and figure are written lets them finish.
            if is_main:
                model_path = ckpt.save(
                    out / MODEL_FILE, trainer.model, history, asdict(config), state=trainer.callback_tensors()
                )
                print(f"model saved to {model_path}")
                if history["epochs"]:
                    print(f"loss curves: {save_fig(plot_history(history), 'loss_curves', args.figures)}")
    except KeyboardInterrupt:
        raise VaekitError(
            f"interrupted; the last checkpoint in {out} is kept: continue with the same command and --resume"
        ) from None


def _class_label(model, text: str | None) -> int | None:
    """``--label``: a class index or name of the model's dataset (conditional models only)."""
    names = class_names(model)
    if text is None:
        return None
    if not model.config.conditional:
        raise VaekitError("--label needs a conditional model (train one with --conditional)")
    if text.isdigit() and int(text) < len(names) and text not in names:
        return int(text)
    folded = [n.lower() for n in names]
    if text.lower() in folded:
        return folded.index(text.lower())
    raise VaekitError(f"--label {text!r} is not a class of this model; choose one of {list(names)} or 0-{len(names) - 1}")


def _test_data(model, args):
    """The test split of the dataset the model was trained on."""
    name = (model.data_info.name if model.data_info else None) or "mnist"
    return load_dataset(name, args.data)


def cmd_sample(args) -> None:
    model = ckpt.load(_model_path(args))
    generator = torch.Generator().manual_seed(args.seed)
    label = _class_label(model, args.label)
    names = class_names(model)
    if model.config.conditional and label is None:
        labels = torch.arange(args.n) % len(names)  # every class in turn: a column per class with nrow = classes
        what = f"{args.n} images, the classes in turn,"
    else:
        labels = label
        what = f"{args.n} images of class {names[label]!r}" if label is not None else f"{args.n} images"
    images = model.sample(args.n, labels=labels, temperature=args.temperature, generator=generator)
    fig = plot_images(images, nrow=args.nrow, title=f"{what} decoded from codes drawn from N(0, I)")
    print(f"samples: {save_fig(fig, args.name, args.figures)}")


def cmd_reconstruct(args) -> None:
    model = ckpt.load(_model_path(args))
    data = _test_data(model, args)
    originals, labels = data.test_images[: args.n], data.test_labels[: args.n]
    y = labels if model.config.conditional else None
    fig = plot_pairs(originals, model.reconstruct(to_float(originals), y),
                     title="test images (top) and their reconstructions")
    print(f"reconstructions: {save_fig(fig, args.name, args.figures)}")


def cmd_interpolate(args) -> None:
    model = ckpt.load(_model_path(args))
    data = _test_data(model, args)
    test = data.test_images
    for index in (args.start, args.end):
        if not 0 <= index < len(test):
            raise VaekitError(f"test image {index} does not exist; choose an index from 0 to {len(test) - 1}")
    ends = [args.start, args.end]
    y = data.test_labels[ends] if model.config.conditional else None
    with torch.no_grad():
        means, _ = model.encode(to_float(test[ends]), y)
        codes = interpolate(means[0], means[1], args.steps, args.method)
        # A conditional model keeps the first image's class along the path: only the style moves.
        labels = None if y is None else y[:1].expand(args.steps)
        images = torch.sigmoid(model.decode(codes, labels))
    info = model.data_info or MNIST_INFO
    first, last = (info.describe(data.test_labels[i]) for i in ends)
    title = f"{args.method} interpolation: test image {args.start} ({first}) to {args.end} ({last})"
    fig = plot_images(images, nrow=args.steps, title=title)
    print(f"interpolation: {save_fig(fig, args.name, args.figures)}")
    if args.classes:
        from . import classifier as clf
        from .plotting import plot_path_classes

        _, probabilities = clf.apply(clf.pretrained(info.name), images)
        named = [info.class_names[k] for k in probabilities.argmax(1).tolist()]
        print("classifier along the path: " + " ".join(named))
        fig = plot_path_classes(images, probabilities, info.class_names, title)
        print(f"classes along the path: {save_fig(fig, args.name + '_classes', args.figures)}")


def cmd_evaluate(args) -> None:
    model = ckpt.load(_model_path(args))
    data = _test_data(model, args)
    test = data.test_images
    result = evaluate(model, test, seed=args.seed, labels=data.test_labels if model.config.conditional else None)
    print(
        f"test negative ELBO: {result['total']:.2f} nats/image "
        f"(reconstruction {result['reconstruction']:.2f}, KL {result['kl']:.2f}) on {len(test):,} {data.info.name} images"
    )
    if args.samples:
        _print_sample_quality(model, test, data.test_labels, args.samples, args.seed)


def _print_sample_quality(model, test, labels, n: int, seed: int) -> None:
    from . import classifier as clf
    from .quality import sample_quality

    info = getattr(model, "data_info", None)
    dataset = info.name if info is not None else "mnist"
    judge = clf.pretrained(dataset)
    quality = sample_quality(model, judge, test, n, labels, seed=seed)
    names = judge.config.class_names
    print(f"classes of {n:,} prior samples, by the {dataset} classifier:")
    print("  " + "  ".join(f"{name} {100 * p:.1f}%" for name, p in zip(names, quality["histogram"].tolist())))
    print(f"  entropy {quality['entropy']:.3f} nats (all classes equally often: {quality['max_entropy']:.3f})")
    print(f"Fréchet distance of classifier features to the first {quality['n_reference']:,} test images:")
    rows = {f"{n:,} prior samples": "samples", f"reconstructions of the other {len(test) - quality['n_reference']:,}":
            "reconstructions", f"the other {len(test) - quality['n_reference']:,} test images (the floor)":
            "test, second half"}
    width = max(len(r) for r in rows)
    for row, key in rows.items():
        print(f"  {row:<{width}}  {quality['frechet'][key]:8.3f}")


def _check_index(index: int, images) -> None:
    if not 0 <= index < len(images):
        raise VaekitError(f"test image {index} does not exist; choose an index from 0 to {len(images) - 1}")


def cmd_animate(args) -> None:
    from . import animate, snapshots

    out = Path(args.out)
    if out.suffix.lower() != ".gif":
        raise VaekitError(f"--out {out}: name a .gif file")
    _writable_folder(out.parent if str(out.parent) else Path("."), "--out")
    if args.kind == "training":
        timeline = snapshots.read(_model_path(args))
        frames = animate.training_frames(timeline, args.scale or 2)
    else:
        model = ckpt.load(_model_path(args))
        data = _test_data(model, args)
        images = data.test_images
        if args.kind == "interpolation":
            for index in (args.start, args.end):
                _check_index(index, images)
            frames = animate.interpolation_frames(
                model, images[args.start], images[args.end], args.steps, args.method, args.scale or 4,
                labels=data.test_labels[[args.start, args.end]],
            )
        else:
            frames = animate.traversal_frames(model, images[:1000], args.steps, args.span, scale=args.scale or 3,
                                              labels=data.test_labels[:1000])
    fps = args.fps or (4.0 if args.kind == "training" else 12.0)
    path = animate.save_gif(frames, out, fps)
    print(f"{args.kind} animation: {path} ({len(frames)} frames of {frames[0].width}x{frames[0].height} at {fps:g} fps)")


def cmd_traverse(args) -> None:
    from .animate import active_dimensions, traversal_codes
    from .plotting import plot_traversal

    model = ckpt.load(_model_path(args))
    data = _test_data(model, args)
    dimensions, kl = active_dimensions(model, data.test_images[:1000], data.test_labels[:1000])
    if not dimensions:
        raise VaekitError("no dimension carries information (every KL is below 0.05 nats): nothing to traverse")
    values = torch.linspace(-args.span, args.span, args.steps)
    codes = traversal_codes(model, dimensions, values).reshape(-1, model.config.latent_size)
    condition = torch.zeros(len(codes), dtype=torch.long) if model.config.conditional else None  # the first class
    with torch.no_grad():
        decoded = torch.sigmoid(model.decode(codes, condition)).reshape(len(dimensions), len(values), -1)
    fig = plot_traversal(decoded, dimensions, kl, values)
    print(f"traversal of {len(dimensions)} active dimensions: {save_fig(fig, args.name, args.figures)}")


def cmd_classifier(args) -> None:
    from . import classifier as clf

    if args.threads:
        torch.set_num_threads(args.threads)
    out = Path(args.out) if args.out else clf.FOLDER / f"{args.dataset}.safetensors"
    _writable_folder(out.parent, "--out")
    data = load_dataset(args.dataset, args.data)
    config = clf.ClassifierConfig(dataset=args.dataset, class_names=tuple(data.info.class_names),
                                  image_shape=tuple(data.info.image_shape))

    def report(epoch, seconds):
        print(f"epoch {epoch}: {seconds:.1f} s", flush=True)

    recipe = clf.TRAINING[args.dataset]
    epochs = args.epochs or recipe["epochs"]
    classifier = clf.train(config, data.train_images, data.train_labels, epochs, seed=args.seed, shift=recipe["shift"],
                           on_epoch_end=report)
    accuracy = clf.accuracy(classifier, data.test_images, data.test_labels)
    print(f"test accuracy {100 * accuracy:.2f} % on {len(data.test_images):,} {args.dataset} test images")
    print(f"classifier saved to {clf.save(out, classifier, accuracy)}")


def cmd_beta_lab(args) -> None:
    from . import betalab

    if args.threads:
        torch.set_num_threads(args.threads)
    out = Path(args.out)
    _writable_folder(out.parent, "--out")
    data = load_dataset(args.dataset, args.data, train_limit=args.train_limit, test_limit=args.test_limit)

    def report(name, result):
        print(f"{name}: rate (KL) {result['rate']:.2f}, distortion (reconstruction) {result['distortion']:.2f}, "
              f"-ELBO {result['negative_elbo']:.2f} nats per test image", flush=True)

    results = betalab.run(data, args.betas, args.epochs, args.warmup, args.preset, args.seed, on_run=report)
    limits = "".join(f" --{name.replace('_', '-')} {getattr(args, name)}" for name in ("train_limit", "test_limit")
                     if getattr(args, name))
    results["command"] = (f"python -m vaekit beta-lab --dataset {args.dataset} --preset {args.preset} --betas "
                          f"{' '.join(f'{b:g}' for b in args.betas)} --epochs {args.epochs} --warmup {args.warmup} "
                          f"--seed {args.seed}{limits}")
    print(f"results: {betalab.save(results, out)}")


def cmd_explore(args) -> None:
    serve(port=args.port, token=args.token, checkpoint=args.checkpoint, data=args.data, open_browser=args.browser)


# -- the parser ---------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="vaekit", description="Train and explore a variational autoencoder on MNIST.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name, func, help):
        p = sub.add_parser(name, help=help, description=help)
        p.set_defaults(func=func)
        p.add_argument("--data", default=None, help="data folder (default: $VAEKIT_DATA or data/)")
        return p

    def needs_model(p):
        p.add_argument("--checkpoint", default=str(DEFAULT_RUN / MODEL_FILE), help="model file or run folder (default: %(default)s)")
        p.add_argument("--figures", default=None, help="folder for figures (default: figures/)")

    p = command("data", cmd_data, "fetch a dataset (default: MNIST) and verify its four files by SHA-256")
    p.add_argument("--dataset", action="append", choices=sorted(DATASETS), help="which (repeat for several)")

    p = command("train", cmd_train, "train a VAE on MNIST, Fashion-MNIST or a folder of your images")
    p.add_argument("--preset", choices=sorted(PRESETS), default="seed", help="the model (default: %(default)s, the exact seed)")
    p.add_argument(
        "--dataset", type=_dataset_name, default="mnist",
        help=f"{', '.join(sorted(DATASETS))} or {FOLDER_PREFIX}PATH (one subfolder of images per class; default: %(default)s)",
    )
    p.add_argument("--arch", choices=ARCHS, help="override the architecture: mlp (the seed's) or conv (convolutional)")
    p.add_argument("--conditional", action="store_true", help="a conditional VAE: the class goes into encoder and decoder")
    p.add_argument("--beta", type=_positive_float, default=TrainConfig.beta, help="the KL's weight (default: %(default)s, the ELBO)")
    p.add_argument("--kl-warmup", type=_natural_int, default=TrainConfig.kl_warmup, metavar="EPOCHS",
                   help="ramp the KL's weight up from 0 over this many epochs (default: %(default)s, none)")
    p.add_argument("--head", choices=HEADS, help="override the coding head: sigma (the seed) or logvar")
    p.add_argument("--latent-size", type=_positive_int, help="override the code size (default: the preset's, 20)")
    p.add_argument("--epochs", type=_natural_int, default=TrainConfig.epochs, help="default: %(default)s")
    p.add_argument("--batch-size", type=_positive_int, default=TrainConfig.batch_size, help="default: %(default)s")
    p.add_argument("--lr", type=_positive_float, default=TrainConfig.learning_rate, help="Adam's learning rate (default: %(default)s)")
    p.add_argument("--seed", type=_natural_int, default=TrainConfig.seed, help="default: %(default)s")
    p.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda", "mps"], help="default: %(default)s")
    p.add_argument("--grad-clip", type=_positive_float, help="clip the gradient norm to this value (default: no clipping)")
    p.add_argument("--checkpoint-every", type=_positive_int, help="also save the training state every N steps (default: every epoch)")
    p.add_argument("--resume", action="store_true", help="continue from OUT/training.safetensors")
    p.add_argument("--binarize", action="store_true", help="dynamically binarized MNIST, as in published likelihood tables")
    p.add_argument(
        "--threads", type=_positive_int,
        help="PyTorch's CPU threads (default: one per core; on a busy machine 1 can be many times faster)",
    )
    p.add_argument("--fast", action="store_true", help="bfloat16 autocast for the networks (faster on recent CPUs/GPUs; see benchmarks/README.md)")
    p.add_argument("--train-limit", type=_positive_int, help="use only the first N training images (quick runs)")
    p.add_argument("--test-limit", type=_positive_int, help="use only the first N test images")
    p.add_argument("--out", default=str(DEFAULT_RUN), help="run folder for the checkpoints (default: %(default)s)")
    p.add_argument("--figures", default=None, help="folder for figures (default: figures/)")
    p.add_argument("--no-progress", dest="progress", action="store_false", help="no progress bar")
    p.add_argument(
        "--no-snapshots", dest="snapshots", action="store_false",
        help="do not keep per-epoch snapshots (samples, reconstructions, KL per dimension; ~19 KB an epoch) in the checkpoints",
    )
    p.add_argument("--tensorboard", metavar="DIR", help="also write TensorBoard event files to DIR (tensorboard --logdir DIR)")

    p = command("sample", cmd_sample, "decode codes drawn from the prior into a grid of new digits")
    needs_model(p)
    p.add_argument("--n", type=_positive_int, default=60, help="how many digits (default: %(default)s, the seed's figure)")
    p.add_argument("--nrow", type=_positive_int, default=10, help="digits per row (default: %(default)s)")
    p.add_argument("--temperature", type=_positive_float, default=1.0, help="scale of the prior's codes (default: %(default)s)")
    p.add_argument("--label", help="conditional models: the class to draw, by index or name (default: every class in turn)")
    p.add_argument("--seed", type=_natural_int, default=42, help="default: %(default)s")
    p.add_argument("--name", default="samples", help="figure name (default: %(default)s)")

    p = command("reconstruct", cmd_reconstruct, "show test digits next to their reconstructions")
    needs_model(p)
    p.add_argument("--n", type=_positive_int, default=10, help="how many digits (default: %(default)s)")
    p.add_argument("--name", default="reconstructions", help="figure name (default: %(default)s)")

    p = command("interpolate", cmd_interpolate, "decode the path between two test digits' codes")
    needs_model(p)
    p.add_argument("--start", type=_natural_int, default=0, help="first test image (default: %(default)s, a 7)")
    p.add_argument("--end", type=_natural_int, default=1, help="last test image (default: %(default)s, a 2)")
    p.add_argument("--steps", type=int, choices=range(2, 101), default=10, metavar="{2..100}", help="default: %(default)s")
    p.add_argument("--method", choices=["linear", "spherical"], default="spherical", help="default: %(default)s")
    p.add_argument("--name", default="interpolation", help="figure name (default: %(default)s)")
    p.add_argument("--classes", action="store_true",
                   help="also the dataset classifier's probabilities along the path (figure NAME_classes)")

    p = command("evaluate", cmd_evaluate, "the test set's negative ELBO in nats per image")
    needs_model(p)
    p.add_argument("--seed", type=_natural_int, default=0, help="noise seed (default: %(default)s)")
    p.add_argument(
        "--samples", type=_bounded_int(2, 100_000), metavar="N",
        help="also judge N prior samples with the dataset's classifier: class histogram, entropy, Fréchet distance "
        "(compare runs at the same N; 5000 matches the floor's size)",
    )

    p = command("animate", cmd_animate, "write a GIF: training replayed from its snapshots, an interpolation, or a latent traversal")
    p.add_argument("kind", choices=["training", "interpolation", "traversal"], help="what to animate")
    p.add_argument("--checkpoint", default=str(DEFAULT_RUN / MODEL_FILE), help="model file or run folder (default: %(default)s)")
    p.add_argument("--out", required=True, help="the GIF to write, e.g. figures/training.gif")
    p.add_argument("--fps", type=_bounded_float(0.1, 50), help="frames a second (default: 4 training, 12 the others)")
    p.add_argument("--scale", type=_bounded_int(1, 16), help="pixels per image pixel (default: 2 training, 4 interpolation, 3 traversal)")
    p.add_argument("--steps", type=_bounded_int(2, 200), default=30, help="interpolation or traversal steps (default: %(default)s)")
    p.add_argument("--start", type=_natural_int, default=0, help="interpolation: first test image (default: %(default)s)")
    p.add_argument("--end", type=_natural_int, default=1, help="interpolation: last test image (default: %(default)s)")
    p.add_argument("--method", choices=["linear", "spherical"], default="spherical", help="default: %(default)s")
    p.add_argument("--span", type=_bounded_float(0.1, 10), default=3.0, help="traversal: from -SPAN to +SPAN (default: %(default)s)")

    p = command("traverse", cmd_traverse, "figure: each active code dimension swept from -3 to +3, most active first")
    needs_model(p)
    p.add_argument("--steps", type=_bounded_int(2, 31), default=7, help="values per dimension (default: %(default)s)")
    p.add_argument("--span", type=_bounded_float(0.1, 10), default=3.0, help="from -SPAN to +SPAN (default: %(default)s)")
    p.add_argument("--name", default="traversal", help="figure name (default: %(default)s)")

    p = command("classifier", cmd_classifier, "train the small CNN that judges samples (evaluate --samples)")
    p.add_argument("--dataset", choices=["mnist", "fashion-mnist"], default="mnist", help="default: %(default)s")
    p.add_argument("--epochs", type=_bounded_int(1, 100), help="default: 6, the shipped classifiers' schedule")
    p.add_argument("--seed", type=_natural_int, default=0, help="default: %(default)s")
    p.add_argument("--threads", type=_positive_int, help="PyTorch's CPU threads (on a busy machine 1 is often fastest)")
    p.add_argument("--out", help="file to write (default: the package's pretrained/classifiers/DATASET.safetensors)")

    p = command("beta-lab", cmd_beta_lab, "train a sweep of beta and the sigma head with and without KL warm-up; "
                "write the results as JSON (notebook 05)")
    p.add_argument("--dataset", choices=sorted(DATASETS), default="mnist", help="default: %(default)s")
    p.add_argument("--betas", type=_positive_float, nargs="+", default=[0.25, 0.5, 1.0, 2.0, 4.0, 8.0],
                   help="the KL weights of the sweep (default: %(default)s)")
    p.add_argument("--preset", choices=sorted(PRESETS), default="logvar", help="the sweep's model (default: %(default)s)")
    p.add_argument("--epochs", type=_positive_int, default=10, help="per run (default: %(default)s)")
    p.add_argument("--warmup", type=_positive_int, default=5, help="KL warm-up epochs of the sigma-head pair (default: %(default)s)")
    p.add_argument("--seed", type=_natural_int, default=42, help="default: %(default)s")
    p.add_argument("--train-limit", type=_positive_int, help="use only the first N training images")
    p.add_argument("--test-limit", type=_positive_int, help="use only the first N test images")
    p.add_argument("--threads", type=_positive_int, help="PyTorch's CPU threads")
    p.add_argument("--out", default="notebooks/results/beta_lab.json", help="default: %(default)s")

    p = command("explore", cmd_explore, "serve the latent explorer as a web app on 127.0.0.1 (Voila)")
    p.add_argument("--checkpoint", default=None, help="model file (default: the shipped pretrained model)")
    p.add_argument("--port", type=_positive_int, default=DEFAULT_PORT, help="default: %(default)s")
    p.add_argument("--token", default=None, help="the token visitors need (default: a random one, printed)")
    p.add_argument("--browser", action="store_true", help="also open a web browser")
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stderr)
    try:
        args.func(args)
    except VaekitError as exc:
        parser.exit(2, f"vaekit: error: {exc}\n")
    finally:
        distributed.stop()
    return 0
