"""A model in Keras and its export into stage files (``.npz``) for node_app.

The models themselves are data in harness/models/ (the Keras definition and its cut
points; `describe(name)` gives the layer table). This module builds the Keras model, takes
its weights and writes one stage file per cut point, plus the model-parallel slices of the
split stage (``<split>_s<i>of<K>``: output columns [i*W//K, (i+1)*W//K) of its layer, the
bounds of node_app.stage.block_bounds that the merging sink uses, so concatenating the K
slices' outputs in index order gives the layer's output exactly).

For the default model, Cao's two dense layers (docs/architecture.md, "Stage files"):

| stage  | layers   | used by |
|--------|----------|---------|
| `L1`   | L1       | the first device of the pipeline |
| `L2`   | L2       | the second device |
| `L1L2` | L1, L2   | whole-model strategies (Cao 1-3) |
| `L2_s<i>of<K>` | output columns of L2 | model parallelism (`mp`) |

Stage file layout (node_app/stage.py reads it): ``kernel_<i>`` (float32, dense ``(in,
out)``, conv ``(k, k, C_in, C_out)``), ``bias_<i>``, ``activation_<i>`` (0-d str), and for
conv models ``kind_<i>`` (conv or pool), ``padding_<i>``, ``pool_<i>`` and the stage's
``input_shape``. Files are written byte-for-byte deterministically (fixed zip timestamps).
One directory holds every registered model (stage names are unique across models), and a
``manifest.json`` records the seed, the versions, each model and each file's sha256.

CLI::

    python -m harness.model export --out build/stages [--seed 2019] [--force]
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import os
import sys
import zipfile
from importlib import metadata
from pathlib import Path

import numpy as np

from harness import models
from harness.models import DEFAULT_MODEL, describe
from node_app.stage import load_stage

# Quiet TensorFlow. TF 2.21 prints its oneDNN notice whatever TF_CPP_MIN_LOG_LEVEL says; with
# oneDNN's custom ops off it stays silent and predict() uses TF's plain float32 kernels.
# Both must be set before TensorFlow is first imported; the caller's environment wins.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")

DEFAULT_SEED = 2019
MANIFEST = "manifest.json"
FORMAT_VERSION = 2  # 2: every model in one directory, conv layers
_ZIP_DATE = (1980, 1, 1, 0, 0, 0)  # fixed timestamp: same bytes for the same weights

_models: dict[tuple[str, int], object] = {}


# --------------------------------------------------------------------------- Keras side
def build_model(seed: int = DEFAULT_SEED, model: str = DEFAULT_MODEL):
    """Build the Keras model with weights drawn from ``seed`` (a fresh model each call)."""
    return models.module(model).build(seed)


def _model(seed: int, model: str = DEFAULT_MODEL):
    """Return the cached Keras model for (``model``, ``seed``)."""
    if (model, seed) not in _models:
        _models[(model, seed)] = build_model(seed, model)
    return _models[(model, seed)]


def predict(inputs, seed: int = DEFAULT_SEED, model: str = DEFAULT_MODEL) -> np.ndarray:
    """The reference output: the Keras model's own ``model.predict`` (float32).

    inputs: one frame (the model's input shape) or a batch of them.
    seed: the weight seed.
    """
    info = describe(model)
    x = np.asarray(inputs, dtype=np.float32)
    single = x.shape == info.input_shape
    if single:
        x = x[None, ...]
    y = np.asarray(_model(seed, model).predict(x, verbose=0), dtype=np.float32)
    return y[0] if single else y


def layer_weights(seed: int = DEFAULT_SEED, model: str = DEFAULT_MODEL
                  ) -> dict[str, tuple[np.ndarray, np.ndarray, str]]:
    """Return ``{layer name: (kernel, bias, activation)}`` of the model's weighted layers."""
    keras_model = _model(seed, model)
    out = {}
    for layer in describe(model).layers:
        if layer.weight_bytes:
            kernel, bias = keras_model.get_layer(layer.name).get_weights()
            out[layer.name] = (kernel.astype(np.float32), bias.astype(np.float32),
                               layer.activation or "linear")
    return out


# --------------------------------------------------------------------------- stage files
def _npz_bytes(arrays: dict[str, np.ndarray]) -> bytes:
    """Serialise arrays as an .npz (uncompressed zip) with fixed timestamps, in key order."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_STORED) as zf:
        for key, arr in arrays.items():
            info = zipfile.ZipInfo(f"{key}.npy", date_time=_ZIP_DATE)
            info.external_attr = 0o644 << 16
            with zf.open(info, "w", force_zip64=True) as fh:
                np.lib.format.write_array(fh, np.asanyarray(arr), allow_pickle=False)
    return buf.getvalue()


def stage_arrays(stage: str, weights, model: str = DEFAULT_MODEL) -> dict[str, np.ndarray]:
    """Return the arrays of one stage file (the layout in this module's docstring)."""
    arrays: dict[str, np.ndarray] = {}
    layers = describe(model).stage_layers(stage)
    if layers[0].kind in ("conv", "pool"):
        arrays["input_shape"] = np.array(layers[0].input_shape, dtype=np.int64)
    for i, layer in enumerate(layers):
        if layer.kind != "dense":
            arrays[f"kind_{i}"] = np.array(layer.kind)
        if layer.kind == "pool":
            size, strides = layer.config["pool_size"], layer.config["strides"]
            if size[0] != size[1] or list(strides) != list(size):
                raise ValueError(f"layer {layer.name}: only square pools with stride = size "
                                 f"export, got pool {size} strides {strides}")
            arrays[f"pool_{i}"] = np.array(size[0], dtype=np.int64)
            continue
        kernel, bias, activation = weights[layer.name]
        if "columns" in layer.config:
            lo, hi = layer.config["columns"]
            kernel, bias = kernel[:, lo:hi], bias[lo:hi]
        if layer.kind == "conv":
            if list(layer.config["strides"]) != [1, 1]:
                raise ValueError(f"layer {layer.name}: only stride-1 convolutions export")
            arrays[f"padding_{i}"] = np.array(layer.config["padding"])
        arrays[f"kernel_{i}"] = np.ascontiguousarray(kernel, dtype=np.float32)
        arrays[f"bias_{i}"] = np.ascontiguousarray(bias, dtype=np.float32)
        arrays[f"activation_{i}"] = np.array(activation)
    return arrays


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _dist_version(*names: str) -> str | None:
    for name in names:
        try:
            return metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return None


def versions() -> dict[str, str | None]:
    """Versions that determine the exported weights (read without importing TensorFlow)."""
    return {
        "keras": _dist_version("keras"),
        "tensorflow": _dist_version("tensorflow-cpu", "tensorflow"),
        "numpy": np.__version__,
    }


def _manifest_head(seed: int) -> dict:
    return {"format": FORMAT_VERSION, "seed": seed, "versions": versions(),
            "models": {name: {"input_shape": list(describe(name).input_shape),
                              "input_size": describe(name).input_size}
                       for name in models.names()}}


def _all_stages() -> dict[str, str]:
    """Every stage file of every model -> its model."""
    out: dict[str, str] = {}
    for name in models.names():
        for stage in describe(name).stage_names():
            if stage in out:
                raise ValueError(f"stage {stage!r} is in models {out[stage]} and {name}; "
                                 "stage names must be unique across models")
            out[stage] = name
    return out


def _stage_layers(stage: str, model: str = DEFAULT_MODEL) -> list[dict]:
    """The manifest's description of a stage's layers (from the model's layer table)."""
    out = []
    for layer in describe(model).stage_layers(stage):
        entry = {"name": layer.name, "kind": layer.kind, "in": list(layer.input_shape),
                 "out": list(layer.output_shape), "activation": layer.activation or "linear"}
        if "columns" in layer.config:
            entry["columns"] = list(layer.config["columns"])
        out.append(entry)
    return out


def manifest_is_current(out_dir: Path, seed: int = DEFAULT_SEED) -> bool:
    """True if ``out_dir`` holds a manifest for ``seed`` (same versions, same models) and
    every file it lists is there with the recorded sha256."""
    path = Path(out_dir) / MANIFEST
    try:
        man = json.loads(path.read_text())
    except (OSError, ValueError):
        return False
    head = _manifest_head(seed)
    if any(man.get(k) != v for k, v in head.items()):
        return False
    stages = man.get("stages", {})
    owners = _all_stages()
    if set(stages) != set(owners):
        return False
    for name, entry in stages.items():
        f = Path(out_dir) / entry.get("file", "")
        if entry.get("layers") != _stage_layers(name, owners[name]) or not f.is_file():
            return False
        if _sha256(f) != entry.get("sha256"):
            return False
    return True


def export_stages(out_dir, seed: int = DEFAULT_SEED, force: bool = False) -> dict[str, Path]:
    """Write one ``<stage>.npz`` per cut point and slice of every model, and
    ``manifest.json``, into ``out_dir``.

    out_dir: target directory (created if missing).
    seed: the weight seed.
    force: rewrite even when the manifest already matches.
    Returns ``{stage name: path}`` (plus ``"manifest"``).
    """
    out = Path(out_dir)
    owners = _all_stages()
    paths: dict[str, Path] = {name: out / f"{name}.npz" for name in owners}
    paths["manifest"] = out / MANIFEST
    if not force and manifest_is_current(out, seed):
        return paths
    out.mkdir(parents=True, exist_ok=True)
    man = _manifest_head(seed)
    man["stages"] = {}
    for model in models.names():
        weights = layer_weights(seed, model)
        for name in describe(model).stage_names():
            data = _npz_bytes(stage_arrays(name, weights, model))
            _write_atomic(paths[name], data)
            man["stages"][name] = {"file": paths[name].name, "model": model,
                                   "layers": _stage_layers(name, model),
                                   "sha256": hashlib.sha256(data).hexdigest(),
                                   "bytes": len(data)}
    _write_atomic(paths["manifest"], (json.dumps(man, indent=2, sort_keys=True) + "\n").encode())
    return paths


def _write_atomic(path: Path, data: bytes) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


# --------------------------------------------------------------------------- numpy side
def run_stage(npz_path, x) -> np.ndarray:
    """Apply a stage file to ``x`` with node_app's own code (what a node computes).

    npz_path: the stage file.
    x: one frame or a batch of them (flat or shaped); cast to float32. Returns one flat
    output per frame.
    """
    stage = load_stage(npz_path)
    given = np.asarray(x, dtype=np.float32)
    batch = given.reshape(-1, stage.n_in)
    if stage.input_shape:  # a conv stage runs one frame at a time
        out = np.stack([np.asarray(stage(frame), dtype=np.float32).reshape(-1)
                        for frame in batch])
    else:  # dense: one matrix product for the whole batch
        out = np.asarray(stage(batch), dtype=np.float32)
    return out[0] if given.ndim == 1 and given.size == stage.n_in else out


# --------------------------------------------------------------------------- CLI
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m harness.model",
                                     description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="cmd", required=True)
    exp = sub.add_parser("export", help="export the stage files and manifest.json")
    exp.add_argument("--out", required=True, type=Path, help="output directory")
    exp.add_argument("--seed", type=int, default=DEFAULT_SEED, help="weight seed (default 2019)")
    exp.add_argument("--force", action="store_true", help="rewrite even if up to date")
    args = parser.parse_args(argv)

    if args.cmd == "export":
        if not args.force and manifest_is_current(args.out, args.seed):
            print(f"up to date: {args.out / MANIFEST} (models {', '.join(models.names())}, "
                  f"seed {args.seed}), nothing written")
            return 0
        paths = export_stages(args.out, args.seed, force=True)
        for name, path in paths.items():
            print(f"wrote {name}: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
