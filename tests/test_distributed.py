"""Two processes (DistributedDataParallel over gloo on 127.0.0.1) compute what one process does."""

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from safetensors.torch import load_file, save_file

import vaekit
from vaekit import TrainConfig, Trainer, build

SEED = 7
# (preset, training images, epochs), in batches of 150 as the seed. The seed's
# sigma head divides by sigma, which amplifies rounding: one process on 1 and
# on 2 threads already differ by 4e-3 in the weights after 6 steps. So the
# seed is compared after one step, the log-variance head after six.
CASES = [("seed", 150, 1), ("logvar", 450, 2)]


def assert_equal_up_to_rounding(actual: torch.Tensor, expected: torch.Tensor, name: str) -> None:
    # Rounding errors scale with the terms of a sum, not with its result (a
    # gradient element near 0 can be the sum of large terms that cancel), so
    # the bound is relative to the tensor's largest element.
    # Observed: < 6e-6 of it. A gradient half or twice one process's would be off by 0.5 of it.
    error = (actual - expected).abs().max().item()
    assert error <= 1e-4 * expected.abs().max().item(), f"{name}: off by {error:.3g}"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _train(case, train_images, test_images) -> tuple[Trainer, dict]:
    preset, images, epochs = case
    config = TrainConfig(epochs=epochs, seed=SEED)
    trainer = Trainer(build(preset, seed=SEED), train_images[:images], test_images, config)
    return trainer, trainer.fit()


def _state(trainer: Trainer) -> dict:
    """The weights, and the gradients of the last step (Adam's update leaves them in place)."""
    params = dict(trainer.model.named_parameters())
    weights = {f"weight.{k}": p.detach() for k, p in params.items()}
    return weights | {f"grad.{k}": p.grad for k, p in params.items()}


def _worker(rank: int, world_size: int, port: int, train_images, test_images, folder: str) -> None:
    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=world_size)
    try:
        for case in CASES:
            trainer, history = _train(case, train_images, test_images)
            save_file(_state(trainer), os.path.join(folder, f"{case[0]}-rank{rank}.safetensors"))
            Path(folder, f"{case[0]}-rank{rank}.json").write_text(json.dumps(history))
    finally:
        dist.destroy_process_group()


@pytest.fixture(scope="module")
def two_processes(small_mnist, tmp_path_factory):
    """Each case trained by 2 processes; returns the folder of their results."""
    folder = tmp_path_factory.mktemp("ddp")
    train, test = small_mnist.train_images[:450], small_mnist.test_images[:200]
    mp.spawn(_worker, args=(2, _free_port(), train, test, str(folder)), nprocs=2)
    return folder


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_two_processes_give_the_weights_gradients_and_history_of_one(case, two_processes, small_mnist):
    one, one_history = _train(case, small_mnist.train_images, small_mnist.test_images[:200])
    expected = _state(one)
    ranks = [load_file(two_processes / f"{case[0]}-rank{r}.safetensors") for r in range(2)]
    histories = [json.loads((two_processes / f"{case[0]}-rank{r}.json").read_text()) for r in range(2)]

    assert ranks[0].keys() == expected.keys()
    for name, tensor in expected.items():
        assert torch.equal(ranks[1][name], ranks[0][name]), name  # DDP keeps the replicas identical
        # Equal up to the order of float sums (75 + 75 images, then averaged, vs 150).
        assert_equal_up_to_rounding(ranks[0][name], tensor, name)
    for history in histories:
        for record in history["epochs"]:
            record.pop("seconds")  # each process times itself
    assert histories[0] == histories[1]  # the processes agree on the history
    assert histories[0]["batch_losses"] == pytest.approx(one_history["batch_losses"], rel=1e-5)
    for two, single in zip(histories[0]["epochs"], one_history["epochs"], strict=True):
        for key in single.keys() - {"seconds"}:
            assert two[key] == pytest.approx(single[key], rel=1e-4), key


def test_torchrun_trains_and_only_process_0_prints_and_writes(tmp_path, capsys):
    from vaekit.cli import main  # not at the top: the spawned processes above need no matplotlib

    limits = ["--preset", "logvar", "--epochs", "2", "--train-limit", "450", "--test-limit", "200", "--seed", str(SEED)]
    limits += ["--no-progress"]
    two = tmp_path / "two"
    command = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2", "--master_addr=127.0.0.1"]
    command += [f"--master_port={_free_port()}", "-m", "vaekit", "train", *limits]
    command += ["--out", str(two / "run"), "--figures", str(two / "figures")]
    this_vaekit = {"PYTHONPATH": str(Path(vaekit.__file__).parents[1])}  # a worktree's, not an installed copy
    result = subprocess.run(command, capture_output=True, text=True, timeout=300, env=os.environ | this_vaekit)
    assert result.returncode == 0, result.stderr
    assert "in 2 processes" in result.stdout
    assert result.stdout.count("epoch   0  last batch") == result.stdout.count("epoch   1  last batch") == 1
    assert result.stdout.count("model saved to") == 1
    assert sorted(p.name for p in (two / "run").iterdir()) == ["model.safetensors", "training.safetensors"]
    assert (two / "figures" / "loss_curves.png").exists()

    one = tmp_path / "one"
    assert main(["train", "--out", str(one / "run"), "--figures", str(one / "figures"), *limits]) == 0
    capsys.readouterr()
    model_two = vaekit.load(two / "run" / "model.safetensors")
    model_one = vaekit.load(one / "run" / "model.safetensors")
    for (name, a), b in zip(model_two.state_dict().items(), model_one.state_dict().values(), strict=True):
        assert_equal_up_to_rounding(a, b, name)
