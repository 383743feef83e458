"""Hostile checkpoint files, written byte by byte: shared by tests/test_hostile_checkpoints.py and
benchmarks/bench_hostile_checkpoints.py (which measures the worst case's time and memory).

A safetensors file is 8 bytes (the header's length, little-endian), a JSON header (the tensor table
and a ``__metadata__`` object of strings) and the tensors' bytes. ``raw_checkpoint`` writes any such
file, consistent or not; the hypothesis strategies below produce configurations, histories and
tensor tables that range from valid to absurd.
"""

from __future__ import annotations

import json
import math
import struct

import torch
from hypothesis import strategies as st

from vaekit import build

TINY = {"hidden_sizes": [4], "latent_size": 2}
DTYPES = ["F32", "F64", "F16", "BF16", "I64", "I32", "U8", "BOOL", "X9"]
ITEMSIZE = {"F32": 4, "F64": 8, "F16": 2, "BF16": 2, "I64": 8, "I32": 4, "U8": 1, "BOOL": 1, "X9": 1}
MAX_DATA = 1 << 16  # the bytes a generated file really carries


def raw_checkpoint(path, metadata: dict, tensors: dict[str, dict], data: bytes = b"", header_bytes=None) -> None:
    """Write a safetensors file exactly as given: ``tensors`` maps names to dtype/shape/data_offsets."""
    header = header_bytes if header_bytes is not None else json.dumps({"__metadata__": metadata, **tensors}).encode()
    path.write_bytes(struct.pack("<Q", len(header)) + header + data)


def tiny_file(path, config=None, history=None, extra_metadata=None) -> None:
    """A valid tiny checkpoint whose configuration (and history) may then be replaced."""
    model = build("seed", seed=0, **TINY)
    tensors, data = {}, b""
    for name, t in model.state_dict().items():
        raw = t.contiguous().numpy().tobytes()
        tensors["model." + name] = {
            "dtype": "F32",
            "shape": list(t.shape),
            "data_offsets": [len(data), len(data) + len(raw)],
        }
        data += raw
    metadata = {
        "format": "vaekit",
        "format_version": "1",
        "config": json.dumps(config if config is not None else model.config.to_dict()),
        "history": json.dumps(history if history is not None else {"epochs": [], "batch_losses": []}),
        "train_config": "{}",
        "progress": "{}",
        **(extra_metadata or {}),
    }
    raw_checkpoint(path, metadata, tensors, data)


# -- hypothesis strategies ------------------------------------------------------

big_ints = st.one_of(
    st.integers(-3, 40), st.integers(-(10**30), 10**30), st.sampled_from([0, 1, 2**31, 2**63, 10**100, 10**4000])
)
json_scalars = st.one_of(
    st.none(), st.booleans(), big_ints, st.floats(allow_nan=False, allow_infinity=False), st.text(max_size=20)
)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=8), inner, max_size=4)),
    max_leaves=20,
)
sizes = st.one_of(st.integers(1, 6), big_ints)
configs = st.fixed_dictionaries(
    {},
    optional={
        "input_size": st.one_of(st.just(784), sizes),
        "hidden_sizes": st.one_of(st.lists(sizes, max_size=4), json_values),
        "latent_size": sizes,
        "activation": st.sampled_from(["elu", "relu", "tanh", "gelu", ""]),
        "init": st.sampled_from(["he_truncated", "pytorch", "x"]),
        "head": st.sampled_from(["sigma", "logvar", "z"]),
        "arch": st.sampled_from(["mlp", "conv", "?"]),
        "extra": json_values,
    },
)
epoch_records = st.dictionaries(
    st.sampled_from(["epoch", "train_total", "train_reconstruction", "train_kl", "test_total", "seconds", "x"]),
    st.one_of(st.floats(), big_ints, json_values),
    max_size=7,
)
good_records = st.lists(st.floats(-1e6, 1e6), min_size=4, max_size=4).map(
    lambda v: {"epoch": 0, "train_total": v[0], "train_reconstruction": v[1], "train_kl": v[2], "seconds": v[3]}
)
histories = st.one_of(
    st.just({"epochs": [], "batch_losses": []}),
    st.fixed_dictionaries(
        {"epochs": st.lists(good_records, max_size=3), "batch_losses": st.lists(st.floats(), max_size=5)}
    ),
    st.fixed_dictionaries(
        {"epochs": st.lists(epoch_records, max_size=3), "batch_losses": st.lists(st.floats(), max_size=5)}
    ),
    json_values,
)
# Which text stands for a JSON entry: well-formed, deeply nested, huge numbers written out, NaN, garbage.
nasty_json_text = st.one_of(
    st.integers(1, 100_000).map(lambda depth: "[" * depth + "]" * depth),
    st.integers(1, 100_000).map(lambda n: '{"hidden_sizes": [' + "9" * n + "]}"),
    st.sampled_from(["NaN", '{"a": Infinity}', "{", "", "1e999", '{"epochs": [{"epoch": 1e999}]}']),
)


