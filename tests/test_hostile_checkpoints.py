"""Checkpoints written by an attacker, or by accident: every one ends in a model or one CheckpointError,
after reading no more than the file holds; special files are named for what they are; writes cannot be
redirected through a planted link."""

import json
import os
import socket
import subprocess
import sys
import textwrap
import threading

import pytest
import torch
from hostile_checkpoints import TINY, hostile_files, parameter_bytes, raw_checkpoint, tiny_file
from hypothesis import HealthCheck, given, settings

import vaekit
from vaekit import build, checkpoint
from vaekit.errors import CheckpointError

RECORD = {"epoch": 0, "train_total": 200.5, "train_reconstruction": 150.25, "train_kl": 50.25}


def _refused(path, match):
    with pytest.raises(CheckpointError, match=match) as error:
        vaekit.load(path)
    return str(error.value)


@pytest.mark.parametrize(
    "config, message",
    [
        (
            {**TINY, "hidden_sizes": [10**6, 10**6]},
            r"asks for 2,001,578,000,788 parameters; vaekit loads at most 100,000,000",
        ),
        (
            {**TINY, "hidden_sizes": [10**100]},
            r"hidden_sizes\[0\] is an integer of 333 bits; "
            r"a vaekit model's sizes are at most 1,048,576",
        ),
        ({**TINY, "hidden_sizes": [60_000, 60_000]}, r"asks for 7,294,680,788 parameters"),
        ({**TINY, "hidden_sizes": []}, r"hidden_sizes has 0 entries; it needs from 1 to 64"),
        ({**TINY, "hidden_sizes": [4] * 1000}, r"hidden_sizes has 1000 entries"),
        ({**TINY, "input_size": 100}, r"input_size 100 is not channels \* height \* width of \(1, 28, 28\)"),
        (
            {**TINY, "input_size": 100, "image_shape": [1, 10, 10]},
            r"input_size=100, but its data \(mnist, 1x28x28\) have 784 pixels",
        ),
        ({**TINY, "latent_size": 2.5}, r"latent_size must be a positive integer"),
        ({**TINY, "hidden_sizes": 7}, r"hidden_sizes must be a list"),
    ],
)
def test_a_configuration_is_judged_before_anything_is_built(tmp_path, config, message):
    path = tmp_path / "m.safetensors"
    tiny_file(path, config=config)
    assert path.stat().st_size < 40_000
    _refused(path, message)


@pytest.mark.parametrize(
    "text, message",
    [
        ("[" * 100_000 + "]" * 100_000, "nested too deeply|more than 8 deep"),
        ("[" * 20 + "]" * 20, "nests lists and objects more than 8 deep"),
        ('{"hidden_sizes": [' + "9" * 5000 + "]}", "not valid JSON .*digits"),
        ('{"latent_size": NaN}', "not valid JSON \\(NaN is not a JSON number\\)"),
        ('{"latent_size": 1e999}', "latent_size is inf, not a finite number"),
    ],
)
def test_metadata_json_is_bounded_in_depth_and_numbers(tmp_path, text, message):
    path = tmp_path / "m.safetensors"
    tiny_file(path, extra_metadata={"config": text})
    _refused(path, message)


@pytest.mark.parametrize(
    "history, message",
    [
        (
            {"epochs": [{"epoch": 0, "train_total": 1.0}]},
            r"history record 0 lacks \['train_kl', 'train_reconstruction'\]",
        ),
        ({"epochs": [RECORD, {**RECORD, "epoch": 1, "test_total": 3.0}]}, "history record 1 has the keys"),
        ({"epochs": [{**RECORD, "train_kl": 10**100}]}, "'train_kl' of record 0 must be a finite number"),
        ({"epochs": [{**RECORD, "epoch": -1}]}, "epoch must be an integer >= 0"),
        ({"epochs": [], "batch_losses": [1.0, "x"]}, "'batch_losses' must be a list of finite numbers"),
    ],
)
def test_history_records_are_complete_and_finite(tmp_path, history, message):
    path = tmp_path / "m.safetensors"
    tiny_file(path, history=history)
    _refused(path, message)


def test_non_finite_history_is_refused_even_when_written_as_json_overflow(tmp_path):
    path = tmp_path / "m.safetensors"
    text = json.dumps({"epochs": [RECORD], "batch_losses": [1.0]}).replace("200.5", "1e999")
    tiny_file(path, extra_metadata={"history": text})
    _refused(path, "'train_total' of record 0 must be a finite number, got inf")


def test_save_refuses_a_history_that_load_would_refuse(tmp_path):
    with pytest.raises(CheckpointError, match="lacks"):
        checkpoint.save(tmp_path / "m.safetensors", build("seed", **TINY), {"epochs": [{"epoch": 0}]})
    assert not list(tmp_path.iterdir())


def test_a_header_that_claims_more_than_the_file_holds(tmp_path):
    path = tmp_path / "m.safetensors"
    raw_checkpoint(path, {}, {}, header_bytes=b"{}")
    path.write_bytes((10**12).to_bytes(8, "little") + b"{}")
    _refused(path, "its header declares 1,000,000,000,000 bytes, larger than the file")


def test_tensor_ranges_are_checked_against_the_file_before_reading(tmp_path):
    path = tmp_path / "m.safetensors"
    model = build("seed", **TINY)
    metadata = {"format": "vaekit", "format_version": "1", "config": json.dumps(model.config.to_dict())}
    huge = {"dtype": "F32", "shape": [2**40], "data_offsets": [0, 2**42]}
    raw_checkpoint(path, metadata, {"model.encoder.0.weight": huge}, b"\0" * 64)
    _refused(path, "byte range .* outside the file's 64 data bytes")


