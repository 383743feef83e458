"""``python -m vaekit``: fetch the data, train, sample, reconstruct, interpolate, evaluate.

Every command has ``--help``. Bad arguments, and problems a user can fix (a
missing file, a corrupt checkpoint, an unwritable folder), end with one line on
stderr and exit status 2.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import signal
import sys
import threading
import warnings
from pathlib import Path

# Only light modules here: `--help` must answer at once, and torch takes seconds to import.
# Each command imports what it needs.
from .errors import VaekitError
from .explore import DEFAULT_PORT, MIN_TOKEN_LENGTH
from .runs import MAX_IMAGES as MAX_FIGURE_IMAGES
from .runs import MAX_ROW as MAX_ROW_IMAGES
from .runs import MODEL_FILE, TRAINING_FILE, RunLock, check_figure_target, figures_folder, resolve_checkpoint
from .runs import writable_folder as _writable_folder

DEFAULT_RUN = Path("runs") / "seed"
# Names and defaults that --help shows without importing torch (tests/test_cli.py checks them
# against vaekit.PRESETS, vaekit.model.HEADS and TrainConfig).
PRESET_NAMES = ("2d", "conv", "logvar", "seed")
HEAD_NAMES = ("sigma", "logvar")
ARCH_NAMES = ("mlp", "conv")
DATASET_NAMES = ("fashion-mnist", "mnist")
FOLDER_PREFIX = "folder:"
TRAIN_DEFAULTS = {"epochs": 50, "batch_size": 150, "learning_rate": 1e-3, "seed": 42, "beta": 1.0, "kl_warmup": 0}
MAX_SEED = 2**63 - 1  # torch.Generator.manual_seed's range
# Training options that change the mathematics: a resumed run must repeat them (TrainConfig's name -> option).
MATH_OPTIONS = {
    "batch_size": "--batch-size", "learning_rate": "--lr", "seed": "--seed", "grad_clip": "--grad-clip",
    "fast": "--fast", "binarize": "--binarize", "beta": "--beta", "kl_warmup": "--kl-warmup",
}


def _positive_int(text: str) -> int:
    return _number(text, int, lambda v: v >= 1, "a positive integer")


def _natural_int(text: str) -> int:
    return _number(text, int, lambda v: v >= 0, "an integer >= 0")


def _int_between(low: int, high: int, why: str = ""):
    """An argparse type: an integer from ``low`` to ``high`` (``why`` says where the bound comes from)."""

    def parse(text: str) -> int:
        return _number(text, int, lambda v: low <= v <= high, f"an integer from {low} to {high:,}{why}")

    parse.__name__ = f"integer from {low} to {high}"
    return parse


def _positive_float(text: str) -> float:
    return _number(text, float, lambda v: v > 0 and v != float("inf"), "a positive number")


def _temperature(text: str) -> float:
    return _number(text, float, lambda v: 0 < v <= 10, "a number above 0 and at most 10")


def _float_between(low: float, high: float):
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


def _dataset_name(text: str) -> str:
    if text in DATASET_NAMES or (text.startswith(FOLDER_PREFIX) and len(text) > len(FOLDER_PREFIX)):
        return text
    raise argparse.ArgumentTypeError(
        f"{text!r} is not a dataset; choose {', '.join(DATASET_NAMES)} or {FOLDER_PREFIX}PATH"
    )


def _checkpoint(args) -> Path:
    """The checkpoint a command uses (``--checkpoint``, else the newest run, else the shipped model), said aloud."""
    path = resolve_checkpoint(args.checkpoint)
    print(f"model: {path}", flush=True)
    return path


@contextlib.contextmanager
def _stop_after_the_step_on_ctrl_c(trainer):
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

    from . import distributed

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


def _train_config(args, saved: dict | None):
    """This run's TrainConfig; on --resume, every option that changes the mathematics must match ``saved``."""
    from .train import TrainConfig

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
    if saved is not None:
        differences = [
            f"{option} {saved.get(name)!r} (this run: {getattr(config, name)!r})"
            for name, option in MATH_OPTIONS.items()
            if saved.get(name, getattr(TrainConfig, name)) != getattr(config, name)
        ]
        if differences:
            raise VaekitError(
                "cannot resume: the run was trained with " + ", ".join(differences)
                + "; resume with the same options, or start a new run in another --out"
            )
    return config


