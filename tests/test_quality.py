"""The classifier that judges samples, the Fréchet distance, and evaluate --samples."""

import math

import pytest
import torch

from vaekit import build, checkpoint
from vaekit import classifier as clf
from vaekit.data import load_dataset
from vaekit.errors import CheckpointError
from vaekit.quality import entropy, frechet_distance, sample_quality


def _cloud(n=4000, dims=3, seed=0):
    return torch.randn(n, dims, generator=torch.Generator().manual_seed(seed)) @ torch.tensor(
        [[1.0, 0.5, 0.0], [0.0, 2.0, 0.3], [0.0, 0.0, 0.7]])


def test_frechet_distance_by_hand():
    x = _cloud()
    cov = torch.cov(x.T.double())
    assert frechet_distance(x, x) == pytest.approx(0.0, abs=1e-6)
    # A shift adds its squared length; covariances are untouched.
    assert frechet_distance(x, x + torch.tensor([1.0, 2.0, 2.0])) == pytest.approx(9.0, rel=1e-6)
    # Doubling: S_b = 4 S_a, so tr(S_a + 4 S_a - 2 * 2 S_a) = tr(S_a), plus the means' distance.
    assert frechet_distance(x, 2 * x) == pytest.approx(
        cov.trace().item() + (x.double().mean(0)).square().sum().item(), rel=1e-5
    )
    # One dimension: (m_a - m_b)^2 + (s_a - s_b)^2.
    a, b = torch.tensor([[0.0], [2.0]]), torch.tensor([[1.0], [7.0]])
    assert frechet_distance(a, b) == pytest.approx((1 - 4) ** 2 + (math.sqrt(2) - math.sqrt(18)) ** 2)


def test_entropy_by_hand():
    assert entropy(torch.full((10,), 0.1)) == pytest.approx(math.log(10))
    assert entropy(torch.tensor([1.0, 0.0, 0.0])) == 0.0
    assert entropy(torch.tensor([0.5, 0.5, 0.0])) == pytest.approx(math.log(2))


@pytest.mark.parametrize("dataset, least", [("mnist", 0.99), ("fashion-mnist", 0.90)])
def test_the_shipped_classifiers_accuracy_on_the_real_test_set(dataset, least):
    test = load_dataset(dataset)
    judge, recorded = clf.load(clf.FOLDER / f"{dataset}.safetensors")
    assert judge.config.class_names == test.info.class_names
    measured = clf.accuracy(judge, test.test_images, test.test_labels)
    assert measured >= least
    assert measured == pytest.approx(recorded, abs=1e-4)  # the file's header tells the truth
    assert (clf.FOLDER / f"{dataset}.safetensors").stat().st_size <= 1_000_000


def test_sample_quality_reports_histogram_and_distances(small_mnist):
    judge = clf.train(clf.ClassifierConfig(), small_mnist.train_images, small_mnist.train_labels, epochs=1)
    model = build("seed", seed=0, hidden_sizes=(32,), latent_size=4)
    quality = sample_quality(model, judge, small_mnist.test_images, 200, small_mnist.test_labels)
    assert quality["histogram"].sum().item() == pytest.approx(1.0)
    assert 0 <= quality["entropy"] <= quality["max_entropy"] == pytest.approx(math.log(10))
    assert quality["n_reference"] == 250
    distances = quality["frechet"]
    # An untrained VAE's grey blobs are far from digits; real digits are close to real digits.
    assert distances["test, second half"] < distances["samples"]
    assert distances["test, second half"] < distances["reconstructions"]


def test_evaluate_samples_prints_the_quality_rows(vaekit, small_mnist, tmp_path):
    path = checkpoint.save(tmp_path / "m.safetensors", build("seed", seed=0, hidden_sizes=(32,), latent_size=4))
    result = vaekit("evaluate", "--checkpoint", str(path), "--samples", "500")
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "classes of 500 prior samples, by the mnist classifier" in out and "entropy" in out
    assert "500 prior samples" in out and "(the floor)" in out and "reconstructions of the other 5,000" in out


def test_a_bad_classifier_file_is_a_clear_error(tmp_path):
    from safetensors.torch import save_file

    save_file({"w": torch.zeros(1)}, tmp_path / "c.safetensors", metadata={"format": "vaekit-classifier",
                                                                           "config": '{"dataset": "mnist"}'})
    with pytest.raises(CheckpointError, match="needs exactly the keys"):
        clf.load(tmp_path / "c.safetensors")
    with pytest.raises(CheckpointError, match="no classifier is shipped for 'cifar'"):
        clf.pretrained("cifar")


def test_interpolate_classes_reads_each_frame(vaekit, tmp_path):
    path = checkpoint.save(tmp_path / "m.safetensors", build("seed", seed=0, hidden_sizes=(32,), latent_size=4))
    result = vaekit("interpolate", "--checkpoint", str(path), "--steps", "6", "--classes", "--figures", str(tmp_path))
    assert result.returncode == 0, result.stderr
    line = next(li for li in result.stdout.splitlines() if li.startswith("classifier along the path:"))
    assert len(line.split(":")[1].split()) == 6 and all(c in "0123456789" for c in line.split(":")[1].split())
    assert (tmp_path / "interpolation_classes.png").exists()


def test_interpolate_classes_without_a_classifier_says_so_before_any_work(vaekit, tmp_path):
    from vaekit.data import DataInfo

    model = build("seed", seed=0, hidden_sizes=(32,), latent_size=4)
    info = DataInfo(f"folder:{tmp_path / 'photos'}", ("cat", "dog"), (1, 28, 28))
    path = checkpoint.save(tmp_path / "m.safetensors", model, data_info=info)
    result = vaekit("interpolate", "--checkpoint", str(path), "--classes", "--figures", str(tmp_path / "figs"))
    assert result.returncode == 2
    assert f"--classes: no classifier is shipped for folder:{tmp_path / 'photos'}" in result.stderr
    assert not (tmp_path / "figs").exists() or not any((tmp_path / "figs").iterdir())
