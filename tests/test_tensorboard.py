"""TensorBoard event files, read back with the tensorboard package's own readers."""

import io

import pytest
from PIL import Image

from vaekit import TrainConfig, build, fit
from vaekit.data import to_float
from vaekit.tensorboard_log import TensorBoardLog

pytest.importorskip("tensorboard")


def _events(folder):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(folder), size_guidance={"scalars": 0, "images": 0})
    events.Reload()
    return events


def _projector(folder):
    from google.protobuf import text_format
    from tensorboard.plugins.projector import projector_config_pb2

    config = projector_config_pb2.ProjectorConfig()
    text_format.Parse((folder / "projector_config.pbtxt").read_text(), config)
    return config


def test_scalars_images_and_embedding_are_written(small_mnist, tmp_path):
    model = build("seed", seed=0, hidden_sizes=(32,), latent_size=4)
    log = TensorBoardLog(tmp_path, labels=small_mnist.test_labels, embedding_images=100)
    history = fit(model, small_mnist.train_images, small_mnist.test_images, TrainConfig(epochs=2, seed=0), [log])

    events = _events(tmp_path)
    tags = events.Tags()
    for split in ("train", "test"):
        for term in ("total", "reconstruction", "kl"):
            values = events.Scalars(f"{split}/{term}")
            assert [v.step for v in values] == [1, 2]
            assert [v.value for v in values] == pytest.approx([r[f"{split}_{term}"] for r in history["epochs"]])
    assert {f"kl_per_dimension/z{d:02d}" for d in range(4)} <= set(tags["scalars"])
    assert len(events.Scalars("step/loss")) == 20
    assert events.Scalars("step/loss")[-1].value == pytest.approx(history["batch_losses"][-1])

    for tag, size in (("samples", (4 * 30 + 2, 4 * 30 + 2)), ("reconstructions", (8 * 30 + 2, 2 * 30 + 2))):
        images = events.Images(tag)
        assert [i.step for i in images] == [1, 2]
        first, last = (Image.open(io.BytesIO(i.encoded_image_string)) for i in (images[0], images[-1]))
        assert first.size == size
        assert first.tobytes() != last.tobytes()  # the model learned between the two epochs

    config = _projector(tmp_path)
    (embedding,) = config.embeddings
    assert embedding.tensor_name.startswith("test_codes")
    folder = tmp_path / embedding.tensor_path.rsplit("/", 1)[0]
    codes = [line.split("\t") for line in (folder / "tensors.tsv").read_text().splitlines()]
    assert len(codes) == 100 and len(codes[0]) == 4
    expected = model.encode(to_float(small_mnist.test_images[:1]))[0][0]
    assert [float(v) for v in codes[0]] == pytest.approx(expected.tolist(), abs=1e-4)
    labels = (tmp_path / embedding.metadata_path).read_text().split()
    assert labels == [str(d) for d in small_mnist.test_labels[:100].tolist()]
    sprite = Image.open(tmp_path / embedding.sprite.image_path)
    assert sprite.size == (10 * 28, 10 * 28) and list(embedding.sprite.single_image_dim) == [28, 28]


def test_train_tensorboard_writes_event_files(vaekit, tmp_path):
    result = vaekit("train", "--epochs", "1", "--train-limit", "300", "--test-limit", "100", "--batch-size", "100",
                    "--out", str(tmp_path / "run"), "--figures", str(tmp_path), "--no-progress",
                    "--tensorboard", str(tmp_path / "tb"))
    assert result.returncode == 0, result.stderr
    events = _events(tmp_path / "tb")
    assert len(events.Scalars("test/total")) == 1 and len(events.Images("samples")) == 1
    assert len(_projector(tmp_path / "tb").embeddings) == 1