def _model_for_the_run(args, data, resumed):
    """A fresh model from --preset/--arch/--head/--latent-size/--conditional for ``data``; or, on --resume,
    the checkpoint's, which those options may only repeat."""
    from .data import MNIST_INFO
    from .model import VAEConfig
    from .models import ARCH_DEFAULTS, PRESETS, build

    overrides = {"head": args.head} if args.head else {}
    if args.latent_size:
        overrides["latent_size"] = args.latent_size
    preset = PRESETS[args.preset or "seed"]
    if args.arch and args.arch != preset.arch:
        overrides.update(arch=args.arch, **ARCH_DEFAULTS[args.arch])
    overrides.update(image_shape=list(data.info.image_shape), input_size=data.train_images.shape[1])
    classes = len(data.info.class_names)
    if resumed is None:
        if args.conditional:
            overrides["num_classes"] = classes
        model = build(args.preset or "seed", seed=args.seed, **overrides)
        model.data_info = data.info
        return model
    saved, trained_on = resumed.model.config, resumed.model.data_info or MNIST_INFO
    if trained_on != data.info:
        raise VaekitError(
            f"cannot resume: the run was trained on {trained_on.name}, this run asks for {data.info.name}; "
            "resume with the same --dataset"
        )
    base = preset.to_dict() if args.preset else saved.to_dict()
    num_classes = classes if args.conditional else (0 if args.preset else saved.num_classes)
    asked = VAEConfig.from_dict({**base, **overrides, "num_classes": num_classes})
    if asked != saved:
        ours, theirs = asked.to_dict(), saved.to_dict()
        differences = ", ".join(f"{k}={theirs[k]!r} (this run: {ours[k]!r})" for k in ours if ours[k] != theirs[k])
        raise VaekitError(
            f"cannot resume: the checkpoint's model has {differences}; leave out --preset, --arch, --head, "
            "--latent-size and --conditional when resuming (the model comes from the checkpoint), or start a new "
            "run in another --out"
        )
    model = build(saved, seed=args.seed)
    model.data_info = data.info
    return model


def cmd_train(args) -> None:
    import torch

    from . import checkpoint as ckpt
    from . import distributed
    from .data import load_dataset
    from .precision import PrecisionWarning
    from .train import EpochLog, ProgressBar, Trainer

    distributed.start_from_environment(args.device)  # under torchrun: join the other processes
    is_main = distributed.is_main_process()  # the one process that prints and writes
    say = print if is_main else (lambda *_, **__: None)
    out = _writable_folder(Path(args.out))
    figures = Path(args.figures) if args.figures is not None else out
    if is_main:
        check_figure_target(figures, "loss_curves")  # before any training time is spent
    training_file = out / TRAINING_FILE
    lock = RunLock(out) if is_main else contextlib.nullcontext()
    with lock:
        resumed = None
        if args.resume:
            if not training_file.exists():
                raise VaekitError(
                    f"nothing to resume: {out} holds no {TRAINING_FILE}; leave out --resume to start a new run there"
                )
            resumed = ckpt.load_checkpoint(training_file)
        elif training_file.exists():
            say(f"note: starting afresh; {training_file} will be replaced (use --resume to continue it)", flush=True)
        config = _train_config(args, resumed.train_config if resumed else None)
        if args.threads:
            torch.set_num_threads(args.threads)
        with distributed.main_process_first():
            data = load_dataset(args.dataset, args.data, train_limit=args.train_limit, test_limit=args.test_limit)
        model = _model_for_the_run(args, data, resumed)
        callbacks = ([EpochLog()] + ([ProgressBar(leave=False)] if args.progress else [])) if is_main else []
        if is_main and args.snapshots:
            from .snapshots import Snapshots

            callbacks.append(Snapshots())  # kept in both checkpoints: `animate training`, the timeline widget
        if is_main and args.tensorboard:
            from .tensorboard_log import TensorBoardLog

            log_dir = _writable_folder(Path(args.tensorboard), "--tensorboard")
            callbacks.append(TensorBoardLog(log_dir, labels=data.test_labels))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", PrecisionWarning)  # said below, in one line of our own
            trainer = Trainer(
                model, data.train_images, data.test_images, config, callbacks, training_file, data.train_labels,
                data.test_labels,
            )
        if trainer.precision.note:
            say(f"note: {trainer.precision.note}", flush=True)
        if resumed is not None:
            trainer.restore(resumed)
            del resumed
            if trainer.epoch >= config.epochs:
                say(f"nothing to do: {training_file} has trained {trainer.epoch} epochs already, --epochs is "
                    f"{config.epochs}; raise --epochs to train further", flush=True)
            else:
                say(f"resuming {training_file} at epoch {trainer.epoch}, step {trainer.step}", flush=True)
        _fit_and_save(trainer, data.info.name, out, figures, is_main, say)