@st.composite
def tensor_tables(draw, config: dict):
    """A tensor table: the one the configuration implies (when buildable and small), or an arbitrary one."""
    tensors, offset = {}, 0
    names = [
        "model.encoder.0.weight",
        "model.encoder.0.bias",
        "model.mean_head.weight",
        "model.decoder.0.weight",
        "optimizer.0.exp_avg",
        "rng.noise",
        "model.x",
    ]
    for _ in range(draw(st.integers(0, 6))):
        dtype = draw(st.sampled_from(DTYPES))
        shape = draw(st.lists(st.one_of(st.integers(0, 8), big_ints), max_size=3))
        nbytes = math.prod(shape) * ITEMSIZE[dtype] if all(isinstance(d, int) for d in shape) else 0
        honest = draw(st.booleans()) and 0 <= nbytes <= MAX_DATA // 8
        end = offset + nbytes if honest else draw(big_ints)
        tensors[draw(st.sampled_from(names) | st.text(max_size=10))] = {
            "dtype": dtype,
            "shape": shape,
            "data_offsets": draw(st.sampled_from([[offset, end], [end, offset], [offset]])),
        }
        offset = end if honest else offset
    return tensors, min(max(offset, 0), MAX_DATA) if isinstance(offset, int) else 0


def honest_table(config: dict, fill: bytes):
    """The tensor table the configuration implies, if it builds and is small: (tensors, data) or None."""
    from vaekit.model import VAEConfig
    from vaekit.models import from_config

    try:
        with torch.device("meta"):
            shapes = {name: list(t.shape) for name, t in from_config(VAEConfig.from_dict(config)).state_dict().items()}
    except Exception:  # noqa: BLE001 - any configuration the classes refuse has no honest table
        return None
    if sum(math.prod(s) for s in shapes.values()) * 4 > MAX_DATA:
        return None
    tensors, data = {}, b""
    for name, shape in shapes.items():
        nbytes = math.prod(shape) * 4
        tensors["model." + name] = {"dtype": "F32", "shape": shape, "data_offsets": [len(data), len(data) + nbytes]}
        data += (fill * nbytes)[:nbytes]
    return tensors, data


@st.composite
def hostile_files(draw):
    """(metadata, tensors, data, header_bytes) for ``raw_checkpoint``: from absurd to loadable."""
    config = draw(st.one_of(configs, configs.map(lambda c: {**TINY, **c}), st.just(TINY)))
    metadata = {"format": "vaekit" if draw(st.booleans()) or draw(st.booleans()) else "other", "format_version": "1"}
    metadata["config"] = json.dumps(config) if draw(st.booleans()) or draw(st.booleans()) else draw(nasty_json_text)
    metadata["history"] = draw(st.one_of(histories.map(json.dumps), nasty_json_text))
    metadata["train_config"] = metadata["progress"] = "{}"
    if draw(st.booleans()) and draw(st.booleans()):
        metadata["progress"] = draw(st.one_of(json_values.map(json.dumps), nasty_json_text))
    # Bytes that are small floats, NaN (0x7fc00000 little-endian) or anything.
    fill = draw(
        st.sampled_from([b"\x00\x00\x80\x3c", b"\x00\x00\xc0\x7f", b"\xff"]) | st.binary(min_size=1, max_size=8)
    )
    honest = honest_table(config, fill) if draw(st.booleans()) or draw(st.booleans()) else None
    if honest is not None:
        tensors, data = honest
    else:
        tensors, data_size = draw(tensor_tables(config))
        data = bytes(draw(st.integers(0, data_size))) if draw(st.booleans()) else (fill * data_size)[:data_size]
    header_bytes = None
    if draw(st.booleans()) and draw(st.booleans()) and draw(st.booleans()):  # a header that is not JSON at all
        header_bytes = draw(st.binary(min_size=1, max_size=64))
    return metadata, tensors, data, header_bytes


def parameter_bytes(model: torch.nn.Module) -> int:
    return sum(t.numel() * t.element_size() for t in model.state_dict().values())