def test_a_generator_state_that_torch_rejects(tmp_path):
    path = tmp_path / "m.safetensors"
    model = build("seed", **TINY)
    state = {"rng.noise": torch.zeros(5056, dtype=torch.uint8)}
    checkpoint.save(
        path,
        model,
        progress={"epoch": 0, "step": 0, "sums": {"total": 0.0, "reconstruction": 0.0, "kl": 0.0, "images": 0}},
        state=state,
    )
    _refused(path, r"'rng.noise' is not a state PyTorch accepts \(Invalid mt19937 state\)")


@settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
@given(hostile_files())
def test_fuzz_every_file_ends_in_a_model_or_one_checkpoint_error(tmp_path_factory, case):
    metadata, tensors, data, header_bytes = case
    path = tmp_path_factory.mktemp("fuzz") / "m.safetensors"
    raw_checkpoint(path, metadata, tensors, data, header_bytes)
    try:
        model = vaekit.load(path)
    except CheckpointError as error:
        assert str(path) in str(error) and "\n" not in str(error)
    else:  # memory of the model's tensors: never more than the file carried
        assert parameter_bytes(model) <= path.stat().st_size


def test_the_cli_says_one_line_for_a_hostile_checkpoint(vaekit, tmp_path):
    path = tmp_path / "m.safetensors"
    tiny_file(path, config={**TINY, "hidden_sizes": [10**100]})
    result = vaekit("sample", "--checkpoint", str(path), "--figures", str(tmp_path))
    assert result.returncode == 2 and len(result.stderr.strip().splitlines()) == 1
    assert "a vaekit model's sizes are at most" in result.stderr


def test_a_few_hundred_bytes_never_cost_much_memory(tmp_path):
    """In a fresh process: the peak resident memory loading refused files stays near `import vaekit`'s."""
    for i, hidden in enumerate(([60_000, 60_000], [1_000_000], [2**20] * 8)):
        tiny_file(tmp_path / f"{i}.safetensors", config={**TINY, "hidden_sizes": hidden})
    script = textwrap.dedent(f"""
        import resource, pathlib, vaekit
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        for path in sorted(pathlib.Path({str(tmp_path)!r}).glob("*.safetensors")):
            try:
                vaekit.load(path)
            except vaekit.CheckpointError:
                pass
            else:
                raise SystemExit("loaded " + str(path))
        print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before)
    """)
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert int(result.stdout) < 50_000  # kB: the first model alone, 7.3 G parameters, would take 29 GB


# -- special files -----------------------------------------------------------------


def _load_in_a_thread(path, seconds=60):
    """Load ``path``; fail (rather than hang the suite) if it does not return in time."""
    outcome = {}

    def run():
        try:
            vaekit.load(path)
        except Exception as exc:  # noqa: BLE001 - reported below
            outcome["error"] = exc

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(seconds)
    assert not thread.is_alive(), f"loading {path} hangs"
    return outcome.get("error")


def test_a_fifo_is_named_and_never_waited_on(tmp_path):
    fifo = tmp_path / "model.safetensors"
    os.mkfifo(fifo)
    error = _load_in_a_thread(fifo)
    assert isinstance(error, CheckpointError) and "is a named pipe (FIFO), not a checkpoint file" in str(error)


@pytest.mark.parametrize(
    "path, message",
    [
        ("/dev/null", "is a character device, not a checkpoint file"),
        ("/proc/self/status", r"is empty \(0 bytes\) \(a kernel pseudo-file, whose size is unknown\)"),
    ],
)
def test_devices_and_proc_files_are_named(path, message):
    _refused(path, message)


def test_a_socket_is_named(tmp_path):
    path = tmp_path / "s"
    server = socket.socket(socket.AF_UNIX)
    try:
        server.bind(str(path))
        _refused(path, "is a socket, not a checkpoint file")
    finally:
        server.close()


def test_a_folder_where_a_file_belongs(tmp_path):
    (tmp_path / "model.safetensors").mkdir()
    _refused(tmp_path / "model.safetensors", "is a folder without model.safetensors or training.safetensors, not a run")


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads any file")
def test_an_unreadable_file_says_so(tmp_path):
    path = tmp_path / "m.safetensors"
    checkpoint.save(path, build("seed", **TINY))
    path.chmod(0)
    _refused(path, "cannot read checkpoint .*Permission denied")


# -- the atomic write ----------------------------------------------------------------


def test_a_planted_link_at_the_old_temporary_name_is_never_followed(tmp_path):
    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    run = tmp_path / "run"
    run.mkdir()
    # The names a writer with this pid, or any nearby one, used to take.
    for pid in range(os.getpid() - 50, os.getpid() + 50):
        (run / f".m.safetensors.{pid}.tmp").symlink_to(victim)
    path = checkpoint.save(run / "m.safetensors", build("seed", **TINY))
    assert victim.read_text() == "precious"
    assert vaekit.load(path).config.hidden_sizes == (4,)


def test_the_temporary_file_is_unpredictable_and_left_nowhere(tmp_path, monkeypatch):
    names = []
    real_replace = os.replace
    monkeypatch.setattr(os, "replace", lambda a, b: (names.append(os.path.basename(a)), real_replace(a, b)))
    for _ in range(2):
        checkpoint.save(tmp_path / "m.safetensors", build("seed", **TINY))
    assert len(set(names)) == 2 and all(n.startswith(f".m.safetensors.{os.getpid()}.") for n in names)
    assert [p.name for p in tmp_path.iterdir()] == ["m.safetensors"]
    assert oct((tmp_path / "m.safetensors").stat().st_mode & 0o777) == oct(0o666 & ~_umask())


def _umask():
    mask = os.umask(0)
    os.umask(mask)
    return mask