def _fit_and_save(trainer, data_name: str, out: Path, figures: Path, is_main: bool, say) -> None:
    """Train, then write the model and its loss curves; a Ctrl-C saves the training state first."""
    from dataclasses import asdict

    from . import checkpoint as ckpt
    from . import distributed
    from .plotting import plot_history, save_fig

    config, training_file = trainer.config, trainer.checkpoint_path
    processes = distributed.world_size()
    try:
        with _stop_after_the_step_on_ctrl_c(trainer):
            # Printed under the handler: from this line on, a Ctrl-C saves the state.
            say(
                f"training {trainer.model.config} on {len(trainer.train_images):,} {data_name} images for "
                f"{config.epochs} epochs "
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
                    print(f"loss curves: {save_fig(plot_history(history), 'loss_curves', figures)}")
    except KeyboardInterrupt:
        raise VaekitError(
            f"interrupted; the last checkpoint in {out} is kept: continue with the same command and --resume"
        ) from None


def _figure_target(args, checkpoint: Path) -> Path:
    folder = figures_folder(checkpoint, args.figures)
    check_figure_target(folder, args.name)
    return folder


def _class_index(model, text: str | None, option: str, conditional_only: bool = False) -> int | None:
    """A class of the model's dataset named by ``option``: its index or its name (case ignored)."""
    from .data import class_names

    if text is None:
        return None
    if conditional_only and not model.config.conditional:
        raise VaekitError(f"{option} needs a conditional model (train one with --conditional)")
    names = class_names(model)
    if text.isdigit() and int(text) < len(names) and text not in names:
        return int(text)
    folded = [n.lower() for n in names]
    if text.lower() in folded:
        return folded.index(text.lower())
    raise VaekitError(
        f"{option} {text!r} is not a class of this model; choose one of {list(names)} or 0-{len(names) - 1}"
    )


def _test_data(model, args):
    """The test split of the dataset the model was trained on."""
    from .data import load_dataset

    name = (model.data_info.name if model.data_info else None) or "mnist"
    return load_dataset(name, args.data)


def cmd_sample(args) -> None:
    import torch

    from .checkpoint import load
    from .data import class_names
    from .plotting import plot_images, save_fig

    path = _checkpoint(args)
    folder = _figure_target(args, path)
    model = load(path)
    generator = torch.Generator().manual_seed(args.seed)
    label = _class_index(model, args.label, "--label", conditional_only=True)
    names = class_names(model)
    if model.config.conditional and label is None:
        labels = torch.arange(args.n) % len(names)  # every class in turn: a column per class with nrow = classes
        what = f"{args.n} images, the classes in turn,"
    else:
        labels = label
        what = f"{args.n} images of class {names[label]!r}" if label is not None else f"{args.n} images"
    images = model.sample(args.n, labels=labels, temperature=args.temperature, generator=generator)
    fig = plot_images(images, nrow=args.nrow, title=f"{what} decoded from codes drawn from N(0, I)")
    print(f"samples: {save_fig(fig, args.name, folder)}")


def cmd_reconstruct(args) -> None:
    from .checkpoint import load
    from .data import to_float
    from .plotting import plot_pairs, save_fig

    path = _checkpoint(args)
    folder = _figure_target(args, path)
    model = load(path)
    data = _test_data(model, args)
    originals, labels = data.test_images[: args.n], data.test_labels[: args.n]
    y = labels if model.config.conditional else None
    fig = plot_pairs(originals, model.reconstruct(to_float(originals), y),
                     title="test images (top) and their reconstructions")
    print(f"reconstructions: {save_fig(fig, args.name, folder)}")


def _interpolation_ends(args, model, labels) -> tuple[tuple[int, str], tuple[int, str]]:
    """(test image index, how the title names it) for each end: by index, or the first test image of a class."""
    from .data import MNIST_INFO

    info = model.data_info or MNIST_INFO
    ends = []
    for index, text, option, default in ((args.start, args.from_class, "--from-class", 0),
                                         (args.end, args.to_class, "--to-class", 1)):
        if text is not None:
            if index is not None:
                other = "--start" if option == "--from-class" else "--end"
                raise VaekitError(f"give {other} (a test image) or {option} (a class), not both")
            label = _class_index(model, text, option)
            found = (labels == label).nonzero()
            if len(found) == 0:
                raise VaekitError(f"{option} {text}: no test image is {info.describe(label)}")
            ends.append((int(found[0]), f"{info.describe(label)} (test image {int(found[0])})"))
        else:
            index = default if index is None else index
            if not 0 <= index < len(labels):
                raise VaekitError(f"test image {index} does not exist; choose an index from 0 to {len(labels) - 1}")
            ends.append((index, f"test image {index} ({info.describe(labels[index])})"))
    return ends[0], ends[1]


def cmd_interpolate(args) -> None:
    import torch

    from .checkpoint import load
    from .data import to_float
    from .latent import interpolate
    from .plotting import plot_images, save_fig

    path = _checkpoint(args)
    folder = _figure_target(args, path)
    model = load(path)
    judge = None
    if args.classes:  # judged before any work: a folder dataset has no shipped classifier
        from . import classifier as clf

        judge, note = clf.for_model(model)
        if judge is None:
            raise VaekitError(f"--classes: {note}")
    data = _test_data(model, args)
    (start, start_name), (end, end_name) = _interpolation_ends(args, model, data.test_labels)
    ends = [start, end]
    y = data.test_labels[ends] if model.config.conditional else None
    with torch.no_grad():
        means, _ = model.encode(to_float(data.test_images[ends]), y)
        codes = interpolate(means[0], means[1], args.steps, args.method)
        # A conditional model keeps the first image's class along the path: only the style moves.
        labels = None if y is None else y[:1].expand(args.steps)
        images = torch.sigmoid(model.decode(codes, labels))
    title = f"{args.method} interpolation: {start_name} to {end_name}"
    fig = plot_images(images, nrow=args.steps, title=title)
    print(f"interpolation: {save_fig(fig, args.name, folder)}")
    if judge is not None:
        from .plotting import plot_path_classes

        _, probabilities = clf.apply(judge, images)
        names = judge.config.class_names
        print("classifier along the path: " + " ".join(names[k] for k in probabilities.argmax(1).tolist()))
        fig = plot_path_classes(images, probabilities, names, title)
        print(f"classes along the path: {save_fig(fig, args.name + '_classes', folder)}")


def cmd_evaluate(args) -> None:
    from .checkpoint import load
    from .train import evaluate

    model = load(_checkpoint(args))
    data = _test_data(model, args)
    test = data.test_images
    result = evaluate(model, test, seed=args.seed, labels=data.test_labels if model.config.conditional else None)
    print(
        f"test negative ELBO: {result['total']:.2f} nats/image "
        f"(reconstruction {result['reconstruction']:.2f}, KL {result['kl']:.2f}) "
        f"on {len(test):,} {data.info.name} images"
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
    rest = len(test) - quality["n_reference"]
    rows = {f"{n:,} prior samples": "samples", f"reconstructions of the other {rest:,}": "reconstructions",
            f"the other {rest:,} test images (the floor)": "test, second half"}
    width = max(len(r) for r in rows)
    for row, key in rows.items():
        print(f"  {row:<{width}}  {quality['frechet'][key]:8.3f}")


def _check_index(index: int, images) -> None:
    if not 0 <= index < len(images):
        raise VaekitError(f"test image {index} does not exist; choose an index from 0 to {len(images) - 1}")


def cmd_animate(args) -> None:
    from . import animate, snapshots
    from .checkpoint import load

    out = animate.gif_target(args.out, "--out")  # before torch work: one line if it cannot be written
    if args.kind == "training":
        timeline = snapshots.read(_checkpoint(args))
        frames = animate.training_frames(timeline, args.scale or 2)
    else:
        model = load(_checkpoint(args))
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
    print(f"{args.kind} animation: {path} "
          f"({len(frames)} frames of {frames[0].width}x{frames[0].height} at {fps:g} fps)")


def cmd_traverse(args) -> None:
    import torch

    from .animate import active_dimensions, traversal_codes
    from .checkpoint import load
    from .plotting import plot_traversal, save_fig

    checkpoint = _checkpoint(args)
    folder = _figure_target(args, checkpoint)
    model = load(checkpoint)
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
    print(f"traversal of {len(dimensions)} active dimensions: {save_fig(fig, args.name, folder)}")


def cmd_classifier(args) -> None:
    import torch

    from . import classifier as clf
    from .data import load_dataset

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
    import torch

    from . import betalab
    from .data import load_dataset

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
    from .explore import serve

    checkpoint = resolve_checkpoint(args.checkpoint) if args.checkpoint is not None else None
    serve(port=args.port, token_file=args.token_file, checkpoint=checkpoint, data=args.data, open_browser=args.browser)


def cmd_lab(args) -> None:
    from .explore import lab

    lab(port=args.port, root=args.root, token_file=args.token_file)


def cmd_export_html(args) -> None:
    from .checkpoint import load
    from .data import load_dataset
    from .export import export_html  # here, not at import: anywidget and the widgets are not needed to train

    model = load(resolve_checkpoint(args.checkpoint or "seed"))
    name = (model.data_info.name if model.data_info else None) or "mnist"  # the model's own dataset
    data = load_dataset(name, args.data, train_limit=0, test_limit=args.images)
    out = export_html(args.out, model, data.test_images, data.test_labels, max_images=args.images)
    print(f"wrote {out} ({out.stat().st_size / 1e6:.1f} MB): open it in a browser, no server needed")


# -- the parser ---------------------------------------------------------------


class _Parser(argparse.ArgumentParser):
    """argparse, with a mistake reported on one line (the usage is one `--help` away)."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="vaekit", description="Train and explore a variational autoencoder on MNIST.",
        epilog="MODEL (--checkpoint): a model file, a run folder, the name of a run under runs/, or a shipped model "
               "(seed, logvar); by default the newest run under runs/, else the shipped seed model.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name, func, help):
        p = sub.add_parser(name, help=help, description=help)
        p.set_defaults(func=func)
        p.add_argument("--data", default=None, help="data folder (default: $VAEKIT_DATA or data/)")
        return p

    def needs_model(p, figure_name=None):
        p.add_argument(
            "--checkpoint", default=None, metavar="MODEL",
            help="a model file, a run folder, a run's name under runs/, or a shipped model: seed or logvar "
                 "(default: the newest run under runs/, else the shipped seed model)",
        )
        if figure_name:
            p.add_argument("--figures", default=None,
                           help="folder for the figure (default: the checkpoint's run folder; "
                                "figures/ for a shipped model)")
            p.add_argument("--name", default=figure_name,
                           help="the figure's file name, without .png (default: %(default)s)")

    p = command("data", cmd_data, "fetch a dataset (default: MNIST) and verify its four files by SHA-256")
    p.add_argument("--dataset", action="append", choices=DATASET_NAMES, help="which (repeat for several)")

    p = command("train", cmd_train, "train a VAE on MNIST, Fashion-MNIST or a folder of your images")
    p.add_argument("--preset", choices=PRESET_NAMES, default=None,
                   help="the model (default: seed, the exact seed; on --resume: the checkpoint's)")
    p.add_argument(
        "--dataset", type=_dataset_name, default="mnist",
        help=f"{', '.join(DATASET_NAMES)} or {FOLDER_PREFIX}PATH (one subfolder of images per class; "
             "default: %(default)s)",
    )
    p.add_argument("--arch", choices=ARCH_NAMES,
                   help="override the architecture: mlp (the seed's) or conv (convolutional)")
    p.add_argument("--conditional", action="store_true",
                   help="a conditional VAE: the class goes into encoder and decoder")
    p.add_argument("--beta", type=_positive_float, default=TRAIN_DEFAULTS["beta"],
                   help="the KL's weight (default: %(default)s, the ELBO)")
    p.add_argument("--kl-warmup", type=_int_between(0, 100_000), default=TRAIN_DEFAULTS["kl_warmup"], metavar="EPOCHS",
                   help="ramp the KL's weight up from 0 over this many epochs (default: %(default)s, none)")
    p.add_argument("--head", choices=HEAD_NAMES, help="override the coding head: sigma (the seed) or logvar")
    p.add_argument("--latent-size", type=_int_between(1, 1024),
                   help="override the code size (default: the preset's, 20)")
    p.add_argument("--epochs", type=_int_between(0, 100_000), default=TRAIN_DEFAULTS["epochs"],
                   help="default: %(default)s")
    p.add_argument("--batch-size", type=_int_between(1, 1_000_000), default=TRAIN_DEFAULTS["batch_size"],
                   help="default: %(default)s")
    p.add_argument("--lr", type=_positive_float, default=TRAIN_DEFAULTS["learning_rate"],
                   help="Adam's learning rate (default: %(default)s)")
    p.add_argument("--seed", type=_int_between(0, MAX_SEED), default=TRAIN_DEFAULTS["seed"],
                   help="default: %(default)s")
    p.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda", "mps"], help="default: %(default)s")
    p.add_argument("--grad-clip", type=_positive_float,
                   help="clip the gradient norm to this value (default: no clipping)")
    p.add_argument("--checkpoint-every", type=_positive_int,
                   help="also save the training state every N steps (default: every epoch)")
    p.add_argument("--resume", action="store_true",
                   help="continue OUT/training.safetensors (an error if there is none); the model comes from it, and "
                        "options that change the mathematics (--batch-size, --lr, --seed, --grad-clip, --fast, "
                        "--binarize, --beta, --kl-warmup, --dataset and its limits) must be the same")
    p.add_argument("--binarize", action="store_true",
                   help="dynamically binarized MNIST, as in published likelihood tables")
    p.add_argument(
        "--threads", type=_int_between(1, 1024),
        help="PyTorch's CPU threads (default: one per core; they spin only briefly before they sleep while "
        "waiting, so a busy machine slows them gently)",
    )
    p.add_argument("--fast", action="store_true",
                   help="bfloat16 autocast for the networks where the machine runs it natively and faster "
                   "(else float32, said in one line)")
    p.add_argument("--train-limit", type=_positive_int, help="use only the first N training images (quick runs)")
    p.add_argument("--test-limit", type=_positive_int, help="use only the first N test images")
    p.add_argument("--out", default=str(DEFAULT_RUN), help="run folder for the checkpoints (default: %(default)s)")
    p.add_argument("--figures", default=None, help="folder for the loss curves (default: the run folder, --out)")
    p.add_argument("--no-progress", dest="progress", action="store_false", help="no progress bar")
    p.add_argument(
        "--no-snapshots", dest="snapshots", action="store_false",
        help="do not keep per-epoch snapshots (samples, reconstructions, KL per dimension; ~19 KB an epoch) "
        "in the checkpoints",
    )
    p.add_argument("--tensorboard", metavar="DIR",
                   help="also write TensorBoard event files to DIR (tensorboard --logdir DIR)")

    grid = f" (a figure holds at most {MAX_FIGURE_IMAGES} digits)"
    p = command("sample", cmd_sample, "decode codes drawn from the prior into a grid of new digits")
    needs_model(p, "samples")
    p.add_argument("--n", type=_int_between(1, MAX_FIGURE_IMAGES, grid), default=60,
                   help=f"how many digits, at most {MAX_FIGURE_IMAGES} (default: %(default)s, the seed's figure)")
    p.add_argument("--nrow", type=_int_between(1, MAX_ROW_IMAGES, f" (a row holds at most {MAX_ROW_IMAGES} digits)"),
                   default=10, help=f"digits per row, at most {MAX_ROW_IMAGES} (default: %(default)s)")
    p.add_argument("--temperature", type=_temperature, default=1.0,
                   help="scale of the prior's codes, above 0 and at most 10 (default: %(default)s)")
    p.add_argument("--seed", type=_int_between(0, MAX_SEED), default=42, help="default: %(default)s")
    p.add_argument("--label",
                   help="conditional models: the class to draw, by index or name (default: every class in turn)")

    p = command("reconstruct", cmd_reconstruct, "show test digits next to their reconstructions")
    needs_model(p, "reconstructions")
    p.add_argument("--n", type=_int_between(1, MAX_ROW_IMAGES, f" (one row holds at most {MAX_ROW_IMAGES} digits)"),
                   default=10, help=f"how many digits, at most {MAX_ROW_IMAGES} (default: %(default)s)")

    p = command("interpolate", cmd_interpolate, "decode the path between two test digits' codes")
    needs_model(p, "interpolation")
    p.add_argument("--start", type=_natural_int, default=None, help="first end: a test image's index (default: 0, a 7)")
    p.add_argument("--end", type=_natural_int, default=None, help="last end: a test image's index (default: 1, a 2)")
    p.add_argument("--from-class", default=None, metavar="CLASS",
                   help="first end: the first test image of this class (its index or name, e.g. 3) instead of --start")
    p.add_argument("--to-class", default=None, metavar="CLASS",
                   help="last end: the first test image of this class instead of --end")
    p.add_argument("--steps", type=_int_between(2, MAX_ROW_IMAGES, f" (one row holds at most {MAX_ROW_IMAGES} digits)"),
                   default=10, metavar=f"{{2..{MAX_ROW_IMAGES}}}", help="default: %(default)s")
    p.add_argument("--method", choices=["linear", "spherical"], default="spherical", help="default: %(default)s")
    p.add_argument("--classes", action="store_true",
                   help="also the dataset classifier's probabilities along the path (figure NAME_classes)")

    p = command("evaluate", cmd_evaluate, "the test set's negative ELBO in nats per image")
    needs_model(p)
    p.add_argument("--seed", type=_int_between(0, MAX_SEED), default=0, help="noise seed (default: %(default)s)")
    p.add_argument(
        "--samples", type=_int_between(2, 100_000), metavar="N",
        help="also judge N prior samples with the dataset's classifier: class histogram, entropy, Fréchet distance "
        "(compare runs at the same N; 5000 matches the floor's size)",
    )

    p = command("animate", cmd_animate,
                "write a GIF: training replayed from its snapshots, an interpolation, or a latent traversal")
    p.add_argument("kind", choices=["training", "interpolation", "traversal"], help="what to animate")
    needs_model(p)
    p.add_argument("--out", required=True, help="the GIF to write, e.g. figures/training.gif")
    p.add_argument("--fps", type=_float_between(0.1, 50), help="frames a second (default: 4 training, 12 the others)")
    p.add_argument("--scale", type=_int_between(1, 16),
                   help="pixels per image pixel (default: 2 training, 4 interpolation, 3 traversal)")
    p.add_argument("--steps", type=_int_between(2, 200), default=30,
                   help="interpolation or traversal steps (default: %(default)s)")
    p.add_argument("--start", type=_natural_int, default=0,
                   help="interpolation: first test image (default: %(default)s)")
    p.add_argument("--end", type=_natural_int, default=1, help="interpolation: last test image (default: %(default)s)")
    p.add_argument("--method", choices=["linear", "spherical"], default="spherical", help="default: %(default)s")
    p.add_argument("--span", type=_float_between(0.1, 10), default=3.0,
                   help="traversal: from -SPAN to +SPAN (default: %(default)s)")

    p = command("traverse", cmd_traverse, "figure: each active code dimension swept from -3 to +3, most active first")
    needs_model(p, "traversal")
    p.add_argument("--steps", type=_int_between(2, 31), default=7, help="values per dimension (default: %(default)s)")
    p.add_argument("--span", type=_float_between(0.1, 10), default=3.0,
                   help="from -SPAN to +SPAN (default: %(default)s)")

    p = command("classifier", cmd_classifier, "train the small CNN that judges samples (evaluate --samples)")
    p.add_argument("--dataset", choices=["mnist", "fashion-mnist"], default="mnist", help="default: %(default)s")
    p.add_argument("--epochs", type=_int_between(1, 100), help="default: 6, the shipped classifiers' schedule")
    p.add_argument("--seed", type=_natural_int, default=0, help="default: %(default)s")
    p.add_argument("--threads", type=_positive_int, help="PyTorch's CPU threads")
    p.add_argument("--out", help="file to write (default: the package's pretrained/classifiers/DATASET.safetensors)")

    p = command("beta-lab", cmd_beta_lab, "train a sweep of beta and the sigma head with and without KL warm-up; "
                "write the results as JSON (notebook 05)")
    p.add_argument("--dataset", choices=DATASET_NAMES, default="mnist", help="default: %(default)s")
    p.add_argument("--betas", type=_positive_float, nargs="+", default=[0.25, 0.5, 1.0, 2.0, 4.0, 8.0],
                   help="the KL weights of the sweep (default: %(default)s)")
    p.add_argument("--preset", choices=PRESET_NAMES, default="logvar", help="the sweep's model (default: %(default)s)")
    p.add_argument("--epochs", type=_positive_int, default=10, help="per run (default: %(default)s)")
    p.add_argument("--warmup", type=_positive_int, default=5,
                   help="KL warm-up epochs of the sigma-head pair (default: %(default)s)")
    p.add_argument("--seed", type=_natural_int, default=42, help="default: %(default)s")
    p.add_argument("--train-limit", type=_positive_int, help="use only the first N training images")
    p.add_argument("--test-limit", type=_positive_int, help="use only the first N test images")
    p.add_argument("--threads", type=_positive_int, help="PyTorch's CPU threads")
    p.add_argument("--out", default="notebooks/results/beta_lab.json", help="default: %(default)s")

    p = command("explore", cmd_explore, "serve the latent explorer as a web app on 127.0.0.1 (Voila)")
    p.add_argument("--checkpoint", default=None, metavar="MODEL",
                   help="a model file, run folder, run name or shipped model (default: the shipped seed model)")
    p.add_argument("--port", type=_int_between(1, 65535), default=DEFAULT_PORT, help="default: %(default)s")
    p.add_argument("--token-file", default=None,
                   help=f"a file holding the token visitors need, readable by you only (chmod 600), at least "
                        f"{MIN_TOKEN_LENGTH} characters (default: $JUPYTER_TOKEN, else a random token, printed). "
                        "Never on the command line, where every local user can read it")
    p.add_argument("--browser", action="store_true", help="also open a web browser")

    token_help = (f"a file holding the token, readable by you only (chmod 600), at least {MIN_TOKEN_LENGTH} characters "
                  "(default: $JUPYTER_TOKEN, else a random token, printed). Never on the command line, where every "
                  "local user can read it")
    p = command("lab", cmd_lab, "open JupyterLab on the notebooks, on 127.0.0.1 with a token (what `make lab` runs)")
    p.add_argument("--port", type=_int_between(1, 65535), default=8888, help="default: %(default)s")
    p.add_argument("--root", default="notebooks", help="the folder Lab shows (default: %(default)s)")
    p.add_argument("--token-file", default=None, help=token_help)

    p = command("export-html", cmd_export_html, "write the explorers as one self-contained web page")
    p.add_argument("out", help="the page to write, e.g. explorer.html")
    p.add_argument("--checkpoint", default=None, help="model file, run folder or shipped model's name (default: seed)")
    p.add_argument("--images", type=_int_between(1, 10_000), default=1000,
                   help="test images in the page (default: %(default)s)")
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
        if "vaekit.distributed" in sys.modules:  # only a training run starts it
            sys.modules["vaekit.distributed"].stop()
    return 0
